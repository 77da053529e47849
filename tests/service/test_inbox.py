"""The forms inbox in process: the listener (through werkzeug's test client, no socket)
stores before it answers and refuses without storing; the job a submission wakes turns
it into a CRM Lead and Task in the emulator, once."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import Client

from leadsync import clock, log
from leadsync.sandbox.server import running
from leadsync.service.listener import Listener
from leadsync.service.process import Service
from leadsync.state import db, inbox, jobs
from leadsync.sync.wiring import wire
from tests.conftest import TEST_NOW, Project, Sandbox
from tests.service.service_config import FORMS_SECRET, service_config

T = int(clock.parse(TEST_NOW).timestamp())


def signed(fields: dict, at: int = T, secret: str = FORMS_SECRET) -> tuple[bytes, dict]:
    body = json.dumps(fields).encode()
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Leadsync-Signature": f"t={at},v1={digest}"}


class Harness:
    def __init__(self, project: Project) -> None:
        config = project.config()
        self.engine = db.make_engine(config.state_url)
        db.upgrade(self.engine)
        self.service = Service(wire(config), self.engine, "127.0.0.1:0")
        self.woken: list[str] = []
        self.service.wake = self.woken.append  # type: ignore[method-assign]
        s = self.service
        self.client = Client(Listener(s.wiring, self.engine, s.jobs, s.metrics, s.wake, s.stopping))

    def post(self, source: str, body: bytes, headers: dict):
        return self.client.post(f"/forms/{source}", data=body, headers=headers)

    def job(self, name: str):
        return next(j for j in self.service.jobs_wanted if j.name == name)

    def stored(self) -> int:
        return inbox.count(self.engine, "site")


@pytest.fixture
def harness(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("FORMS_SECRET", FORMS_SECRET)
    (tmp_path / "leads.csv").write_text("id,email,last,title\n", encoding="utf-8")
    (tmp_path / "config.toml").write_text(service_config(), encoding="utf-8")
    h = Harness(Project(tmp_path, tmp_path / "config.toml"))
    yield h
    h.service.wiring.close()
    h.engine.dispose()


def test_a_signed_submission_is_stored_then_answered_and_wakes_its_source(harness: Harness):
    body, headers = signed({"email": "Ada@Example.org", "last_name": "Byron", "title": "VP"})
    answer = harness.post("site", body, headers)
    assert answer.status_code == 202 and answer.json["stored"] is True
    assert harness.stored() == 1 and harness.woken == ["site"]
    again = harness.post("site", body, headers)  # the vendor's retry
    assert again.status_code == 200 and again.json["duplicate"] is True
    assert harness.stored() == 1 and harness.woken == ["site"]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no signature", 401),
        ("bad signature", 401),
        ("replayed", 401),
        ("malformed", 400),
        ("not an object", 400),
        ("too big", 413),
        ("no such source", 404),
    ],
)
def test_refused_requests_store_nothing(harness: Harness, case: str, status: int):
    body, headers = signed({"email": "eve@example.org"})
    source = "site"
    if case == "no signature":
        headers = {"Content-Type": "application/json"}
    elif case == "bad signature":
        body, headers = signed({"email": "eve@example.org"}, secret="guessed")
    elif case == "replayed":
        body, headers = signed({"email": "eve@example.org"}, at=T - 301)
    elif case == "malformed":
        body, headers = b'{"email": "eve@', signed_headers(b'{"email": "eve@')
    elif case == "not an object":
        body, headers = b"[1, 2]", signed_headers(b"[1, 2]")
    elif case == "too big":
        big = b'{"email": "eve@example.org", "note": "' + b"x" * 70_000 + b'"}'
        body, headers = big, signed_headers(big)
    elif case == "no such source":
        source = "export"  # a CSV source takes no forms
    answer = harness.post(source, body, headers)
    assert answer.status_code == status, answer.json
    assert answer.json["error"]
    assert harness.stored() == 0 and harness.woken == []


def signed_headers(body: bytes) -> dict:
    digest = hmac.new(FORMS_SECRET.encode(), f"{T}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Leadsync-Signature": f"t={T},v1={digest}"}


def test_no_log_line_at_info_holds_the_visitors_email(harness: Harness, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    log.configure("info", json=True)
    body, headers = signed({"email": "private.person@example.org", "last_name": "Q", "title": "VP"})
    harness.post("site", body, headers)
    harness.post("site", *signed({"email": "private.person@example.org"}, secret="x"))
    harness.service.jobs.run(harness.job("sync:site"))
    text = out.getvalue()
    assert "forms.received" in text and "forms.refused" in text  # the log did speak
    assert "private.person" not in text


def test_the_woken_job_makes_one_lead_and_one_task(harness: Harness, sandbox: Sandbox):
    body, headers = signed({"email": "ada@example.org", "last_name": "Byron", "title": "VP"})
    assert harness.post("site", body, headers).status_code == 202
    harness.service.jobs.run(harness.job("sync:site"))
    leads, tasks = sandbox.records("Lead"), sandbox.records("Task")
    assert [(r["Email"], r["LastName"], r["Lifecycle_Stage__c"]) for r in leads] == [
        ("ada@example.org", "Byron", "mql")
    ]
    assert len(tasks) == 1 and tasks[0]["WhoId"] == leads[0]["Id"]
    assert tasks[0]["Subject"] == "Follow up: Byron"
    # the same submission again, and the job again: nothing new in the CRM
    harness.post("site", body, headers)
    harness.service.jobs.run(harness.job("sync:site"))
    assert len(sandbox.records("Lead")) == 1 and len(sandbox.records("Task")) == 1
    with harness.service.jobs.factory() as session:
        row = next(j for j in jobs.all_jobs(session) if j.name == "sync:site")
    assert row.last_result == "ok" and row.failures_in_row == 0
    metrics = harness.service.metrics.text().decode()
    assert 'leadsync_form_to_crm_seconds_count{source="site"} 1.0' in metrics
    assert 'leadsync_tasks_created_total{crm="salesforce"} 1.0' in metrics


def test_a_job_waits_for_another_process_run_and_then_runs(harness: Harness, sandbox: Sandbox):
    body, headers = signed({"email": "grace@example.org", "last_name": "Hopper", "title": "VP"})
    harness.post("site", body, headers)
    released = threading.Event()

    def hold() -> None:
        with db.run_lock(harness.engine):  # another run (a `leadsync sync` by hand)
            time.sleep(1.5)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.1)
    started = time.monotonic()
    harness.service.jobs.run(harness.job("sync:site"))
    waited = time.monotonic() - started
    holder.join()
    assert released.is_set() and waited >= 1.0
    assert [r["Email"] for r in sandbox.records("Lead")] == ["grace@example.org"]


def test_a_job_that_cannot_get_the_lock_in_time_fails_and_says_so(harness: Harness):
    harness.service.jobs.lock_wait = 0.5
    with db.run_lock(harness.engine):
        harness.service.jobs.run(harness.job("sync:site"))
        harness.service.jobs.run(harness.job("sync:site"))
    with harness.service.jobs.factory() as session:
        row = next(j for j in jobs.all_jobs(session) if j.name == "sync:site")
    assert row.last_result == "failed" and row.failures_in_row == 2
    assert "another leadsync run" in (row.last_error or "")


def test_a_hot_hand_off_is_announced_once(tmp_path: Path, sandbox: Sandbox, monkeypatch):
    """[alerts] hot_handoffs: a task of high priority is announced on the alert channel."""
    received: list[dict] = []

    def hook(environ, start_response):
        received.append(json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with running(hook) as url:
        monkeypatch.setenv("FORMS_SECRET", FORMS_SECRET)
        monkeypatch.setenv("HOOK", url)
        (tmp_path / "leads.csv").write_text("id,email,last,title\n", encoding="utf-8")
        text = service_config().replace(
            "due_in_hours = 24\n", "due_in_hours = 24\nhigh_priority_score = 90\n"
        )
        text += '\n[alerts]\nwebhook_url = "${HOOK}"\nhot_handoffs = true\n'
        (tmp_path / "config.toml").write_text(text, encoding="utf-8")
        h = Harness(Project(tmp_path, tmp_path / "config.toml"))
        try:
            h.post("site", *signed({"email": "hot@x.example", "last_name": "Hot", "title": "VP"}))
            h.service.jobs.run(h.job("sync:site"))
            h.service.jobs.run(h.job("sync:site"))  # nothing new: nothing announced again
        finally:
            h.service.wiring.close()
            h.engine.dispose()
    assert [m["text"].split("\n")[0] for m in received] == [
        "*Hot lead for 0055g00000000AnnAA: Follow up: Hot*"
    ]


def test_the_nightly_reconcile_job_reports_drift(tmp_path: Path, sandbox: Sandbox, monkeypatch):
    """[service] reconcile_schedule: a lead deleted in the CRM is reported (partial, with
    what to do); with reconcile_repair it is written back and the job is ok."""
    from leadsync.ops.reconcile import reconcile_wired

    monkeypatch.setenv("FORMS_SECRET", FORMS_SECRET)
    (tmp_path / "leads.csv").write_text("id,email,last,title\n", encoding="utf-8")
    text = service_config().replace(
        "shutdown_grace_seconds = 20\n",
        'shutdown_grace_seconds = 20\nreconcile_schedule = "30 2 * * *"\n',
    )
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    config = Project(tmp_path, tmp_path / "config.toml").config()
    engine = db.make_engine(config.state_url)
    db.upgrade(engine)
    service = Service(wire(config), engine, "127.0.0.1:0", reconcile=reconcile_wired)
    try:
        jobs_by_name = {j.name: j for j in service.jobs_wanted}
        listener = Listener(
            service.wiring, engine, service.jobs, service.metrics, print, service.stopping
        )
        Client(listener).post(
            "/forms/site",
            data=signed({"email": "gone@x.example", "last_name": "Gone"})[0],
            headers=signed({"email": "gone@x.example", "last_name": "Gone"})[1],
        )
        service.jobs.run(jobs_by_name["sync:site"])
        [lead] = sandbox.records("Lead")
        del sandbox.app.store.records["Lead"][lead["Id"]]  # deleted by hand in the CRM
        service.jobs.run(jobs_by_name["reconcile"])
        with service.jobs.factory() as session:
            row = next(j for j in jobs.all_jobs(session) if j.name == "reconcile")
        assert row.last_result == "partial"
        assert row.last_error is not None and row.last_error.startswith("1 missing")
        assert sandbox.records("Lead") == []  # a report only
    finally:
        service.wiring.close()
        engine.dispose()


def test_forms_from_people_a_real_org_already_holds_make_no_twins(
    harness: Harness, sandbox: Sandbox
):
    """The org is not empty (seed_org: Leads typed by hand and by web-to-lead, Contacts from
    converted deals, Leads another state db wrote): a form from a person it holds updates
    that record (or attaches to the Contact); one from a new person makes one new Lead."""
    from leadsync.sandbox.salesforce.seed import seed_org

    people = [f"known{i}@acme.example" for i in range(40)]
    org = seed_org(sandbox.app.store, people, leads=300, contacts=200, known_share=1.0)
    lead_known, contact_known = org.lead_emails[0], org.contact_emails[0]
    leads_before = len(sandbox.records("Lead"))
    contacts_before = len(sandbox.records("Contact"))
    for email in (lead_known, contact_known, "brand.new@x.example"):
        harness.post("site", *signed({"email": email.upper(), "last_name": "Form", "title": "VP"}))
    harness.service.jobs.run(harness.job("sync:site"))
    leads = sandbox.records("Lead")
    emails = [str(r.get("Email") or "").lower() for r in leads]
    assert emails.count(lead_known) == 1  # adopted, not twinned
    assert contact_known not in emails  # the Contact was updated, no Lead made
    assert emails.count("brand.new@x.example") == 1
    assert len(leads) == leads_before + 1
    assert len(sandbox.records("Contact")) == contacts_before
