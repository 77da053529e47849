"""The HubSpot emulator answers in HubSpot's shapes: checked through the client's own models,
which hubspot-api-client generates from HubSpot's published OpenAPI specs."""

from __future__ import annotations

import json
import time

import pytest
import requests
from hubspot import Client
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.crm.lists import MembershipChangeRequest

from leadsync.sandbox.hubspot import DEMO_TOKEN, RateLimits
from tests.conftest import HubSpotSandbox


@pytest.fixture
def client(hubspot: HubSpotSandbox) -> Client:
    return Client.create(access_token=DEMO_TOKEN, host=hubspot.url)


def upsert(client: Client, *emails: str, **props: str):
    inputs = [
        SimplePublicObjectBatchInputUpsert(
            id=e, id_property="email", properties={"email": e, **props}
        )
        for e in emails
    ]
    return client.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
    )


def error_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_every_answer_deserializes_into_the_clients_models(client: Client) -> None:
    """Required fields and types as HubSpot's specs declare them: the client's models refuse
    an answer that lacks them."""
    created = upsert(client, "a@x.example", "b@x.example", firstname="Ann")
    assert {r.new for r in created.results} == {True} and created.status == "COMPLETE"
    found = client.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "ann"}]}
            ],
            sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            properties=["email"],
            limit=1,
        )
    )
    assert found.total == 2 and found.paging.next.after == "1"
    read = client.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[
                SimplePublicObjectId(id="a@x.example"),
                SimplePublicObjectId(id="zz@x.example"),
            ],
            properties=["email"],
            id_property="email",
        )
    )
    assert [r.properties["email"] for r in read.results] == ["a@x.example"]
    assert read.num_errors == 1 and read.errors[0].category == "OBJECT_NOT_FOUND"
    owners = client.crm.owners.owners_api.get_page(archived=True)
    assert [o.email for o in owners.results] == ["dee.gone@leadsync.example"]
    props = client.crm.properties.core_api.get_all("contacts")
    lifecycle = next(p for p in props.results if p.name == "lifecyclestage")
    assert lifecycle.type == "enumeration" and lifecycle.options[0].value == "subscriber"
    change = client.crm.lists.memberships_api.add_and_remove(
        "1001", MembershipChangeRequest(record_ids_to_add=[created.results[0].id, "424242"])
    )
    assert change.records_ids_added == [created.results[0].id]
    assert change.record_ids_missing == ["424242"]
    page = client.crm.contacts.basic_api.get_page(limit=1, properties=["email"])
    assert len(page.results) == 1 and page.paging.next.after


def test_a_batch_is_all_or_nothing_on_validation(client: Client, hubspot: HubSpotSandbox) -> None:
    with pytest.raises(ApiException) as raised:
        upsert(client, "ok@x.example", "bad@x.example", hs_lead_status="HOT")
    body = error_of(raised.value)
    assert raised.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: [")
    detail = json.loads(body["message"].split(": ", 1)[1])
    assert detail[0]["error"] == "INVALID_OPTION" and detail[0]["name"] == "hs_lead_status"
    assert body["correlationId"] and hubspot.records() == []


def test_batches_hold_100_inputs_at_most(client: Client) -> None:
    with pytest.raises(ApiException) as raised:
        upsert(client, *(f"p{i}@x.example" for i in range(101)))
    assert "exceeds the maximum of 100" in error_of(raised.value)["message"]


def test_search_never_pages_past_10000(client: Client) -> None:
    with pytest.raises(ApiException) as raised:
        client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=200, after="9900"))
    assert raised.value.status == 400
    assert "at most 10,000 results" in error_of(raised.value)["message"]


def test_rate_limits_answer_429_with_their_policy(hubspot: HubSpotSandbox) -> None:
    """Over the rolling 10 s window: HubSpot's 429 body and headers. Searches have their
    own per-second limit."""
    hubspot.app.limits = RateLimits(per_10s=3, search_per_second=0, daily=0)
    url = f"{hubspot.url}/crm/v3/properties/contacts"
    auth = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    answers = [requests.get(url, headers=auth, timeout=10) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[1].headers["X-HubSpot-RateLimit-Remaining"] == "1"
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    body = answers[3].json()
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    hubspot.app.limits = RateLimits(per_10s=0, search_per_second=2, daily=0)
    search = f"{hubspot.url}/crm/v3/objects/contacts/search"
    codes = [requests.post(search, headers=auth, json={}, timeout=10).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    time.sleep(1.05)
    assert requests.post(search, headers=auth, json={}, timeout=10).status_code == 200


def test_a_duplicate_email_is_a_conflict(client: Client, hubspot: HubSpotSandbox) -> None:
    existing = hubspot.store.put("contacts", {"email": "dup@x.example"})
    inputs = [
        SimplePublicObjectBatchInputUpsert(
            id="lead-1",
            id_property="leadsync_id",
            properties={"email": "DUP@x.example"},
        )
    ]
    with pytest.raises(ApiException) as raised:
        client.crm.contacts.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
        )
    assert raised.value.status == 409
    assert error_of(raised.value)["message"] == f"Contact already exists. Existing ID: {existing}"


def test_a_wrong_token_is_refused(hubspot: HubSpotSandbox) -> None:
    answer = requests.get(
        f"{hubspot.url}/crm/v3/owners", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert answer.status_code == 401 and answer.json()["category"] == "INVALID_AUTHENTICATION"


def test_one_port_serves_both_emulators() -> None:
    """`leadsync sandbox serve` puts Salesforce and HubSpot behind one address: HubSpot's
    paths go to HubSpot, the rest to Salesforce."""
    from leadsync.sandbox.hubspot import HubSpotEmulator
    from leadsync.sandbox.salesforce import SalesforceEmulator
    from leadsync.sandbox.server import Emulators, running

    with running(Emulators(SalesforceEmulator(), HubSpotEmulator())) as url:
        auth = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        owners = requests.get(f"{url}/crm/v3/owners", headers=auth, timeout=10)
        assert owners.status_code == 200 and len(owners.json()["results"]) == 4
        salesforce = requests.get(f"{url}/__sandbox/records/Lead", timeout=10)
        assert salesforce.status_code == 200 and salesforce.json()["records"] == []
