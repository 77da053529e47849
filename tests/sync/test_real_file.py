"""The real X Education export synced into the emulator, end to end."""

from __future__ import annotations

import csv
import math

from tests.conftest import XEDUCATION_ROWS, Project, Sandbox


def _collection_requests(sandbox: Sandbox) -> int:
    return sandbox.stats()["by_endpoint"].get("collections_upsert", 0)


def test_every_lead_created_once_in_the_fewest_requests(xeducation: Project, sandbox: Sandbox):
    """9,237 real rows become 9,237 Leads in at most ceil(9237/200) = 47 upsert requests."""
    summary = xeducation.sync()

    assert summary.status == "ok", summary.problems
    assert summary.read == XEDUCATION_ROWS
    assert summary.created == XEDUCATION_ROWS
    records = sandbox.records()
    assert len(records) == XEDUCATION_ROWS
    assert len({r["LeadSync_Id__c"] for r in records}) == XEDUCATION_ROWS
    assert _collection_requests(sandbox) <= math.ceil(XEDUCATION_ROWS / 200)
    by_number = {r["LastName"]: r for r in records}
    first = by_number["660737"]  # the file's first row
    assert first["LeadSource"] == "Olark Chat"
    assert first["Company"] == "Unemployed"
    assert "Country" not in first  # an empty value is never sent
    assert by_number["660728"]["Country"] == "IN"  # "India" in the file
    assert by_number["660728"]["Total_Visits__c"] == 5.0


def test_second_sync_writes_nothing(xeducation: Project, sandbox: Sandbox):
    """A second sync over the unchanged file reads nothing and sends no request at all."""
    xeducation.sync()
    before = sandbox.stats()["total"]

    again = xeducation.sync()

    assert (again.read, again.created, again.updated, again.api_calls) == (0, 0, 0, 0)
    assert sandbox.stats()["total"] == before


def test_ten_changed_rows_update_exactly_ten_leads(xeducation: Project, sandbox: Sandbox):
    """After 10 rows of the file change, exactly those 10 Leads are updated."""
    xeducation.sync()
    path = xeducation.dir / "xeducation_leads.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    changed = {}
    activity = rows[0].index("Last Activity")
    for i in range(1, 5000, 500):
        rows[i][activity] = "Had a Phone Conversation"
        changed[rows[i][1]] = rows[i]
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)

    summary = xeducation.sync()

    assert summary.updated == 10
    assert summary.created == 0
    assert summary.unchanged == XEDUCATION_ROWS - 10
    records = {r["LastName"]: r for r in sandbox.records()}
    assert len(records) == XEDUCATION_ROWS
    for number in changed:
        assert records[number]["Last_Activity__c"] == "Had a Phone Conversation"


def test_rows_appended_to_the_file_are_read_alone(xeducation: Project, sandbox: Sandbox):
    """Rows appended to an export are read without re-reading the rows before them."""
    xeducation.sync()
    path = xeducation.dir / "xeducation_leads.csv"
    with path.open(newline="", encoding="utf-8") as f:
        last = list(csv.reader(f))[-1]
    with path.open("a", newline="", encoding="utf-8") as f:
        for n in range(3):
            csv.writer(f).writerow([f"appended-{n}", f"99000{n}", *last[2:]])

    summary = xeducation.sync()

    assert (summary.read, summary.created, summary.unchanged) == (3, 3, 0)
    assert len(sandbox.records()) == XEDUCATION_ROWS + 3


def test_a_lost_state_db_finds_the_leads_the_old_one_wrote(xeducation: Project, sandbox: Sandbox):
    """The export has no emails: after the state db is lost, the same Prospect IDs give the
    same lead keys, so the sync updates the 9,237 Leads it made instead of twinning them
    (18,474 Leads before)."""
    xeducation.sync()
    keys = {r["LeadSync_Id__c"] for r in sandbox.records()}
    (xeducation.dir / "state.db").unlink()

    again = xeducation.sync()

    assert (again.created, again.adopted, again.failed) == (0, XEDUCATION_ROWS, 0)
    records = sandbox.records()
    assert len(records) == XEDUCATION_ROWS
    assert {r["LeadSync_Id__c"] for r in records} == keys


def test_reconcile_adopt_takes_back_leads_that_have_no_email(xeducation: Project, sandbox: Sandbox):
    """`reconcile --adopt` after a lost state db, on an export without emails: the next
    sync matches each row to its adopted lead by the key its Prospect ID derives to, and
    writes nothing (it twinned all 9,237 before)."""
    from click.testing import CliRunner

    from leadsync.cli import main

    xeducation.sync()
    (xeducation.dir / "state.db").unlink()
    args = ["--config", str(xeducation.config_path), "--state-url", xeducation.state_url]
    CliRunner().invoke(main, [*args, "db", "upgrade"], catch_exceptions=False)
    adopted = CliRunner().invoke(main, [*args, "reconcile", "--adopt"], catch_exceptions=False)
    assert adopted.exit_code == 0 and f"adopted {XEDUCATION_ROWS} lead(s)" in adopted.stdout

    again = xeducation.sync()

    assert (again.created, again.adopted, again.updated, again.api_calls) == (0, 0, 0, 0)
    assert len(sandbox.records()) == XEDUCATION_ROWS
