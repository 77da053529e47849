"""The emulators let a test or a newcomer act as a rep (README, "The emulators"): change a
status or an owner, complete a task; leadsync's feedback reads it back like the real
CRM's change."""

from __future__ import annotations

import requests

from leadsync.sandbox.hubspot import DEMO_TOKEN
from tests.conftest import HubSpotSandbox, Sandbox


def test_salesforce_rep_sets_a_status_and_completes_a_task(sandbox: Sandbox):
    store = sandbox.app.store
    lead_id, _ = store.upsert(
        "Lead",
        "LeadSync_Id__c",
        {"LeadSync_Id__c": "k1", "LastName": "Ng", "Company": "Acme", "Email": "ng@x.example"},
    )
    task_id, _ = store.upsert(
        "Task",
        "LeadSync_Key__c",
        {"LeadSync_Key__c": "task:k1:mql:1", "Subject": "Follow up", "WhoId": lead_id},
    )
    before = store.records["Lead"][lead_id]["SystemModstamp"]
    answer = requests.post(
        f"{sandbox.url}/__sandbox/rep/Lead/{lead_id}", json={"Status": "Working - Contacted"}
    )
    assert answer.status_code == 200 and answer.json()["Status"] == "Working - Contacted"
    assert store.records["Lead"][lead_id]["SystemModstamp"] >= before
    done = requests.post(f"{sandbox.url}/__sandbox/rep/Task/{task_id}/complete")
    assert done.status_code == 200
    assert (done.json()["Status"], done.json()["IsClosed"]) == ("Completed", True)
    missing = requests.post(f"{sandbox.url}/__sandbox/rep/Lead/00Q000000000000AAA", json={"a": 1})
    assert missing.status_code == 404
    assert requests.post(f"{sandbox.url}/__sandbox/rep/Lead/{lead_id}", json=[]).status_code == 400


def test_hubspot_rep_sets_a_lead_status_and_completes_a_task(hubspot: HubSpotSandbox):
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    made = requests.post(
        f"{hubspot.url}/crm/v3/objects/contacts/batch/create",
        json={"inputs": [{"properties": {"email": "ng@x.example", "lastname": "Ng"}}]},
        headers=headers,
    ).json()["results"][0]
    answer = requests.post(
        f"{hubspot.url}/__sandbox/hubspot/rep/contacts/{made['id']}",
        json={"properties": {"hs_lead_status": "IN_PROGRESS"}},
    )
    assert answer.status_code == 200
    assert answer.json()["properties"]["hs_lead_status"] == "IN_PROGRESS"
    task = requests.post(
        f"{hubspot.url}/crm/v3/objects/tasks/batch/create",
        json={
            "inputs": [
                {
                    "properties": {
                        "hs_task_subject": "Follow up",
                        "hs_timestamp": "2026-11-23T12:00:00Z",
                    }
                }
            ]
        },
        headers=headers,
    ).json()["results"][0]
    done = requests.post(f"{hubspot.url}/__sandbox/hubspot/rep/tasks/{task['id']}/complete")
    assert done.status_code == 200
    assert done.json()["properties"]["hs_task_status"] == "COMPLETED"
    assert (
        requests.post(f"{hubspot.url}/__sandbox/hubspot/rep/tasks/999/complete").status_code == 404
    )
