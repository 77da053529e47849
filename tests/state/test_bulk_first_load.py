"""A first load builds the lookup indexes after its rows (``state/firstload.py``), and
decides exactly as a run on the indexes does: the same leads, the same record versions,
the same ops, for a file that names one person twice across pages, under two ids, by
email only, and with an email that moved."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from leadsync.errors import Interrupted
from leadsync.state import db, firstload, repo
from leadsync.state.firstload import FIRST_LOAD_INDEXES
from tests.conftest import Project, Sandbox
from tests.sync.test_identity import HEADER, project

# Two rows a page, so that the same person comes back in a later page.
LIST = (
    HEADER + "1,ann@x.example,Ann,Lee,Acme,CTO,2026-01-01T00:00:00Z\n"
    "2,bo@x.example,Bo,Ek,Initech,,2026-01-01T00:00:00Z\n"
    "3,cy@x.example,Cy,Ng,Hooli,,2026-01-01T00:00:00Z\n"
    "1,ann@x.example,Ann,Lee,Acme,CEO,2026-01-02T00:00:00Z\n"  # id 1 again, newer
    "4,ann@x.example,Annie,Lee,Acme,,2026-01-03T00:00:00Z\n"  # another id, Ann's email
    "2,bo2@x.example,Bo,Ek,Initech,VP,2026-01-05T00:00:00Z\n"  # id 2, a new email
    "1,ann@x.example,Ann,Lee,Acme,CEO,2026-01-02T00:00:00Z\n"  # unchanged
    "6,bo@x.example,Bob,Eck,Initrode,,2026-01-06T00:00:00Z\n"  # Bo's old email: someone new
)
FORMS = (
    HEADER + ",cy@x.example,Cy,Ng,Hooli,Dev,2026-01-07T00:00:00Z\n"
    ",dee@x.example,Dee,Ro,Umbrella,,2026-01-07T00:00:00Z\n"
    ",eve@x.example,Eve,Ox,Globex,,2026-01-07T00:00:00Z\n"
    ",dee@x.example,Dee,Ro,Umbrella,COO,2026-01-08T00:00:00Z\n"  # by email, again
)
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def two_sources(tmp_path: Path, state_url: str | None = None) -> Project:
    tmp_path.mkdir(exist_ok=True)
    p = project(tmp_path, {"list": (LIST, "Id"), "forms": (FORMS, None)})
    with p.config_path.open("a", encoding="utf-8") as f:
        f.write("\n[sync]\nchunk_size = 2\n")
    p.state_url_override = state_url
    return p


def seeded(state_url: str) -> None:
    """A state db that already holds a lead (someone else): not a first load."""
    engine = db.make_engine(state_url)
    db.upgrade(engine)
    with db.session_factory(engine)() as s, s.begin():
        repo.save_leads(s, [repo.unsaved_lead("seed", "seed@x.example", NOW)])
    engine.dispose()


def contents(state_url: str) -> dict[str, Any]:
    """What the run wrote, by lead key (lead ids differ by the seeded lead)."""
    engine = db.make_engine(state_url)
    with engine.connect() as conn:
        leads = conn.execute(
            text("SELECT key, email, profile, profile_times FROM leads WHERE key != 'seed'")
        )
        records = conn.execute(
            text(
                "SELECT r.source, r.external_id, r.content_hash, l.key "
                "FROM source_records r JOIN leads l ON l.id = r.lead_id"
            )
        )
        ops = conn.execute(
            text(
                "SELECT l.key, o.kind, o.payload, o.status FROM outbox o "
                "JOIN leads l ON l.id = o.lead_id"
            )
        )
        out = {
            "leads": sorted(tuple(map(plain, row)) for row in leads),
            "records": sorted(tuple(row) for row in records),
            "ops": sorted(tuple(map(plain, row)) for row in ops),
            "indexes": indexes(conn),
        }
    engine.dispose()
    return out


def plain(value: Any) -> str:
    """A JSON column's value as one text on both databases (SQLite gives the text)."""
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)


def indexes(conn: Any) -> set[str]:
    if conn.dialect.name == "postgresql":
        names = conn.execute(text("SELECT indexname FROM pg_indexes"))
    else:
        names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
    return set(names.scalars()) & set(FIRST_LOAD_INDEXES)


def test_a_first_load_decides_as_a_run_on_the_indexes(tmp_path: Path, sandbox: Sandbox):
    first_load = two_sources(tmp_path / "first")
    indexed = two_sources(tmp_path / "indexed")
    seeded(indexed.state_url)

    a, b = first_load.sync(push=False), indexed.sync(push=False)

    assert (a.read, a.unchanged, a.planned_creates) == (b.read, b.unchanged, b.planned_creates)
    assert (a.read, a.unchanged) == (12, 1)
    got, expected = contents(first_load.state_url), contents(indexed.state_url)
    assert got == expected
    assert got["indexes"] == set(FIRST_LOAD_INDEXES)
    # Ann (ids 1 and 4, one email); Bo (id 2), whose email moved, then id 6 with his old
    # email: the first load's hash of it still names Bo's lead, whose email is another
    # now, so the tables are asked (none has it), and the key it derives to is Bo's (a
    # lead is found by the key its first email gave it): Bob is Bo's lead, on both ways;
    # Cy (id 3, and by email in the forms); Dee and Eve (by email).
    emails = sorted(email for _, email, *_ in got["leads"])
    assert emails == [f"{n}@x.example" for n in ("ann", "bo", "cy", "dee", "eve")]
    assert len(got["records"]) == 8  # list 1, 2, 3, 4, 6; forms cy, dee, eve


