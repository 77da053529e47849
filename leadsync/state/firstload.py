"""Where a run finds the leads, record versions and ops it has seen, and a first load's way.

Usually that is the state db's indexes: leads by key and by email, source records by
(source, external id), a lead's ops and versions by its id, ops by their key. The
lookup keys come in random order, so on a first sync of a million leads each commit of
a page dirtied a page of each index per lead: 11 of the 15 KB a lead the first sync
wrote, and the reason its last pages ran at 0.7 of its first ones (bench/scale.py). A
first load (a run into a state db that holds no lead yet) does what a bulk loader does:
drops those indexes, writes its rows, and builds the indexes once at the end, sorted;
so too the indexes no page of it reads (leads by stage, the outbox's drain order) and
those of a lead's rows (`BY_LEAD_INDEXES`: each kept up by a WAL record an entry, 390
bytes a lead at 100,000 on PostgreSQL with the outbox's key, bench/README.md). Meanwhile the run
finds what it wrote earlier in a small in-memory table of 64-bit hashes and row ids
(about 25 bytes an entry): a hash only says where to look, and every row it names is
read back and compared whole. Each page notes what it wrote (lead keys, emails as they
change; after its commit, its record versions and ops), so a value whose hash names no
row that holds it is one the load never wrote.

On PostgreSQL a first load also leaves out, until its rows are in, the foreign keys of
the tables it fills (`LOADED`), as `pg_restore` does: each row's check locked the lead it
names, a WAL record a row, and the lead's page was dirtied again when the lock was later
read as gone; a million leads wrote 370 of their 4,890 bytes a lead for it. Each key is
added back in one pass that checks every row. The run writes a lead before the rows
that name it, in the same transaction, so the check finds nothing missing. The outbox's
unique key waits too: its ops' keys are checked among the ops noted for their leads
(every key names its lead), and the constraint added back checks them all again.

A first load cut short (a crash, a kill) leaves the indexes and keys missing: the next
run restores them before anything else (`restore`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Engine, ForeignKeyConstraint, Index, bindparam, select, text

from leadsync import log
from leadsync.state import outbox, repo
from leadsync.state import versions as records
from leadsync.state.models import (
    Event,
    Lead,
    OutboxOp,
    SlaTimer,
    SourceRecord,
    StageHistory,
    table,
)
from leadsync.state.versions import Version

logger = log.get("leadsync.state")

# The indexes that take keys in random order (lead keys, emails, the sources' ids): on
# a first load of a million leads, every commit dirtied a page of each per lead.
LOOKUP_INDEXES = ("ux_leads_key", "ix_leads_email", "ux_source_records")
# Indexes no page of a first load reads (leads by stage, the outbox in its drain order).
UNREAD_INDEXES = ("ix_leads_stage", "ix_outbox_drain")
# A lead's record versions and ops: a first load finds its own by their row ids.
BY_LEAD_INDEXES = ("ix_source_records_lead_id", "ix_outbox_lead_id")
FIRST_LOAD_INDEXES = LOOKUP_INDEXES + UNREAD_INDEXES + BY_LEAD_INDEXES

# The tables a first load fills whose rows name a lead: their foreign keys wait for the
# rows on PostgreSQL (SQLite's checks write nothing, and it cannot drop a constraint).
LOADED = (SourceRecord, OutboxOp, Event, StageHistory, SlaTimer)
# The unique keys that wait for the rows on PostgreSQL (SQLite keeps a column's UNIQUE).
UNIQUE = (("outbox", "key"),)


def first_load_indexes() -> list[Index]:
    """The indexes a first load drops, and builds after its rows."""
    models = (Lead, SourceRecord, OutboxOp)
    by_name = {str(i.name): i for model in models for i in table(model).indexes}
    return [by_name[name] for name in FIRST_LOAD_INDEXES]


class Lookups:
    """The state db's indexes: what every run but a first load uses."""

    def versions(self, session: Any, source: str, keys: Iterable[str]) -> dict[str, Version]:
        return records.versions(session, source, keys)

    def leads_by_key(self, session: Any, keys: Iterable[str]) -> dict[str, Lead]:
        return repo.leads_by_key(session, keys)

    def leads_by_email(self, session: Any, emails: Iterable[str]) -> dict[str, Lead]:
        return repo.leads_by_email(session, emails)

    def pending_upserts(
        self, session: Any, destination: str, lead_ids: Iterable[int]
    ) -> dict[int, OutboxOp]:
        return outbox.pending_upserts(session, destination, lead_ids)

    def nurtured_leads(self, session: Any, lead_ids: Iterable[int]) -> set[int]:
        return outbox.nurtured_leads(session, lead_ids)

    def enqueue(
        self, session: Any, ops: Sequence[dict[str, Any]], *, revive: bool = False
    ) -> list[dict[str, Any]]:
        return outbox.enqueue(session, ops, revive=revive)

    def note(self, source: str, versions: Mapping[str, Version], leads: Iterable[Lead]) -> None:
        """What a page wrote (nothing to do: the indexes took it)."""

    def committed(self, engine: Engine) -> None:
        """A page was committed (nothing to do: its rows are read as the run goes)."""


