"""The HubSpot emulator's answers validate against HubSpot's published OpenAPI specs
(../shared/fixtures/hubspot): each answer's body, by the operation and status it came
from, errors included. One deviation is allowed, as the fixtures' README records: a
requested property with no value is null, as production sends it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from leadsync.sandbox.hubspot import DEMO_TOKEN
from tests.conftest import HubSpotSandbox

SPECS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "hubspot"
AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}


def _spec(name: str) -> dict[str, Any]:
    spec = json.loads((SPECS / name).read_text())
    # Production sends null for a requested property without a value (README).
    for schema in spec["components"]["schemas"].values():
        props = schema.get("properties", {}).get("properties", {})
        if (props.get("additionalProperties") or {}).get("type") == "string":
            props["additionalProperties"] = {"type": ["string", "null"]}
    return spec


def _operation(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"{method} {path} is in no path of the spec")


def problems(spec_name: str, response: requests.Response) -> list[str]:
    """What in ``response`` the spec does not allow (an undocumented status too)."""
    spec = _spec(spec_name)
    path = requests.utils.urlparse(response.request.url).path
    op = _operation(spec, path, response.request.method or "GET")
    answer = op["responses"].get(str(response.status_code)) or op["responses"].get("default")
    if answer is None:
        return [f"status {response.status_code} is not documented"]
    if "$ref" in answer:
        answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    content = answer.get("content") or {}
    if not content:
        return [] if not response.content else ["a body where the spec has none"]
    schema = next(iter(content.values()))["schema"]
    validator = jsonschema.Draft7Validator({**schema, "components": spec["components"]})
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(response.json())
    ]


def call(hubspot: HubSpotSandbox, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{hubspot.url}{path}", json=body, headers=AUTH, timeout=30)


def test_contact_answers_follow_the_contacts_spec(hubspot: HubSpotSandbox):
    """Batch upsert (200 and 207), batch read, search, list and a not-found error."""
    upsert = call(
        hubspot,
        "POST",
        "/crm/v3/objects/contacts/batch/upsert",
        {
            "inputs": [
                {"id": "a@x.example", "idProperty": "email", "properties": {"firstname": "A"}}
            ]
        },
    )
    assert upsert.status_code == 200 and problems("contacts.json", upsert) == []
    bad = call(
        hubspot,
        "POST",
        "/crm/v3/objects/contacts/batch/upsert",
        {
            "inputs": [
                {"id": "b@x.example", "idProperty": "email", "properties": {"firstname": "B"}},
                {"id": "c@x.example", "idProperty": "email", "properties": {"nosuch": "x"}},
            ]
        },
    )
    assert problems("contacts.json", bad) == [], bad.text
    cid = upsert.json()["results"][0]["id"]
    read = call(
        hubspot,
        "POST",
        "/crm/v3/objects/contacts/batch/read",
        {"inputs": [{"id": cid}], "properties": ["firstname", "lastname"]},
    )
    assert read.status_code == 200 and problems("contacts.json", read) == []
    search = call(
        hubspot,
        "POST",
        "/crm/v3/objects/contacts/search",
        {"filterGroups": [], "properties": ["email"], "limit": 10},
    )
    assert search.status_code == 200 and problems("contacts.json", search) == []
    listed = call(hubspot, "GET", "/crm/v3/objects/contacts?limit=1")
    assert listed.status_code == 200 and problems("contacts.json", listed) == []


def test_owner_property_and_list_answers_follow_their_specs(hubspot: HubSpotSandbox):
    """Owners, contact properties and a list's add-and-remove."""
    owners = call(hubspot, "GET", "/crm/v3/owners?limit=100")
    assert owners.status_code == 200 and problems("crmOwners.json", owners) == []
    props = call(hubspot, "GET", "/crm/v3/properties/contacts")
    assert props.status_code == 200 and problems("properties.json", props) == []
    created = call(
        hubspot,
        "POST",
        "/crm/v3/objects/contacts/batch/upsert",
        {"inputs": [{"id": "m@x.example", "idProperty": "email", "properties": {}}]},
    )
    cid = created.json()["results"][0]["id"]
    list_id = hubspot.store.lists_known()[0] if hasattr(hubspot.store, "lists_known") else "42"
    member = call(
        hubspot,
        "PUT",
        f"/crm/v3/lists/{list_id}/memberships/add-and-remove",
        {"recordIdsToAdd": [cid], "recordIdsToRemove": []},
    )
    assert problems("lists.json", member) == [], member.text


def test_task_answers_follow_the_tasks_spec(hubspot: HubSpotSandbox):
    """Tasks created in a batch with their contact association, then searched."""
    created = call(
        hubspot,
        "POST",
        "/crm/v3/objects/contacts/batch/upsert",
        {"inputs": [{"id": "t@x.example", "idProperty": "email", "properties": {}}]},
    )
    cid = created.json()["results"][0]["id"]
    task = {
        "properties": {
            "hs_timestamp": "2026-11-24T12:00:00Z",
            "hs_task_subject": "Follow up",
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
            "leadsync_key": "task:1",
        },
        "associations": [
            {
                "to": {"id": cid},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
            }
        ],
    }
    made = call(hubspot, "POST", "/crm/v3/objects/tasks/batch/create", {"inputs": [task]})
    assert made.status_code in (200, 201) and problems("tasks.json", made) == [], made.text
    again = call(hubspot, "POST", "/crm/v3/objects/tasks/batch/create", {"inputs": [task]})
    assert problems("tasks.json", again) == [], again.text
    search = call(
        hubspot,
        "POST",
        "/crm/v3/objects/tasks/search",
        {"filterGroups": [], "properties": ["hs_task_status"], "limit": 10},
    )
    assert problems("tasks.json", search) == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/crm/v3/objects/contacts/batch/read", {"inputs": "not a list"}),
        ("POST", "/crm/v3/objects/contacts/search", {"filterGroups": [{"filters": [{}]}]}),
    ],
)
def test_errors_follow_the_error_schema(hubspot: HubSpotSandbox, method: str, path: str, body):
    """A refused request answers the specs' Error: category, correlationId, message."""
    answer = call(hubspot, method, path, body)
    assert answer.status_code >= 400
    assert problems("contacts.json", answer) == [], answer.text
