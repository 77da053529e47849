"""One clock: decisions never read the day the suite runs on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from leadsync import clock
from leadsync.cli import main
from leadsync.errors import ConfigError
from tests.conftest import ROOT

DECISION_TESTS = [
    "tests/rules",
    "tests/sync/test_decide.py",
    "tests/sync/test_sla_sweep.py",
    "tests/sync/test_rescore.py",
    "tests/connectors/test_webhook.py",
    "tests/service/test_schedule.py",
    "tests/test_clock.py",
]


def test_the_clock_is_fixed_by_leadsync_now(monkeypatch: pytest.MonkeyPatch):
    """LEADSYNC_NOW fixes the time decisions are made at; a date alone is midnight UTC."""
    monkeypatch.setenv("LEADSYNC_NOW", "2027-03-01")
    assert clock.now() == datetime(2027, 3, 1, tzinfo=UTC)
    monkeypatch.setenv("LEADSYNC_NOW", "2027-03-01T10:00:00+02:00")
    assert clock.now() == datetime(2027, 3, 1, 8, tzinfo=UTC)
    monkeypatch.setenv("LEADSYNC_NOW", "next tuesday")
    with pytest.raises(ConfigError, match="LEADSYNC_NOW='next tuesday' is not a time"):
        clock.now()


def test_now_flag_refuses_a_bad_time():
    """`leadsync --now` names the bad value and the form it takes, with exit 1."""
    result = CliRunner().invoke(main, ["--now", "tomorrow", "status"])
    assert result.exit_code == 1
    assert "is not a time: give ISO 8601" in result.output


def _demo(workdir: Path, now: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("LEADSYNC_NOW", now)
    result = CliRunner().invoke(
        main, ["--log-level", "error", "demo", "--json", "--dir", str(workdir)]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_demo_decides_the_same_a_year_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The demo's sample ages from the day it runs: a year later, the same MQLs, owners and
    tasks."""
    keys = ("read", "created", "mql", "owners_assigned", "tasks_created", "nurture_added")
    one = _demo(tmp_path / "a", "2026-11-23T12:00:00Z", monkeypatch)
    later = _demo(tmp_path / "b", "2027-11-23T12:00:00Z", monkeypatch)
    assert {k: later[k] for k in keys} == {k: one[k] for k in keys}
    assert one["mql"] == 52 and one["tasks_created"] == 52
    sample = (tmp_path / "b" / "sample_leads.csv").read_text()
    assert "2027-11-13T23:39:00Z" in sample  # the first row, moved a year on


@pytest.mark.slow
def test_decision_tests_pass_with_the_machine_a_year_on():
    """The rule, decision and demo tests pass with the machine's own clock moved a year
    forward (libfaketime), so none of them reads today's date."""
    faketime = shutil.which("faketime")
    if faketime is None:
        if os.environ.get("CI"):
            pytest.fail("faketime is missing: .ci/run installs it (apt-get install faketime)")
        pytest.skip("no faketime (apt-get install faketime)")
    env = {k: v for k, v in os.environ.items() if k != "LEADSYNC_NOW"}
    child = subprocess.run(
        [
            faketime,
            "-f",
            "+365d",
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "-k",
            "not machine_a_year_on",
            *DECISION_TESTS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stdout[-3000:]
    assert " passed" in child.stdout.splitlines()[-1]
    # The child really ran a year on: the wall clock it saw is next year's.
    year = subprocess.run(
        [
            faketime,
            "-f",
            "+365d",
            sys.executable,
            "-c",
            "import datetime; print(datetime.date.today())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    assert (datetime.fromisoformat(year).date() - datetime.now(UTC).date()).days == 365
