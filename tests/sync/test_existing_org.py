"""A CRM full of history: syncs into an org that already holds the people, and after the
state db was lost. No Lead is created for a person the org already has."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from leadsync.demo.run import prepare
from leadsync.sandbox.salesforce.seed import seed_org
from leadsync.sandbox.salesforce.store import AssignmentRule
from leadsync.state import db
from tests.conftest import Project, Sandbox, cli_sync


def sample_project(tmp_path: Path, sandbox: Sandbox) -> Project:
    """The `leadsync init` config and sample, pointed at the emulator."""
    return Project(tmp_path, prepare(tmp_path, sandbox.url))


def sample_emails(project: Project) -> list[str]:
    with (project.dir / "sample_leads.csv").open(encoding="utf-8") as f:
        return [row["Email"].strip().lower() for row in csv.DictReader(f)]


def holders(sandbox: Sandbox) -> tuple[Counter, Counter]:
    """How many unconverted Leads, and how many Contacts, hold each email."""
    leads = Counter(
        str(r.get("Email") or "").lower()
        for r in sandbox.records("Lead")
        if not r.get("IsConverted")
    )
    contacts = Counter(str(r.get("Email") or "").lower() for r in sandbox.records("Contact"))
    return leads, contacts


@pytest.mark.parametrize("state", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_sync_into_a_full_org_twins_no_one(
    tmp_path: Path, sandbox: Sandbox, state: str, request: pytest.FixtureRequest
):
    """5,000 Leads and Contacts already in the org (web-to-lead, by hand, some with an old
    leadsync key): the sync creates no Lead for an email a Lead or Contact already had.
    On PostgreSQL state too, where the CRM records the push learns go in by COPY: each
    names a record the org holds."""
    project = sample_project(tmp_path, sandbox)
    if state == "postgres":
        project.state_url_override = request.getfixturevalue("pg_database")
    emails = sample_emails(project)
    org = seed_org(sandbox.app.store, emails, leads=3000, contacts=2000)
    leads_before, contacts_before = holders(sandbox)
    assert set(emails) & set(org.lead_emails) and set(emails) & set(org.contact_emails)
    assert org.keyed  # some Leads carry a key no state db of this test wrote

    summary = cli_sync(project)

    assert summary.status == "ok" and summary.failed == 0
    leads_after, contacts_after = holders(sandbox)
    assert contacts_after == contacts_before  # Contacts are written to, never made
    for email in set(emails):
        if leads_before[email] or contacts_before[email]:
            # Known already: not one Lead more than the org had.
            assert leads_after[email] == leads_before[email], email
        else:
            assert leads_after[email] == 1, email
    # The Leads that were taken over now carry this state db's keys.
    ours = {r["LeadSync_Id__c"] for r in sandbox.records("Lead") if r.get("LeadSync_Id__c")}
    assert not ours & set(org.keyed.values()) - {
        key for e, key in org.keyed.items() if e not in set(emails)
    }
    engine = db.make_engine(project.state_url)
    with engine.connect() as conn:
        known = conn.execute(text("SELECT crm_id FROM crm_records")).scalars().all()
    engine.dispose()
    in_org = {r["Id"] for kind in ("Lead", "Contact") for r in sandbox.records(kind)}
    assert len(known) == summary.created + summary.adopted + summary.updated > 0
    assert set(known) <= in_org


def test_a_web_to_lead_lead_is_taken_over_keeping_what_sales_owns(tmp_path: Path, sandbox: Sandbox):
    """A Lead web-to-lead made for the same person (email in other case) is updated and
    keyed, its status and owner left as sales set them, not twinned."""
    project = sample_project(tmp_path, sandbox)
    email = sample_emails(project)[0]
    rid, _ = sandbox.app.store.upsert(
        "Lead",
        "LeadSync_Id__c",
        {
            "LeadSync_Id__c": "placeholder",
            "LastName": "Typed By Hand",
            "Company": "Web",
            "Email": email.upper(),
            "Status": "Working - Contacted",
            "OwnerId": "0055g00000000BoxAA",
        },
    )
    sandbox.app.store.touch("Lead", rid, {"LeadSync_Id__c": None})  # web-to-lead: no key

    cli_sync(project)

    mine = [r for r in sandbox.records("Lead") if str(r["Email"]).lower() == email]
    assert len(mine) == 1 and mine[0]["Id"] == rid
    assert mine[0]["LeadSync_Id__c"]  # leadsync's key now
    assert mine[0]["Status"] == "Working - Contacted"  # sales' field, kept
    assert mine[0]["OwnerId"] == "0055g00000000BoxAA"  # the person's owner is kept


def test_a_lost_state_db_makes_no_twins_and_no_second_task(tmp_path: Path, sandbox: Sandbox):
    """Sync, delete state.db, `db upgrade`, sync again: still one Lead per person and one
    open follow-up task per MQL."""
    project = sample_project(tmp_path, sandbox)
    first = cli_sync(project)
    leads, tasks = len(sandbox.records("Lead")), len(sandbox.records("Task"))
    assert first.tasks_created == tasks > 0

    (tmp_path / "state.db").unlink()
    again = cli_sync(project)

    assert again.status == "ok" and again.created == 0
    assert len(sandbox.records("Lead")) == leads
    assert len(sandbox.records("Task")) == tasks
    by_email, _ = holders(sandbox)
    assert max(by_email.values()) == 1


def test_a_lost_state_db_during_a_backfill_makes_no_twins(tmp_path: Path, sandbox: Sandbox):
    """The same through Bulk API 2.0: the Leads an old state db wrote are found by one bulk
    query and updated by Id in one job."""
    project = sample_project(tmp_path, sandbox)
    text = project.config_path.read_text().replace("bulk_threshold = 10000", "bulk_threshold = 1")
    project.config_path.write_text(text)
    first = cli_sync(project)
    assert first.bulk
    leads = len(sandbox.records("Lead"))
    (tmp_path / "state.db").unlink()

    again = cli_sync(project)

    assert again.bulk and again.failed == 0 and again.created == 0
    assert len(sandbox.records("Lead")) == leads


def test_the_orgs_assignment_rule_does_not_overwrite_leadsyncs_owners(
    tmp_path: Path, sandbox: Sandbox
):
    """With an active lead assignment rule in the org, leadsync says Sforce-Auto-Assign:
    FALSE, so the owners it routed stay; naming the rule in [crm] lets the rule assign."""
    rule = AssignmentRule()
    sandbox.app.store.assignment_rule = rule
    project = sample_project(tmp_path, sandbox)
    routed = cli_sync(project)
    assert routed.owners_assigned > 0
    owners = Counter(r["OwnerId"] for r in sandbox.records("Lead"))
    assert rule.owner not in owners

    other = tmp_path / "by-rule"
    other.mkdir()
    shutil.copy(project.dir / "sample_leads.csv", other)
    sandbox.app.store.records["Lead"].clear()
    sandbox.app.store.records["Task"].clear()
    sandbox.app.store._indexes.clear()
    by_rule = Project(other, prepare(other, sandbox.url))
    text = by_rule.config_path.read_text().replace(
        "[crm]\n", f'[crm]\nassignment_rule = "{rule.id}"\n', 1
    )
    by_rule.config_path.write_text(text)
    cli_sync(by_rule)
    assert {r["OwnerId"] for r in sandbox.records("Lead")} == {rule.owner}


@pytest.mark.parametrize("attach", [True, False])
def test_a_duplicate_rule_match_is_written_to_or_named(
    tmp_path: Path, sandbox: Sandbox, attach: bool
):
    """The org's duplicate rule blocks a new Lead whose email a Contact has: attached to that
    Contact when attach_to_contacts is on; else dead-lettered as DUPLICATES_DETECTED, the
    rest of the batch written."""
    project = sample_project(tmp_path, sandbox)
    email = sample_emails(project)[3]
    sandbox.app.store.upsert(
        "Contact", "LeadSync_Key__c", {"LeadSync_Key__c": "c1", "LastName": "C", "Email": email}
    )
    sandbox.app.store.duplicate_rule = True
    if not attach:
        text = project.config_path.read_text().replace(
            "attach_to_contacts = true", "attach_to_contacts = false"
        )
        project.config_path.write_text(text)

    summary = cli_sync(project)

    leads, _ = holders(sandbox)
    assert leads[email] == 0  # never twinned
    assert summary.failed == (0 if attach else 1)
    assert summary.created == len(set(sample_emails(project))) - 1


def test_reconcile_adopt_rebuilds_a_lost_state_db(tmp_path: Path, sandbox: Sandbox):
    """After a lost state db, `reconcile --adopt` takes the CRM's keyed Leads back with the
    stages their tasks record: the next sync creates nothing, hands no one off again and
    writes little."""
    from click.testing import CliRunner

    from leadsync.cli import main

    project = sample_project(tmp_path, sandbox)
    first = cli_sync(project)
    leads, tasks = len(sandbox.records("Lead")), len(sandbox.records("Task"))
    (tmp_path / "state.db").unlink()
    args = ["--log-level", "error", "--config", str(project.config_path)]
    assert CliRunner().invoke(main, [*args, "db", "upgrade"]).exit_code == 0

    result = CliRunner().invoke(main, [*args, "reconcile", "--adopt", "--json"])

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["adopted"]["leads"] == leads and body["adopted"]["stages"] == tasks
    assert body["in_sync"] == leads
    again = cli_sync(project)
    assert (again.created, again.adopted, again.tasks_created) == (0, 0, 0)
    assert again.mql == 0 and again.failed == 0 and again.updated == 0
    assert len(sandbox.records("Lead")) == leads and len(sandbox.records("Task")) == tasks
    assert again.api_calls < first.api_calls
