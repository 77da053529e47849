"""Times in the state db: stored as UTC, read back aware; the bind processor that remembers
its last answer gives each instant its own text, whatever zone it came in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from leadsync.state import db
from leadsync.state.models import SyncRun, table

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))


def test_each_instant_is_stored_as_itself(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    db.upgrade(engine)
    runs = table(SyncRun)
    stamps = [NOW, NOW, NOW.astimezone(PARIS), NOW + timedelta(microseconds=1), NOW]
    rows = [
        {"id": f"r{i}", "started_at": at, "status": "ok", "dry_run": False, "summary": {}}
        for i, at in enumerate(stamps)
    ]
    with engine.begin() as conn:
        conn.execute(insert(runs), rows)  # one executemany: the processor's memory in play
        stored = dict(conn.execute(select(runs.c.id, runs.c.started_at)).all())
        text = dict(conn.exec_driver_sql("SELECT id, started_at FROM sync_runs").all())
    assert [stored[f"r{i}"] for i in range(5)] == [
        NOW,
        NOW,
        NOW,
        NOW + timedelta(microseconds=1),
        NOW,
    ]
    assert all(at.tzinfo is not None for at in stored.values())
    assert text["r0"] == text["r1"] == text["r2"] == text["r4"] != text["r3"]
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as conn:
        conn.execute(insert(runs), [rows[0] | {"id": "naive", "started_at": datetime(2026, 1, 1)}])
    engine.dispose()
