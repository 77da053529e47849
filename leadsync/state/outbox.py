"""The outbox: every CRM write leadsync plans, and the one module that writes its ops.

An op is keyed by what it writes and on what base (see ``sync.plan.op_key``), so
planning the same change twice enqueues it once. The pusher takes the pending ops
in batches, and each op ends ``done``, ``dead`` (with a dead letter saying why),
``superseded`` (a newer plan for the same lead) or ``discarded`` (by the admin).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from leadsync.state.batches import in_slices, insert_rows, keyed, one_of, slices
from leadsync.state.models import DeadLetter, Lead, OutboxOp, table, utcnow
from leadsync.state.repo import cursor, save_cursor

# -- planning -------------------------------------------------------------------


def new_op(
    key: str,
    destination: str,
    kind: str,
    lead_id: int,
    payload: dict[str, Any],
    run_id: str,
    *,
    handoff: bool = False,
) -> dict[str, Any]:
    """A pending op, as a row for ``enqueue`` (which stamps it)."""
    return {
        "handoff": handoff,
        "key": key,
        "destination": destination,
        "kind": kind,
        "lead_id": lead_id,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "run_id": run_id,
    }


def enqueue(
    session: Session,
    ops: Sequence[dict[str, Any]],
    *,
    revive: bool = False,
    among: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Add the ops whose key the outbox does not hold yet; return those added. The same
    change on the same base planned again (a re-read, a CRM map change that alters
    nothing, one entry asking for one task) is never sent twice. ``revive``: an op
    superseded before under the same key (refused, then sent back by the admin) goes
    back to pending instead. ``among``: where the key index is not there (a first
    load), the ids of the ops of these ops' leads, which every key names."""
    ops = list({op["key"]: op for op in ops}.values())
    if not ops:
        return []
    ops_table = table(OutboxOp)
    known = _known(session, [op["key"] for op in ops], among)
    if revive:
        again = [op_id for op_id, status in known.values() if status == "superseded"]
        for part in slices(again):
            session.execute(
                update(ops_table)
                .where(one_of(session, ops_table.c.id, part))
                .values(status="pending", attempts=0, updated_at=utcnow())
            )
    fresh = [op for op in ops if op["key"] not in known]
    if fresh:
        now = utcnow()  # one stamp for the batch: formatted once, not once an op
        for op in fresh:
            op["created_at"] = op["updated_at"] = now
        # The table's own insert: plain rows, one executemany, no ORM unit of work.
        insert_rows(session, ops_table, fresh)
    return fresh


def _known(
    session: Session, keys: list[str], among: Sequence[int] | None
) -> dict[str, tuple[int, str]]:
    """The ops that hold these keys already, by key: (id, status). Read by the key index,
    or among the ops given (``enqueue``)."""
    ops_table = table(OutboxOp)
    column, values = (ops_table.c.key, keys) if among is None else (ops_table.c.id, among)
    wanted, known = set(keys), {}
    columns = (ops_table.c.key, ops_table.c.id, ops_table.c.status)
    for part in slices(values):
        for key, op_id, status in session.execute(
            select(*columns).where(one_of(session, column, part))
        ):
            if key in wanted:
                known[key] = (op_id, status)
    return known


def supersede(session: Session, op: OutboxOp) -> None:
    session.execute(
        update(OutboxOp)
        .where(OutboxOp.id == op.id)
        .values(status="superseded", updated_at=utcnow())
    )


def pending_upserts(
    session: Session,
    destination: str,
    lead_ids: Iterable[int],
    *,
    among: Sequence[int] | None = None,
) -> dict[int, OutboxOp]:
    """Each lead's pending upsert (one at most: a newer plan supersedes an older one).

    Asked by lead alone (the destination is checked here): with the destination in the
    query, SQLite walks ``ix_outbox_drain`` over every pending op of the destination
    instead of ``ix_outbox_lead_id`` over the page's leads, and a first sync turns
    quadratic. ``tests/state/test_query_plans.py`` keeps it so. ``among``: where that
    index is not there (a first load), the ids of these leads' ops, read by the
    primary key instead."""
    pending = (OutboxOp.status == "pending", OutboxOp.kind == "upsert")
    column, values = _of_leads(lead_ids, among)
    rows = in_slices(
        session,
        values,
        lambda part: select(OutboxOp).where(one_of(session, column, part), *pending),
    )
    return {op.lead_id: op for op in rows if op.destination == destination}


def nurtured_leads(
    session: Session, lead_ids: Iterable[int], *, among: Sequence[int] | None = None
) -> set[int]:
    """Leads whose latest nurture op joined the campaign (and none left it since);
    ``among`` as for ``pending_upserts``."""
    latest: dict[int, str] = {}
    column, values = _of_leads(lead_ids, among)
    rows = in_slices(
        session,
        values,
        lambda part: (
            select(OutboxOp)
            .where(
                OutboxOp.kind == "nurture",
                OutboxOp.status != "superseded",
                one_of(session, column, part),
            )
            .order_by(OutboxOp.id)
        ),
    )
    for op in rows:
        latest[op.lead_id] = op.payload.get("action", "")
    return {lead_id for lead_id, action in latest.items() if action == "join"}


def _of_leads(lead_ids: Iterable[int], among: Sequence[int] | None) -> tuple[Any, Iterable[int]]:
    """How to find the ops of these leads: by their lead, or by the ids given."""
    return (OutboxOp.lead_id, lead_ids) if among is None else (OutboxOp.id, among)


def ops_by_keys(session: Session, keys: Iterable[str]) -> dict[str, OutboxOp]:
    return keyed(session, OutboxOp.key, keys)


