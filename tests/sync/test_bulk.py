"""Backfills through Bulk API 2.0: the real simple-salesforce client against the emulator's
ingest and query jobs; each record's own result read back; faults on the job's requests."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from leadsync.connectors.salesforce import SalesforceDestination, bulk
from leadsync.settings import SyncSection
from leadsync.sync.quota import QuotaFellLow, QuotaGate
from tests.conftest import Project, Sandbox
from tests.sync.test_feedback import SALESFORCE

BACKFILL = 12_000  # above the default threshold of 10,000
BULK = ("bulk_ingest_create", "bulk_ingest_upload", "bulk_ingest_state", "bulk_ingest_get")


def backfill_project(
    tmp_path: Path, leads: int, extra: str = "", job_records: int | None = 50_000
) -> Project:
    """``leads`` rows; every tenth one a VP (an MQL with a task). One Bulk API job holds
    ``job_records`` of them (None: the default, 10,000)."""
    rows = "".join(
        f"{i},p{i}@x.example,Lee{i},{'VP' if i % 10 == 0 else 'Engineer'},false\n"
        for i in range(leads)
    )
    (tmp_path / "leads.csv").write_text("id,email,last,title,consent\n" + rows, encoding="utf-8")
    jobs = "" if job_records is None else f"bulk_job_records = {job_records}\n"
    options = f"bulk_poll_seconds = 0\n{jobs}{extra}[crm.auth]"
    text = SALESFORCE.replace("[crm.auth]", options, 1)
    fast = "\n[sync]\nbackoff_initial_seconds = 0.01\nbackoff_max_seconds = 0.05\n"
    (tmp_path / "config.toml").write_text(text + fast, encoding="utf-8")
    return Project(tmp_path, tmp_path / "config.toml")


def destination(tmp_path: Path, sandbox: Sandbox, **extra) -> SalesforceDestination:
    options = {
        **extra,
        "sandbox_url": sandbox.url,
        "bulk_poll_seconds": 0,
        "auth": {
            "username": "demo@leadsync.example",
            "password": "demo-password",
            "security_token": "demo-token",
        },
    }
    return SalesforceDestination.from_options(
        "crm", options, key="crm", path=tmp_path / "config.toml"
    )


def assert_each_lead_once(sandbox: Sandbox, leads: int) -> None:
    keys = Counter(r["LeadSync_Id__c"] for r in sandbox.app.store.records["Lead"].values())
    assert len(keys) == leads and set(keys.values()) == {1}


def test_a_backfill_goes_through_bulk_jobs(sandbox: Sandbox, tmp_path: Path) -> None:
    summary = backfill_project(tmp_path, BACKFILL, job_records=None).sync()
    assert summary.error is None and summary.failed == 0
    assert summary.bulk is True
    assert (summary.created, summary.tasks_created) == (BACKFILL, BACKFILL // 10)
    assert_each_lead_once(sandbox, BACKFILL)
    served = sandbox.stats()["by_endpoint"]
    # Two jobs for the leads (10,000 a job by default: create, upload, close, one poll,
    # the successful results: no record failed, so the failed ones are not asked for),
    # each with a bulk query for the Contacts to attach to and one for the Leads to take
    # over; only the 1,200 tasks go in collections of 200. The quota came with the answers:
    # no look at /limits.
    assert [served[e] for e in BULK] == [2, 2, 2, 2]
    assert served["bulk_ingest_results"] == 2
    assert "limits" not in served
    assert served["bulk_query_create"] == 4
    assert served["collections_upsert"] == BACKFILL // 10 // 200
    assert summary.api_calls < 40  # collections would need 60 requests for the leads alone

    again = backfill_project(tmp_path, BACKFILL, job_records=None).sync()
    assert (again.created, again.updated, again.bulk) == (0, 0, False)


def test_below_the_threshold_the_push_stays_in_collections(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    summary = backfill_project(tmp_path, 2_000).sync()
    assert summary.bulk is False and summary.created == 2_000
    assert "bulk_ingest_create" not in sandbox.stats()["by_endpoint"]


def test_each_record_result_is_read_from_the_job(sandbox: Sandbox, tmp_path: Path) -> None:
    """A refused record fails alone with Salesforce's code, message and field; a locked
    one is worth sending again; an emptied field is sent as #N/A and emptied; a converted
    lead is followed to its Contact; a new lead whose email a Contact has is attached."""
    store = sandbox.app.store
    dest = destination(tmp_path, sandbox)
    first = [
        {
            "LeadSync_Id__c": f"k{i}",
            "LastName": f"L{i}",
            "Company": "C",
            "Title": "VP",
            "Email": f"k{i}@x.example",
        }
        for i in range(6)
    ]
    assert all(r.ok and r.created for r in dest.bulk_upsert(first))
    converted = store.find_by("Lead", "LeadSync_Id__c", "k1")
    contact_id = store.convert(converted["Id"])
    store.records["Contact"]["0035g0000000777AAA"] = {
        "Id": "0035g0000000777AAA",
        "LastName": "Known",
        "Email": "known@x.example",
    }
    second = [
        {"LeadSync_Id__c": "k0", "LastName": "L0", "Title": None},  # empties Title
        {"LeadSync_Id__c": "k1", "LastName": "Moved", "Company": "C"},
        {"LeadSync_Id__c": "k2", "LastName": "x" * 81, "Company": "C"},  # too long
        {"LeadSync_Id__c": "new", "LastName": "N", "Company": "C", "Email": "known@x.example"},
    ]
    results = dest.bulk_upsert(second, [None, converted["Id"], None, None])
    assert results[0].ok and not results[0].created
    assert store.find_by("Lead", "LeadSync_Id__c", "k0")["Title"] is None
    assert results[1].ok and results[1].crm_id == contact_id
    assert store.records["Contact"][contact_id]["LastName"] == "Moved"
    assert (results[2].ok, results[2].code, results[2].fields) == (
        False,
        "STRING_TOO_LONG",
        ("LastName",),
    )
    assert "max length=80" in results[2].message
    assert results[3].ok and results[3].crm_id == "0035g0000000777AAA"
    assert store.find_by("Lead", "LeadSync_Id__c", "new") is None

    # CSV's own characters and non-ASCII text arrive as they were sent.
    odd = 'O\'Brien, "Jr"\nZoë'
    (written,) = dest.bulk_upsert([{"LeadSync_Id__c": "odd", "LastName": odd, "Company": "C"}])
    assert written.ok and store.find_by("Lead", "LeadSync_Id__c", "odd")["LastName"] == odd

    sandbox.faults("lock_row:requests=2")
    locked = dest.bulk_upsert(first[3:])
    assert [r.ok for r in locked] == [True, False, True]
    assert (locked[1].code, locked[1].retriable) == ("UNABLE_TO_LOCK_ROW", True)
    # Jobs with a failed record read both result files; the others, the successful one.
    served = sandbox.stats()["by_endpoint"]
    assert served["bulk_ingest_results"] < 2 * served["bulk_ingest_create"]


def test_a_backfill_at_a_low_quota_writes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    """A backfill spends no request on /limits: the run's first answers say how much of
    the day's quota is used. At the share kept for other integrations nothing is sent."""
    sandbox.app.stats["other_integrations"] = sandbox.app.daily_limit - 1_000
    project = backfill_project(tmp_path, BACKFILL, job_records=None)
    held = project.sync()
    assert held.bulk is True and held.created == 0
    assert held.quota is not None and "nothing more is written" in held.quota
    assert held.pending == BACKFILL + BACKFILL // 10
    served = sandbox.stats()["by_endpoint"]
    assert "bulk_ingest_upload" not in served and "limits" not in served
    assert not sandbox.app.store.records["Lead"]

    sandbox.app.stats["other_integrations"] = 0  # the quota resets
    done = project.sync()
    assert (done.created, done.pending, done.quota) == (BACKFILL, 0, None)
    assert_each_lead_once(sandbox, BACKFILL)


