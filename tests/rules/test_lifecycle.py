"""Lifecycle stages as a table: where a lead stands, its score and facts, what it enters."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from leadsync.mapping.lead import STANDARD_FIELDS
from leadsync.rules.conditions import parse
from leadsync.rules.lifecycle import LifecycleRules, MqlThreshold, StageEntry, advance
from leadsync.rules.scoring import Score

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RULES = LifecycleRules(
    mql=MqlThreshold(total=60),
    lead_when=parse("exists(email)", STANDARD_FIELDS),
    disqualify_when=parse('email contains "@competitor.example"', STANDARD_FIELDS),
)
PAIR = LifecycleRules(mql=MqlThreshold(fit=30, behaviour=20))


def history(*stages: str) -> list[StageEntry]:
    return [StageEntry(s, datetime(2026, 11, 1, tzinfo=UTC), "before") for s in stages]


@pytest.mark.parametrize(
    ("rules", "before", "score", "email", "revisit_on", "entered"),
    [
        # a new lead enters every stage up to where it stands, none skipped
        (RULES, [], (10, 5), None, None, ["inquiry"]),
        (RULES, [], (10, 5), "a@x.example", None, ["inquiry", "lead"]),
        (RULES, [], (40, 20), "a@x.example", None, ["inquiry", "lead", "mql"]),
        (RULES, ["inquiry"], (40, 30), "a@x.example", None, ["lead", "mql"]),
        # where it stands already: nothing new
        (RULES, ["inquiry", "lead"], (10, 5), "a@x.example", None, []),
        (RULES, ["inquiry", "lead", "mql"], (90, 9), "a@x.example", None, []),
        # a score that fades never takes a stage back
        (RULES, ["inquiry", "lead", "mql"], (0, 0), "a@x.example", None, []),
        # sales own the lead from SAL on, and a disqualified lead stays out
        (RULES, ["inquiry", "lead", "mql", "sal"], (0, 0), "a@x.example", None, []),
        (RULES, ["inquiry", "lead", "mql", "sal", "sql"], (99, 0), "a@x.example", None, []),
        (RULES, ["disqualified"], (99, 0), "a@x.example", None, []),
        # disqualification wins over any score
        (RULES, [], (99, 99), "b@competitor.example", None, ["disqualified"]),
        # a recycled lead re-qualifies only as an MQL, and only from its day on
        (RULES, ["mql", "recycled"], (40, 30), "a@x.example", None, ["mql"]),
        (RULES, ["mql", "recycled"], (10, 0), "a@x.example", None, []),
        (RULES, ["mql", "recycled"], (40, 30), "a@x.example", date(2026, 12, 1), []),
        (RULES, ["mql", "recycled"], (40, 30), "a@x.example", date(2026, 11, 23), ["mql"]),
        # fit and behaviour thresholds: both must be met
        (PAIR, [], (30, 20), None, None, ["inquiry", "lead", "mql"]),
        (PAIR, [], (90, 19), None, None, ["inquiry", "lead"]),
    ],
)
def test_stage_entries(rules, before, score, email, revisit_on, entered):
    lead = {"email": email} if email else {}
    context = {"lead": lead, "events": [], "now": NOW}
    entries = advance(rules, history(*before), Score(*score), context, NOW, revisit_on)
    assert [e.stage for e in entries] == entered
    assert all(e.at == NOW and e.reason for e in entries)


@pytest.mark.parametrize(
    ("rules", "score", "stage", "reason"),
    [
        (RULES, (40, 20), "mql", "score 60 reached the MQL threshold (total >= 60)"),
        (RULES, (10, 0), "lead", "meets the lead criteria: exists(email)"),
        (PAIR, (30, 25), "mql", "fit 30 and behaviour 25 reached the MQL threshold"),
        (PAIR, (1, 1), "lead", "a known person"),
    ],
)
def test_each_entry_says_why(rules, score, stage, reason):
    context = {"lead": {"email": "a@x.example"}, "events": [], "now": NOW}
    entries = {e.stage: e.reason for e in advance(rules, [], Score(*score), context, NOW)}
    assert entries[stage].startswith(reason)
