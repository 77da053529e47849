"""Where a run finds the leads and record versions it has seen, and a first load's way.

Usually that is the state db's lookup indexes: leads by key and by email, source
records by (source, external id). Their keys come in random order, so on a first sync
of a million leads each commit of a page dirtied a page of each index per lead: 11 of
the 15 KB a lead the first sync wrote, and the reason its last pages ran at 0.7 of its
first ones (bench/scale.py). A first load (a run into a state db that holds no lead
yet) does what a bulk loader does: drops those indexes, writes its rows, and builds the
indexes once at the end, sorted; so too the two indexes no page of it reads (leads by
stage, the outbox's drain order). Meanwhile the run finds what it wrote earlier in a
small in-memory table of 64-bit hashes and lead ids (about 25 bytes an entry): a
hash only says where to look, and every lead it names is read back and compared
whole. Each page notes what it wrote (record versions, lead keys, emails as they
change), so a value whose hash names no lead that holds it is one the load never
wrote.

On PostgreSQL a first load also leaves out, until its rows are in, the foreign keys of
the tables it fills (`LOADED`), as `pg_restore` does: each row's check locked the lead it
names, a WAL record a row, and the lead's page was dirtied again when the lock was later
read as gone; a million leads wrote 370 of their 4,890 bytes a lead for it. Each key is
added back in one pass that checks every row. The run writes a lead before the rows
that name it, in the same transaction, so the check finds nothing missing.

A first load cut short (a crash, a kill) leaves the indexes and keys missing: the next
run restores them before anything else (`restore`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import Engine, ForeignKeyConstraint, Index, bindparam, select, text

from leadsync import log
from leadsync.state import repo
from leadsync.state import versions as records
from leadsync.state.models import (
    Event,
    Lead,
    OutboxOp,
    SlaTimer,
    SourceRecord,
    StageHistory,
    first_load_indexes,
    table,
)
from leadsync.state.versions import Version

logger = log.get("leadsync.state")


class Lookups:
    """The state db's indexes: what every run but a first load uses."""

    def versions(self, session: Any, source: str, keys: Iterable[str]) -> dict[str, Version]:
        return records.versions(session, source, keys)

    def leads_by_key(self, session: Any, keys: Iterable[str]) -> dict[str, Lead]:
        return repo.leads_by_key(session, keys)

    def leads_by_email(self, session: Any, emails: Iterable[str]) -> dict[str, Lead]:
        return repo.leads_by_email(session, emails)

    def note(self, source: str, versions: Mapping[str, Version], leads: Iterable[Lead]) -> None:
        """What a page wrote (nothing to do: the indexes took it)."""

    def committed(self, engine: Engine) -> None:
        """A page was committed (nothing to do: its rows are read as the run goes)."""


INDEXED = Lookups()

# The tables a first load fills, each by rising ids.
_SETTLED = ("leads", "source_records", "outbox")

# The kinds of key the in-memory table holds.
_RECORD, _KEY, _EMAIL = 0, 1, 2


class FirstLoad(Lookups):
    """A first load's lookups: the run's own writes, by hash, each hit checked whole."""

    def __init__(self) -> None:
        self._seen = sqlite3.connect(":memory:", check_same_thread=False)
        self._seen.execute(
            "CREATE TABLE seen (kind INTEGER, h INTEGER, lead_id INTEGER, "
            "PRIMARY KEY (kind, h, lead_id)) WITHOUT ROWID"
        )
        self._settled: dict[str, int] = {}  # table: the last id `committed` read

    def close(self) -> None:
        self._seen.close()

    def committed(self, engine: Engine) -> None:
        """On PostgreSQL, the page's new rows read once, now that they are committed.

        The server marks a row committed (its hint bits) on the first read after its
        commit, and dirties the row's page to do so. Read now, the page is still in the
        server's buffers; left to the index build at the end, a load larger than the
        buffers has each page written out without the marks, then again with them: a
        million leads, 500 bytes a lead of 5,650 (bench/scale.py). By id, the new rows
        only: a scan of the whole table each page would make the load quadratic."""
        if engine.dialect.name != "postgresql":
            return
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # no statistics yet
            for name in _SETTLED:
                # count(*): each row is visited, and the visit is what sets its marks
                query = text(f"SELECT count(*), max(id) FROM {name} WHERE id > :after")
                _, last = conn.execute(query, {"after": self._settled.get(name, 0)}).one()
                if last is not None:
                    self._settled[name] = last

    def note(self, source: str, versions: Mapping[str, Version], leads: Iterable[Lead]) -> None:
        rows = [(_RECORD, _hash(source, key), v.lead_id) for key, v in versions.items()]
        for lead in leads:
            rows.append((_KEY, _hash(lead.key), lead.id))
            if lead.email:
                rows.append((_EMAIL, _hash(lead.email), lead.id))
        self._seen.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", rows)

    def versions(self, session: Any, source: str, keys: Iterable[str]) -> dict[str, Version]:
        hashes = {key: _hash(source, key) for key in keys}
        seen = self._candidates(_RECORD, hashes.values())
        leads = sorted({lead_id for ids in seen.values() for lead_id in ids})
        stored = records.versions_of_leads(session, source, leads) if leads else {}
        return {key: stored[key] for key in hashes if key in stored}

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
        """The leads noted under each of these hashes, oldest first."""
        listed = orjson.dumps(sorted(set(hashes)))
        query = (
            "SELECT h, lead_id FROM seen WHERE kind = ? AND h IN (SELECT value FROM json_each(?)) "
            "ORDER BY h, lead_id"
        )
        out: dict[int, list[int]] = {}
        for h, lead_id in self._seen.execute(query, (kind, listed)):
            out.setdefault(h, []).append(lead_id)
        return out


