"""Models and migrations agree, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from leadsync.errors import SchemaOutdated, StateError
from leadsync.state import db
from leadsync.state.models import Base, Lead, SyncRun


def _assert_models_match_migrations(url: str) -> None:
    engine = db.make_engine(url)
    db.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    db.require_current(engine)
    engine.dispose()


def test_sqlite_migrations_match_models(tmp_path: Path):
    """On SQLite, `db upgrade` builds exactly the schema the models describe."""
    _assert_models_match_migrations(f"sqlite:///{tmp_path / 'state.db'}")


def test_sqlite_runs_in_wal_mode(tmp_path: Path):
    """The state db is in WAL mode with foreign keys enforced."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.postgres
def test_postgres_migrations_match_models(pg_database: str):
    """On a real PostgreSQL server, migrations and models agree too."""
    _assert_models_match_migrations(pg_database)


def test_an_empty_database_is_refused_with_the_fix(tmp_path: Path):
    """Any command on a database without the schema says to run `leadsync db upgrade`."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with pytest.raises(SchemaOutdated, match="run `leadsync db upgrade`"):
        db.require_current(engine)


def test_an_older_schema_is_refused_until_upgraded(tmp_path: Path):
    """A database at an older revision names both revisions and the fix, which then works."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    db.upgrade(engine, "0001")
    head = db.head_revision(engine)
    assert head != "0001"
    with pytest.raises(
        SchemaOutdated,
        match=rf"revision 0001, this leadsync needs {head}: run "
        r"`leadsync db upgrade`",
    ):
        db.require_current(engine)
    assert db.upgrade(engine) == ("0001", head)
    db.require_current(engine)


def test_times_are_stored_and_read_as_utc(tmp_path: Path):
    """A time given in another zone is stored as UTC and read back aware; naive is refused."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    db.upgrade(engine)
    paris = datetime(2026, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    with db.session_factory(engine)() as session:
        session.add(
            Lead(
                key="k",
                email=None,
                profile={},
                profile_times={},
                created_at=paris,
                updated_at=paris,
            )
        )
        session.commit()
    with db.session_factory(engine)() as session:
        lead = session.query(Lead).one()
        assert lead.created_at == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
        assert lead.created_at.tzinfo is UTC
        session.add(SyncRun(id="r", started_at=datetime(2026, 1, 1), status="x", summary={}))
        with pytest.raises(Exception, match="naive datetime"):
            session.commit()


@pytest.mark.postgres
def test_a_sync_runs_on_postgres_state(pg_database: str, xeducation, sandbox):
    """The real file syncs with its state on PostgreSQL; a second run writes nothing there too."""
    xeducation.state_url_override = pg_database
    first = xeducation.sync()
    second = xeducation.sync()
    assert (first.status, first.created) == ("ok", 9237)
    assert (second.read, second.created, second.updated, second.api_calls) == (0, 0, 0, 0)
    assert len(sandbox.records()) == 9237


def _locked_run_is_refused(project, state_url: str) -> None:
    project.state_url_override = state_url
    engine = db.make_engine(state_url)
    db.upgrade(engine)
    with db.run_lock(engine), pytest.raises(StateError, match="another leadsync run"):
        project.sync()
    assert project.sync(dry_run=True).status == "ok"  # a dry run only reads
    assert project.sync().created == 9237  # the lock is free again
    engine.dispose()


def test_a_second_run_on_sqlite_is_refused_while_one_runs(tmp_path: Path, xeducation, sandbox):
    """While one run holds the state db, another stops at once and names the holder."""
    _locked_run_is_refused(xeducation, f"sqlite:///{tmp_path / 'locked.db'}")


@pytest.mark.postgres
def test_a_second_run_on_postgres_is_refused_while_one_runs(pg_database: str, xeducation, sandbox):
    """On PostgreSQL the run lock is an advisory lock, with the same behaviour."""
    _locked_run_is_refused(xeducation, pg_database)


def test_every_migration_goes_down_and_up_again(tmp_path: Path):
    """Downgrades undo their upgrades: base, then head again, still matches the models."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    command.downgrade(db.alembic_config(engine), "base")
    with engine.connect() as conn:
        listed = conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
        tables = set(listed.scalars())
    assert tables <= {"alembic_version"}
    engine.dispose()
    _assert_models_match_migrations(url)


def test_identities_move_into_the_record_versions(tmp_path: Path):
    """0008: each (source, id) -> lead of `lead_identities` is found in `source_records`,
    with its version where one was stored and an empty hash (mapped again) where none was;
    down again, the identities come back, and the records known by email stay out."""
    from alembic import command

    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    db.upgrade(engine, "0007")
    seen = "2026-11-30 09:00:00.000000"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO leads (id, key, profile, profile_times, created_at, updated_at) "
                "VALUES (1, 'k1', '{}', '{}', :t, :t), (2, 'k2', '{}', '{}', :t, :t)"
            ),
            {"t": seen},
        )
        conn.execute(
            text(
                "INSERT INTO lead_identities (source, external_id, lead_id) "
                "VALUES ('web', 'a', 1), ('web', 'b', 2), ('crm', 'c', 2)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO source_records (source, external_id, content_hash, lead_id, seen_at) "
                "VALUES ('web', 'a', 'h-a', 1, :t), ('web', 'b', 'h-b', NULL, :t), "
                "('web', 'email:x@example.com', 'h-x', 2, :t)"
            ),
            {"t": seen},
        )
    db.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT source, external_id, content_hash, lead_id FROM source_records")
        )
        assert sorted(tuple(r) for r in rows) == [
            ("crm", "c", "", 2),
            ("web", "a", "h-a", 1),
            ("web", "b", "h-b", 2),
            ("web", "email:x@example.com", "h-x", 2),
        ]
    command.downgrade(db.alembic_config(engine), "0007")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT source, external_id, lead_id FROM lead_identities"))
        assert sorted(tuple(r) for r in rows) == [("crm", "c", 2), ("web", "a", 1), ("web", "b", 2)]
    engine.dispose()


