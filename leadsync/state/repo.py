"""Repository functions over the state tables, shaped for the pipeline: one query per page.

Each lookup takes a whole page's keys at once (``IN (...)`` in slices that
every database accepts), so a page of a thousand records costs a handful of
queries, not thousands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from leadsync.state.models import (
    CrmRecord,
    Cursor,
    DeadLetter,
    Event,
    Lead,
    LeadIdentity,
    OutboxOp,
    Quarantine,
    SourceRecord,
    StageHistory,
    SyncRun,
    utcnow,
)

T = TypeVar("T")
_SLICE = 500


def _slices(values: Iterable[T]) -> Iterator[list[T]]:
    items = list(dict.fromkeys(values))
    for i in range(0, len(items), _SLICE):
        yield items[i : i + _SLICE]


def _in_slices(
    session: Session, values: Iterable[Any], query: Callable[[list[Any]], Select[Any]]
) -> Iterator[Any]:
    """Rows of ``query(part)`` for each slice of ``values``: one query per 500 keys."""
    for part in _slices(values):
        yield from session.scalars(query(part))


def source_records(session: Session, source: str, ids: Iterable[str]) -> dict[str, SourceRecord]:
    rows = _in_slices(
        session,
        ids,
        lambda part: select(SourceRecord).where(
            SourceRecord.source == source, SourceRecord.external_id.in_(part)
        ),
    )
    return {r.external_id: r for r in rows}


def identities(session: Session, source: str, ids: Iterable[str]) -> dict[str, int]:
    rows = _in_slices(
        session,
        ids,
        lambda part: select(LeadIdentity).where(
            LeadIdentity.source == source, LeadIdentity.external_id.in_(part)
        ),
    )
    return {r.external_id: r.lead_id for r in rows}


def all_lead_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Lead.id).order_by(Lead.id)))


def leads_by_id(session: Session, ids: Iterable[int]) -> dict[int, Lead]:
    rows = _in_slices(session, ids, lambda part: select(Lead).where(Lead.id.in_(part)))
    return {r.id: r for r in rows}


def leads_to_revisit(session: Session, today: date) -> dict[int, Lead]:
    """Recycled leads whose revisit day has come."""
    query = select(Lead).where(Lead.stage == "recycled", Lead.revisit_on <= today)
    return {lead.id: lead for lead in session.scalars(query)}


def leads_by_key(session: Session, keys: Iterable[str]) -> dict[str, Lead]:
    rows = _in_slices(session, keys, lambda part: select(Lead).where(Lead.key.in_(part)))
    return {r.key: r for r in rows}


def leads_by_email(session: Session, emails: Iterable[str]) -> dict[str, Lead]:
    """The oldest lead with each email (the one identity resolution keeps)."""
    out: dict[str, Lead] = {}
    rows = _in_slices(
        session, emails, lambda part: select(Lead).where(Lead.email.in_(part)).order_by(Lead.id)
    )
    for r in rows:
        if r.email:
            out.setdefault(r.email, r)
    return out


def crm_records(
    session: Session, destination: str, lead_ids: Iterable[int]
) -> dict[int, CrmRecord]:
    rows = _in_slices(
        session,
        lead_ids,
        lambda part: select(CrmRecord).where(
            CrmRecord.destination == destination, CrmRecord.lead_id.in_(part)
        ),
    )
    return {r.lead_id: r for r in rows}


def crm_records_by_id(
    session: Session, destination: str, crm_ids: Iterable[str]
) -> dict[str, CrmRecord]:
    """The records leadsync wrote, by their CRM id."""
    rows = _in_slices(
        session,
        crm_ids,
        lambda part: select(CrmRecord).where(
            CrmRecord.destination == destination, CrmRecord.crm_id.in_(part)
        ),
    )
    return {str(r.crm_id): r for r in rows}


def all_crm_records(session: Session, destination: str) -> dict[int, CrmRecord]:
    rows = session.scalars(select(CrmRecord).where(CrmRecord.destination == destination))
    return {r.lead_id: r for r in rows}


def pending_upserts(
    session: Session, destination: str, lead_ids: Iterable[int]
) -> dict[int, OutboxOp]:
    """Each lead's pending upsert (one at most: a newer plan supersedes an older one)."""
    rows = _in_slices(
        session,
        lead_ids,
        lambda part: select(OutboxOp).where(
            OutboxOp.destination == destination,
            OutboxOp.status == "pending",
            OutboxOp.kind == "upsert",
            OutboxOp.lead_id.in_(part),
        ),
    )
    return {r.lead_id: r for r in rows}


