"""`leadsync preview`: what another rule set would make of the leads in the state db.

Every stored lead (with its events) is decided from scratch twice, with the
rules in force and with the candidate's, as of now; nothing is written
anywhere. Leads sales already took (SAL, SQL) or set aside (recycled,
disqualified) keep their stage in both. The report gives leads per stage, the
MQL count, the owner load per rep for the leads each rule set routes, the tasks
the candidate would create, and the first leads whose stage would change, with
the candidate's reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from leadsync.rules.decide import Decision, Rules, decide
from leadsync.rules.lifecycle import StageEntry
from leadsync.state import db, owners, repo
from leadsync.state.models import Lead
from leadsync.sync.wiring import Wiring

SALES_OWNED = frozenset({"sal", "sql", "recycled", "disqualified"})
MAX_SHOWN = 10


@dataclass
class Side:
    stages: Counter[str] = field(default_factory=Counter)
    owners: Counter[str] = field(default_factory=Counter)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Preview:
    leads: int = 0
    current: Side = field(default_factory=Side)
    candidate: Side = field(default_factory=Side)
    new_tasks: int = 0
    changes: list[tuple[str, str, str, str]] = field(default_factory=list)  # who, from, to, why
    names: dict[str, str] = field(default_factory=dict)  # owner id -> name, for people

    def as_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "stages": {
                "current": dict(self.current.stages),
                "candidate": dict(self.candidate.stages),
            },
            "mql": {
                "current": self.current.stages["mql"],
                "candidate": self.candidate.stages["mql"],
            },
            "owner_load": {
                "current": dict(self.current.owners),
                "candidate": dict(self.candidate.owners),
            },
            "tasks_that_would_be_created": self.new_tasks,
            "changes": [
                {"lead": w, "from": a, "to": b, "reason": r} for w, a, b, r in self.changes
            ],
        }


@dataclass(frozen=True)
class Stored:
    """A stored lead as the rules read it: its row, its events, its stage history."""

    lead: Lead
    events: list[dict[str, Any]]
    history: list[StageEntry]


def stored_leads(engine: Engine, page: int) -> Iterator[Stored]:
    """Every lead of the state db in id order, a page of ``page`` leads a session: what
    `preview`, its backtest and `suggest` replay."""
    factory = db.session_factory(engine)
    with factory() as session:
        ids = repo.all_lead_ids(session)
    for start in range(0, len(ids), page):
        with factory() as session:
            leads = repo.leads_by_id(session, ids[start : start + page])
            events = repo.events_of_leads(session, leads)
            history = repo.stage_history(session, leads)
            for lead_id in sorted(leads):
                yield Stored(
                    leads[lead_id],
                    [repo.event_values(e) for e in events.get(lead_id, [])],
                    [StageEntry(h.stage, h.at, h.reason) for h in history.get(lead_id, [])],
                )


def preview(current: Wiring, candidate: Wiring, engine: Engine, now: datetime) -> Preview:
    report = Preview()
    with db.session_factory(engine)() as session:
        report.names = owners.known(session)
    for stored in stored_leads(engine, current.config.settings.sync.chunk_size):
        lead, values, past = stored.lead, stored.events, stored.history
        # Replayed on top of its history, as a sync decides: never moved back.
        before = _replay(current.rules, lead, values, past, now, report.current)
        after = _replay(candidate.rules, lead, values, past, now, report.candidate)
        report.leads += 1
        if after[0] == "mql" and before[0] != "mql" and candidate.tasks is not None:
            report.new_tasks += 1
        if before[0] != after[0] and len(report.changes) < MAX_SHOWN:
            report.changes.append((lead.email or lead.key, before[0], after[0], after[1]))
    return report


def _replay(
    rules: Rules,
    lead: Lead,
    events: list[dict[str, Any]],
    past: list[StageEntry],
    now: datetime,
    side: Side,
) -> tuple[str, str]:
    """(stage, reason) for one lead under ``rules``, counted into ``side``."""
    if lead.stage in SALES_OWNED:
        side.stages[lead.stage] += 1
        return lead.stage, "kept: sales decide from here"
    decision: Decision = decide(
        rules,
        lead.values,
        events,
        past,
        now,
        owner=lead.owner,
        pool_states=side.pools,
        revisit_on=lead.revisit_on,
    )
    entry = decision.entries[-1] if decision.entries else None
    stage = entry.stage if entry else (lead.stage or "none")
    side.stages[stage] += 1
    if decision.route is not None:
        side.owners[decision.route.owner] += 1
        if decision.route.pool and decision.route.pool_state is not None:
            side.pools[decision.route.pool] = decision.route.pool_state
    elif stage == "mql" and lead.owner:
        side.owners[lead.owner] += 1  # an MQL already routed stays with its owner
    return stage, entry.reason if entry else "stays: a sync never moves a lead back"


def lines(report: Preview) -> list[str]:
    out = [
        f"{report.leads} leads replayed with the rules in force and with the candidate's "
        "(nothing written)"
    ]
    stages = [
        s
        for s in ("inquiry", "lead", "mql", "sal", "sql", "recycled", "disqualified", "none")
        if report.current.stages[s] or report.candidate.stages[s]
    ]
    out.append(f"  {'stage':<14}{'now':>8}{'candidate':>11}{'change':>9}")
    for s in stages:
        a, b = report.current.stages[s], report.candidate.stages[s]
        out.append(f"  {s:<14}{a:>8}{b:>11}{b - a:>+9}")
    out.append(f"tasks the candidate would create: {report.new_tasks}")
    owners = sorted(set(report.current.owners) | set(report.candidate.owners))
    if owners:
        out.append(f"  {'owner load':<22}{'now':>8}{'candidate':>11}")
        for o in owners:
            who = report.names.get(o, o)
            out.append(f"  {who:<22}{report.current.owners[o]:>8}{report.candidate.owners[o]:>11}")
    if report.changes:
        out.append("first leads that would change stage")
        out += [f"  {who}: {a} -> {b} ({why})" for who, a, b, why in report.changes]
    return out
