"""The sweeps: what changes with time alone, no source saying anything new.

``rescore_decayed``: behaviour points decay, so a lead's score in the CRM goes stale;
the leads whose score moved by at least ``rescore_min_change`` since it was written are
planned again (a lead never leaves MQL because of decay alone: stages only move forward
on a score, sales moves them back).

``sweep_sla``: follow-up SLAs past due move up their ladder ([sla]).

A lead handed to a rep whose SLA fell due untouched is, in order: reassigned to the
next owner of its routing pool with a new task (and a task for the manager), as
many times as ``max_reassignments`` allows; then recycled to nurture with the reason
"not followed up". Each step is written in the sweep's transaction with the ops it
asks for, keyed by the step, so that a sweep run twice (or twenty times) takes each
step once. The rules (``rules.sla``) are pure; this module reads and writes around them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadsync import log
from leadsync.mapping.lead import iso_utc
from leadsync.rules.lifecycle import StageEntry
from leadsync.rules.roundrobin import assign
from leadsync.rules.scoring import score
from leadsync.rules.sla import SlaPolicy
from leadsync.state import outbox, repo, sla
from leadsync.state.models import Lead, SlaTimer
from leadsync.sync.plan import Planner
from leadsync.sync.summary import RunSummary
from leadsync.sync.wiring import Wiring

logger = log.get("leadsync.sync.sweep")


def rescore_decayed(
    session: Session,
    wiring: Wiring,
    planner: Planner,
    summary: RunSummary,
    now: datetime,
    ids: list[int],
) -> None:
    """Plan again the leads among ``ids`` whose decayed score moved enough since written."""
    scoring = wiring.rules.scoring
    field = next((f.target for f in wiring.crm_map.fields if f.sources == ("score",)), None)
    if scoring is None or field is None:
        return
    min_change = wiring.config.settings.scoring.rescore_min_change  # type: ignore[union-attr]
    leads = repo.leads_by_id(session, ids)
    events = repo.events_of_leads(session, leads)
    written = repo.crm_records(session, wiring.destination.name, leads)
    moved: dict[int, Lead] = {}
    for lead_id, lead in leads.items():
        record = written.get(lead_id)
        if record is None:
            continue  # not in the CRM yet: its first write carries the score
        values = [repo.event_values(e) for e in events.get(lead_id, [])]
        new = round(score(scoring, lead.values, values, now).total, 2)
        try:
            old = float(record.fields.get(field))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            old = None
        if old is None or abs(new - old) >= min_change:
            moved[lead_id] = lead
    if moved:
        summary.rescored += len(moved)
        planner.plan(session, moved)


def sweep_sla(
    session: Session, wiring: Wiring, planner: Planner, summary: RunSummary, now: datetime
) -> None:
    """Move every open SLA past due one step up its ladder, in the caller's transaction."""
    policy = wiring.sla
    if policy is None:
        return
    timers = sla.past_due(session, now)
    if not timers:
        return
    leads = repo.leads_by_id(session, [t.lead_id for t in timers])
    replan: dict[int, Lead] = {}
    recycled: dict[int, list[StageEntry]] = {}
    tasks: list[dict[str, Any]] = []
    for timer in timers:
        lead = leads.get(timer.lead_id)
        if lead is None or lead.stage != "mql":
            # Moved on by another path (sales' status read back before its task was).
            timer.status = "closed"
            timer.steps = [
                *timer.steps,
                sla.step(now, "closed", f"the lead is {lead and lead.stage}"),
            ]
            continue
        summary.sla_breaches += 1
        terms = policy.terms(timer.owner, (lead.route or {}).get("pool"))
        reason = (
            f"no first touch by {timer.owner or 'its owner'} within {_hours(terms.first_touch)} "
            f"of business hours (due {iso_utc(timer.due_at, 'seconds')})"
        )
        if policy.ladder(timer.reassignments) == "reassign":
            for kind, task in _reassign(session, wiring, policy, timer, lead, reason, now):
                dest = wiring.destination.name
                tasks.append(
                    outbox.new_op(
                        task["key"], dest, kind, lead.id, task, summary.run_id, handoff=True
                    )
                )
            if timer.steps[-1]["action"] == "reassigned":  # else escalated: nobody to take it
                summary.sla_reassigned += 1
        else:
            entry = StageEntry(
                "recycled",
                now,
                f"not followed up: {reason}, after {timer.reassignments} reassignment(s)",
            )
            lead.revisit_on = (now + timedelta(days=policy.recycle_days)).date()
            recycled[lead.id] = [entry]
            timer.status = "recycled"
            timer.steps = [*timer.steps, sla.step(now, "recycled", entry.reason)]
            summary.sla_recycled += 1
        replan[lead.id] = lead
        logger.info("sla.breach", lead=lead.key, step=timer.steps[-1]["action"])
    for op in outbox.enqueue(session, tasks):
        if op["kind"] == "task":
            summary.task_planned(op["payload"].get("owner"))
    # The owner change reaches the CRM record; a recycled lead rejoins nurture.
    planner.plan(session, replan, sales=recycled)


