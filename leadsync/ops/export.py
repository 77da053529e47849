"""`leadsync export`: the lead ledger as files a warehouse loads as they are.

Seven tables (leads, identities, events, stage_history, tasks, sla_timers, sync_runs),
each under ``DIR/<table>/day=YYYY-MM-DD/`` (Hive-style partitions, by the day of the
table's own time column, UTC), as Parquet or CSV with a fixed schema: timestamps in
UTC, dates as dates, JSON columns as JSON text. Each export writes only what is new
since the last one into the same folder, by marks kept in the state db:

- events and stage history are append-only: the rows after the last id exported;
- leads, identities and tasks change in place: the rows whose own time (updated,
  seen) is after the last one exported, and new leads (a lead comes again each time
  it changes: the newest row wins);
- SLA timers and runs change until they end: the rows after the last mark, and the
  ones still open (or running) at the last export.

The ledger is read under the run lock (no sync commits meanwhile), files are written
under a temporary name and renamed when whole, and the marks move only once every
file of the export is in place: a crash exports again, never less. The marks assume
the clock moves forward: identities follow the source record's time, which a fixed
clock (LEADSYNC_NOW) can repeat.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Engine, Select, Table, or_, select

from leadsync.errors import ConfigError
from leadsync.state import db, repo
from leadsync.state.models import (
    Event,
    Lead,
    OutboxOp,
    SlaTimer,
    SourceRecord,
    StageHistory,
    SyncRun,
    table,
)

CHUNK = 20_000
NO_DAY = "__HIVE_DEFAULT_PARTITION__"  # a row without a time: Hive's own name for it


@dataclass(frozen=True)
class Ledger:
    """One exported table: its columns (name -> kind), the time column that partitions
    it, and how an export finds its rows since the last one: ``after`` (append-only, by
    id), ``since`` (changed in place, by that time), or ``until_done`` (by ``mark``, and
    the rows ``still`` open last time)."""

    name: str
    source: Table
    columns: dict[str, str]
    day: str
    how: str  # after | since | until_done
    mark: str = "id"
    still: Callable[[Any], bool] | None = None  # a row that may still change
    where: Callable[[Table], ColumnElement[bool]] | None = None
    payload: tuple[str, ...] = ()  # columns read from the row's JSON payload
    # New rows by id as well: a new lead is stamped with the run's (decision) time, which
    # a fixed clock can set before the last export.
    new_by_id: bool = False

    def query(self, marks: dict[str, Any]) -> Select[Any]:
        t = self.source
        q = select(t)
        if self.where is not None:
            q = q.where(self.where(t))
        last = marks.get("last")
        if last is not None:
            mark = t.c[self.mark]
            value = datetime.fromisoformat(last) if self.mark != "id" else last
            # The export reads under the run lock: every row up to the mark was exported.
            newer = mark > value
            if self.how == "until_done":
                newer = or_(newer, t.c.id.in_(marks.get("open", [])))
            if self.new_by_id:
                newer = or_(newer, t.c.id > marks.get("id", 0))
            q = q.where(newer)
        return q.order_by(t.c[self.day], t.c[self.mark])


LEDGERS = (
    Ledger(
        "leads", table(Lead),
        {"id": "int", "key": "str", "email": "str", "owner": "str", "stage": "str",
         "score_fit": "float", "score_behaviour": "float", "revisit_on": "date",
         "created_at": "time", "updated_at": "time", "profile": "json"},
        day="updated_at", how="since", mark="updated_at", new_by_id=True,
    ),
    Ledger(
        "identities", table(SourceRecord),
        {"source": "str", "external_id": "str", "lead_id": "int", "content_hash": "str",
         "seen_at": "time"},
        day="seen_at", how="since", mark="seen_at",
    ),
    Ledger(
        "events", table(Event),
        {"id": "int", "key": "str", "lead_id": "int", "source": "str", "type": "str",
         "at": "time", "attributes": "json"},
        day="at", how="after",
    ),
    Ledger(
        "stage_history", table(StageHistory),
        {"id": "int", "lead_id": "int", "stage": "str", "at": "time", "reason": "str",
         "run_id": "str"},
        day="at", how="after",
    ),
    Ledger(
        "tasks", table(OutboxOp),
        {"id": "int", "key": "str", "lead_id": "int", "destination": "str", "status": "str",
         "owner": "str", "subject": "str", "due": "str", "crm_id": "str",
         "created_at": "time", "updated_at": "time"},
        day="updated_at", how="since", mark="updated_at",
        where=lambda t: t.c.kind == "task", payload=("owner", "subject", "due", "crm_id"),
    ),
    Ledger(
        "sla_timers", table(SlaTimer),
        {"id": "int", "lead_id": "int", "owner": "str", "task_key": "str",
         "started_at": "time", "due_at": "time", "status": "str", "reassignments": "int",
         "touched_at": "time", "steps": "json"},
        day="started_at", how="until_done", still=lambda r: r.status == "open",
    ),
    Ledger(
        "sync_runs", table(SyncRun),
        {"id": "str", "started_at": "time", "finished_at": "time", "status": "str",
         "dry_run": "bool", "summary": "json"},
        day="started_at", how="until_done", mark="started_at",
        still=lambda r: r.finished_at is None,
    ),
)  # fmt: skip


@dataclass
class Marks:
    """What one table's export has seen: its last mark, and the rows still open."""

    last: Any = None
    open: list[Any] = field(default_factory=list)
    id: int = 0

    def see(self, ledger: Ledger, row: Any) -> None:
        value = getattr(row, ledger.mark)
        if value is not None and (self.last is None or value > self.last):
            self.last = value
        if ledger.new_by_id:
            self.id = max(self.id, row.id)
        if ledger.still is not None and ledger.still(row):
            self.open.append(row.id)

    def as_dict(self, before: dict[str, Any]) -> dict[str, Any]:
        last = self.last.isoformat() if isinstance(self.last, datetime) else self.last
        return {
            "last": before.get("last") if last is None else last,
            "open": self.open,
            "id": max(self.id, before.get("id", 0)),
        }


