"""The command line, end to end: what an admin types and what they see."""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from leadsync.cli import main
from leadsync.state import db
from tests.conftest import FIXTURES, XEDUCATION, Sandbox

RUN_KEYS = {
    "run_id",
    "read",
    "quarantined",
    "created",
    "updated",
    "unchanged",
    "failed",
    "api_calls",
}


def run(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    result = runner.invoke(
        main, ["--log-json", "--log-level", "error", *args], catch_exceptions=False
    )
    return result


def test_demo_twice_second_run_writes_nothing(tmp_path: Path):
    """`leadsync demo --json` syncs the sample; the second run reads and writes nothing."""
    first = run("demo", "--dir", str(tmp_path / "demo"), "--json")
    assert first.exit_code == 0, first.output
    one = json.loads(first.stdout)
    assert one.keys() >= RUN_KEYS
    assert one["read"] == 500 and one["created"] > 400 and one["quarantined"] == 0
    assert one["mql"] > 0  # the example config's scoring makes some of the sample MQLs
    assert one["tasks_created"] == one["mql"]  # one follow-up task per MQL
    assert one["nurture_added"] > 0  # consenting leads not ready for sales
    assert one["owners_assigned"] == one["mql"]  # every MQL routed to an owner
    # a login, what sales did (leads, tasks, contacts changed: a query each), ceil(leads / 200)
    # upserts and as many queries for Contacts and for Leads that already have the new
    # leads' emails, users and queues (for routing), contacts and leads by email for their
    # owners (200 emails a query, for the page's 481 leads: 3 each), a task batch,
    # ceil(members / 200) nurture batches, and the Contact's describe (which fill-if-empty
    # fields a Contact has)
    nurture = -(-one["nurture_added"] // 200)
    assert one["api_calls"] == (1 + 3 + 3 * 3 + 2 + 2 * 3 + 1 + nurture + 1)

    second = json.loads(run("demo", "--dir", str(tmp_path / "demo"), "--json").stdout)
    assert (second["mql"], second["tasks_created"], second["nurture_added"]) == (0, 0, 0)
    assert second["owners_assigned"] == 0
    # Nothing written: a login and the three queries asking what sales did, no more.
    assert {k: second[k] for k in RUN_KEYS - {"run_id"}} == {
        "read": 0,
        "quarantined": 0,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
        "api_calls": 4,
    }
    records = json.loads((tmp_path / "demo" / "sandbox-records.json").read_text())
    assert len(records["records"]["Lead"]) == one["created"]


def test_demo_against_a_running_sandbox(tmp_path: Path, sandbox: Sandbox):
    """`--sandbox-url` sends the demo to an emulator served elsewhere."""
    result = run("demo", "--dir", str(tmp_path / "d"), "--sandbox-url", sandbox.url)
    assert result.exit_code == 0, result.output
    assert "created" in result.stdout
    assert len(sandbox.records()) > 400


def test_init_writes_the_example_and_refuses_to_overwrite(tmp_path: Path):
    """`leadsync init` writes the documented config and its sample, and keeps an existing one."""
    path = tmp_path / "config.toml"
    assert run("init", str(path)).exit_code == 0
    assert path.read_text() == (Path(__file__).parents[1] / "config.example.toml").read_text()
    assert (tmp_path / "sample_leads.csv").exists()
    again = run("init", str(path))
    assert again.exit_code == 1 and "pass --force" in again.stderr


def xeducation_project(tmp_path: Path, extra: str = "") -> Path:
    shutil.copy2(XEDUCATION, tmp_path / "xeducation_leads.csv")
    path = tmp_path / "config.toml"
    path.write_text((FIXTURES / "xeducation.toml").read_text() + extra)
    return path


def test_check_passes_a_good_config(tmp_path: Path, sandbox: Sandbox):
    """A valid config checks clean: file, sources, CRM login and schema."""
    path = xeducation_project(tmp_path)
    result = run("--config", str(path), "check")
    assert result.exit_code == 0, result.output
    assert "ok       CRM login and Lead schema" in result.stdout
    assert "config is valid" in result.stdout


def test_check_reports_each_mapping_problem_on_its_own_line(tmp_path: Path, sandbox: Sandbox):
    """Unknown fields, bad picklist values, long values and unmapped required fields are found."""
    path = xeducation_project(tmp_path)
    text = (
        path.read_text()
        .replace(
            'LastName = { from = "lead_number", transforms = [{ default = "[unknown]" }] }\n', ""
        )
        .replace(
            'City = "city"',
            'Citty = "city"\nStatus = { from = "lead_origin", '
            'transforms = [{ default = "Hot" }] }\nTitle = { from = "occupation", '
            f'transforms = [{{ default = "{"x" * 130}" }}] }}\nIsConverted = "do_not_call"',
        )
    )
    path.write_text(text)

    result = run("--config", str(path), "check")

    assert result.exit_code == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("error")]
    assert len(errors) == 6, result.stdout
    joined = "\n".join(errors)
    assert (
        "crm.fields.Status: Status is a restricted picklist but lead_origin is free text" in joined
    )
    assert f"{path}: crm.fields.Citty: Lead has no field 'Citty' (did you mean 'City'?)" in joined
    assert (
        "crm.fields.Status: 'Hot' is not an allowed value of Status (allowed: Open - Not "
        "Contacted" in joined
    )
    assert "crm.fields.Title: 'xxxxx" in joined and "is 130 characters; Title holds 128" in joined
    assert "crm.fields.IsConverted: Lead.IsConverted is read-only in the CRM" in joined
    assert "crm.fields: Salesforce requires Lead.LastName and nothing maps it" in joined


def test_check_refuses_a_campaign_the_org_does_not_have(tmp_path: Path, sandbox: Sandbox):
    """A nurture campaign id that is no active Campaign in the org is an error of check."""
    from leadsync.demo.run import prepare

    path = prepare(tmp_path, sandbox.url)
    path.write_text(path.read_text().replace("7015g000000NurtAAA", "7015g000000GoneAAA"))

    result = run("--config", str(path), "check")

    assert result.exit_code == 1
    assert "nurture.campaign_id: 7015g000000GoneAAA is no active campaign" in result.stdout


def test_check_reports_unset_variables_and_unknown_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Missing environment variables and columns absent from the file's header are named."""
    path = xeducation_project(tmp_path)
    path.write_text(path.read_text().replace('city = "City"', 'city = "Cty"'))
    monkeypatch.delenv("SF_PASSWORD", raising=False)
    for var in ("SF_USERNAME", "SF_SECURITY_TOKEN", "SANDBOX_URL"):
        monkeypatch.setenv(var, "x")

    result = run("--config", str(path), "check")

    assert result.exit_code == 1
    assert "crm.auth.password: environment variable SF_PASSWORD is not set" in result.stdout
    assert (
        "sources.xeducation.fields: column 'Cty' is not in the file's header "
        "(did you mean 'City'?)" in result.stdout
    )


def test_sync_needs_the_schema_and_says_how(tmp_path: Path, sandbox: Sandbox):
    """A sync against an empty state db stops and names `leadsync db upgrade`."""
    path = xeducation_project(tmp_path)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    refused = run("--config", str(path), "--state-url", url, "sync")
    assert refused.exit_code == 1
    assert "run `leadsync db upgrade`" in refused.stderr

    upgraded = run("--config", str(path), "--state-url", url, "db", "upgrade")
    head = db.head_revision(db.make_engine(url))
    assert upgraded.exit_code == 0 and f"empty -> {head}" in upgraded.stdout
    again = run("--config", str(path), "--state-url", url, "db", "upgrade")
    assert f"already at {head}" in again.stdout


def test_dry_run_writes_nothing_and_shows_field_diffs(tmp_path: Path, sandbox: Sandbox):
    """`sync --dry-run` shows counts and diffs, sends no write and leaves the state db as it was."""
    path = xeducation_project(tmp_path)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    run("--config", str(path), "--state-url", url, "db", "upgrade")

    dry = run("--config", str(path), "--state-url", url, "sync", "--dry-run")

    assert dry.exit_code == 0, dry.output
    assert re.search(r"would create\s+9237\n", dry.stdout)
    assert "LastName: None -> '660737'" in dry.stdout
    assert sandbox.stats()["total"] == 0

    real = json.loads(run("--config", str(path), "--state-url", url, "sync", "--json").stdout)
    assert real["created"] == 9237


def test_bad_rows_exit_2_and_status_lists_what_went_wrong(tmp_path: Path, sandbox: Sandbox):
    """Quarantined and dead-lettered records make a partial run (exit 2) that status explains."""
    path = xeducation_project(tmp_path, "")
    csv_path = tmp_path / "xeducation_leads.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[5] = lines[5].replace(",No,No,", ",Maybe,No,", 1)  # Do Not Email = "Maybe"
    lines[8] = '"broken,' + lines[8]
    csv_path.write_text("".join(lines), encoding="utf-8")
    old = time.time() - 3600  # an export written a while ago, not one being written
    os.utime(csv_path, (old, old))
    text = path.read_text().replace(
        'City = "city"',
        'City = "city"\nStatus = { from = "city", '
        'transforms = [{ map = { "Mumbai" = "Hot", "*" = "Open - Not Contacted" } }] }',
    )
    path.write_text(text)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    run("--config", str(path), "--state-url", url, "db", "upgrade")

    result = run("--config", str(path), "--state-url", url, "sync", "--json")

    assert result.exit_code == 2
    summary = json.loads(result.stdout)
    assert summary["quarantined"] == 2
    assert summary["failed"] > 0  # every Mumbai lead: "Hot" is no Lead Status
    assert summary["created"] + summary["failed"] == 9237 - 2
    problems = {p["record"]: p["reason"] for p in summary["problems"]}
    assert problems["line 6"] == (
        "email_opt_out (from 'Do Not Email'): 'Maybe' is not a yes/no value"
    )
    assert problems["line 9"].startswith("broken quoting")

    status = run("--config", str(path), "--state-url", url, "status")
    assert "partial" in status.stdout
    assert (
        "xeducation line 6: email_opt_out (from 'Do Not Email'): 'Maybe' is not a yes/no "
        "value" in status.stdout
    )
    assert (
        f"{summary['failed']:>6}  INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Lead Status: bad "
        "value for restricted picklist field: Hot" in status.stdout
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["check"],
        ["db"],
        ["db", "upgrade"],
        ["sync"],
        ["status"],
        ["demo"],
        ["sandbox", "serve"],
        ["errors"],
        ["errors", "retry"],
        ["explain"],
        ["preview"],
        ["db", "current"],
    ],
)
def test_every_command_has_help(command):
    """`--help` works on every command and says what it does."""
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 4