class PendingOp(Protocol):
    """An op as ``next_batch`` reads it: a plain row (its columns by name), not an ORM
    object; what becomes of it is written by ``Outcomes``."""

    id: int
    destination: str
    kind: str
    lead_id: int
    payload: dict[str, Any]
    attempts: int


def next_batch(
    session: Session, destination: str, kind: str, size: int, *, handoffs_only: bool = False
) -> list[PendingOp]:
    ops = table(OutboxOp)
    # What a push reads of an op, no more (its times would be parsed for nothing).
    columns = (ops.c.id, ops.c.destination, ops.c.kind, ops.c.lead_id, ops.c.payload)
    query = select(*columns, ops.c.attempts).where(
        ops.c.destination == destination, ops.c.status == "pending", ops.c.kind == kind
    )
    if handoffs_only:
        query = query.where(ops.c.handoff.is_(True))
    # Fresh ops first; records waiting to be retried (a row lock) gather in batches of
    # their own at the end, so that only those wait for their backoff. `ix_outbox_drain`
    # holds this order: a batch is read from it, not sorted out of the whole backlog.
    rows = session.execute(query.order_by(ops.c.attempts, ops.c.id).limit(size)).all()
    return cast("list[PendingOp]", rows)


# -- results ----------------------------------------------------------------------


@dataclass
class Outcomes:
    """What became of one batch's ops, written back at once (``write``): an executemany
    per statement, not the ORM's unit of work over thousands of loaded ops (two thirds of
    a bulk push's own time). Each op counts one more attempt."""

    done_ids: list[int] = field(default_factory=list)  # done, and nothing else to say
    rows: list[dict[str, Any]] = field(default_factory=list)
    task_ids: list[dict[str, Any]] = field(default_factory=list)
    letters: list[dict[str, Any]] = field(default_factory=list)

    def done(self, op: PendingOp, crm_id: str | None = None) -> None:
        """The CRM took the op; the id it gave a task is kept (to mark it later)."""
        if crm_id and op.kind == "task":
            self._set(op, "done", None)
            self.task_ids.append({"b_id": op.id, "payload": {**op.payload, "crm_id": crm_id}})
        else:
            self.done_ids.append(op.id)

    def retry_later(self, op: PendingOp, code: str | None, message: str | None) -> None:
        """The CRM refused this record for now (a row lock): it stays pending, sent later."""
        self._set(op, "pending", f"{code}: {message}")

    def dead(self, op: PendingOp, code: str, message: str, fields: Sequence[str]) -> None:
        """Refused for good: dead, with a letter saying why."""
        self._set(op, "dead", f"{code}: {message}")
        self.letters.append(
            {
                "op_id": op.id,
                "destination": op.destination,
                "lead_id": op.lead_id,
                "code": code,
                "message": message,
                "fields": list(fields),
            }
        )

    def _set(self, op: PendingOp, status: str, error: str | None) -> None:
        self.rows.append(
            {"b_id": op.id, "status": status, "attempts": op.attempts + 1, "last_error": error}
        )

    def write(self, session: Session) -> None:
        now = utcnow()
        ops = table(OutboxOp)
        by_id = ops.c.id == bindparam("b_id")
        if self.done_ids:  # most of a batch: one statement
            statement = update(ops).where(one_of(session, ops.c.id, self.done_ids))
            session.execute(
                statement.values(
                    status="done", attempts=ops.c.attempts + 1, last_error=None, updated_at=now
                )
            )
        if self.rows:
            values: dict[str, Any] = {c: bindparam(c) for c in ("status", "attempts", "last_error")}
            statement = update(ops).where(by_id).values(**values, updated_at=now)
            session.execute(statement, self.rows)
        if self.task_ids:
            statement = update(ops).where(by_id).values(payload=bindparam("payload"))
            session.execute(statement, self.task_ids)
        if self.letters:
            session.execute(
                insert(table(DeadLetter)), [row | {"created_at": now} for row in self.letters]
            )


# -- backlog and dead letters ---------------------------------------------------


def count_pending(session: Session, destination: str | None = None, kind: str | None = None) -> int:
    query = select(func.count()).select_from(OutboxOp).where(OutboxOp.status == "pending")
    if destination:
        query = query.where(OutboxOp.destination == destination)
    if kind:
        query = query.where(OutboxOp.kind == kind)
    return session.scalar(query) or 0


def done_tasks_of_run(session: Session, run_id: str) -> list[dict[str, Any]]:
    """The follow-up tasks a run planned that the CRM now holds (their payloads)."""
    ops = session.scalars(
        select(OutboxOp).where(
            OutboxOp.run_id == run_id, OutboxOp.kind == "task", OutboxOp.status == "done"
        )
    )
    return [dict(op.payload) for op in ops]


def count_dead(session: Session, destination: str) -> int:
    query = select(func.count()).select_from(DeadLetter)
    return session.scalar(query.where(DeadLetter.destination == destination)) or 0


def pending_by_kind(session: Session, destination: str) -> dict[str, int]:
    """Pending ops of a destination, by kind (upsert, task, nurture)."""
    rows = session.execute(
        select(OutboxOp.kind, func.count())
        .where(OutboxOp.status == "pending", OutboxOp.destination == destination)
        .group_by(OutboxOp.kind)
    )
    return {kind: n for kind, n in rows}


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


def backlog(session: Session) -> list[tuple[str, str, int, datetime | None]]:
    rows = session.execute(
        select(OutboxOp.destination, OutboxOp.kind, func.count(), func.min(OutboxOp.created_at))
        .where(OutboxOp.status == "pending")
        .group_by(OutboxOp.destination, OutboxOp.kind)
    )
    return [(d, k, n, o) for d, k, n, o in rows]


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