def test_the_schema_head_the_code_checks_is_the_migrations_head():
    """`sync` checks the database against db.SCHEMA_HEAD without importing Alembic: a new
    migration must move it."""
    from importlib import resources

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(resources.files("leadsync") / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == db.SCHEMA_HEAD


def _populated_0008(url: str) -> Any:
    """A state db at 0008 holding leads that other tables point at."""
    engine = db.make_engine(url)
    db.upgrade(engine, "0008")
    seen = "2026-11-30 09:00:00.000000"
    with engine.begin() as conn:
        for statement in (
            "INSERT INTO leads (id, key, profile, profile_times, created_at, updated_at) "
            "VALUES (1, 'k1', '{}', '{}', :t, :t), (2, 'k2', '{}', '{}', :t, :t)",
            "INSERT INTO source_records (source, external_id, content_hash, lead_id, seen_at) "
            "VALUES ('web', 'a', 'h-a', 1, :t), ('web', 'b', 'h-b', 2, :t)",
            "INSERT INTO events (key, lead_id, source, type, at, attributes) "
            "VALUES ('web:e1', 1, 'web', 'form', :t, '{}')",
            "INSERT INTO crm_records (lead_id, destination, crm_id, fields, synced_at, adopted) "
            "VALUES (2, 'crm', '00Q1', '{}', :t, false)",
        ):
            conn.execute(text(statement), {"t": seen})
    return engine


def _lookups_of(engine: Any) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT l.key, r.source, r.external_id, r.content_hash, "
                "(SELECT count(*) FROM events e WHERE e.lead_id = l.id), "
                "(SELECT count(*) FROM crm_records c WHERE c.lead_id = l.id) "
                "FROM leads l JOIN source_records r ON r.lead_id = l.id ORDER BY l.key"
            )
        )
        return [tuple(r) for r in rows]


@pytest.mark.parametrize("where", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_populated_state_db_takes_the_named_lookup_indexes(tmp_path: Path, where, request):
    """0009 rebuilds `leads` and `source_records` under rows that point at them: every row
    and every reference kept, the keys still unique; down to 0008 and up again too."""
    from alembic import command

    if where == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    engine = _populated_0008(url)
    before = _lookups_of(engine)
    assert before == [("k1", "web", "a", "h-a", 1, 0), ("k2", "web", "b", "h-b", 0, 1)]
    db.upgrade(engine)
    assert _lookups_of(engine) == before
    with engine.begin() as conn, pytest.raises(IntegrityError):
        conn.execute(
            text(
                "INSERT INTO leads (key, profile, profile_times, created_at, updated_at) "
                "VALUES ('k1', '{}', '{}', '2026-11-30', '2026-11-30')"
            )
        )
    command.downgrade(db.alembic_config(engine), "0008")
    assert _lookups_of(engine) == before
    db.upgrade(engine)
    assert _lookups_of(engine) == before
    engine.dispose()
    _assert_models_match_migrations(url)


@pytest.mark.parametrize("where", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_versions_an_older_release_hashed_are_still_known_unchanged(
    tmp_path: Path, where: str, request: pytest.FixtureRequest, sandbox
):
    """0012: record versions hashed in 64 characters (releases before it) keep their first
    32, so the same rows read again are known unchanged, not mapped and planned anew."""
    from alembic import command

    from tests.sync.test_identity import HEADER, project

    url = f"sqlite:///{tmp_path / 'state.db'}" if where == "sqlite" else None
    url = url or request.getfixturevalue("pg_database")
    rows = [
        f"{i},p{i}@x.example,P{i},Q{i},Co{i},,2026-01-0{1 + i % 5}T00:00:00Z\n" for i in range(6)
    ]
    p = project(tmp_path, {"list": (HEADER + "".join(rows), "Id")})
    p.state_url_override = url
    assert p.sync(push=False).planned_creates == 6
    engine = db.make_engine(url)
    with engine.begin() as conn:  # as an older release left them: SHA-256 in full, at 0011
        conn.execute(
            text("UPDATE source_records SET content_hash = content_hash || :rest"),
            {"rest": "0123456789abcdef" * 2},
        )
    command.stamp(db.alembic_config(engine), "0011")
    (tmp_path / "list.csv").write_text(HEADER + "".join(reversed(rows)), encoding="utf-8")

    db.upgrade(engine)
    again = p.sync(push=False)

    assert (again.read, again.unchanged, again.planned_creates) == (6, 6, 0)
    with engine.connect() as conn:
        lengths = conn.execute(text("SELECT DISTINCT length(content_hash) FROM source_records"))
        assert list(lengths.scalars()) == [32]
    engine.dispose()