def events_by_key(session: Session, keys: Iterable[str]) -> dict[str, Event]:
    rows = _in_slices(session, keys, lambda part: select(Event).where(Event.key.in_(part)))
    return {r.key: r for r in rows}


def events_of_leads(session: Session, lead_ids: Iterable[int]) -> dict[int, list[Event]]:
    out: dict[int, list[Event]] = {}
    rows = _in_slices(
        session,
        lead_ids,
        lambda part: select(Event).where(Event.lead_id.in_(part)).order_by(Event.at, Event.id),
    )
    for r in rows:
        out.setdefault(r.lead_id, []).append(r)
    return out


def event_values(event: Event) -> dict[str, Any]:
    """An event as rules read it: its attributes, type and time (ISO 8601, UTC)."""
    at = event.at.isoformat().replace("+00:00", "Z") if event.at else None
    return {**event.attributes, "type": event.type, "at": at}


def stage_history(session: Session, lead_ids: Iterable[int]) -> dict[int, list[StageHistory]]:
    out: dict[int, list[StageHistory]] = {}
    rows = _in_slices(
        session,
        lead_ids,
        lambda part: (
            select(StageHistory).where(StageHistory.lead_id.in_(part)).order_by(StageHistory.id)
        ),
    )
    for r in rows:
        out.setdefault(r.lead_id, []).append(r)
    return out


def outbox_row(
    key: str,
    destination: str,
    kind: str,
    lead_id: int,
    payload: dict[str, Any],
    run_id: str,
    *,
    handoff: bool = False,
) -> dict[str, Any]:
    """A new pending op, as a row for a bulk insert into the outbox."""
    now = utcnow()
    return {
        "handoff": handoff,
        "key": key,
        "destination": destination,
        "kind": kind,
        "lead_id": lead_id,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "run_id": run_id,
    }


def existing_op_keys(session: Session, keys: Iterable[str]) -> set[str]:
    rows = _in_slices(
        session, keys, lambda part: select(OutboxOp.key).where(OutboxOp.key.in_(part))
    )
    return set(rows)


def nurtured_leads(session: Session, lead_ids: Iterable[int]) -> set[int]:
    """Leads whose latest nurture op joined the campaign (and none left it since)."""
    latest: dict[int, str] = {}
    rows = _in_slices(
        session,
        lead_ids,
        lambda part: (
            select(OutboxOp)
            .where(
                OutboxOp.kind == "nurture",
                OutboxOp.status != "superseded",
                OutboxOp.lead_id.in_(part),
            )
            .order_by(OutboxOp.id)
        ),
    )
    for op in rows:
        latest[op.lead_id] = op.payload.get("action", "")
    return {lead_id for lead_id, action in latest.items() if action == "join"}


def next_batch(
    session: Session, destination: str, kind: str, size: int, *, handoffs_only: bool = False
) -> Sequence[OutboxOp]:
    query = select(OutboxOp).where(
        OutboxOp.destination == destination,
        OutboxOp.status == "pending",
        OutboxOp.kind == kind,
    )
    if handoffs_only:
        query = query.where(OutboxOp.handoff.is_(True))
    return session.scalars(
        query
        # Fresh ops first; records waiting to be retried (a row lock) gather in batches of
        # their own at the end, so that only those wait for their backoff.
        .order_by(OutboxOp.attempts, OutboxOp.id).limit(size)
    ).all()


def count_held(session: Session, destination: str) -> int:
    """Pending ops that are not hand-offs: what waits while the API quota is low."""
    query = (
        select(func.count())
        .select_from(OutboxOp)
        .where(
            OutboxOp.status == "pending",
            OutboxOp.destination == destination,
            OutboxOp.handoff.is_(False),
        )
    )
    return session.scalar(query) or 0


def count_pending(session: Session, destination: str | None = None, kind: str | None = None) -> int:
    query = select(func.count()).select_from(OutboxOp).where(OutboxOp.status == "pending")
    if destination:
        query = query.where(OutboxOp.destination == destination)
    if kind:
        query = query.where(OutboxOp.kind == kind)
    return session.scalar(query) or 0


def cursor(session: Session, source: str) -> dict[str, Any] | None:
    row = session.get(Cursor, source)
    return dict(row.value) if row else None


def save_cursor(session: Session, source: str, value: dict[str, Any]) -> None:
    row = session.get(Cursor, source)
    if row is None:
        session.add(Cursor(source=source, value=value, updated_at=utcnow()))
    else:
        row.value = value
        row.updated_at = utcnow()


