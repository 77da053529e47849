"""`leadsync run` as a real child process against `leadsync sandbox serve` (another):
a scheduled CSV source picks up appended rows, signed forms become Leads and Tasks,
refusals store nothing, SIGTERM mid-push exits 0 and the next start finishes the work,
SIGKILL between the 2xx and the push loses nothing and sends nothing twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from leadsync import clock
from leadsync.sandbox.salesforce import login_env
from leadsync.state import db, inbox
from tests.conftest import TEST_NOW
from tests.service.service_config import FORMS_SECRET, service_config

pytestmark = pytest.mark.slow
T = int(clock.parse(TEST_NOW).timestamp())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "leadsync.cli", "--log-json", *args]


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False


def faults(emulator: str, spec: str) -> None:
    requests.post(f"{emulator}/__sandbox/faults", json={"spec": spec}, timeout=5).raise_for_status()


def upserts(emulator: str) -> int:
    """sObject Collections upserts the emulator has served: the push is under way."""
    stats = requests.get(f"{emulator}/__sandbox/stats", timeout=5).json()
    return stats["by_endpoint"].get("collections_upsert", 0)


@pytest.fixture
def emulator() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        cli("sandbox", "serve", "--port", str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/__sandbox/stats"), 30, "the emulator to start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Service:
    """One project folder and the `leadsync run` processes started on it."""

    def __init__(self, folder: Path, emulator: str, csv_schedule: str, batch: float) -> None:
        self.folder = folder
        self.emulator = emulator
        (folder / "config.toml").write_text(service_config(csv_schedule, batch), "utf-8")
        self.env = {
            **os.environ,
            **login_env(emulator),
            "FORMS_SECRET": FORMS_SECRET,
            "LEADSYNC_CONFIG": str(folder / "config.toml"),
            "LEADSYNC_STATE_URL": f"sqlite:///{folder / 'state.db'}",
        }
        subprocess.run(cli("db", "upgrade"), env=self.env, check=True, capture_output=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with (self.folder / "run.log").open("ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                cli("run", "--listen", f"127.0.0.1:{self.port}"),
                env=self.env,
                stdout=log,
                stderr=log,
            )
        wait_until(lambda: answers(f"{self.url}/healthz"), 30, "the service to listen")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def post(
        self, fields: dict, *, at: int = T, secret: str = FORMS_SECRET, raw: bytes | None = None
    ):
        body = raw if raw is not None else json.dumps(fields).encode()
        digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Leadsync-Signature": f"t={at},v1={digest}",
        }
        return requests.post(f"{self.url}/forms/site", data=body, headers=headers, timeout=10)

    def records(self, obj: str) -> list[dict]:
        answer = requests.get(f"{self.emulator}/__sandbox/records/{obj}", timeout=30)
        return answer.json()["records"]

    def emails(self) -> list[str]:
        return sorted(r["Email"] for r in self.records("Lead"))

    def stored(self) -> int:
        engine = db.make_engine(self.env["LEADSYNC_STATE_URL"])
        try:
            return inbox.count(engine, "site")
        finally:
            engine.dispose()

    def log(self) -> str:
        return (self.folder / "run.log").read_text("utf-8", "replace")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def make_service(tmp_path: Path, emulator: str) -> Iterator[Callable[..., Service]]:
    made: list[Service] = []

    def make(csv_schedule: str = "1s", batch: float = 0.05, rows: str = "") -> Service:
        (tmp_path / "leads.csv").write_text("id,email,last,title\n" + rows, "utf-8")
        service = Service(tmp_path, emulator, csv_schedule, batch)
        made.append(service)
        return service

    yield make
    for service in made:
        service.kill()


def test_the_service_syncs_on_its_schedule_and_turns_forms_into_tasks(make_service):
    service = make_service(rows="1,a@x.example,Ames,VP\n")
    service.start()
    wait_until(lambda: service.emails() == ["a@x.example"], 30, "the first scheduled sync")

    # rows appended to the export are picked up by the next run of its 1 s schedule
    with (service.folder / "leads.csv").open("a", encoding="utf-8") as f:
        f.write("2,b@x.example,Bell,Analyst\n")
    wait_until(lambda: "b@x.example" in service.emails(), 15, "the appended row")

    # a signed form: a Lead and, as a VP, a Task for the rep, within seconds
    posted = time.monotonic()
    answer = service.post(
        {"email": "Form.Visitor@Example.org", "last_name": "Visitor", "title": "VP"}
    )
    assert answer.status_code == 202, answer.text
    wait_until(
        lambda: any(t["Subject"] == "Follow up: Visitor" for t in service.records("Task")),
        15,
        "the form's task",
    )
    took = time.monotonic() - posted
    assert took < 10, took

    # refused: nothing stored, nothing sent
    before = service.stored()
    assert service.post({"email": "x@evil.example"}, secret="guess").status_code == 401
    assert service.post({"email": "x@evil.example"}, at=T - 3600).status_code == 401
    assert service.post({}, raw=b'{"email": "x@evil').status_code == 400
    big = b'{"email": "x@evil.example", "n": "' + b"x" * 70_000 + b'"}'
    assert service.post({}, raw=big).status_code == 413
    assert service.stored() == before
    # the same submission again: 200, still one lead
    again = service.post(
        {"email": "Form.Visitor@Example.org", "last_name": "Visitor", "title": "VP"}
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True

    metrics = requests.get(f"{service.url}/metrics", timeout=5).text
    assert 'leadsync_form_to_crm_seconds_count{source="site"} 1.0' in metrics
    assert 'leadsync_forms_received_total{result="refused",source="site"} 4.0' in metrics
    assert requests.get(f"{service.url}/readyz", timeout=5).json()["ready"] is True
    status = subprocess.run(
        cli("status", "--json"), env=service.env, capture_output=True, text=True, check=True
    )
    by_name = {j["job"]: j for j in json.loads(status.stdout)["jobs"]}
    assert by_name["sync:export"]["last_result"] == "ok"
    assert by_name["sync:export"]["next_run_at"] is not None
    assert by_name["sync:site"]["schedule"] == "on submission"

    assert service.stop() == 0
    assert service.emails() == ["a@x.example", "b@x.example", "form.visitor@example.org"]
    assert len(service.records("Task")) == 2  # Ames and the visitor, the VPs
    assert "form.visitor" not in service.log().lower()  # no email in any log line


def test_sigkill_between_the_answer_and_the_push_then_restart_sends_each_once(make_service):
    # the run a submission wakes starts 3 s after it: time to kill the service first
    service = make_service(csv_schedule="1h", batch=3.0)
    service.start()
    fields = {"email": "kill@x.example", "last_name": "Kill", "title": "VP"}
    assert service.post(fields).status_code == 202
    service.kill()  # SIGKILL after the 2xx, before the push
    assert service.stored() == 1
    assert service.emails() == []

    service.start()  # the new process wakes the inbox at start
    wait_until(lambda: service.emails() == ["kill@x.example"], 20, "the stored submission")
    assert service.post(fields).status_code == 200  # the vendor's retry: a duplicate
    time.sleep(4)  # a run it could have woken would be over by now
    assert service.stop() == 0
    assert service.emails() == ["kill@x.example"]
    assert [t["Subject"] for t in service.records("Task")] == ["Follow up: Kill"]


def test_sigterm_mid_push_exits_0_and_the_next_start_finishes(make_service, emulator: str):
    rows = "".join(f"{i},p{i}@x.example,Lee{i},VP\n" for i in range(2000))
    faults(emulator, "slow:every=1:delay=0.3:endpoint=collections_upsert")
    service = make_service(csv_schedule="1h", rows=rows)
    service.start()

    wait_until(lambda: upserts(emulator) >= 1, 60, "the push to begin")
    stopped_at = time.monotonic()
    assert service.stop(signal.SIGTERM) == 0
    assert time.monotonic() - stopped_at < 20  # within shutdown_grace_seconds
    written = len(service.records("Lead"))
    assert 0 < written < 2000, written  # it stopped after a batch, not at the end
    assert '"stopped"' in service.log() or "service.stopped" in service.log()

    faults(emulator, "")
    service.start()
    wait_until(lambda: len(service.records("Task")) == 2000, 90, "the rest of the push")
    assert service.stop() == 0
    keys = [r["LeadSync_Id__c"] for r in service.records("Lead")]
    assert len(keys) == 2000 and len(set(keys)) == 2000
    tasks = service.records("Task")
    assert len({t["LeadSync_Key__c"] for t in tasks}) == 2000


def test_demo_serve_shows_forms_becoming_tasks_in_seconds(tmp_path: Path):
    port = free_port()
    child = subprocess.Popen(
        cli("demo", "--serve", "--dir", str(tmp_path / "demo"), "--listen", f"127.0.0.1:{port}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = []
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Ctrl-C" in line for line in lines):
            lines.append(child.stdout.readline())
        tasks = [line for line in lines if "a follow-up task for 005" in line]
        assert len(tasks) == 3, lines
        assert all(float(t.split(" s after")[0].rsplit(" ", 1)[1]) < 10 for t in tasks)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_a_second_signal_exits_at_once_and_the_outbox_keeps_the_rest(make_service, emulator):
    rows = "".join(f"{i},q{i}@x.example,Lee{i},VP\n" for i in range(1000))
    faults(emulator, "slow:every=1:delay=2.0:endpoint=collections_upsert")
    service = make_service(csv_schedule="1h", rows=rows)
    service.start()

    wait_until(lambda: upserts(emulator) >= 1, 60, "the push to begin")
    assert service.proc is not None
    service.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    asked = time.monotonic()
    assert service.stop(signal.SIGTERM) == 130  # the second: at once, mid-batch
    assert time.monotonic() - asked < 2

    faults(emulator, "")
    service.start()
    wait_until(lambda: len(service.records("Task")) == 1000, 90, "the rest of the push")
    assert service.stop() == 0
    keys = [r["LeadSync_Id__c"] for r in service.records("Lead")]
    assert len(keys) == 1000 and len(set(keys)) == 1000