def export(engine: Engine, to: Path, fmt: str, now: datetime) -> dict[str, int]:
    """Write what is new since the last export to ``to``; rows written, by table."""
    write = _writer(fmt)
    key = "export:" + hashlib.sha256(str(to.resolve()).encode()).hexdigest()[:16]
    # One name for this export's files (a day over CHUNK rows gets several): sorted by time.
    part = f"part-{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}-{{n:05d}}.{fmt}"
    factory = db.session_factory(engine)
    staged: list[tuple[Path, Path]] = []
    counts: dict[str, int] = {}
    # Under the run lock, as a sync: no run commits while the ledger is read, so every
    # row up to the marks is in this export, and the next one starts after them.
    with db.run_lock(engine), factory() as session:
        before = repo.cursor(session, key) or {}
        after: dict[str, Any] = {}
        for ledger in LEDGERS:
            marks = Marks()
            if not (to / ledger.name).is_dir():
                before.pop(ledger.name, None)  # a folder emptied by hand: from the start
            rows = session.execute(ledger.query(before.get(ledger.name, {}))).yield_per(CHUNK)
            counts[ledger.name] = 0
            for n, (day, chunk) in enumerate(_by_day(ledger, rows)):
                final = to / ledger.name / f"day={day}" / part.format(n=n)
                temporary = final.with_name(final.name + ".tmp")
                temporary.parent.mkdir(parents=True, exist_ok=True)
                write(temporary, ledger, chunk)
                staged.append((temporary, final))
                counts[ledger.name] += len(chunk)
                for row in chunk:
                    marks.see(ledger, row)
            after[ledger.name] = marks.as_dict(before.get(ledger.name, {}))
    for temporary, final in staged:
        temporary.replace(final)
    with factory() as session, session.begin():
        repo.save_cursor(session, key, after)
    return counts


def _by_day(ledger: Ledger, rows: Iterable[Any]) -> Iterable[tuple[str, list[Any]]]:
    """The rows (ordered by the partitioning time) a day at a time, at most CHUNK at once:
    a first export of a million leads synced the same day is never in memory whole."""
    day = NO_DAY
    chunk: list[Any] = []
    for row in rows:
        at = getattr(row, ledger.day)
        this = at.date().isoformat() if at is not None else NO_DAY
        if chunk and (this != day or len(chunk) >= CHUNK):
            yield day, chunk
            chunk = []
        day = this
        chunk.append(row)
    if chunk:
        yield day, chunk


def _values(ledger: Ledger, rows: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, kind in ledger.columns.items():
        if name in ledger.payload:
            values = [(r.payload or {}).get(name) for r in rows]
        else:
            values = [getattr(r, name) for r in rows]
        if kind == "json":
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        elif kind == "str":
            values = [None if v is None else str(v) for v in values]
        out[name] = values
    return out


def _writer(fmt: str) -> Callable[[Path, Ledger, list[Any]], None]:
    """A function writing one day's rows to a file, in ``fmt`` (pyarrow's writers)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "`leadsync export` writes with pyarrow: pip install 'leadsync[export]'"
        ) from None
    kinds = {
        "int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
        "time": pa.timestamp("us", tz="UTC"), "date": pa.date32(), "json": pa.string(),
    }  # fmt: skip

    def write(path: Path, ledger: Ledger, rows: list[Any]) -> None:
        schema = pa.schema([(n, kinds[k]) for n, k in ledger.columns.items()])
        batch = pa.Table.from_pydict(_values(ledger, rows), schema=schema)
        if fmt == "parquet":
            pq.write_table(batch, path)
        else:
            pa_csv.write_csv(batch, path)

    return write
