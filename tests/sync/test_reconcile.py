"""`leadsync reconcile`: the state db against the emulated org, through the CLI, after the
org was changed by hand behind leadsync's back."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from leadsync.cli import main
from leadsync.demo.run import prepare
from leadsync.sync.plan import same
from tests.conftest import Project, Sandbox, cli_sync
from tests.sync.test_bulk import backfill_project
from tests.sync.test_feedback import OTHER_REP

LEADS = 300


def reconcile(project_dir: Path, *flags: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        main,
        [
            "--log-json",
            "--log-level",
            "error",
            "--config",
            str(project_dir / "config.toml"),
            "--state-url",
            f"sqlite:///{project_dir / 'state.db'}",
            "reconcile",
            "--json",
            *flags,
        ],
        catch_exceptions=False,
    )
    return result.exit_code, json.loads(result.stdout)


def test_drift_is_found_then_repaired(sandbox: Sandbox, tmp_path: Path) -> None:
    project = backfill_project(tmp_path, LEADS)
    assert project.sync().created == LEADS
    store = sandbox.app.store
    leads = store.records["Lead"]
    by_key = {r["LeadSync_Id__c"]: r for r in leads.values()}
    keys = sorted(by_key)
    # Deleted by hand (or a write that never arrived): three records gone.
    for key in keys[:3]:
        del leads[by_key[key]["Id"]]
    # A field leadsync owns, edited by a rep.
    for key in keys[3:7]:
        store.touch("Lead", by_key[key]["Id"], {"Title": "Edited by hand"})
    # Merged: the record is gone and the same key lives on under another id.
    moved = by_key[keys[7]]
    del leads[moved["Id"]]
    kept = ("LeadSync_Id__c", "LastName", "Company", "Title", "Email", "Lifecycle_Stage__c")
    new_id, _ = store.upsert("Lead", "LeadSync_Id__c", {k: moved[k] for k in kept})
    # Sales' own doings are not drift: a new owner, a new status.
    store.touch("Lead", by_key[keys[8]]["Id"], {"OwnerId": OTHER_REP, "Status": "Working"})
    # A record with a key this state db never wrote.
    store.upsert(
        "Lead", "LeadSync_Id__c", {"LeadSync_Id__c": "stranger", "LastName": "S", "Company": "C"}
    )
    before = sandbox.stats()["total"]

    code, report = reconcile(tmp_path)
    assert code == 2  # drift found and left
    assert (report["checked"], report["missing"], report["moved"], report["changed"]) == (
        LEADS,
        3,
        1,
        4,
    )
    assert report["unknown"] == 1 and report["unknown_keys"] == ["stranger"]
    assert report["in_sync"] == LEADS - 3 - 4
    changed = [d for d in report["drift"] if d["kind"] == "changed"]
    assert changed[0]["fields"]["Title"]["crm"] == "Edited by hand"
    # A login, the bulk query (create, poll, one page of results): nothing written.
    assert sandbox.stats()["total"] - before <= 5
    assert store.find_by("Lead", "LeadSync_Id__c", keys[0]) is None

    code, repaired = reconcile(tmp_path, "--repair")
    assert code == 0 and repaired["repairs_planned"] == 3 + 4
    holds = Counter(r["LeadSync_Id__c"] for r in leads.values())
    assert set(holds.values()) == {1} and len(holds) == LEADS + 1
    for key in keys[:7]:
        assert store.find_by("Lead", "LeadSync_Id__c", key)["Title"] != "Edited by hand"
    assert store.find_by("Lead", "LeadSync_Id__c", keys[8])["OwnerId"] == OTHER_REP

    code, after = reconcile(tmp_path)
    assert code == 0
    assert (after["missing"], after["moved"], after["changed"]) == (0, 0, 0)
    assert after["in_sync"] == LEADS
    # The moved lead's new id is the state db's now: its next write goes there.
    assert any(r["Id"] == new_id for r in leads.values())


@pytest.mark.parametrize(
    ("ours", "theirs", "equal"),
    [
        (30, "30.0", True),
        (True, "true", True),
        (None, "", True),
        ("2026-11-23T10:00:00+00:00", "2026-11-23T10:00:00.000+0000", True),
        ("2026-11-23T10:00:00+00:00", "2026-11-23T11:00:00.000+0000", False),
        ("VP", "vp", False),
        ("2026-11-23", "2026-11-23", True),
    ],
)
def test_values_compare_across_the_crms_ways_of_writing_them(ours, theirs, equal) -> None:
    assert same(ours, theirs) is equal


def test_hubspot_drift_is_found_then_repaired(hubspot, tmp_path: Path) -> None:
    from tests.sync.test_hubspot_sync import project

    assert project(tmp_path, 250).sync().created == 250
    store = hubspot.store
    contacts = {c["properties"]["leadsync_id"]: c["id"] for c in hubspot.records()}
    keys = sorted(contacts)
    store.delete("contacts", contacts[keys[0]])
    store.touch("contacts", contacts[keys[1]], {"jobtitle": "Edited"}, 1_800_000_000_000)
    # The owner is sales' to change once the lead is handed off: not drift.
    store.touch("contacts", contacts[keys[2]], {"hubspot_owner_id": "71000003"}, 1_800_000_000_000)
    before = sum(hubspot.stats()["requests"].values())

    code, report = reconcile(tmp_path)
    assert code == 2
    assert (report["missing"], report["changed"], report["in_sync"]) == (1, 1, 248)
    # The list API, 100 contacts a request: three pages (and no write).
    assert sum(hubspot.stats()["requests"].values()) - before == 3

    code, repaired = reconcile(tmp_path, "--repair")
    assert code == 0 and repaired["repairs_planned"] == 2
    props = {c["properties"]["leadsync_id"]: c["properties"] for c in hubspot.records()}
    assert len(props) == 250 and props[keys[1]]["jobtitle"] == "VP"
    assert props[keys[2]]["hubspot_owner_id"] == "71000003"
    code, after = reconcile(tmp_path)
    assert code == 0 and after["in_sync"] == 250


def test_accented_names_are_not_drift(sandbox: Sandbox, tmp_path: Path) -> None:
    """The sample's García and Müller come back from the Bulk API as they were written
    (its CSV is UTF-8 with no charset named): reconcile finds everything in step."""
    prepare(tmp_path, sandbox.url)
    summary = cli_sync(Project(tmp_path, tmp_path / "config.toml"))
    assert summary.status == "ok"
    names = {r["LastName"] for r in sandbox.records()}
    assert {"García", "Müller"} <= names

    code, report = reconcile(tmp_path)

    assert (code, report["changed"], report["missing"]) == (0, 0, 0)
    assert report["in_sync"] == report["checked"] > 400
