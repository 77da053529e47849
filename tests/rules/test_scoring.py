"""Scoring and lifecycle: tables of leads, events and the scores and stages they get."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadsync.mapping.lead import STANDARD_FIELDS
from leadsync.rules.conditions import parse
from leadsync.rules.lifecycle import LifecycleRules, MqlThreshold, StageEntry, advance
from leadsync.rules.scoring import Score, ScoringError, compile_scoring, score

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
RULES = [
    {
        "name": "senior title",
        "category": "fit",
        "points": 20,
        "when": 'title matches "(vp|head|director|chief|ceo|cto)"',
    },
    {
        "name": "target market",
        "category": "fit",
        "points": 10,
        "when": 'country in ["US", "CA", "GB"]',
    },
    {
        "name": "free mail",
        "category": "fit",
        "points": -15,
        "when": 'email matches "@(gmail|yahoo|hotmail)\\\\."',
    },
    {
        "name": "demo request",
        "category": "behaviour",
        "points": 30,
        "cap": 45,
        "when": 'event.type == "form_submit" and event.form == "demo"',
    },
    {
        "name": "pricing page",
        "category": "behaviour",
        "points": 5,
        "when": 'event.type == "page_view" and event.url contains "pricing"',
    },
]


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


SCORING = compile_scoring(RULES, STANDARD_FIELDS, half_life_days=30, fit_cap=25)


def test_fit_rules_add_up_within_their_cap():
    """Fit rules give their points once; the category cap bounds the sum."""
    s = score(SCORING, {"title": "VP Sales", "country": "US"}, [], NOW)
    assert (s.fit, s.behaviour) == (25, 0)  # 20 + 10, capped at 25
    assert [c.rule for c in s.breakdown] == ["senior title", "target market"]


def test_negative_points_count():
    """A free-mail address takes points away."""
    s = score(SCORING, {"email": "ann@gmail.com", "country": "US"}, [], NOW)
    assert s.fit == -5


def test_behaviour_fades_with_time_and_stops_at_the_rule_cap():
    """An event's points halve every half-life; a rule gives no more than its cap."""
    events = [
        {"type": "form_submit", "form": "demo", "at": ago(0)},
        {"type": "form_submit", "form": "demo", "at": ago(30)},  # half: 15
        {"type": "form_submit", "form": "demo", "at": ago(1)},  # would pass the cap of 45
        {"type": "page_view", "url": "/pricing", "at": ago(60)},  # a quarter: 1.25
        {"type": "page_view", "url": "/blog", "at": ago(0)},  # no rule
    ]
    s = score(SCORING, {}, events, NOW)
    demo = [c for c in s.breakdown if c.rule == "demo request"]
    assert [c.points for c in demo] == [30, 15, 0]
    assert demo[2].note == "rule cap reached"
    assert s.behaviour == 46.25
    assert s.total == 46.25


def test_a_score_is_explained_point_by_point():
    """Every point of a score is in its breakdown, with the event that gave it."""
    events = [{"type": "form_submit", "form": "demo", "at": ago(2)}]
    s = score(SCORING, {"title": "CTO", "country": "GB"}, events, NOW)
    assert round(sum(c.points for c in s.breakdown), 2) == s.fit + s.behaviour + 5  # fit cap
    assert s.breakdown[-1].event == events[0]


def test_scoring_rule_errors_name_rule_and_column():
    """A rule with a bad condition or category is refused when the config loads."""
    with pytest.raises(ScoringError, match="'senior': when: column 1: unknown field 'titel'"):
        compile_scoring(
            [{"name": "'senior'", "category": "fit", "points": 1, "when": 'titel == "x"'}],
            STANDARD_FIELDS,
        )
    with pytest.raises(ScoringError, match='category must be "fit" or "behaviour"'):
        compile_scoring(
            [{"name": "x", "category": "fun", "points": 1, "when": "exists(email)"}],
            STANDARD_FIELDS,
        )


LIFECYCLE = LifecycleRules(
    mql=MqlThreshold(total=60, fit=20, behaviour=20),
    lead_when=parse("exists(email)", STANDARD_FIELDS),
    disqualify_when=parse('email matches "@competitor\\\\.example$"', STANDARD_FIELDS),
)
HOT = Score(fit=25, behaviour=40)
COLD = Score(fit=5, behaviour=5)


def stages(entries):
    return [e.stage for e in entries]


def test_a_jump_to_mql_enters_every_stage_between_at_once():
    """A new lead that qualifies at once enters inquiry, lead and MQL, each with its reason."""
    entries = advance(LIFECYCLE, [], HOT, {"lead": {"email": "a@x.example"}}, NOW)
    assert stages(entries) == ["inquiry", "lead", "mql"]
    assert {e.at for e in entries} == {NOW}
    assert entries[2].reason == "score 65 reached the MQL threshold (total >= 60)"


@pytest.mark.parametrize(
    ("history", "s", "lead", "expected"),
    [
        ([], COLD, {}, ["inquiry"]),
        (["inquiry"], COLD, {}, []),
        (["inquiry"], COLD, {"email": "a@x.example"}, ["lead"]),
        (["inquiry", "lead"], Score(fit=20, behaviour=20), {"email": "a@x.example"}, ["mql"]),
        (["inquiry", "lead", "mql"], COLD, {"email": "a@x.example"}, []),  # no fading back
        (["inquiry", "lead", "mql", "sal"], HOT, {"email": "a@x.example"}, []),
        (["inquiry", "lead", "mql", "recycled"], COLD, {"email": "a@x.example"}, []),
        (["inquiry", "lead", "mql", "recycled"], HOT, {"email": "a@x.example"}, ["mql"]),
        (["inquiry", "lead"], HOT, {"email": "a@competitor.example"}, ["disqualified"]),
        (["disqualified"], HOT, {"email": "a@x.example"}, []),
    ],
)
def test_stage_table(history, s, lead, expected):
    """From each stage, a score and a lead move to the stages expected, and no further."""
    past = [StageEntry(stage, NOW - timedelta(days=1), "before") for stage in history]
    assert stages(advance(LIFECYCLE, past, s, {"lead": lead}, NOW)) == expected


def test_requalification_says_so():
    """A recycled lead that qualifies again says it was re-qualified."""
    past = [StageEntry("recycled", NOW - timedelta(days=9), "sales: not now")]
    (entry,) = advance(LIFECYCLE, past, HOT, {"lead": {"email": "a@x.example"}}, NOW)
    assert entry.reason.startswith("re-qualified after recycling: score 65")