def _hash(*parts: str) -> int:
    """Python's own 64-bit hash of the value (salted per process: the table lives as
    long as the run)."""
    return hash(parts)


def begin(engine: Engine) -> FirstLoad | None:
    """A first load, when the state db holds no lead and no source record yet: the lookup
    indexes (and on PostgreSQL the loaded tables' foreign keys) dropped until `restore`.
    None otherwise."""
    with engine.begin() as conn:
        if conn.execute(select(Lead.id).limit(1)).first() is not None:
            return None
        if conn.execute(select(SourceRecord.id).limit(1)).first() is not None:
            return None
        for index in _present(conn, first_load_indexes()):
            index.drop(conn)
        for (name, _), constraint in _foreign_keys(conn).items():
            if constraint is not None:
                conn.execute(text(f'ALTER TABLE {name} DROP CONSTRAINT "{constraint}"'))
    logger.info("sync.first_load.begins", indexes=len(first_load_indexes()))
    return FirstLoad()


def restore(engine: Engine) -> None:
    """The indexes a first load dropped, built (each sorted, in one pass), and its foreign
    keys added (each checked in one pass)."""
    with engine.begin() as conn:
        present = {index.name for index in _present(conn, first_load_indexes())}
        missing = [index for index in first_load_indexes() if index.name not in present]
        for index in missing:
            index.create(conn)
        keys = [key for key, constraint in _foreign_keys(conn).items() if constraint is None]
        for name, column in keys:
            conn.execute(text(_add_foreign_key(name, column)))
    if missing or keys:
        indexes = [index.name for index in missing]
        logger.info("sync.first_load.indexed", indexes=indexes, foreign_keys=len(keys))


# The tables a first load fills whose rows name a lead: their foreign keys wait for the
# rows on PostgreSQL (SQLite's checks write nothing, and it cannot drop a constraint).
LOADED = (SourceRecord, OutboxOp, Event, StageHistory, SlaTimer)


def _loaded_keys() -> dict[tuple[str, str], ForeignKeyConstraint]:
    """The models' foreign keys of the loaded tables, by (table, column)."""
    keys = (key for model in LOADED for key in table(model).foreign_key_constraints)
    return {(key.table.name, key.column_keys[0]): key for key in keys}


def _foreign_keys(conn: Any) -> dict[tuple[str, str], str | None]:
    """Each loaded table's foreign key, by (table, column): the server's name for it, or
    None when it is missing. Empty on SQLite, whose keys stay."""
    if conn.dialect.name != "postgresql":
        return {}
    query = text(
        "SELECT cl.relname, a.attname, c.conname FROM pg_constraint c "
        "JOIN pg_class cl ON cl.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = cl.relnamespace AND n.nspname = current_schema() "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE c.contype = 'f'"
    )
    named = {(name, column): constraint for name, column, constraint in conn.execute(query)}
    return {key: named.get(key) for key in _loaded_keys()}


def _add_foreign_key(name: str, column: str) -> str:
    """The statement that adds a loaded table's key back, under PostgreSQL's own name."""
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
