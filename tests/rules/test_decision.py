"""One lead's whole decision as a table: score fields, stage fields, and routing on MQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadsync.mapping.lead import STANDARD_FIELDS
from leadsync.rules.conditions import parse
from leadsync.rules.decide import Rules, decide
from leadsync.rules.lifecycle import LifecycleRules, MqlThreshold, StageEntry
from leadsync.rules.routing import RouteRule, Routing
from leadsync.rules.scoring import compile_scoring

NOW = datetime(2026, 11, 23, 12, 0, 0, 654321, tzinfo=UTC)
SCORING = compile_scoring(
    [
        {"name": "exec", "category": "fit", "when": 'title contains "VP"', "points": 40},
        {"name": "big", "category": "fit", "when": "employees >= 500", "points": 20},
    ],
    STANDARD_FIELDS,
)
LIFECYCLE = LifecycleRules(mql=MqlThreshold(total=60))
ROUTING = Routing(
    rules=(RouteRule("emea", parse('country == "GB"', STANDARD_FIELDS), owner="005UK"),),
    fallback_owner="005DESK",
)
EARLIER = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
# A lead scoring 60 on fit that enters MQL now (times to the second).
MQL_NOW = {
    "score": 60.0,
    "score_fit": 60.0,
    "score_behaviour": 0.0,
    "stage": "mql",
    "stage_at": "2026-11-23T12:00:00Z",
    "mql_at": "2026-11-23T12:00:00Z",
}


@pytest.mark.parametrize(
    ("rules", "lead", "history", "owner", "expected"),
    [
        # scoring alone: the score fields, no stage
        (
            Rules(scoring=SCORING),
            {"title": "VP Sales"},
            [],
            None,
            {"score": 40.0, "score_fit": 40.0, "score_behaviour": 0.0},
        ),
        # stages: the current one and when, to the second
        (
            Rules(scoring=SCORING, lifecycle=LIFECYCLE),
            {"title": "CTO"},
            [],
            None,
            {
                "score": 0.0,
                "score_fit": 0.0,
                "score_behaviour": 0.0,
                "stage": "lead",
                "stage_at": "2026-11-23T12:00:00Z",
            },
        ),
        # entering MQL routes the lead and records when it became an MQL
        (
            Rules(scoring=SCORING, lifecycle=LIFECYCLE, routing=ROUTING),
            {"title": "VP", "employees": 900, "country": "GB"},
            [],
            None,
            {**MQL_NOW, "owner": "005UK"},
        ),
        (
            Rules(scoring=SCORING, lifecycle=LIFECYCLE, routing=ROUTING),
            {"title": "VP", "employees": 900, "country": "US"},
            [],
            None,
            {**MQL_NOW, "owner": "005DESK"},
        ),
        # an MQL already: not routed again, its owner kept, its MQL time kept
        (
            Rules(scoring=SCORING, lifecycle=LIFECYCLE, routing=ROUTING),
            {"title": "VP", "employees": 900, "country": "GB"},
            [StageEntry("mql", EARLIER, "before")],
            "005ANN",
            {
                "score": 60.0,
                "score_fit": 60.0,
                "score_behaviour": 0.0,
                "stage": "mql",
                "stage_at": "2026-11-01T08:00:00Z",
                "mql_at": "2026-11-01T08:00:00Z",
                "owner": "005ANN",
            },
        ),
        # no rules: nothing decided but the owner the lead has
        (Rules(), {"title": "VP"}, [], "005ANN", {"owner": "005ANN"}),
    ],
)
def test_decision_fields(rules, lead, history, owner, expected):
    decision = decide(rules, lead, [], history, NOW, owner=owner)
    assert decision.fields == expected
    assert (decision.route is not None) == ("mql_at" in expected and not history)
