"""Reading back what sales did in Salesforce: by SystemModstamp with an Id tie-break."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from leadsync.connectors.salesforce import SalesforceDestination
from leadsync.connectors.salesforce.changes import changed_since
from tests.conftest import Sandbox


def destination(sandbox: Sandbox, tmp_path: Path) -> SalesforceDestination:
    options = {
        "sandbox_url": sandbox.url,
        "auth": {
            "username": "demo@leadsync.example",
            "password": "demo-password",
            "security_token": "demo-token",
        },
    }
    return SalesforceDestination.from_options(  # type: ignore[return-value]
        "crm", options, key="crm", path=tmp_path / "config.toml"
    )


def leads(n: int) -> list[dict]:
    return [
        {"LeadSync_Id__c": f"lead-{i}", "LastName": f"L{i}", "Company": "Acme"} for i in range(n)
    ]


# SystemModstamps a moment ago, as Salesforce gives the records a read finds: the read
# reaches back only `overlap` before the previous read began (the wall clock's).
BASE = (datetime.now(UTC) - timedelta(seconds=30)).replace(microsecond=0)


def sf_stamp(seconds: int = 0) -> str:
    return (BASE + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def stamp_all(sandbox: Sandbox, when: str) -> None:
    for record in sandbox.app.store.records["Lead"].values():
        record["SystemModstamp"] = when


def test_status_owner_and_tasks_are_read_back_then_only_what_changed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    dest = destination(sandbox, tmp_path)
    ids = [r.crm_id for r in dest.upsert(leads(3))]
    task = {
        "key": "task:lead-0:mql:1",
        "subject": "Follow up",
        "due": "2026-11-24",
        "priority": "high",
        "description": "why now",
        "owner": None,
    }
    (made,) = dest.upsert_tasks([task], [ids[0]])
    pages = list(dest.read_changes(None, ["Rejection_Reason__c"]))
    first = [c for page, _ in pages for c in page]
    assert sorted((c.kind, c.key) for c in first) == [
        ("lead", "lead-0"),
        ("lead", "lead-1"),
        ("lead", "lead-2"),
        ("task", "task:lead-0:mql:1"),
    ]
    assert first[0].fields["Status"] == "Open - Not Contacted"
    assert "Rejection_Reason__c" in first[0].fields
    cursor = pages[-1][1]
    store = sandbox.app.store
    store.touch("Lead", str(ids[1]), {"Status": "Working - Contacted"})
    store.touch("Task", str(made.crm_id), {"Status": "Completed", "IsClosed": True})
    changes = [c for page, _ in dest.read_changes(cursor, ["Rejection_Reason__c"]) for c in page]
    assert [(c.kind, c.key, c.fields["Status"]) for c in changes] == [
        ("lead", "lead-1", "Working - Contacted"),
        ("task", "task:lead-0:mql:1", "Completed"),
    ]


def test_a_change_within_the_same_second_is_not_lost(sandbox: Sandbox, tmp_path: Path) -> None:
    """Salesforce stamps to the second: a lead read, then changed in that same second,
    keeps its SystemModstamp; the digest of what was read tells the change apart."""
    dest = destination(sandbox, tmp_path)
    (lead,) = dest.upsert(leads(1))
    stamp_all(sandbox, sf_stamp(0))
    *_, (_, cursor) = dest.read_changes(None)
    record = sandbox.app.store.records["Lead"][str(lead.crm_id)]
    record["Status"] = "Working - Contacted"  # same stamp: changed within the second
    changes = [c for page, _ in dest.read_changes(cursor) for c in page if c.kind == "lead"]
    assert [c.fields["Status"] for c in changes] == ["Working - Contacted"]
    assert [c for page, _ in dest.read_changes(_last(dest, cursor)) for c in page] == []


def _last(dest: SalesforceDestination, cursor: dict) -> dict:
    *_, (_, last) = dest.read_changes(cursor)
    return last


def test_more_rows_at_one_stamp_than_a_page_are_paged_by_id(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """25 leads share a stamp, pages hold 10: the read pages through them by Id, then goes on
    after the stamp; a lead committed late inside the overlap is found on the next read."""
    dest = destination(sandbox, tmp_path)
    dest.upsert(leads(25))
    stamp_all(sandbox, sf_stamp(0))
    store = sandbox.app.store
    later = dest.upsert([{"LeadSync_Id__c": "lead-late", "LastName": "Late", "Company": "A"}])
    store.records["Lead"][str(later[0].crm_id)]["SystemModstamp"] = sf_stamp(5)
    pages = list(
        changed_since(
            dest._query, "Lead", ["LeadSync_Id__c"], "LeadSync_Id__c != null", None, page=10
        )
    )
    keys = [r["LeadSync_Id__c"] for rows, _ in pages for r in rows]
    assert len(keys) == 26 and len(set(keys)) == 26
    cursor = pages[-1][1]
    assert cursor["since"] == (BASE + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # committed late: stamped before the cursor, inside the overlap
    late = dest.upsert([{"LeadSync_Id__c": "lead-later", "LastName": "Later", "Company": "A"}])
    store.records["Lead"][str(late[0].crm_id)]["SystemModstamp"] = sf_stamp(2)
    again = list(
        changed_since(
            dest._query, "Lead", ["LeadSync_Id__c"], "LeadSync_Id__c != null", cursor, page=10
        )
    )
    assert [r["LeadSync_Id__c"] for rows, _ in again for r in rows] == ["lead-later"]


def test_a_task_for_a_converted_lead_goes_to_its_contact(sandbox: Sandbox, tmp_path: Path) -> None:
    dest = destination(sandbox, tmp_path)
    (lead,) = dest.upsert(leads(1))
    contact = sandbox.app.store.convert(str(lead.crm_id))
    task = {
        "key": "task:lead-0:mql:1",
        "subject": "Follow up",
        "due": "2026-11-24",
        "priority": "normal",
        "description": "why now",
        "owner": None,
    }
    (result,) = dest.upsert_tasks([task], [str(lead.crm_id)])
    assert result.ok, result
    (made,) = sandbox.app.store.records["Task"].values()
    assert made["WhoId"] == contact