@pytest.mark.postgres
def test_a_first_load_on_postgres_decides_as_on_sqlite(
    tmp_path: Path, pg_database: str, sandbox: Sandbox
):
    on_postgres = two_sources(tmp_path / "pg", pg_database)
    on_sqlite = two_sources(tmp_path / "sqlite")
    on_postgres.sync(push=False)
    on_sqlite.sync(push=False)
    assert contents(pg_database) == contents(on_sqlite.state_url)


def test_the_indexes_come_back_after_a_first_load_a_kill_cut_short(
    tmp_path: Path, sandbox: Sandbox
):
    """A kill leaves the indexes dropped: the next run builds them first, then goes on."""
    p = two_sources(tmp_path)
    engine = db.make_engine(p.state_url)
    db.upgrade(engine)
    assert firstload.begin(engine) is not None  # the killed run dropped them
    with engine.connect() as conn:
        assert indexes(conn) == set()
    engine.dispose()

    summary = p.sync(push=False)

    assert (summary.read, summary.unchanged) == (12, 1)
    assert contents(p.state_url)["indexes"] == set(FIRST_LOAD_INDEXES)


def test_a_stopped_first_load_builds_the_indexes_and_the_next_run_goes_on(
    tmp_path: Path, sandbox: Sandbox
):
    """Stopped after its first page, a first load still builds the indexes over what it
    wrote; the next run is no first load and reads on from its cursor."""
    p = two_sources(tmp_path)
    pages = iter([False, True])
    with pytest.raises(Interrupted):
        p.sync(stop=lambda: next(pages, True))
    assert contents(p.state_url)["indexes"] == set(FIRST_LOAD_INDEXES)
    engine = db.make_engine(p.state_url)
    assert firstload.begin(engine) is None  # it holds leads now
    engine.dispose()

    p.sync()

    every = two_sources(tmp_path / "whole")
    every.sync()
    assert contents(p.state_url)["leads"] == contents(every.state_url)["leads"]


def test_hashes_only_say_where_to_look(tmp_path: Path, sandbox: Sandbox, monkeypatch):
    """Every value given one hash: each hit is read back and compared whole, and a value
    whose hash names only others is asked of the tables; the load still decides as the
    run on the indexes."""
    monkeypatch.setattr(firstload, "_hash", lambda *parts: 7)
    first_load = two_sources(tmp_path / "first")
    indexed = two_sources(tmp_path / "indexed")
    seeded(indexed.state_url)
    first_load.sync(push=False)
    indexed.sync(push=False)
    assert contents(first_load.state_url) == contents(indexed.state_url)


HEAP_XMIN_COMMITTED = 0x0100  # a row's hint bit: its inserting transaction committed
FILLED = ("leads", "source_records", "outbox")


@pytest.mark.postgres
@pytest.mark.parametrize("settled", [True, False])
def test_a_first_load_on_postgres_marks_each_page_committed_while_in_memory(
    tmp_path: Path, pg_database: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, settled
):
    """After each page's commit every row the page added is marked committed (its hint
    bits set), so that no later read dirties a page the server may have written out
    already. The rows are read raw (`pageinspect`), which sets no mark itself; without
    the read after the commit (`settled=False`) the page's rows are left unmarked."""
    if not settled:
        monkeypatch.setattr(firstload.FirstLoad, "committed", firstload.Lookups.committed)
    rows = "".join(
        f"{i},p{i}@x.example,P{i},Q{i},Co{i},,2026-01-0{1 + i % 5}T00:00:00Z\n" for i in range(1, 8)
    )
    p = project(tmp_path, {"list": (HEADER + rows, "Id")})
    with p.config_path.open("a", encoding="utf-8") as f:
        f.write("\n[sync]\nchunk_size = 3\n")
    p.state_url_override = pg_database
    engine = db.make_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
    unmarked: list[tuple[int, str, int, int]] = []

    def on_read(_: str, read: int) -> None:
        with engine.connect() as conn:
            for name in FILLED:
                masks = conn.execute(
                    text(
                        "SELECT t_infomask FROM heap_page_items(get_raw_page(:t, 0)) "
                        "WHERE t_infomask IS NOT NULL"
                    ),
                    {"t": name},
                ).scalars()
                masks = list(masks)
                left = sum(1 for mask in masks if not mask & HEAP_XMIN_COMMITTED)
                unmarked.append((read, name, len(masks), left))

    try:
        summary = p.sync(push=False, on_read=on_read)
    finally:
        engine.dispose()
    assert summary.planned_creates == 7
    assert [(read, name, rows) for read, name, rows, _ in unmarked] == [
        (read, name, read) for read in (3, 6, 7) for name in FILLED
    ]
    added = {3: 3, 6: 3, 7: 1}  # rows read so far: the rows the last page added
    if settled:
        assert [left for *_, left in unmarked] == [0] * 9
    else:  # at least the last page's own rows, in every table
        assert all(left >= added[read] for read, _, _, left in unmarked)