def test_a_job_that_finds_the_quota_low_is_aborted_before_its_upload(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """When the job's create is the first answer (no look-up before it), the gate reads
    the quota from it and stops the job before a record is sent."""
    dest = destination(tmp_path, sandbox, attach_to_contacts=False)
    assert dest.client is not None and not dest.quota.known  # the login does not say it
    sandbox.app.stats["other_integrations"] = sandbox.app.daily_limit - 1_000
    records = [{"LeadSync_Id__c": f"k{i}", "LastName": f"L{i}", "Company": "C"} for i in range(5)]
    with pytest.raises(QuotaFellLow):
        dest.bulk_upsert(records, before_upload=QuotaGate(dest, SyncSection(), None))
    served = sandbox.stats()["by_endpoint"]
    assert served["bulk_ingest_create"] == 1 and "bulk_ingest_upload" not in served
    assert "limits" not in served
    assert [j.state for j in sandbox.app.bulk.jobs.values()] == ["Aborted"]
    assert not sandbox.app.store.records["Lead"]


def test_a_crm_that_does_not_say_its_quota_is_asked(sandbox: Sandbox, tmp_path: Path) -> None:
    """The gate of a bulk job asks /limits only when no answer has told the quota (the
    login does not)."""
    dest = destination(tmp_path, sandbox, attach_to_contacts=False)
    assert dest.client is not None and not dest.quota.known
    gate = QuotaGate(dest, SyncSection(), chosen_under=None)
    gate()
    assert gate.passed and dest.quota.known
    assert sandbox.stats()["by_endpoint"]["limits"] == 1
    sandbox.app.stats["other_integrations"] = sandbox.app.daily_limit
    gate()  # passed once: the rest of the batch's jobs go on
    assert sandbox.stats()["by_endpoint"]["limits"] == 1

    spent = destination(tmp_path, sandbox, attach_to_contacts=False)
    assert spent.client is not None
    with pytest.raises(QuotaFellLow):
        QuotaGate(spent, SyncSection(), chosen_under="handoffs")()
    assert sandbox.stats()["by_endpoint"]["limits"] == 2


@pytest.mark.parametrize(
    "spec",
    [
        "503:every=3",
        "500:requests=2;5",
        # the job is closed and processed, but the answer comes too late: a new job
        # sends the same upserts, which change nothing twice
        "timeout:requests=1:delay=0.6:endpoint=bulk_ingest_state",
        "lock_row:rate=0.05",
        # the session expires while the job runs: renewed, and the poll asked again
        "session_expired:requests=1:endpoint=bulk_ingest_get",
    ],
)
def test_faults_in_a_bulk_backfill(sandbox: Sandbox, tmp_path: Path, spec: str) -> None:
    sandbox.faults(spec)
    extra = "timeout_seconds = 0.3\n" if "timeout" in spec else ""
    summary = backfill_project(tmp_path, BACKFILL, extra).sync()
    assert summary.error is None and summary.failed == 0, summary.error
    assert summary.bulk is True
    assert (summary.created, summary.tasks_created, summary.pending) == (
        BACKFILL,
        BACKFILL // 10,
        0,
    )
    assert sum(sandbox.stats()["faults_injected"].values()) > 0
    assert summary.retried > 0  # each step, or each locked record, retried alone
    assert sandbox.stats()["by_endpoint"]["bulk_ingest_upload"] <= 3
    assert_each_lead_once(sandbox, BACKFILL)
    tasks = Counter(t["LeadSync_Key__c"] for t in sandbox.app.store.records["Task"].values())
    assert len(tasks) == BACKFILL // 10 and set(tasks.values()) == {1}


def test_100000_records_in_two_jobs_against_500_collections(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The must-show figure, measured: 100,000 leads upserted through Bulk API 2.0 in jobs
    of 50,000 cost 10 requests (create, upload, close, poll, successful results); the
    same leads again through sObject Collections cost 500. Each lead is in the org once,
    either way."""
    dest = destination(tmp_path, sandbox, attach_to_contacts=False, bulk_job_records=50_000)
    records = [
        {"LeadSync_Id__c": f"k{i}", "LastName": f"L{i}", "Company": "C"} for i in range(100_000)
    ]
    served = sandbox.app.stats
    assert dest.client is not None  # logged in first: the login is in neither figure
    start = sum(served.values())
    results = []
    for first in range(0, len(records), dest.bulk_job_size):
        results += dest.bulk_upsert(records[first : first + dest.bulk_job_size])
    bulk = sum(served.values()) - start
    assert all(r.ok and r.created for r in results) and len(results) == 100_000

    start = sum(served.values())
    again = []
    for first in range(0, len(records), dest.batch_size):
        again += dest.upsert(records[first : first + dest.batch_size])
    collections = sum(served.values()) - start
    assert all(r.ok and not r.created for r in again)
    assert (bulk, collections) == (10, 500)
    assert_each_lead_once(sandbox, 100_000)


def test_a_job_too_large_for_one_upload_is_split(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Salesforce takes 100 MB of CSV a job: more (long descriptions) goes in several jobs,
    each record's result still in its place."""
    monkeypatch.setattr(bulk, "MAX_UPLOAD_BYTES", 2_000)
    records = [
        {"LeadSync_Id__c": f"k{i}", "LastName": f"L{i}", "Company": "C", "Description": "x" * 300}
        for i in range(20)
    ]
    results = destination(tmp_path, sandbox, attach_to_contacts=False).bulk_upsert(records)
    assert [r.ok for r in results] == [True] * 20
    assert [r.crm_id for r in results] == [
        sandbox.app.store.find_by("Lead", "LeadSync_Id__c", f"k{i}")["Id"] for i in range(20)
    ]
    assert sandbox.stats()["by_endpoint"]["bulk_ingest_create"] > 1


def test_a_sync_with_nothing_new_after_a_backfill_reads_little(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """After a 12,000-lead backfill, a sync with nothing new makes a handful of requests:
    once the overlap kept for late commits has passed, the read-back does not page through
    leadsync's own writes again and again (it did, for as long as they were the newest)."""
    project = backfill_project(tmp_path, BACKFILL, "changes_overlap_seconds = 1\n")
    assert project.sync().created == BACKFILL
    time.sleep(2.5)  # the overlap (1 s here, 300 s by default) passes
    project.sync()  # the first read-back takes in the backfill's writes once

    quiet = [project.sync() for _ in range(2)]

    assert [s.created + s.updated + s.tasks_created for s in quiet] == [0, 0]
    # a login, and one query each for Leads, Tasks and Contacts changed since
    assert [s.api_calls for s in quiet] == [4, 4]


def test_owner_look_ups_of_a_backfill_go_by_bulk_query(sandbox: Sandbox, tmp_path: Path) -> None:
    """Routing 12,000 new leads with keep_existing_owner asks owners by SOQL for the first
    2,000 people, then reads every Contact's and Lead's owner by one Bulk API query each
    (two SOQL queries per 100 emails before: 240 here)."""
    text = "keep_existing_owner = true\n"
    project = backfill_project(tmp_path, BACKFILL)
    config = project.config_path.read_text().replace("keep_existing_owner = false\n", text)
    # Pages of 1,000: the first two ask by SOQL, the later ones by Bulk API query.
    project.config_path.write_text(config + "chunk_size = 1000\n")

    summary = project.sync()

    assert summary.error is None and summary.owners_assigned == BACKFILL // 10
    served = sandbox.stats()["by_endpoint"]
    # users and queues, the read-back (3), and the owners of the first 2,000 people by SOQL
    # (Contacts and Leads, 200 emails a query)
    assert served["query"] == 2 + 3 + 2 * 2000 // 200
    # Contacts and Leads to attach to or take over, and every owner: four bulk queries
    assert served["bulk_query_create"] == 4
