"""`leadsync preview CANDIDATE --backtest`: the stored history replayed with each rule set,
against what sales recorded.

Each lead is decided from scratch (no stages yet) by the rules in force and by the
candidate's, at each moment of its history (its first sighting and each of its events,
up to now), as the syncs that saw it would have: the first moment it qualifies, it is
an MQL of that rule set and is routed there. Against the outcomes sales recorded (SAL
or further: accepted; SQL: converted), each side's precision (of its MQLs, how many
sales accepted or converted) and recall (of the leads sales accepted or converted, how
many it made MQLs), beside the MQLs as they were recorded; and each owner's load of
routed MQLs under both. Nothing is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from leadsync.ops.preview import stored_leads
from leadsync.ops.report import rate
from leadsync.rules.decide import Rules, decide
from leadsync.state import db
from leadsync.state.models import Lead
from leadsync.state.owners import known as known_owners
from leadsync.sync.wiring import Wiring

ACCEPTED = frozenset({"sal", "sql"})


@dataclass
class Side:
    """One rule set's MQLs: how many, how many sales accepted and converted, by owner."""

    mqls: int = 0
    accepted: int = 0
    converted: int = 0
    owners: Counter[str] = field(default_factory=Counter)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)

    def count(self, outcome: set[str], owner: str | None) -> None:
        self.mqls += 1
        self.accepted += bool(outcome & ACCEPTED)
        self.converted += "sql" in outcome
        self.owners[owner or "(no owner)"] += 1

    def as_dict(self, accepted: int, converted: int) -> dict[str, Any]:
        return {
            "mqls": self.mqls,
            "accepted": self.accepted,
            "converted": self.converted,
            "precision_accepted": rate(self.accepted, self.mqls),
            "precision_converted": rate(self.converted, self.mqls),
            "recall_accepted": rate(self.accepted, accepted),
            "recall_converted": rate(self.converted, converted),
        }


@dataclass
class Backtest:
    leads: int = 0
    accepted: int = 0  # leads sales accepted (SAL or further)
    converted: int = 0  # leads that reached SQL
    recorded: Side = field(default_factory=Side)
    current: Side = field(default_factory=Side)
    candidate: Side = field(default_factory=Side)
    names: dict[str, str] = field(default_factory=dict)  # owner id -> name, for people

    def as_dict(self) -> dict[str, Any]:
        sides = {"recorded": self.recorded, "current": self.current, "candidate": self.candidate}
        owners = sorted(set(self.current.owners) | set(self.candidate.owners))
        return {
            "leads": self.leads,
            "accepted": self.accepted,
            "converted": self.converted,
            **{name: s.as_dict(self.accepted, self.converted) for name, s in sides.items()},
            "owner_load": {
                o: {
                    "name": self.names.get(o),
                    "current": self.current.owners[o],
                    "candidate": self.candidate.owners[o],
                }
                for o in owners
            },
        }


def backtest(current: Wiring, candidate: Wiring, engine: Engine, now: datetime) -> Backtest:
    """Every stored lead, replayed with both rule sets against its recorded outcome."""
    out = Backtest()
    with db.session_factory(engine)() as session:
        out.names = known_owners(session)
    for stored in stored_leads(engine, current.config.settings.sync.chunk_size):
        lead, stages = stored.lead, {h.stage for h in stored.history}
        out.leads += 1
        out.accepted += bool(stages & ACCEPTED)
        out.converted += "sql" in stages
        if "mql" in stages:
            out.recorded.count(stages, lead.owner)
        for rules, side in ((current.rules, out.current), (candidate.rules, out.candidate)):
            qualified, owner = first_qualified(rules, lead, stored.events, now, side)
            if qualified:
                side.count(stages, owner)
    return out


def first_qualified(
    rules: Rules, lead: Lead, events: list[dict[str, Any]], now: datetime, side: Side
) -> tuple[bool, str | None]:
    """(whether ``rules`` ever make the lead an MQL, the owner it is routed to at the
    first moment they do)."""
    moments: set[datetime] = {lead.created_at}
    moments.update(t for t in map(_time, events) if t is not None)
    for moment in sorted(m for m in moments if m <= now) or [now]:
        seen = [e for e in events if (_time(e) or moment) <= moment]
        decision = decide(rules, lead.values, seen, [], moment, pool_states=side.pools)
        if any(e.stage == "mql" for e in decision.entries):
            routed = decision.route
            if routed is not None and routed.pool and routed.pool_state is not None:
                side.pools[routed.pool] = routed.pool_state
            return True, routed.owner if routed is not None else None
    return False, None


def lines(report: Backtest) -> list[str]:
    d = report.as_dict()
    out = [
        f"{report.leads:,} leads' history replayed with the rules in force and the candidate's "
        "(nothing written)",
        f"sales accepted {report.accepted:,} of them (SAL or further) and converted "
        f"{report.converted:,} (SQL)",
        f"  {'':<16}{'MQLs':>7}{'accepted':>10}{'precision':>11}{'recall':>8}"
        f"{'converted':>11}{'precision':>11}{'recall':>8}",
    ]
    for name, title in (
        ("recorded", "as recorded"),
        ("current", "rules in force"),
        ("candidate", "candidate"),
    ):
        s = d[name]
        out.append(
            f"  {title:<16}{s['mqls']:>7,}{s['accepted']:>10,}{_pct(s['precision_accepted']):>11}"
            f"{_pct(s['recall_accepted']):>8}{s['converted']:>11,}"
            f"{_pct(s['precision_converted']):>11}{_pct(s['recall_converted']):>8}"
        )
    if d["owner_load"]:
        out.append(f"  {'owner load (MQLs routed)':<28}{'now':>8}{'candidate':>11}{'change':>9}")
        for owner, load in d["owner_load"].items():
            a, b = load["current"], load["candidate"]
            out.append(f"  {load['name'] or owner:<28}{a:>8,}{b:>11,}{b - a:>+9,}")
    return out


def _time(event: dict[str, Any]) -> datetime | None:
    at = event.get("at")
    return datetime.fromisoformat(at) if isinstance(at, str) else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