def foreign_keys(conn: Any) -> set[tuple[str, str, str]]:
    """The state db's foreign keys on PostgreSQL, (table, column, table it names), and
    its one-column unique keys, (table, column, "-")."""
    query = text(
        "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text "
        "FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE c.contype = 'f' OR (c.contype = 'u' AND cardinality(c.conkey) = 1)"
    )
    return {tuple(row) for row in conn.execute(query)}


@pytest.mark.postgres
def test_a_first_load_on_postgres_adds_its_foreign_keys_after_its_rows(
    tmp_path: Path, pg_database: str, sandbox: Sandbox
):
    """While a first load writes, the tables it fills carry no foreign key (each row's
    check would lock the lead it names, a WAL record a row) and the outbox no unique key;
    after it, every key is back and holds: a row naming no lead is refused, and an op's
    key a second time. A killed load leaves them to the next run, as the indexes."""
    engine = db.make_engine(pg_database)
    db.upgrade(engine)
    with engine.connect() as conn:
        declared = foreign_keys(conn)
    loaded = {(m.__tablename__, "lead_id", "leads") for m in firstload.LOADED}
    loaded.add(("outbox", "key", "-"))  # the outbox's unique key
    assert loaded <= declared
    assert firstload.begin(engine) is not None  # a load killed before its first page
    with engine.connect() as conn:
        assert foreign_keys(conn) == declared - loaded
    during: list[set[tuple[str, str, str]]] = []

    def on_read(_: str, read: int) -> None:
        with engine.connect() as conn:
            during.append(foreign_keys(conn))

    summary = two_sources(tmp_path, pg_database).sync(push=False, on_read=on_read)

    assert (summary.read, summary.unchanged) == (12, 1)
    assert len(during) >= 2 and all(keys == declared - loaded for keys in during)
    with engine.connect() as conn:
        assert foreign_keys(conn) == declared
    orphan = text(
        "INSERT INTO source_records (source, external_id, content_hash, lead_id, seen_at) "
        "VALUES ('list', 'nobody', 'x', 999999, now())"
    )
    with pytest.raises(IntegrityError, match="source_records_lead_id_fkey"), engine.begin() as conn:
        conn.execute(orphan)
    twice = text(
        "INSERT INTO outbox (key, destination, kind, lead_id, payload, status, attempts, "
        "created_at, updated_at) SELECT key, destination, kind, lead_id, payload, status, "
        "attempts, created_at, updated_at FROM outbox LIMIT 1"
    )
    with pytest.raises(IntegrityError, match="outbox_key_key"), engine.begin() as conn:
        conn.execute(twice)  # an op's key a second time
    engine.dispose()


@pytest.mark.parametrize("where", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_first_load_plans_tasks_and_nurture_as_a_run_on_the_indexes(
    tmp_path: Path, sandbox: Sandbox, where: str, request: pytest.FixtureRequest
):
    """The demo's people, scored, staged, routed, given tasks and nurture, three to a page
    so that people come back in later pages: a first load, which finds its own ops by
    the ids it noted (the by-lead indexes and the outbox's key are built after it),
    plans the same ops, with the same keys and states, as a run on the indexes."""
    from tests.sync.test_first_load import demo_project

    def demo(folder: str, state_url: str | None) -> Project:
        p = demo_project(tmp_path / folder, sandbox)
        text = p.config_path.read_text(encoding="utf-8")
        p.config_path.write_text(re.sub(r"\nchunk_size = \d+", "\nchunk_size = 3", text, count=1))
        p.state_url_override = state_url
        return p

    if where == "sqlite":
        first_url, indexed_url = None, None
    else:
        first_url = request.getfixturevalue("pg_database")
        indexed_url = f"sqlite:///{tmp_path / 'indexed.db'}"
    first_load, indexed = demo("first", first_url), demo("indexed", indexed_url)
    seeded(indexed.state_url)

    a, b = first_load.sync(push=False), indexed.sync(push=False)

    assert (a.tasks_planned, a.nurture_planned) == (b.tasks_planned, b.nurture_planned)
    assert a.tasks_planned > 0 and a.nurture_planned > 0
    got, expected = contents(first_load.state_url), contents(indexed.state_url)
    assert got["ops"] == expected["ops"]
    kinds = {kind for _, kind, *_ in got["ops"]}
    assert {"upsert", "task", "nurture"} <= kinds