def test_check_finds_a_routing_owner_who_left(tmp_path: Path, sandbox: Sandbox):
    """`check` names the routing key whose owner is not an active user or queue in the CRM."""
    path = tmp_path / "config.toml"
    run("init", str(path))
    text = (
        path.read_text()
        .replace('# sandbox_url = "http://127.0.0.1:8765"', f'sandbox_url = "{sandbox.url}"')
        .replace('owner = "0055g00000000CyxAA"', 'owner = "0055g00000000DeeAA"')
    )
    path.write_text(text)

    result = run("--config", str(path), "check")

    assert result.exit_code == 1
    assert (
        f"{path}: routing.rules[0].owner: 0055g00000000DeeAA is not an active owner "
        "in the CRM (unknown, inactive or archived)"
    ) in result.stdout
    assert "1 problem(s) found" in result.stdout  # the example is otherwise valid


def test_the_progress_line_counts_reading_then_each_kind_apart(capsys) -> None:
    """On a terminal the run says what it has read, mapped and planned, then what it has
    written of each kind against what was pending: leads, tasks and nurture apart."""
    from leadsync.cli.render import Progress

    line = Progress()
    line.read("web_forms", 5000)
    assert "reading web_forms: 5,000 records mapped and planned" in capsys.readouterr().err
    pending = {"upsert": 481, "task": 52, "task_mark": 0, "nurture": 256}
    line.push("upsert", 200, pending)
    line.push("upsert", 281, pending)
    line.push("task", 52, pending)
    shown = capsys.readouterr().err.split("\r")[-1].strip()
    assert shown == "pushing leads 481/481, tasks 52/52, nurture 0/256"


def test_the_program_exits_with_its_code_and_its_state_db_closed(tmp_path: Path):
    """`leadsync` as a process of its own, which exits without Python's last garbage
    collections: the command's exit code still comes out, and the state db is closed
    by then (SQLite folds its write-ahead log back in), not left to a collection."""
    env = {**os.environ, "LEADSYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}

    def leadsync(*args: str) -> subprocess.CompletedProcess[str]:
        program = [sys.executable, "-m", "leadsync.cli", *args]
        return subprocess.run(program, env=env, cwd=tmp_path, capture_output=True, text=True)

    missing = leadsync("db", "current")
    assert missing.returncode == 1
    assert "run `leadsync db upgrade` to create it" in missing.stderr
    created = leadsync("db", "upgrade")
    assert created.returncode == 0, created.stderr
    assert leadsync("db", "current").stdout.startswith("database: 0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


def test_a_command_loads_with_the_collector_on_and_the_start_up_frozen():
    """`leadsync` starts with the garbage collector off (`cli.script`); loading the
    command turns it on again, with what the start-up made frozen out of its passes."""
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        command = main.get_command(click.Context(main), "status")
        assert command is not None and command.name == "status"
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.enable()
