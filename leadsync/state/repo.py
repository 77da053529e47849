"""Repository functions over the state tables, shaped for the pipeline: one query per page.

Each lookup takes a whole page's keys at once (``IN (...)`` in slices that
every database accepts), so a page of a thousand records costs a handful of
queries, not thousands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from leadsync.mapping.lead import iso_utc
from leadsync.state.models import (
    CrmRecord,
    Cursor,
    Event,
    Lead,
    LeadIdentity,
    Quarantine,
    SourceRecord,
    StageHistory,
    SyncRun,
    utcnow,
)

T = TypeVar("T")
_SLICE = 500


def slices(values: Iterable[T]) -> Iterator[list[T]]:
    items = list(dict.fromkeys(values))
    for i in range(0, len(items), _SLICE):
        yield items[i : i + _SLICE]


def in_slices(
    session: Session, values: Iterable[Any], query: Callable[[list[Any]], Select[Any]]
) -> Iterator[Any]:
    """Rows of ``query(part)`` for each slice of ``values``: one query per 500 keys."""
    for part in slices(values):
        yield from session.scalars(query(part))


def keyed(
    session: Session, column: InstrumentedAttribute[Any], values: Iterable[Any], *where: Any
) -> dict[Any, Any]:
    """The rows whose ``column`` is one of ``values`` (and ``where`` holds), by that
    column's value: one query per 500 values."""
    model = column.class_
    rows = in_slices(session, values, lambda part: select(model).where(*where, column.in_(part)))
    return {getattr(row, column.key): row for row in rows}


def source_records(session: Session, source: str, ids: Iterable[str]) -> dict[str, SourceRecord]:
    return keyed(session, SourceRecord.external_id, ids, SourceRecord.source == source)


def identities(session: Session, source: str, ids: Iterable[str]) -> dict[str, int]:
    found = keyed(session, LeadIdentity.external_id, ids, LeadIdentity.source == source)
    return {ext: identity.lead_id for ext, identity in found.items()}


def all_lead_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Lead.id).order_by(Lead.id)))


def leads_with_behaviour(session: Session) -> list[int]:
    """The leads whose score has behaviour points: the ones time moves."""
    query = select(Lead.id).where(Lead.score_behaviour.is_not(None), Lead.score_behaviour != 0)
    return list(session.scalars(query.order_by(Lead.id)))


def leads_by_id(session: Session, ids: Iterable[int]) -> dict[int, Lead]:
    return keyed(session, Lead.id, ids)


def leads_to_revisit(session: Session, today: date) -> dict[int, Lead]:
    """Recycled leads whose revisit day has come."""
    query = select(Lead).where(Lead.stage == "recycled", Lead.revisit_on <= today)
    return {lead.id: lead for lead in session.scalars(query)}


def leads_by_key(session: Session, keys: Iterable[str]) -> dict[str, Lead]:
    return keyed(session, Lead.key, keys)


def new_lead(session: Session, key: str, email: str | None, now: datetime) -> Lead:
    """A lead known by nothing yet but its key and email, added to the session."""
    lead = Lead.new(key, email, now)
    session.add(lead)
    return lead


def leads_by_email(session: Session, emails: Iterable[str]) -> dict[str, Lead]:
    """The oldest lead with each email (the one identity resolution keeps)."""
    out: dict[str, Lead] = {}
    rows = in_slices(
        session, emails, lambda part: select(Lead).where(Lead.email.in_(part)).order_by(Lead.id)
    )
    for r in rows:
        if r.email:
            out.setdefault(r.email, r)
    return out


def crm_records(
    session: Session, destination: str, lead_ids: Iterable[int]
) -> dict[int, CrmRecord]:
    return keyed(session, CrmRecord.lead_id, lead_ids, CrmRecord.destination == destination)


def add_crm_record(
    session: Session,
    lead_id: int,
    destination: str,
    crm_id: str | None,
    fields: dict[str, Any],
    *,
    adopted: bool,
) -> CrmRecord:
    """The CRM record a first write made (or took over): its id and the fields it holds."""
    record = CrmRecord(
        lead_id=lead_id,
        destination=destination,
        crm_id=crm_id,
        fields=dict(fields),
        synced_at=utcnow(),
        adopted=adopted,
    )
    session.add(record)
    return record


