"""Repository functions over the state tables, shaped for the pipeline: one query per page
(a page's keys and rows go at once: ``state/batches.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import (
    InstrumentedAttribute,
    Session,
    configure_mappers,
    make_transient_to_detached,
)
from sqlalchemy.orm.attributes import instance_dict

from leadsync.mapping.lead import iso_utc
from leadsync.state.batches import in_slices, insert_rows, keyed, one_of
from leadsync.state.models import (
    CrmRecord,
    Cursor,
    Event,
    Lead,
    Quarantine,
    StageHistory,
    SyncRun,
    table,
    utcnow,
)

_LEADS = inspect(Lead).class_manager


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


def unsaved_lead(key: str, email: str | None, now: datetime) -> Lead:
    """A lead known by nothing yet but its key and email, outside any session: its page
    fills it, then ``save_leads`` writes it with the page's other new leads.

    Its columns are set in the instance's dict, as a query's rows are loaded, rather
    than through the constructor's attribute events: a first sync makes a million."""
    lead = _LEADS.new_instance()
    instance_dict(lead).update(Lead.blank(key, email, now, None))
    return lead


def save_leads(session: Session, leads: list[Lead]) -> None:
    """New leads written with their ids given first, by one plain executemany (RETURNING
    in the rows' order made SQLAlchemy batch and sort them, and psycopg parse each long
    batch anew); each then joins the session as a persistent lead, so that a later
    change (a stage, an owner) is flushed as an update."""
    if not leads:
        return
    configure_mappers()  # a lead made outside the ORM's constructor before any query
    lead_table = table(Lead)
    columns = [c.key for c in lead_table.columns if c.key != "id"]
    rows = [{c: values[c] for c in columns} for values in map(instance_dict, leads)]
    ids = _new_lead_ids(session, len(rows))
    insert_rows(session, lead_table, [row | {"id": i} for row, i in zip(rows, ids, strict=True)])
    for lead, lead_id in zip(leads, ids, strict=True):
        instance_dict(lead)["id"] = lead_id
        make_transient_to_detached(lead)  # what it holds is what the row holds
        session.add(lead)


def _new_lead_ids(session: Session, count: int) -> list[int]:
    """Ids for ``count`` new leads: PostgreSQL's from the column's sequence; SQLite's after
    the largest (the run lock keeps other writers out; one that got in would fail)."""
    if session.get_bind().dialect.name == "postgresql":
        taken = text(
            "SELECT nextval(pg_get_serial_sequence('leads', 'id')) FROM generate_series(1, :n)"
        )
        return list(session.scalars(taken, {"n": count}))
    first = (session.scalar(select(func.max(Lead.id))) or 0) + 1
    return list(range(first, first + count))


def leads_by_email(session: Session, emails: Iterable[str]) -> dict[str, Lead]:
    """The oldest lead with each email (the one identity resolution keeps)."""
    out: dict[str, Lead] = {}
    rows = in_slices(
        session,
        emails,
        lambda part: select(Lead).where(one_of(session, Lead.email, part)).order_by(Lead.id),
    )
    for r in rows:
        if r.email:
            out.setdefault(r.email, r)
    return out


def crm_records(
    session: Session, destination: str, lead_ids: Iterable[int]
) -> dict[int, CrmRecord]:
    return keyed(session, CrmRecord.lead_id, lead_ids, CrmRecord.destination == destination)


def crm_record_row(
    lead_id: int, destination: str, crm_id: str | None, fields: dict, *, adopted: bool, at: datetime
) -> dict[str, Any]:
    """The CRM record a first write made (or took over) ``at``: its id and the fields it
    holds (``fields`` itself, not a copy: a row is written, not changed), as a row for
    ``add_crm_records``. What sales set there is not known yet: ``seen`` stays NULL."""
    return {
        "lead_id": lead_id,
        "destination": destination,
        "crm_id": crm_id,
        "fields": fields,
        "synced_at": at,
        "adopted": adopted,
    }


def add_crm_records(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """New CRM records, one executemany: a Bulk API job writes 10,000 at once, and as ORM
    objects their flush held more memory than the job itself."""
    insert_rows(session, table(CrmRecord), list(rows))


def record_written(
    record: CrmRecord, fields: dict[str, Any], crm_id: str | None, at: datetime
) -> None:
    """A later write the CRM took ``at``: the fields it now holds."""
    record.fields = {**record.fields, **fields}
    record.crm_id = crm_id or record.crm_id
    record.synced_at = at


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


def grouped_by_lead(
    session: Session, lead_ids: Iterable[int], lead_id: InstrumentedAttribute[int], *order: Any
) -> dict[int, list[Any]]:
    """The rows of ``lead_id``'s table for these leads, a list a lead in ``order``."""
    out: dict[int, list[Any]] = {}
    query = select(lead_id.class_).order_by(*order)
    for r in in_slices(session, lead_ids, lambda part: query.where(one_of(session, lead_id, part))):
        out.setdefault(r.lead_id, []).append(r)
    return out


def events_of_leads(session: Session, lead_ids: Iterable[int]) -> dict[int, list[Event]]:
    return grouped_by_lead(session, lead_ids, Event.lead_id, Event.at, Event.id)


def event_values(event: Event) -> dict[str, Any]:
    """An event as rules read it: its attributes, type and time (ISO 8601, UTC)."""
    at = iso_utc(event.at) if event.at else None
    return {**event.attributes, "type": event.type, "at": at}


def stage_history(session: Session, lead_ids: Iterable[int]) -> dict[int, list[StageHistory]]:
    return grouped_by_lead(session, lead_ids, StageHistory.lead_id, StageHistory.id)


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
