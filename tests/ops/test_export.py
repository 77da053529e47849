"""`leadsync export`: the ledger of a real sync as Parquet (and CSV) partitions a warehouse
loads as they are, and a second export after sales moved a lead holds only what moved."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from leadsync.cli import main
from leadsync.errors import StateError
from leadsync.ops.export import export
from leadsync.state import db
from leadsync.state.models import Lead, StageHistory
from tests.conftest import Sandbox
from tests.sync.test_feedback import lead_record, salesforce_project

LATER = "2026-11-24T09:00:00Z"


def read(folder: Path, name: str) -> pa.Table:
    return ds.dataset(folder / name, format="parquet", partitioning="hive").to_table()


def count(url: str, model: type) -> int:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(model)) or 0
    finally:
        engine.dispose()


def test_a_sync_exported_then_only_what_sales_moved(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first export holds every lead, stage entry and task of the sync, typed (UTC
    timestamps, dates, JSON text) and partitioned by day; after sales accepts one lead,
    the next export holds that lead and its new stage entry alone."""
    project = salesforce_project(tmp_path)
    assert project.sync().tasks_created == 4
    out = tmp_path / "lake"
    args = ["--state-url", project.state_url, "export", "--to", str(out)]

    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    leads, history, tasks = read(out, "leads"), read(out, "stage_history"), read(out, "tasks")
    assert leads.num_rows == 4 and history.num_rows == count(project.state_url, StageHistory)
    assert tasks.num_rows == 4 and set(tasks.column("status").to_pylist()) == {"done"}
    assert leads.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert leads.schema.field("revisit_on").type == pa.date32()
    assert json.loads(leads.column("profile")[0].as_py())["last_name"].startswith("Lee")
    assert history.column("day").to_pylist()[0] == "2026-11-23"  # the partition, read back

    sandbox.app.store.touch(
        "Lead", lead_record(sandbox, "p0@x.example")["Id"], {"Status": "Working - Contacted"}
    )
    monkeypatch.setenv("LEADSYNC_NOW", LATER)
    assert project.sync().sales_stage_changes == 1
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert re.search(r"stage_history +1\n", second.output), second.output
    moved = read(out, "stage_history").filter(ds.field("stage") == "sal")
    assert moved.num_rows == 1
    leads = read(out, "leads")
    assert leads.num_rows == 5  # the accepted lead again, its stage now sal: the newest wins
    newest = leads.sort_by([("updated_at", "descending")]).slice(0, 1).to_pylist()[0]
    assert (newest["email"], newest["stage"]) == ("p0@x.example", "sal")
    assert read(out, "stage_history").num_rows == count(project.state_url, StageHistory)

    third = CliRunner().invoke(main, args)
    assert re.search(r"leads +0\n", third.output) and not list(out.rglob("*.tmp"))


def test_csv_and_a_running_sync(sandbox: Sandbox, tmp_path: Path) -> None:
    """CSV partitions carry a header; while a sync holds the run lock the export waits for
    nothing: it says so and writes nothing."""
    project = salesforce_project(tmp_path)
    project.sync()
    engine = db.make_engine(project.state_url)
    try:
        with db.run_lock(engine), pytest.raises(StateError, match="another leadsync run"):
            export(engine, tmp_path / "busy", "csv", _now())
        assert not (tmp_path / "busy").exists()
        counts = export(engine, tmp_path / "csv", "csv", _now())
    finally:
        engine.dispose()
    assert counts["leads"] == count(project.state_url, Lead) == 4
    (part,) = (tmp_path / "csv" / "leads").rglob("*.csv")
    assert part.read_text().splitlines()[0].startswith('"id","key","email"')


def _now():
    from leadsync import clock

    return clock.now()
