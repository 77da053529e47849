"""The backtest's replay: a lead qualifies at the first moment of its history that takes it
over the threshold, as the syncs that saw it would have decided, not at the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadsync.mapping.fieldmap import lead_fields
from leadsync.ops.backtest import Side, first_qualified
from leadsync.rules.decide import Rules
from leadsync.rules.lifecycle import LifecycleRules, MqlThreshold
from leadsync.rules.scoring import compile_scoring
from leadsync.state.models import Lead

START = datetime(2026, 10, 1, 9, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def rules(half_life_days: float) -> Rules:
    scoring = compile_scoring(
        [
            {
                "name": "webinar",
                "category": "behaviour",
                "when": 'event.type == "webinar"',
                "points": 30,
            }
        ],
        lead_fields({}),
        half_life_days=half_life_days,
    )
    return Rules(scoring=scoring, lifecycle=LifecycleRules(MqlThreshold(total=50)))


def webinar(days: float) -> dict:
    return {"type": "webinar", "at": (START + timedelta(days=days)).isoformat()}


def test_a_lead_qualifies_at_its_second_webinar_though_its_score_has_faded_since() -> None:
    """Two webinars a day apart make 60 points on the second day; by now (two months on,
    a 7-day half-life) they would be worth 0.6: a replay at the end alone would miss it."""
    lead = Lead.new("k1", "ann@example.com", START)
    qualified, owner = first_qualified(rules(7), lead, [webinar(0), webinar(1)], NOW, Side())
    assert (qualified, owner) == (True, None)


def test_webinars_too_far_apart_never_qualify() -> None:
    """Thirty days apart with a 7-day half-life, the first has faded to 1.4 points when the
    second comes: 31.4 never reaches 50."""
    lead = Lead.new("k2", "bo@example.com", START)
    assert first_qualified(rules(7), lead, [webinar(0), webinar(30)], NOW, Side()) == (False, None)


def test_events_after_now_are_not_replayed() -> None:
    """A lead is judged on what had happened by now: a webinar after it does not count."""
    lead = Lead.new("k3", "cy@example.com", START)
    later = NOW + timedelta(days=1)
    events = [webinar(0), {"type": "webinar", "at": later.isoformat()}]
    assert first_qualified(rules(7), lead, events, NOW, Side())[0] is False
