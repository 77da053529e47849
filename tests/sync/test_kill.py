"""A sync killed with SIGKILL mid-push and started again: every lead in the CRM exactly once.

Real processes: the emulator is `leadsync sandbox serve` in a child process (its
records outlive the syncs), and each sync is `leadsync sync` in another child,
killed at a random moment of its push.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import FIXTURES, XEDUCATION, XEDUCATION_ROWS

pytestmark = pytest.mark.slow
CREDS = {
    "SF_USERNAME": "demo@leadsync.example",
    "SF_PASSWORD": "demo-password",
    "SF_SECURITY_TOKEN": "demo-token",
}
KILLS = 8


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "leadsync.cli", "--log-json", *args]


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _env(tmp_path: Path, served: str) -> dict[str, str]:
    return {
        **os.environ,
        **CREDS,
        "SANDBOX_URL": served,
        "LEADSYNC_CONFIG": str(tmp_path / "config.toml"),
        "LEADSYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
    }


def _sync_killed(env: dict[str, str], served: str, endpoint: str, rng, at_most: float) -> bool:
    """One `leadsync sync` in a child process, SIGKILLed at a random moment up to
    ``at_most`` seconds after its first request to ``endpoint`` reached the emulator;
    True when it was killed, False when it finished first."""

    def count() -> int:
        stats = requests.get(f"{served}/__sandbox/stats", timeout=5).json()
        return stats["by_endpoint"].get(endpoint, 0)

    started = count() + 1
    child = subprocess.Popen(
        _cli("sync", "--json"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_until(
            lambda: count() >= started or child.poll() is not None,
            120,
            f"the sync's first {endpoint} request",
        )
        time.sleep(rng.uniform(0, at_most))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            return True
        return False
    finally:
        child.wait(timeout=30)


@pytest.fixture
def served(tmp_path: Path):
    port = _port()
    # Each answer takes a moment, so that a push lasts long enough to be killed in.
    proc = subprocess.Popen(
        _cli(
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--faults",
            "slow:every=1:delay=0.05:endpoint=collections_upsert",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/__sandbox/stats", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        _wait_until(up, 30, "the emulator to start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sigkill_mid_push_loses_nothing_and_duplicates_nothing(tmp_path: Path, served: str):
    """Killed 8 times mid-push, the sync ends with each of 9,237 leads in the CRM once."""
    shutil.copy2(XEDUCATION, tmp_path / "xeducation_leads.csv")
    shutil.copyfile(FIXTURES / "xeducation.toml", tmp_path / "config.toml")
    env = _env(tmp_path, served)
    subprocess.run(_cli("db", "upgrade"), env=env, check=True, capture_output=True)

    rng = random.Random(2026)
    # A random moment of the push: while a batch is sent, answered, or written back.
    killed = sum(_sync_killed(env, served, "collections_upsert", rng, 0.4) for _ in range(KILLS))
    assert killed >= 2, "the syncs finished before they could be killed"

    final = subprocess.run(
        _cli("sync", "--json"), env=env, capture_output=True, text=True, timeout=300
    )
    assert final.returncode == 0, final.stderr[-2000:]
    # The last sync closed the state db as it ended: SQLite folded its log back in.
    assert not (tmp_path / "state.db-wal").exists()

    records = requests.get(f"{served}/__sandbox/records/Lead", timeout=30).json()["records"]
    keys = [r["LeadSync_Id__c"] for r in records]
    assert len(keys) == XEDUCATION_ROWS
    assert len(set(keys)) == XEDUCATION_ROWS
    assert {r["LastName"] for r in records} == _lead_numbers()
    status = subprocess.run(
        _cli("status", "--json"), env=env, capture_output=True, text=True, check=True
    )
    assert '"outbox": []' in status.stdout
    assert '"dead_letters": []' in status.stdout


def _lead_numbers() -> set[str]:
    import csv

    with XEDUCATION.open(newline="", encoding="utf-8") as f:
        return {row["Lead Number"] for row in csv.DictReader(f)}


TASK_KILLS = 20
TASK_LEADS = 4_000


def test_twenty_sigkills_leave_each_lead_and_each_task_once(tmp_path: Path, served: str):
    """4,000 leads that all qualify, each with a follow-up task: the sync is killed at 20
    random moments of its push (leads or tasks); after the last restart the CRM holds each
    lead and each task exactly once, each task on its own lead."""
    from tests.sync.test_feedback import SALESFORCE

    rows = "".join(f"{i},p{i}@x.example,Lee{i},VP,false\n" for i in range(TASK_LEADS))
    (tmp_path / "leads.csv").write_text("id,email,last,title,consent\n" + rows, encoding="utf-8")
    (tmp_path / "config.toml").write_text(SALESFORCE, encoding="utf-8")
    env = _env(tmp_path, served)
    subprocess.run(_cli("db", "upgrade"), env=env, check=True, capture_output=True)
    # 40 batches (20 of leads, 20 of tasks) of 0.15 s each: 20 kills land all along the push.
    slow = "slow:every=1:delay=0.15:endpoint=collections_upsert"
    requests.post(f"{served}/__sandbox/faults", json={"spec": slow}, timeout=5).raise_for_status()

    rng = random.Random(5)
    killed = cycles = 0
    while killed < TASK_KILLS and cycles < 3 * TASK_KILLS:
        cycles += 1
        # into the leads' batches, or the tasks'
        killed += _sync_killed(env, served, "collections_upsert", rng, 0.3)
    assert killed == TASK_KILLS, f"only {killed} syncs of {cycles} were killed mid-push"

    final = subprocess.run(
        _cli("sync", "--json"), env=env, capture_output=True, text=True, timeout=300
    )
    assert final.returncode == 0, final.stderr[-2000:]
    leads = requests.get(f"{served}/__sandbox/records/Lead", timeout=30).json()["records"]
    tasks = requests.get(f"{served}/__sandbox/records/Task", timeout=30).json()["records"]
    assert len(leads) == TASK_LEADS and len({r["LeadSync_Id__c"] for r in leads}) == TASK_LEADS
    assert len(tasks) == TASK_LEADS and len({t["LeadSync_Key__c"] for t in tasks}) == TASK_LEADS
    assert {t["WhoId"] for t in tasks} == {r["Id"] for r in leads}


BULK_KILLS = 6
BULK_LEADS = 12_000  # above the bulk threshold: the leads go in a Bulk API 2.0 job


def test_sigkills_during_a_bulk_backfill_leave_each_lead_and_task_once(tmp_path: Path, served: str):
    """A backfill through Bulk API 2.0 killed at random moments of its job (created,
    uploaded, closed, polled, results read, or written back); after the last restart each
    lead and each task is in the CRM once, and the outbox is empty."""
    from tests.sync.test_bulk import backfill_project

    backfill_project(tmp_path, BULK_LEADS)
    env = _env(tmp_path, served)
    subprocess.run(_cli("db", "upgrade"), env=env, check=True, capture_output=True)
    steps = ("create", "upload", "state", "get", "results")
    # Each step slowed so that the job (five requests when no record fails) outlasts
    # most kill moments: a kill after the write-back leaves the next sync no job to kill.
    slow = ",".join(f"slow:every=1:delay=0.3:endpoint=bulk_ingest_{s}" for s in steps)
    requests.post(f"{served}/__sandbox/faults", json={"spec": slow}, timeout=5).raise_for_status()

    rng = random.Random(11)
    killed = cycles = 0
    while killed < BULK_KILLS and cycles < 3 * BULK_KILLS:
        cycles += 1
        # anywhere in the job's five steps, or after
        killed += _sync_killed(env, served, "bulk_ingest_create", rng, 1.6)
    assert killed == BULK_KILLS, f"only {killed} syncs of {cycles} were killed mid-job"

    final = subprocess.run(
        _cli("sync", "--json"), env=env, capture_output=True, text=True, timeout=300
    )
    assert final.returncode == 0, final.stderr[-2000:]
    leads = requests.get(f"{served}/__sandbox/records/Lead", timeout=60).json()["records"]
    tasks = requests.get(f"{served}/__sandbox/records/Task", timeout=30).json()["records"]
    assert len(leads) == BULK_LEADS and len({r["LeadSync_Id__c"] for r in leads}) == BULK_LEADS
    assert len(tasks) == BULK_LEADS // 10
    assert len({t["LeadSync_Key__c"] for t in tasks}) == BULK_LEADS // 10
    status = subprocess.run(
        _cli("status", "--json"), env=env, capture_output=True, text=True, check=True
    )
    assert '"outbox": []' in status.stdout and '"dead_letters": []' in status.stdout


def test_sigterm_stops_a_sync_that_status_then_calls_stopped(tmp_path: Path, served: str):
    """SIGTERM mid-push: the sync exits 130 with its summary, the run is recorded as
    stopped (not running forever), and the next sync finishes the job. A run killed
    outright shows as died."""
    shutil.copy2(XEDUCATION, tmp_path / "xeducation_leads.csv")
    shutil.copyfile(FIXTURES / "xeducation.toml", tmp_path / "config.toml")
    env = _env(tmp_path, served)
    subprocess.run(_cli("db", "upgrade"), env=env, check=True, capture_output=True)

    def stats() -> int:
        body = requests.get(f"{served}/__sandbox/stats", timeout=5).json()
        return body["by_endpoint"].get("collections_upsert", 0)

    child = subprocess.Popen(
        _cli("sync", "--json"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    _wait_until(lambda: stats() >= 3, 120, "the push to start")
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 130
    summary = json.loads(out)
    assert summary["status"] == "stopped" and "SIGTERM" in summary["error"]

    def runs() -> list[dict]:
        status = subprocess.run(
            _cli("status", "--json"), env=env, capture_output=True, text=True, check=True
        )
        return json.loads(status.stdout)["runs"]

    assert runs()[0]["status"] == "stopped"
    assert _sync_killed(env, served, "collections_upsert", random.Random(1), 0.1)
    assert runs()[0]["status"] == "died"
    final = subprocess.run(_cli("sync", "--json"), env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-2000:]
    records = requests.get(f"{served}/__sandbox/records/Lead", timeout=30).json()["records"]
    assert len({r["LeadSync_Id__c"] for r in records}) == len(records) == XEDUCATION_ROWS
