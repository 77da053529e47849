"""Opening the state database and keeping its schema in step with the code.

SQLite runs in WAL mode (readers never block the one writer) with foreign keys
on; PostgreSQL is used as given by its URL. The schema only ever changes
through Alembic migrations; a database behind the code's head revision is
refused with the command that fixes it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from leadsync.errors import RunLockBusy, SchemaOutdated, StateError
from leadsync.log import masked_urls

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig


def json_text(value: Any) -> str:
    """A JSON column's text. orjson writes the lead profiles and outbox payloads several
    times faster than the standard library, which a first sync does millions of times."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_value(text: str | bytes) -> Any:
    """A JSON column's value. orjson reads what leadsync writes now; releases before it
    wrote NaN and infinity as bare words (the standard library's JSON), which orjson
    refuses: such a value, an op planned then and still pending, is read by the standard
    library instead, so that the push can dead-letter that op alone (``push._sendable``)
    rather than fail on every batch that reads it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str, *, must_exist: bool = False) -> Engine:
    """The engine for ``url``. ``must_exist``: a SQLite file that is not there is an error
    (a command that reads state must not leave an empty database behind it)."""
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship as the `postgres` extra.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = create_engine(
            url, future=True, json_serializer=json_text, json_deserializer=json_value
        )
    except Exception as exc:  # a bad URL or a missing driver
        raise StateError(
            f"cannot open the state database {masked(url)}: {masked(str(exc))}"
        ) from None
    if engine.dialect.name == "sqlite":
        db = engine.url.database
        if must_exist and db and db != ":memory:" and not Path(db).exists():
            raise StateError(
                f"no state database at {db}: run `leadsync db upgrade` to create it "
                "(or check --state-url / [state] url)"
            )
        _prepare_sqlite(engine)
    return engine


masked = masked_urls  # a URL's password never reaches a message or a log line


def state_error(exc: SQLAlchemyError) -> StateError:
    """A database error as one line for the admin: what is wrong and what to do."""
    reason = masked(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0])
    if "malformed" in reason or "not a database" in reason:
        return StateError(
            f"the state database is damaged ({reason}): restore it from a backup, or move "
            "it aside, run `leadsync db upgrade`, then `leadsync reconcile --adopt` to take "
            "back what the CRM holds"
        )
    if isinstance(exc, OperationalError) and "connection" in reason.lower():
        return StateError(f"cannot reach the state database: {reason}; is the server up?")
    return StateError(f"the state database cannot be used: {reason}")


SQLITE_CACHE_KIB = 16 * 1024
# The newest migration in leadsync/migrations/versions (tests/state/test_migrations.py).
SCHEMA_HEAD = "0012"
SQLITE_CHECKPOINT_PAGES = 16_384  # 64 MiB of write-ahead log between checkpoints


def _prepare_sqlite(engine: Engine) -> None:
    db = engine.url.database
    if db and db != ":memory:":
        Path(db).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # The lookup indexes take random keys (lead keys, source ids), so a page's lookups
        # and inserts land all over them: a cache above SQLite's 2 MiB keeps more of them.
        # Taken only as the tables grow, and held to the end of the process: 16 MiB keeps a
        # first sync of 100,000 leads under 200 MiB (64 MiB took it to 265, bench/scale.py).
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        # A commit of a page of 5,000 leads logs more than SQLite's default 1,000 pages,
        # so each commit was also a checkpoint, and an index page dirtied by every commit
        # went to the database file every time. Checkpointing every 64 MiB of log writes
        # it once per several commits: 15% fewer bytes a lead at 100,000 (bench/scale.py).
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cur.close()


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("leadsync") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision(engine: Engine) -> str | None:
    """The newest revision this code ships (``SCHEMA_HEAD``: a test holds it to the
    migration scripts' head, so that a sync need not import Alembic to check it)."""
    return SCHEMA_HEAD


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database with no leadsync schema."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations; return (revision before, revision after)."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    before = current_revision(engine)
    config = alembic_config(engine)
    try:
        command.upgrade(config, revision)
    except CommandError as exc:
        known = [s.revision for s in ScriptDirectory.from_config(config).walk_revisions()]
        raise StateError(
            f"cannot upgrade to revision {revision!r}: {exc} "
            f"(known: {', '.join(sorted(known))}, or head)"
        ) from None
    return before, current_revision(engine)


def require_current(engine: Engine) -> None:
    """Refuse to run against a database whose schema is not the code's."""
    current, head = current_revision(engine), head_revision(engine)
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaOutdated(
            f"the state database {where} has no leadsync schema yet: "
            "run `leadsync db upgrade` to create it"
        )
    raise SchemaOutdated(
        f"the state database {where} is at schema revision {current}, this leadsync "
        f"needs {head}: run `leadsync db upgrade`"
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, future=True)


# One number for every leadsync process on a PostgreSQL server: "ls" in ASCII.
_PG_LOCK_KEY = 0x6C73


@contextmanager
def run_lock(engine: Engine) -> Iterator[None]:
    """Hold the state database's run lock, or raise StateError naming who holds it.

    Two runs pushing the same outbox would send the same batch twice; this lock
    makes the second one stop at once instead. It is the operating system's (a
    file lock beside the SQLite file) or the server's (a PostgreSQL advisory lock):
    either is released when the process dies, so a crash never leaves it behind.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            if not conn.execute(select(func.pg_try_advisory_lock(_PG_LOCK_KEY))).scalar():
                raise RunLockBusy(
                    "another leadsync run is using this state database "
                    f"({engine.url.render_as_string(hide_password=True)}); wait for it to finish"
                )
            try:
                yield
            finally:
                conn.execute(select(func.pg_advisory_unlock(_PG_LOCK_KEY)))
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # a private in-memory database: no other process can reach it
        return
    path = Path(database + ".lock")
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunLockBusy(
                f"another leadsync run ({holder}) is using {database}; wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_lock_held(engine: Engine) -> bool:
    """Whether a run holds the lock now: a run recorded as running while nobody holds it
    was killed (SIGKILL, a power cut) and will never finish."""
    try:
        with run_lock(engine):
            return False
    except StateError:
        return True
