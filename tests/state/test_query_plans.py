"""The hot queries of a sync use an index, never a scan of a growing table.

Each page of a sync asks the state db the same handful of questions. Asked the wrong
way, one of them walks every pending op of the destination for each page, and a
first sync turns quadratic (issue 13: ``pending_upserts`` on ``ix_outbox_drain``).
Here each repository function runs against SQLite while its statements are caught,
and SQLite's own plan for each (EXPLAIN QUERY PLAN, with the statement's parameters)
must name the expected index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from leadsync.state import batches, db, firstload, outbox, repo, versions
from leadsync.state.models import Lead
from leadsync.state.versions import Version

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LEAD_IDS = [1, 2, 3]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    db.upgrade(engine)
    with db.session_factory(engine)() as s, s.begin():
        repo.save_leads(s, [repo.unsaved_lead(f"k{i}", f"p{i}@example.com", NOW) for i in LEAD_IDS])
        yield s
    engine.dispose()


@contextmanager
def caught(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """The statements the session sends to SQLite meanwhile, with their parameters."""
    statements: list[tuple[str, Any]] = []
    engine = session.get_bind()

    def note(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE")):
            statements.append((statement, parameters[0] if executemany else parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


NOT_TABLES = ("USE TEMP B-TREE", "LIST SUBQUERY", "SCAN json_each VIRTUAL TABLE")


def plans(session: Session, call: Callable[[Session], Any]) -> list[str]:
    """SQLite's plan line for each table each statement of ``call`` reads."""
    with caught(session) as statements:
        call(session)
    assert statements, "the call sent no query"
    conn = session.connection().connection.dbapi_connection
    assert conn is not None
    lines = []
    for statement, parameters in statements:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
        # Not reads of a table: a sort's scratch tree, the list of keys a lookup was given
        # (`IN (SELECT value FROM json_each(?))`, read once and probed in the index).
        lines += [row[3] for row in rows if not row[3].startswith(NOT_TABLES)]
    return lines


HOT = {
    "versions (unchanged records)": (
        lambda s: versions.versions(s, "web", ["a", "b"]),
        "SEARCH source_records USING INDEX ux_source_records",
    ),
    "save_versions (a record's new version, by its row)": (
        lambda s: versions.save_versions(s, "web", {}, {"a": Version("h", 1, 7)}, NOW),
        "SEARCH source_records USING INTEGER PRIMARY KEY",
    ),
    "leads_by_id": (
        lambda s: repo.leads_by_id(s, LEAD_IDS),
        "SEARCH leads USING INTEGER PRIMARY KEY",
    ),
    "leads_by_key": (
        lambda s: repo.leads_by_key(s, ["k1", "k9"]),
        "SEARCH leads USING INDEX ux_leads_key",
    ),
    "leads_by_email": (
        lambda s: repo.leads_by_email(s, ["p1@example.com"]),
        "SEARCH leads USING INDEX ix_leads_email",
    ),
    "crm_records": (
        lambda s: repo.crm_records(s, "crm", LEAD_IDS),
        "SEARCH crm_records USING INDEX sqlite_autoindex_crm_records_1",
    ),
    "pending_upserts (by lead, not over every pending op)": (
        lambda s: outbox.pending_upserts(s, "crm", LEAD_IDS),
        "SEARCH outbox USING INDEX ix_outbox_lead_id",
    ),
    "enqueue (keys already planned)": (
        lambda s: outbox.enqueue(s, [outbox.new_op("upsert:crm:1", "crm", "upsert", 1, {}, "r")]),
        "SEARCH outbox USING INDEX sqlite_autoindex_outbox_1",
    ),
    # A first load's own: it builds the by-lead indexes and the outbox's key after its
    # rows, and finds its ops and record versions by the row ids it noted.
    "a first load's pending_upserts, by its ops' ids": (
        lambda s: outbox.pending_upserts(s, "crm", LEAD_IDS, among=[1, 2]),
        "SEARCH outbox USING INTEGER PRIMARY KEY",
    ),
    "a first load's nurtured_leads, by its ops' ids": (
        lambda s: outbox.nurtured_leads(s, LEAD_IDS, among=[1, 2]),
        "SEARCH outbox USING INTEGER PRIMARY KEY",
    ),
    "a first load's enqueue, among its ops' ids": (
        lambda s: outbox.enqueue(
            s, [outbox.new_op("upsert:crm:1", "crm", "upsert", 1, {}, "r")], among=[1, 2]
        ),
        "SEARCH outbox USING INTEGER PRIMARY KEY",
    ),
    "a first load's versions, by their rows": (
        lambda s: versions.versions_of_rows(s, "web", [1, 2]),
        "SEARCH source_records USING INTEGER PRIMARY KEY",
    ),
    "nurtured_leads": (
        lambda s: outbox.nurtured_leads(s, LEAD_IDS),
        "SEARCH outbox USING INDEX ix_outbox_lead_id",
    ),
    "events_of_leads": (
        lambda s: repo.events_of_leads(s, LEAD_IDS),
        "SEARCH events USING INDEX ix_events_lead_id",
    ),
    "stage_history": (
        lambda s: repo.stage_history(s, LEAD_IDS),
        "SEARCH stage_history USING INDEX ix_stage_history_lead_id",
    ),
}


