"""The decision about one lead: its score, the stages it enters now, and the fields that say so.

Pure: ``decide(rules, lead, events, history, now) -> Decision``. The decision's
``fields`` are lead fields a CRM map can write like any other (``score``,
``score_fit``, ``score_behaviour``, ``stage``, ``stage_at``, ``mql_at``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from leadsync.mapping.lead import iso_utc
from leadsync.rules.lifecycle import LifecycleRules, StageEntry, advance
from leadsync.rules.routing import Route, Routing, route
from leadsync.rules.scoring import Score, Scoring, score

# Fields the decision adds to a lead, with their types, for CRM maps and `check`.
DECISION_FIELDS = {
    "score": "float",
    "score_fit": "float",
    "score_behaviour": "float",
    "stage": "str",
    "stage_at": "datetime",
    "mql_at": "datetime",
    "owner": "str",
}


@dataclass(frozen=True)
class Rules:
    scoring: Scoring | None = None
    lifecycle: LifecycleRules | None = None
    routing: Routing | None = None

    @property
    def any(self) -> bool:
        return any((self.scoring, self.lifecycle, self.routing))


@dataclass(frozen=True)
class Decision:
    score: Score
    entries: list[StageEntry] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    route: Route | None = None  # set when the lead was routed now (it entered MQL)


def decide(
    rules: Rules,
    lead: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    history: Sequence[StageEntry],
    now: datetime,
    *,
    owner: str | None = None,
    pool_states: Mapping[str, Mapping[str, Any]] | None = None,
    active_owners: Callable[[], Collection[str] | None] | None = None,
    existing_owner: Callable[[], str | None] | None = None,
    revisit_on: date | None = None,
) -> Decision:
    """Score, stages, and (on entering MQL) the owner; ``owner`` is who owns the lead now."""
    s = score(rules.scoring, lead, events, now) if rules.scoring else Score(0.0, 0.0)
    context = {"lead": lead, "events": events, "now": now}
    entries: list[StageEntry] = []
    if rules.lifecycle is not None:
        entries = advance(rules.lifecycle, history, s, context, now, revisit_on)
    fields: dict[str, Any] = {}
    if rules.scoring is not None:
        fields.update(score=s.total, score_fit=s.fit, score_behaviour=s.behaviour)
    everything = [*history, *entries]
    if everything:
        fields.update(stage=everything[-1].stage, stage_at=_stamp(everything[-1].at))
        mql = [e for e in everything if e.stage == "mql"]
        if mql:
            fields["mql_at"] = _stamp(mql[-1].at)
    routed = None
    if rules.routing is not None and any(e.stage == "mql" for e in entries):
        active = active_owners() if active_owners else None
        routed = route(
            rules.routing, context, pool_states or {}, now.date(), active, existing_owner
        )
        owner = routed.owner
    if owner:
        fields["owner"] = owner
    return Decision(score=s, entries=entries, fields=fields, route=routed)


def _stamp(at: datetime) -> str:
    # To the second: CRMs take datetimes to the millisecond at most, and people read them.
    return iso_utc(at, "seconds")