INDEXED = Lookups()

# The kinds of key the in-memory table holds: a record version's (source and key, for
# its row id), a lead's key and email (for its id), a lead's id (for its ops' ids).
_RECORD, _KEY, _EMAIL, _OPS = 0, 1, 2, 3


class FirstLoad(Lookups):
    """A first load's lookups: the run's own writes, by hash, each hit checked whole."""

    def __init__(self) -> None:
        self._seen = sqlite3.connect(":memory:", check_same_thread=False)
        self._seen.execute(
            "CREATE TABLE seen (kind INTEGER, h INTEGER, id INTEGER, "
            "PRIMARY KEY (kind, h, id)) WITHOUT ROWID"
        )
        self._settled: dict[str, int] = {}  # table: the last id `committed` read

    def close(self) -> None:
        self._seen.close()

    def committed(self, engine: Engine) -> None:
        """The page's new rows read once, now that they are committed: its record versions
        and ops noted by their row ids, for the pages after it.

        On PostgreSQL the read also marks each row committed (its hint bits), which the
        server does on the first read after the commit, dirtying the row's page to do
        so. Read now, the page is still in the server's buffers; left to the index build
        at the end, a load larger than the buffers has each page written out without the
        marks, then again with them: a million leads, 500 bytes a lead of 5,650
        (bench/scale.py). By id, the new rows only: a scan of the whole table each page
        would make the load quadratic."""
        settled = self._settled
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL enable_seqscan = off"))  # no statistics yet
                # count(*): each new lead is visited, and the visit is what sets its marks
                query = text("SELECT count(*), max(id) FROM leads WHERE id > :after")
                _, last = conn.execute(query, {"after": settled.get("leads", 0)}).one()
                settled["leads"] = last or settled.get("leads", 0)
            versions = conn.execute(
                text("SELECT id, source, external_id FROM source_records WHERE id > :after"),
                {"after": settled.get("source_records", 0)},
            ).all()
            ops = conn.execute(
                text("SELECT id, lead_id FROM outbox WHERE id > :after"),
                {"after": settled.get("outbox", 0)},
            ).all()
        noted = [(_RECORD, _hash(source, key), row) for row, source, key in versions]
        noted += [(_OPS, lead_id, op) for op, lead_id in ops]
        self._seen.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", noted)
        if versions:
            settled["source_records"] = max(row for row, _, _ in versions)
        if ops:
            settled["outbox"] = max(op for op, _ in ops)

    def note(self, source: str, versions: Mapping[str, Version], leads: Iterable[Lead]) -> None:
        rows = []
        for lead in leads:
            rows.append((_KEY, _hash(lead.key), lead.id))
            if lead.email:
                rows.append((_EMAIL, _hash(lead.email), lead.id))
        self._seen.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", rows)

    def versions(self, session: Any, source: str, keys: Iterable[str]) -> dict[str, Version]:
        hashes = {key: _hash(source, key) for key in keys}
        seen = self._candidates(_RECORD, hashes.values())
        rows = sorted({row for ids in seen.values() for row in ids})
        stored = records.versions_of_rows(session, source, rows) if rows else {}
        return {key: stored[key] for key in hashes if key in stored}

    def pending_upserts(
        self, session: Any, destination: str, lead_ids: Iterable[int]
    ) -> dict[int, OutboxOp]:
        return outbox.pending_upserts(session, destination, lead_ids, among=self._ops_of(lead_ids))

    def nurtured_leads(self, session: Any, lead_ids: Iterable[int]) -> set[int]:
        return outbox.nurtured_leads(session, lead_ids, among=self._ops_of(lead_ids))

    def enqueue(
        self, session: Any, ops: Sequence[dict[str, Any]], *, revive: bool = False
    ) -> list[dict[str, Any]]:
        among = self._ops_of({op["lead_id"] for op in ops})
        return outbox.enqueue(session, ops, revive=revive, among=among)

    def _ops_of(self, lead_ids: Iterable[int]) -> list[int]:
        """The ids of the ops earlier pages wrote for these leads."""
        found = self._candidates(_OPS, lead_ids)
        return sorted(op for ops in found.values() for op in ops)

    def leads_by_key(self, session: Any, keys: Iterable[str]) -> dict[str, Lead]:
        return self._leads(session, keys, _KEY, "key")

    def leads_by_email(self, session: Any, emails: Iterable[str]) -> dict[str, Lead]:
        return self._leads(session, emails, _EMAIL, "email")

    def _leads(self, session: Any, values: Iterable[str], kind: int, attr: str) -> dict[str, Lead]:
        hashes = {value: _hash(value) for value in values}
        seen = self._candidates(kind, hashes.values())
        leads = repo.leads_by_id(session, sorted({i for ids in seen.values() for i in ids}))
        found: dict[str, Lead] = {}
        for value, h in hashes.items():
            for lead_id in seen.get(h, ()):  # the oldest lead first
                lead = leads.get(lead_id)
                if lead is not None and getattr(lead, attr) == value:
                    found[value] = lead
                    break
        return found

    def _candidates(self, kind: int, hashes: Iterable[int]) -> dict[int, list[int]]:
        """The row ids noted under each of these hashes, oldest first."""
        listed = orjson.dumps(sorted(set(hashes)))
        query = (
            "SELECT h, id FROM seen WHERE kind = ? AND h IN (SELECT value FROM json_each(?)) "
            "ORDER BY h, id"
        )
        out: dict[int, list[int]] = {}
        for h, row in self._seen.execute(query, (kind, listed)):
            out.setdefault(h, []).append(row)
        return out