@pytest.mark.parametrize("name", HOT)
def test_each_hot_query_uses_its_index(session: Session, name: str):
    call, expected = HOT[name]
    lines = plans(session, call)
    assert not [line for line in lines if line.startswith("SCAN")], lines
    assert all(line.startswith(expected) for line in lines), lines


def test_the_check_fails_on_a_scan(session: Session):
    """The plans are read, not assumed: a query by an unindexed column is a SCAN."""
    lines = plans(session, lambda s: s.query(Lead).filter(Lead.owner == "rep").all())
    assert lines == ["SCAN leads"]


def test_a_first_loads_lookups_use_no_lookup_index(tmp_path: Path):
    """A first load drops the random-order indexes and those of a lead's rows; what it
    asks meanwhile (its own writes, found by hash or by lead in memory and read back by
    row id) still never scans a table."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    db.upgrade(engine)
    load = firstload.begin(engine)
    assert load is not None
    with db.session_factory(engine)() as s, s.begin():  # a page
        leads = [repo.unsaved_lead(f"k{i}", f"p{i}@example.com", NOW) for i in LEAD_IDS]
        repo.save_leads(s, leads)
        written = {"a": Version("h", 1)}
        versions.save_versions(s, "web", written, {}, NOW)
        load.note("web", written, leads)
        load.enqueue(s, [outbox.new_op("upsert:crm:1", "crm", "upsert", 1, {}, "r")])
    load.committed(engine)  # its versions and ops noted by their rows
    with db.session_factory(engine)() as s, s.begin():  # the next page
        lines = plans(s, lambda s: load.versions(s, "web", ["a", "b"]))
        lines += plans(s, lambda s: load.leads_by_key(s, ["k1", "k9"]))
        lines += plans(s, lambda s: load.leads_by_email(s, ["p2@example.com", "p9@example.com"]))
        lines += plans(s, lambda s: load.pending_upserts(s, "crm", [1, 2]))
        lines += plans(s, lambda s: load.nurtured_leads(s, [1, 2]))
        assert load.versions(s, "web", ["a", "b"]) == {"a": Version("h", 1, 1)}
        assert list(load.leads_by_key(s, ["k1", "k9"])) == ["k1"]
        assert list(load.pending_upserts(s, "crm", [1, 2])) == [1]
        again = [outbox.new_op("upsert:crm:1", "crm", "upsert", 1, {}, "r")]
        assert load.enqueue(s, again) == []  # the key the outbox holds, found among its ops
    assert not [line for line in lines if line.startswith("SCAN")], lines
    assert set(lines) == {
        "SEARCH source_records USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH leads USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)",
    }, lines
    load.close()
    firstload.restore(engine)
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("built", ["by the migrations", "after a first load"])
def test_postgres_reads_the_record_versions_from_their_index_alone(pg_database: str, built: str):
    """On PostgreSQL a page's lookup of its records' versions is an index-only scan of
    `ux_source_records`, which carries what the lookup reads, whether the migrations built
    the index or a first load built it again after its rows."""
    from sqlalchemy import text

    engine = db.make_engine(pg_database)
    db.upgrade(engine)
    if built == "after a first load":
        load = firstload.begin(engine)
        assert load is not None
        load.close()
    with db.session_factory(engine)() as s, s.begin():
        repo.save_leads(s, [repo.unsaved_lead(f"k{i}", f"p{i}@example.com", NOW) for i in LEAD_IDS])
        written = {f"r{i}": Version(f"h{i}", i) for i in LEAD_IDS}
        versions.save_versions(s, "web", written, {}, NOW)
    firstload.restore(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM source_records"))  # what autovacuum does after a load
    with db.session_factory(engine)() as s, s.begin():
        # The table is three rows: only a scan of the index is left to choose from.
        s.execute(text("SET LOCAL enable_seqscan = off"))
        s.execute(text("SET LOCAL enable_bitmapscan = off"))
        with caught(s) as statements:
            found = versions.versions(s, "web", ["r1", "r3", "nope"])
        ((statement, parameters),) = statements
        plan = s.connection().exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars().all()
    assert found == {"r1": Version("h1", 1, 1), "r3": Version("h3", 3, 3)}
    assert any("Index Only Scan using ux_source_records" in line for line in plan), plan
    engine.dispose()


@pytest.mark.postgres
def test_postgres_finds_any_key_as_itself(pg_database: str):
    """Keys go to PostgreSQL as one array literal: quotes, backslashes, commas, braces,
    spaces, the empty string and the word NULL each find their own row, no other."""
    from sqlalchemy import String, column, select, table, text

    keys = ['a"b', "c\\d", "e,f", "{g}", " h ", "", "NULL", "é☃", "x'y"]
    engine = db.make_engine(pg_database)
    with db.session_factory(engine)() as s:
        s.execute(text("CREATE TEMP TABLE t (k varchar(255))"))
        s.execute(text("INSERT INTO t VALUES (:k)"), [{"k": k} for k in [*keys, "zz"]])
        t = table("t", column("k", String(255)))
        found = s.execute(select(t.c.k).where(batches.one_of(s, t.c.k, keys))).scalars().all()
        assert sorted(found) == sorted(keys)
        assert s.execute(select(t.c.k).where(batches.one_of(s, t.c.k, ["null"]))).all() == []
    engine.dispose()


@pytest.mark.postgres
def test_postgres_plans_a_pages_lookups_by_the_keys_it_is_given(pg_database: str):
    """During a first load PostgreSQL has no statistics yet. Given a page's keys as a set
    it cannot count, it planned to join every pending op against them, the set read
    again for each op (87 million comparisons a page of 5,000 at 20,000 leads); given
    as an array it sees whole, it never joins them."""
    from sqlalchemy import text

    engine = db.make_engine(pg_database)
    db.upgrade(engine)
    n = 2_000
    with db.session_factory(engine)() as s, s.begin():
        repo.save_leads(s, [repo.unsaved_lead(f"k{i}", f"p{i}@example.com", NOW) for i in range(n)])
        ids = list(s.scalars(select(Lead.id).order_by(Lead.id)))
        ops = [outbox.new_op(f"upsert:crm:{i}", "crm", "upsert", i, {}, "r") for i in ids]
        outbox.enqueue(s, ops)
    with db.session_factory(engine)() as s, s.begin():
        with caught(s) as statements:
            found = outbox.pending_upserts(s, "crm", ids[-500:])
        ((statement, parameters),) = statements
        plan = s.connection().exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars().all()
        analyzed = s.execute(text("SELECT count(*) FROM pg_stats WHERE tablename = 'outbox'"))
    assert len(found) == 500
    assert analyzed.scalar() == 0, "statistics were taken: not a first load's planner"
    assert not [line for line in plan if "Nested Loop" in line or "Function Scan" in line], plan
    engine.dispose()


def _backlog(engine: Any, fresh: int, retried: int) -> None:
    """A backlog: ``fresh`` ops never tried, then ``retried`` tried once (a row lock)."""
    from sqlalchemy import update

    from leadsync.state.models import OutboxOp

    with db.session_factory(engine)() as s, s.begin():
        repo.save_leads(s, [repo.unsaved_lead("k", "p@example.com", NOW)])
        ops = [outbox.new_op(f"upsert:crm:{i}", "crm", "upsert", 1, {}, "r") for i in range(fresh)]
        outbox.enqueue(s, ops)
        first = s.scalar(select(OutboxOp.id).order_by(OutboxOp.id))
        s.execute(update(OutboxOp).where(OutboxOp.id < first + retried).values(attempts=1))


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_push_reads_its_batch_in_drain_order_from_the_index(
    tmp_path: Path, request: pytest.FixtureRequest, dialect: str
):
    """Each batch a push reads (fresh ops first, then the retried, oldest first) comes in
    that order from `ix_outbox_drain`: no sort of every pending op of its kind, which a
    backlog of a million made for each of its hundred batches (migration 0011)."""
    from sqlalchemy import text

    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    engine = db.make_engine(url)
    db.upgrade(engine)
    _backlog(engine, fresh=3_000, retried=50)
    with db.session_factory(engine)() as s, s.begin():
        s.execute(text("ANALYZE"))
        with caught(s) as statements:
            batch = outbox.next_batch(s, "crm", "upsert", 100)
        ((statement, parameters),) = statements
        explain = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
        rows = s.connection().exec_driver_sql(explain + statement, parameters).all()
        last = outbox.next_batch(s, "crm", "upsert", 3_000)[-50:]
    plan = [str(row[-1]) for row in rows]
    assert [op.attempts for op in batch] == [0] * 100
    assert [op.id for op in batch] == sorted(op.id for op in batch)
    assert [op.attempts for op in last] == [1] * 50, "the retried ops come last"
    assert any("ix_outbox_drain" in line for line in plan), plan
    assert not [line for line in plan if "TEMP B-TREE" in line or "Sort" in line], plan
    engine.dispose()