def _reassign(
    session: Session,
    wiring: Wiring,
    policy: SlaPolicy,
    timer: SlaTimer,
    lead: Lead,
    reason: str,
    now: datetime,
) -> list[tuple[str, dict[str, Any]]]:
    """The lead to the next owner of its pool (when it has one and someone else is in it);
    the ops this asks for, by kind (the new owner's task, the manager's, the old task set
    aside in the CRM); the timer starts again."""
    step_no = timer.reassignments + 1
    pool = (lead.route or {}).get("pool")
    previous = lead.owner
    new_owner = _next_in_pool(session, wiring, pool, previous, now)
    original = outbox.ops_by_keys(session, [timer.task_key]).get(timer.task_key)
    base = dict(original.payload) if original is not None else {"subject": "Follow up"}
    base.pop("crm_id", None)  # the old task's own
    ops: list[tuple[str, dict[str, Any]]] = []
    if new_owner is not None:
        lead.owner = new_owner
        lead.route = {
            **(lead.route or {}),
            "owner": new_owner,
            "reason": f"SLA breach: {reason}; reassigned from {previous}",
            "at": iso_utc(now),
        }
        task = _task(wiring, base, lead, f"mql-sla{step_no}", new_owner, now)
        task["subject"] = f"Reassigned: {base.get('subject', '')}"[:255]
        task["description"] = (
            f"Reassigned to you from {previous}: {reason}.\n\n{base.get('description', '')}"
        )
        ops.append(("task", task))
        if original is not None and original.status == "done":
            # The old task, set aside in the CRM: handed on, not done (no touch).
            mark = {
                "key": f"{timer.task_key}:handed-on",
                "task": timer.task_key,
                "crm_id": original.payload.get("crm_id"),
                "subject": f"[Reassigned to {new_owner}] {base.get('subject', '')}"[:255],
            }
            ops.append(("task_mark", mark))
    if policy.manager:
        alert = _task(wiring, base, lead, f"mql-sla{step_no}-manager", policy.manager, now)
        alert["subject"] = f"SLA breach: {base.get('subject', '')}"[:255]
        alert["description"] = (
            f"{reason}. "
            + (
                f"Reassigned to {new_owner}."
                if new_owner
                else "Nobody else in its pool to take it."
            )
            + f"\n\n{base.get('description', '')}"
        )
        ops.append(("task", alert))
    owner = new_owner or previous
    timer.reassignments = step_no
    timer.steps = [
        *timer.steps,
        sla.step(
            now,
            "reassigned" if new_owner else "escalated",
            reason,
            owner_from=previous,
            owner_to=owner,
        ),
    ]
    timer.owner, timer.started_at = owner, now
    timer.due_at = policy.due(now, owner, pool)
    if new_owner is not None:
        timer.task_key = ops[0][1]["key"]
    return ops


def _task(
    wiring: Wiring, base: dict[str, Any], lead: Lead, stage: str, owner: str, now: datetime
) -> dict[str, Any]:
    """A follow-up task like the hand-off's, keyed by this step of the ladder."""
    hours = wiring.tasks.due_in_hours if wiring.tasks is not None else 24
    due = now + timedelta(hours=hours)
    return {
        **base,
        "key": f"task:{lead.key}:{stage}:{iso_utc(now)}",
        "owner": owner,
        "due": due.date().isoformat(),
        "due_at": iso_utc(due, "seconds"),
        "priority": "high",
    }


def _next_in_pool(
    session: Session, wiring: Wiring, pool: str | None, current: str | None, now: datetime
) -> str | None:
    """The pool's next owner other than ``current``, its turn stored; None: nobody."""
    routing = wiring.rules.routing
    if routing is None or pool is None or pool not in routing.pools:
        return None
    members = routing.pools[pool]
    available = {m.owner for m in members.members} - routing.away - {current}
    if not available:
        return None
    state = repo.cursor(session, f"routing:{pool}") or {}
    owner, new_state = assign(members, state, available, now.date())
    if owner is not None:
        repo.save_cursor(session, f"routing:{pool}", new_state)
    return owner


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g}h"