def record_written(record: CrmRecord, fields: dict[str, Any], crm_id: str | None) -> None:
    """A later write the CRM took: the fields it now holds."""
    record.fields = {**record.fields, **fields}
    record.crm_id = crm_id or record.crm_id
    record.synced_at = utcnow()


def crm_records_by_id(
    session: Session, destination: str, crm_ids: Iterable[str]
) -> dict[str, CrmRecord]:
    """The records leadsync wrote, by their CRM id."""
    return keyed(session, CrmRecord.crm_id, crm_ids, CrmRecord.destination == destination)


def all_crm_records(session: Session, destination: str) -> dict[int, CrmRecord]:
    rows = session.scalars(select(CrmRecord).where(CrmRecord.destination == destination))
    return {r.lead_id: r for r in rows}


def events_by_key(session: Session, keys: Iterable[str]) -> dict[str, Event]:
    return keyed(session, Event.key, keys)


def events_of_leads(session: Session, lead_ids: Iterable[int]) -> dict[int, list[Event]]:
    out: dict[int, list[Event]] = {}
    rows = in_slices(
        session,
        lead_ids,
        lambda part: select(Event).where(Event.lead_id.in_(part)).order_by(Event.at, Event.id),
    )
    for r in rows:
        out.setdefault(r.lead_id, []).append(r)
    return out


def event_values(event: Event) -> dict[str, Any]:
    """An event as rules read it: its attributes, type and time (ISO 8601, UTC)."""
    at = iso_utc(event.at) if event.at else None
    return {**event.attributes, "type": event.type, "at": at}


def stage_history(session: Session, lead_ids: Iterable[int]) -> dict[int, list[StageHistory]]:
    out: dict[int, list[StageHistory]] = {}
    rows = in_slices(
        session,
        lead_ids,
        lambda part: (
            select(StageHistory).where(StageHistory.lead_id.in_(part)).order_by(StageHistory.id)
        ),
    )
    for r in rows:
        out.setdefault(r.lead_id, []).append(r)
    return out


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


def open_run(session: Session, run_id: str) -> None:
    """A run's record, as it starts: running until closed (or found dead, lock released)."""
    session.add(
        SyncRun(id=run_id, started_at=utcnow(), status="running", dry_run=False, summary={})
    )


def close_run(session: Session, run_id: str, status: str, summary: dict[str, Any]) -> None:
    run = session.get(SyncRun, run_id)
    if run is not None:
        run.finished_at, run.status, run.summary = utcnow(), status, summary


def recent_runs(session: Session, limit: int = 10) -> Sequence[SyncRun]:
    return session.scalars(select(SyncRun).order_by(SyncRun.started_at.desc()).limit(limit)).all()


def recent_quarantine(session: Session, limit: int = 20) -> Sequence[Quarantine]:
    return session.scalars(select(Quarantine).order_by(Quarantine.id.desc()).limit(limit)).all()


def add_identities(session: Session, source: str, leads: dict[str, int]) -> None:
    """New (source, external id) -> lead links, one bulk insert."""
    if leads:
        rows = [
            {"source": source, "external_id": ext, "lead_id": lead_id}
            for ext, lead_id in leads.items()
        ]
        session.execute(insert(LeadIdentity), rows)


def add_source_records(
    session: Session, source: str, versions: dict[str, tuple[str, int]], seen_at: datetime
) -> None:
    """The first stored version (content hash and lead) of records by their key."""
    if versions:
        rows = [
            {
                "source": source,
                "external_id": key,
                "content_hash": content_hash,
                "lead_id": lead_id,
                "seen_at": seen_at,
            }
            for key, (content_hash, lead_id) in versions.items()
        ]
        session.execute(insert(SourceRecord), rows)


def store_events(session: Session, events: dict[str, dict[str, Any]]) -> None:
    """Events stored once each under their stable key; a known key takes the new values
    (the record changed, so did its event)."""
    if not events:
        return
    fresh = dict(events)
    for key, old in events_by_key(session, events).items():
        row = fresh.pop(key)
        old.type, old.at, old.attributes, old.lead_id = (
            row["type"],
            row["at"],
            row["attributes"],
            row["lead_id"],
        )
    if fresh:
        session.execute(insert(Event), list(fresh.values()))


def add_stage_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(StageHistory), rows)
