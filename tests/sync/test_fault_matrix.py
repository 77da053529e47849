"""The fault matrix: for each fault the CRMs throw, a sync of 2,000 leads with a follow-up task
each, run through the command line (`leadsync sync --json`), ends with every lead in the CRM
once, every task once, nothing lost, and the retries counted in the `--json` summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from leadsync.connectors.salesforce import errors as sf_errors
from leadsync.errors import RetriableError
from tests.conftest import HubSpotSandbox, Project, Sandbox, cli_sync
from tests.sync.test_bulk import destination
from tests.sync.test_feedback import SALESFORCE
from tests.sync.test_hubspot_sync import project as hubspot_project

LEADS = 2_000
FAST_RETRIES = "\n[sync]\nbackoff_initial_seconds = 0.01\nbackoff_max_seconds = 0.05\n"


def salesforce_project(tmp_path: Path, timeout: float = 5.0) -> Project:
    rows = "".join(f"{i},p{i}@x.example,Lee{i},VP,false\n" for i in range(LEADS))
    (tmp_path / "leads.csv").write_text("id,email,last,title,consent\n" + rows, encoding="utf-8")
    text = SALESFORCE.replace("[crm.auth]", f"timeout_seconds = {timeout}\n[crm.auth]")
    (tmp_path / "config.toml").write_text(text + FAST_RETRIES, encoding="utf-8")
    return Project(tmp_path, tmp_path / "config.toml")


def assert_salesforce_holds_each_once(sandbox: Sandbox) -> None:
    leads = sandbox.app.store.records["Lead"].values()
    keys = Counter(r["LeadSync_Id__c"] for r in leads)
    assert len(keys) == LEADS and set(keys.values()) == {1}
    tasks = sandbox.app.store.records["Task"].values()
    task_keys = Counter(t["LeadSync_Key__c"] for t in tasks)
    assert len(task_keys) == LEADS and set(task_keys.values()) == {1}
    assert len({t["WhoId"] for t in tasks}) == LEADS  # one task on each lead


@pytest.mark.parametrize(
    ("spec", "retries"),
    [
        ("503:rate=0.3", True),
        ("500:every=3", True),
        ("timeout:every=4:delay=0.5:endpoint=collections_upsert", True),
        ("slow:every=2:delay=0.05", False),
        ("lock_row:rate=0.05", True),
        ("session_expired:requests=2;5;9", False),  # renewed by logging in again, not retried
        ("missing_result:every=3", True),
        ("drop:every=4:endpoint=collections_upsert", True),
    ],
)
def test_salesforce_faults(sandbox: Sandbox, tmp_path: Path, spec: str, retries: bool) -> None:
    sandbox.faults(spec)
    summary = cli_sync(salesforce_project(tmp_path, timeout=0.3 if "timeout" in spec else 5.0))
    assert summary.error is None and summary.failed == 0, summary.error
    assert (summary.created, summary.tasks_created, summary.pending) == (LEADS, LEADS, 0)
    assert sum(sandbox.stats()["faults_injected"].values()) > 0
    assert (summary.retried > 0) == retries
    assert_salesforce_holds_each_once(sandbox)


def test_salesforce_concurrency_limit_is_waited_out(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Salesforce's "slow down" is REQUEST_LIMIT_EXCEEDED, the daily limit's code, with
    "ConcurrentPerOrgLongTxn Limit exceeded": waited out and retried, not a stop."""
    monkeypatch.setattr(sf_errors, "CONCURRENT_WAIT_SECONDS", 0.05)
    sandbox.faults("429:requests=3;7;8")
    summary = cli_sync(salesforce_project(tmp_path))
    assert summary.error is None and summary.failed == 0, summary.error
    assert (summary.created, summary.tasks_created, summary.retried) == (LEADS, LEADS, 3)
    assert_salesforce_holds_each_once(sandbox)


def test_salesforce_daily_limit_stops_the_run_and_the_next_run_finishes(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """REQUEST_LIMIT_EXCEEDED stops the run (retrying would only spend what is not there);
    what was not sent waits in the outbox, and the next run sends it, each lead once."""
    sandbox.faults("request_limit:requests=5:endpoint=collections_upsert")
    project = salesforce_project(tmp_path)
    first = cli_sync(project)
    assert first.status == "failed" and "daily API request limit" in str(first.error)
    assert first.pending > 0
    second = cli_sync(project)
    assert second.error is None and second.pending == 0
    assert first.created + second.created == LEADS
    assert first.tasks_created + second.tasks_created == LEADS
    assert_salesforce_holds_each_once(sandbox)


@pytest.mark.parametrize(
    "spec",
    [
        "429:every=5:retry_after=0.05",
        "503:rate=0.3",
        "500:every=3",
        "timeout:every=4:delay=0.5:endpoint=batch_upsert",
        "missing_result:every=3",
        "drop:every=4",
    ],
)
def test_hubspot_faults(hubspot: HubSpotSandbox, tmp_path: Path, spec: str) -> None:
    hubspot.faults(spec)
    project = hubspot_project(tmp_path, LEADS)
    if "timeout" in spec:
        text = project.config_path.read_text().replace(
            "[crm.auth]", "timeout_seconds = 0.3\n[crm.auth]"
        )
        project.config_path.write_text(text)
    summary = cli_sync(project)
    assert summary.error is None and summary.failed == 0, summary.error
    assert (summary.created, summary.tasks_created, summary.pending) == (LEADS, LEADS, 0)
    assert summary.retried > 0
    assert sum(hubspot.stats()["faults"].values()) > 0
    contacts = Counter(c["properties"]["leadsync_id"] for c in hubspot.records())
    assert len(contacts) == LEADS and set(contacts.values()) == {1}
    tasks = hubspot.records("tasks")
    keys = Counter(t["properties"]["leadsync_key"] for t in tasks)
    assert len(keys) == LEADS and set(keys.values()) == {1}


def test_a_nurture_join_sent_again_after_a_lost_answer_is_an_update(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The answer to a join was lost (a dropped connection): the member exists, and sent
    again the join must not fail on CampaignId and LeadId, which Salesforce sets on
    create only."""
    dest = destination(tmp_path, sandbox)
    (lead,) = dest.upsert([{"LeadSync_Id__c": "k1", "LastName": "L", "Company": "C"}])
    join = {
        "member": "nurture:k1",
        "action": "join",
        "campaign": "7015g000000NurtAAA",
        "status": "Sent",
    }
    sandbox.faults("drop:requests=1:endpoint=collections_upsert")
    with pytest.raises(RetriableError, match="could not reach Salesforce"):
        dest.set_nurture([join], [lead.crm_id])
    (again,) = dest.set_nurture([join], [lead.crm_id])
    assert again.ok, again
    members = sandbox.app.store.records["CampaignMember"].values()
    assert [m["LeadId"] for m in members] == [lead.crm_id]