def _hash(*parts: str) -> int:
    """Python's own 64-bit hash of the value (salted per process: the table lives as
    long as the run)."""
    return hash(parts)


def begin(engine: Engine) -> FirstLoad | None:
    """A first load, when the state db holds no lead and no source record yet: the lookup
    indexes (and on PostgreSQL the loaded tables' foreign keys and the outbox's unique
    key) dropped until `restore`. None otherwise."""
    with engine.begin() as conn:
        if conn.execute(select(Lead.id).limit(1)).first() is not None:
            return None
        if conn.execute(select(SourceRecord.id).limit(1)).first() is not None:
            return None
        for index in _present(conn, first_load_indexes()):
            index.drop(conn)
        for (name, _, _), constraint in _constraints(conn).items():
            if constraint is not None:
                conn.execute(text(f'ALTER TABLE {name} DROP CONSTRAINT "{constraint}"'))
    logger.info("sync.first_load.begins", indexes=len(first_load_indexes()))
    return FirstLoad()


def restore(engine: Engine) -> None:
    """The indexes a first load dropped, built (each sorted, in one pass), and its keys
    added (each checked in one pass)."""
    with engine.begin() as conn:
        present = {index.name for index in _present(conn, first_load_indexes())}
        missing = [index for index in first_load_indexes() if index.name not in present]
        for index in missing:
            index.create(conn)
        keys = [key for key, constraint in _constraints(conn).items() if constraint is None]
        for key in keys:
            conn.execute(text(_add_constraint(*key)))
    if missing or keys:
        indexes = [index.name for index in missing]
        logger.info("sync.first_load.indexed", indexes=indexes, keys=len(keys))


def _loaded_keys() -> dict[tuple[str, str], ForeignKeyConstraint]:
    """The models' foreign keys of the loaded tables, by (table, column)."""
    keys = (key for model in LOADED for key in table(model).foreign_key_constraints)
    return {(key.table.name, key.column_keys[0]): key for key in keys}


def _constraints(conn: Any) -> dict[tuple[str, str, str], str | None]:
    """The keys a first load leaves out, by (table, column, "f"oreign or "u"nique): the
    server's name for each, or None when it is missing. Empty on SQLite, whose keys
    stay."""
    if conn.dialect.name != "postgresql":
        return {}
    query = text(
        "SELECT cl.relname, a.attname, c.contype, c.conname FROM pg_constraint c "
        "JOIN pg_class cl ON cl.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = cl.relnamespace AND n.nspname = current_schema() "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE c.contype IN ('f', 'u') AND cardinality(c.conkey) = 1"
    )
    named = {
        (name, column, kind): constraint for name, column, kind, constraint in conn.execute(query)
    }
    wanted = [(name, column, "f") for name, column in _loaded_keys()]
    wanted += [(name, column, "u") for name, column in UNIQUE]
    return {key: named.get(key) for key in wanted}


def _add_constraint(name: str, column: str, kind: str) -> str:
    """The statement that adds a key back, under PostgreSQL's own name for it."""
    if kind == "u":
        return f"ALTER TABLE {name} ADD CONSTRAINT {name}_{column}_key UNIQUE ({column})"
    (element,) = _loaded_keys()[(name, column)].elements
    target = element.column
    return (
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_{column}_fkey "
        f"FOREIGN KEY ({column}) REFERENCES {target.table.name} ({target.name})"
    )


def _present(conn: Any, indexes: list[Index]) -> list[Index]:
    names = [index.name for index in indexes]
    if conn.dialect.name == "postgresql":
        query = text(
            "SELECT indexname FROM pg_indexes "
            "WHERE schemaname = current_schema() AND indexname IN :names"
        )
    else:
        query = text("SELECT name FROM sqlite_master WHERE type = 'index' AND name IN :names")
    query = query.bindparams(bindparam("names", expanding=True))
    listed = set(conn.execute(query, {"names": names}).scalars())
    return [index for index in indexes if index.name in listed]