def quarantine(
    session: Session,
    run_id: str,
    source: str,
    ref: str,
    field: str | None,
    reason: str,
    raw: dict[str, Any],
) -> None:
    session.add(
        Quarantine(
            run_id=run_id,
            source=source,
            record_ref=ref,
            field=field,
            reason=reason,
            raw=raw,
            created_at=utcnow(),
        )
    )


def dead_letter(
    session: Session, op: OutboxOp, code: str, message: str, fields: Sequence[str]
) -> None:
    op.status = "dead"
    op.last_error = f"{code}: {message}"
    op.updated_at = utcnow()
    session.add(
        DeadLetter(
            op_id=op.id,
            destination=op.destination,
            lead_id=op.lead_id,
            code=code,
            message=message,
            fields=list(fields),
            created_at=utcnow(),
        )
    )


def supersede(session: Session, op: OutboxOp) -> None:
    session.execute(
        update(OutboxOp)
        .where(OutboxOp.id == op.id)
        .values(status="superseded", updated_at=utcnow())
    )


def recent_runs(session: Session, limit: int = 10) -> Sequence[SyncRun]:
    return session.scalars(select(SyncRun).order_by(SyncRun.started_at.desc()).limit(limit)).all()


def dead_letters(session: Session, limit: int = 20) -> list[tuple[str, int, str]]:
    """(code, count, latest message) per reason, most frequent first."""
    rows = session.execute(
        select(DeadLetter.code, func.count(), func.max(DeadLetter.message))
        .group_by(DeadLetter.code)
        .order_by(func.count().desc())
        .limit(limit)
    )
    return [(code, n, msg) for code, n, msg in rows]


def dead_letter_rows(session: Session, code: str | None = None) -> list[tuple[DeadLetter, Lead]]:
    query = (
        select(DeadLetter, Lead).join(Lead, Lead.id == DeadLetter.lead_id).order_by(DeadLetter.id)
    )
    if code:
        query = query.where(DeadLetter.code == code)
    return [(d, lead) for d, lead in session.execute(query)]


def retry_dead_letters(session: Session, code: str | None = None) -> tuple[int, int]:
    """Dead ops back to work; (tasks and nurture changes back in the outbox, leads to plan
    again). A refused upsert is not sent again as it was: its lead is marked for the next
    sync to plan anew from the mapping and rules in force (the admin's fix may be there),
    and only what differs from the CRM is written."""
    again = replan = 0
    leads: dict[str, set[int]] = {}
    for dead, _lead in dead_letter_rows(session, code):
        op = session.get(OutboxOp, dead.op_id)
        session.delete(dead)
        if op is None:
            continue
        op.updated_at = utcnow()
        if op.kind == "upsert":
            op.status = "superseded"
            leads.setdefault(op.destination, set()).add(op.lead_id)
            continue
        op.status, op.attempts = "pending", 0
        again += 1
    for destination, ids in leads.items():
        key = f"replan:{destination}"
        marked = set((cursor(session, key) or {}).get("leads", [])) | ids
        save_cursor(session, key, {"leads": sorted(marked)})
        replan += len(ids)
    return again, replan


def discard_dead_letters(session: Session, code: str | None = None) -> int:
    """Dead letters dropped for good: their ops are never sent (the admin decided)."""
    count = 0
    for dead, _lead in dead_letter_rows(session, code):
        op = session.get(OutboxOp, dead.op_id)
        session.delete(dead)
        if op is not None:
            op.status, op.updated_at = "discarded", utcnow()
        count += 1
    return count


def leads_to_replan(session: Session, destination: str) -> list[int]:
    return list((cursor(session, f"replan:{destination}") or {}).get("leads", []))


def ops_by_keys(session: Session, keys: Iterable[str]) -> dict[str, OutboxOp]:
    rows = _in_slices(session, keys, lambda part: select(OutboxOp).where(OutboxOp.key.in_(part)))
    return {op.key: op for op in rows}


def recent_quarantine(session: Session, limit: int = 20) -> Sequence[Quarantine]:
    return session.scalars(select(Quarantine).order_by(Quarantine.id.desc()).limit(limit)).all()


def outbox_backlog(session: Session) -> list[tuple[str, str, int, datetime | None]]:
    rows = session.execute(
        select(OutboxOp.destination, OutboxOp.kind, func.count(), func.min(OutboxOp.created_at))
        .where(OutboxOp.status == "pending")
        .group_by(OutboxOp.destination, OutboxOp.kind)
    )
    return [(d, k, n, o) for d, k, n, o in rows]
