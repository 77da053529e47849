"""A first load of history does not flood the reps: `--no-handoff`, [tasks] max_age_days,
and a dry run that says who would get how many tasks before it happens."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from leadsync.cli import main
from leadsync.demo.run import prepare
from tests.conftest import Project, Sandbox, cli_sync


def demo_project(tmp_path: Path, sandbox: Sandbox, extra: str = "") -> Project:
    path = prepare(tmp_path, sandbox.url)
    if extra:
        path.write_text(path.read_text().replace("[tasks]\n", f"[tasks]\n{extra}", 1))
    return Project(tmp_path, path)


def test_a_dry_run_says_how_many_tasks_each_owner_would_get(tmp_path: Path, sandbox: Sandbox):
    """`sync --dry-run` lists the follow-up tasks by owner and the nurture joins; the sync
    then makes exactly those."""
    p = demo_project(tmp_path, sandbox)
    args = ["--log-level", "error", "--config", str(p.config_path)]
    CliRunner().invoke(main, [*args, "db", "upgrade"])
    dry = CliRunner().invoke(main, [*args, "sync", "--dry-run", "--json"])
    planned = json.loads(dry.stdout)
    text = CliRunner().invoke(main, [*args, "sync", "--dry-run"]).stdout
    assert "follow-up tasks each owner would get" in text
    assert re.search(r"\n +\d+  Cy Rep\n", text), text  # the owner by name, not id

    done = cli_sync(p)

    assert planned["tasks_planned"] == done.tasks_created == sum(planned["tasks_by_owner"].values())
    assert planned["nurture_planned"] == done.nurture_added > 0
    tasks = sandbox.records("Task")
    by_owner: dict[str, int] = {}
    for t in tasks:
        by_owner[t["OwnerId"]] = by_owner.get(t["OwnerId"], 0) + 1
    assert by_owner == planned["tasks_by_owner"]


def test_no_handoff_brings_history_in_without_tasks(tmp_path: Path, sandbox: Sandbox):
    """`sync --no-handoff`: leads are scored, staged and routed, no rep gets a task; a lead
    that qualifies later still does."""
    p = demo_project(tmp_path, sandbox)
    first = cli_sync(p, "--no-handoff")
    assert first.mql > 0 and first.owners_assigned == first.mql
    assert (first.tasks_created, first.tasks_withheld) == (0, first.mql)
    assert sandbox.records("Task") == []


def test_max_age_withholds_tasks_for_old_activity(tmp_path: Path, sandbox: Sandbox):
    """[tasks] max_age_days = 7: only MQLs active in the last week get a task."""
    p = demo_project(tmp_path, sandbox, "max_age_days = 7\n")
    summary = cli_sync(p)
    assert 0 < summary.tasks_created < summary.mql
    assert summary.tasks_created + summary.tasks_withheld == summary.mql
