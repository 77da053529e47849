"""The emulator enforces what Salesforce enforces, through the real client."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from leadsync.connectors.calls import CallCounter
from leadsync.connectors.salesforce.client import build_client
from leadsync.connectors.salesforce.config import SalesforceConfig
from leadsync.sandbox.salesforce.store import sf_id
from tests.conftest import Sandbox

EXT = "composite/sobjects/Lead/LeadSync_Id__c"


@pytest.fixture
def sf(sandbox: Sandbox) -> Salesforce:
    config = SalesforceConfig.model_validate(
        {
            "sandbox_url": sandbox.url,
            "auth": {
                "username": "demo@leadsync.example",
                "password": "demo-password",
                "security_token": "demo-token",
            },
        }
    )
    return build_client(config, CallCounter())


def upsert(sf: Salesforce, *records: dict) -> list[dict]:
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Lead"}, **r} for r in records]}
    return sf.restful(EXT, method="PATCH", json=body)


def test_per_record_validation_like_salesforce(sf: Salesforce):
    """Required fields, lengths, restricted picklists and emails fail their record alone."""
    results = upsert(
        sf,
        {"LeadSync_Id__c": "ok", "LastName": "Ok", "Company": "Acme"},
        {"LeadSync_Id__c": "no-company", "LastName": "X"},
        {"LeadSync_Id__c": "long", "LastName": "X" * 81, "Company": "Acme"},
        {"LeadSync_Id__c": "pick", "LastName": "X", "Company": "Acme", "Status": "Hot"},
        {"LeadSync_Id__c": "mail", "LastName": "X", "Company": "Acme", "Email": "not-an-email"},
        {"LeadSync_Id__c": "ro", "LastName": "X", "Company": "Acme", "IsConverted": True},
    )
    codes = [r["errors"][0]["statusCode"] if not r["success"] else "ok" for r in results]
    assert codes == [
        "ok",
        "REQUIRED_FIELD_MISSING",
        "STRING_TOO_LONG",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_EMAIL_ADDRESS",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
    ]
    assert results[1]["errors"][0] == {
        "statusCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [Company]",
        "fields": ["Company"],
    }
    assert results[0]["created"] is True and results[0]["id"].startswith("00Q")


def test_external_id_is_unique_and_upsert_updates(sf: Salesforce, sandbox: Sandbox):
    """The same external id twice updates the one record; it never makes a second."""
    first = upsert(sf, {"LeadSync_Id__c": "same", "LastName": "A", "Company": "Acme"})
    second = upsert(sf, {"LeadSync_Id__c": "same", "Title": "CTO"})
    assert first[0]["created"] is True and second[0]["created"] is False
    assert first[0]["id"] == second[0]["id"]
    (record,) = sandbox.records()
    assert (record["LastName"], record["Title"]) == ("A", "CTO")


def test_more_than_200_records_is_refused_whole(sf: Salesforce):
    """Collections take at most 200 records; more is a 400 for the whole request."""
    rows = [{"LeadSync_Id__c": str(i), "LastName": "L", "Company": "C"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as err:
        upsert(sf, *rows)
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_unknown_field_is_refused_whole(sf: Salesforce):
    """A field the object does not have fails the request with INVALID_FIELD."""
    with pytest.raises(SalesforceMalformedRequest) as err:
        upsert(sf, {"LeadSync_Id__c": "x", "LastName": "L", "Company": "C", "Foo__c": 1})
    assert err.value.content == [
        {"message": "No such column 'Foo__c' on sobject of type Lead", "errorCode": "INVALID_FIELD"}
    ]


def test_single_record_upsert_and_stats(sf: Salesforce, sandbox: Sandbox):
    """The one-record upsert answers 201 then 200, and stats count requests by endpoint."""
    assert sf.Lead.upsert("LeadSync_Id__c/one", {"LastName": "L", "Company": "C"}) == 201
    assert sf.Lead.upsert("LeadSync_Id__c/one", {"Title": "VP"}) == 200
    stats = sandbox.stats()
    assert stats["by_endpoint"] == {"login": 1, "sobject_upsert": 2}


def test_requests_need_a_valid_session(sandbox: Sandbox):
    """A request without a session gets Salesforce's 401 INVALID_SESSION_ID body."""
    answer = requests.get(f"{sandbox.url}/services/data/v59.0/sobjects/Lead/describe", timeout=5)
    assert answer.status_code == 401
    assert answer.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_limit_header_counts_usage(sf: Salesforce):
    """Every API answer carries Sforce-Limit-Info, which the client parses."""
    lead = sf.Lead
    lead.describe()
    assert lead.api_usage["api-usage"].used >= 1
    assert lead.api_usage["api-usage"].total == 15000


def test_ids_carry_salesforce_checksum():
    """Ids are 18 characters with the case-checksum suffix Salesforce computes."""
    assert sf_id("00Q", 1) == "00Q5g0000000001EAA"
    assert len({sf_id("00Q", n) for n in range(1, 5000)}) == 4999


def test_faults_are_set_over_http(sandbox: Sandbox):
    """A test in another process can set faults through /__sandbox/faults."""
    ok = requests.post(f"{sandbox.url}/__sandbox/faults", json={"spec": "503:every=2"}, timeout=5)
    bad = requests.post(f"{sandbox.url}/__sandbox/faults", json={"spec": "boom:rate=1"}, timeout=5)
    assert ok.status_code == 200 and sandbox.app.faults.faults[0].every == 2
    assert bad.status_code == 400 and "unknown fault 'boom'" in bad.json()["error"]


@pytest.mark.parametrize(
    "auth",
    [
        {
            "client_id": "leadsync-demo-client",
            "client_secret": "demo-client-secret",
            "domain": "sandbox.my",
        },
        {
            "session_id": "00D5g000004Sandbx!AQsandboxsession",
            "instance_url": "https://sandbox.my.salesforce.com",
        },
    ],
    ids=["oauth-client-credentials", "session-id"],
)
def test_every_login_method_reaches_the_emulator(sandbox: Sandbox, tmp_path, auth):
    """OAuth client credentials and a pasted session id work against the emulator too."""
    from leadsync.connectors.salesforce import SalesforceDestination

    dest = SalesforceDestination.from_options(
        "crm", {"sandbox_url": sandbox.url, "auth": auth}, key="crm", path=tmp_path / "c.toml"
    )
    assert dest.check() == []
    (result,) = dest.upsert([{"LeadSync_Id__c": "k", "LastName": "L", "Company": "C"}])
    assert result.ok and result.created


def _rsa_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_oauth_jwt_bearer_login_with_the_connected_apps_key(sandbox: Sandbox, tmp_path):
    """JWT bearer: simple-salesforce signs with the key file named in the config (relative
    to it); the emulator checks it against the connected app's certificate. A key the app
    does not know is refused as Salesforce refuses it."""
    from leadsync.connectors.salesforce import SalesforceDestination
    from leadsync.errors import AuthenticationError

    private, public = _rsa_pair()
    (tmp_path / "leadsync.key").write_text(private)
    sandbox.app.credentials.jwt_public_key = public
    auth = {
        "client_id": "leadsync-demo-client",
        "username": "demo@leadsync.example",
        "private_key_file": "leadsync.key",
    }
    dest = SalesforceDestination.from_options(
        "crm", {"sandbox_url": sandbox.url, "auth": auth}, key="crm", path=tmp_path / "c.toml"
    )
    assert dest.config.auth.method == "jwt"
    assert dest.describe().name == "Lead"

    other, _ = _rsa_pair()
    (tmp_path / "other.key").write_text(other)
    wrong = SalesforceDestination.from_options(
        "crm",
        {"sandbox_url": sandbox.url, "auth": {**auth, "private_key_file": "other.key"}},
        key="crm",
        path=tmp_path / "c.toml",
    )
    with pytest.raises(AuthenticationError, match="invalid assertion"):
        wrong.describe()


def test_all_or_none_rolls_every_record_back_with_a_200(sf: Salesforce):
    """allOrNone: one bad record, none saved; the others answer
    ALL_OR_NONE_OPERATION_ROLLED_BACK in a 200, as Salesforce's do."""
    body = {
        "allOrNone": True,
        "records": [
            {
                "attributes": {"type": "Lead"},
                "LeadSync_Id__c": "a1",
                "LastName": "A",
                "Company": "C",
            },
            {"attributes": {"type": "Lead"}, "LeadSync_Id__c": "a2", "Company": "C"},
        ],
    }
    results = sf.restful(EXT, method="PATCH", json=body)
    codes = [r["errors"][0]["statusCode"] for r in results]
    assert codes == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING"]
    assert sf.query("SELECT Id FROM Lead WHERE LeadSync_Id__c = 'a1'")["totalSize"] == 0


def test_queries_page_at_two_thousand_rows(sf: Salesforce, sandbox: Sandbox):
    """A query answers 2,000 rows and a nextRecordsUrl; query_all follows it to the end."""
    from leadsync.sandbox.salesforce.seed import seed_org

    seed_org(sandbox.app.store, [], leads=2500, contacts=0)
    held = len(sandbox.app.store.records["Lead"])  # 2,500 and some typed in twice
    first = sf.query("SELECT Id FROM Lead")
    assert (len(first["records"]), first["done"], first["totalSize"]) == (2000, False, held)
    assert first["nextRecordsUrl"].endswith("-2000")
    assert len(sf.query_all("SELECT Id FROM Lead")["records"]) == held


def test_the_duplicate_rule_names_the_record_it_matched(sf: Salesforce, sandbox: Sandbox):
    """With the standard duplicate rule on, a new Lead whose email a Contact has answers
    DUPLICATES_DETECTED with a duplicateResult naming that Contact."""
    sandbox.app.store.duplicate_rule = True
    cid, _ = sandbox.app.store.upsert(
        "Contact", "LeadSync_Key__c", {"LeadSync_Key__c": "c", "LastName": "C", "Email": "x@y.z"}
    )
    (result,) = upsert(
        sf, {"LeadSync_Id__c": "n", "LastName": "N", "Company": "C", "Email": "X@y.z"}
    )
    error = result["errors"][0]
    assert error["statusCode"] == "DUPLICATES_DETECTED"
    (match,) = error["duplicateResult"]["matchResults"]
    assert match["entityType"] == "Contact"
    assert match["matchRecords"][0]["record"]["Id"] == cid


SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "salesforce"


@pytest.mark.parametrize("obj", ["Lead", "Contact", "Task", "CampaignMember", "User"])
def test_describe_validates_against_salesforces_published_schema(sf: Salesforce, obj: str):
    """The emulator's describe, as the client receives it, validates against the
    DescribeSObjectResult JSON Schema Salesforce's CLI publishes (every required key, no
    key it does not know)."""
    schema = json.loads((SHARED / "sobject-describe.schema.json").read_text())
    body = getattr(sf, obj).describe()
    problems = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(body)]
    assert problems == []
    owner = {f["name"]: f for f in body["fields"]}.get("OwnerId")
    assert owner is None or (owner["referenceTo"] and owner["soapType"] == "tns:ID")


def test_limits_list_what_salesforce_lists(sf: Salesforce):
    """/limits holds every limit of the recorded answer, with the API requests counted."""
    recorded = json.loads((SHARED / "limits.json").read_text())
    answer = sf.limits()
    assert set(recorded) <= set(answer)
    assert answer["DailyApiRequests"]["Remaining"] < answer["DailyApiRequests"]["Max"]


def test_a_completed_task_is_closed(sf: Salesforce, sandbox: Sandbox):
    """A Task set to Completed through the API reads back IsClosed = true, as Salesforce
    derives it, so that a first touch can be tried locally."""
    lead, _ = sandbox.app.store.upsert(
        "Lead", "LeadSync_Id__c", {"LeadSync_Id__c": "t", "LastName": "T", "Company": "C"}
    )
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Task"}, "LeadSync_Key__c": "k1", "Subject": "S", "WhoId": lead}
        ],
    }
    sf.restful("composite/sobjects/Task/LeadSync_Key__c", method="PATCH", json=body)
    assert sf.query("SELECT Id FROM Task WHERE IsClosed = false")["totalSize"] == 1
    body["records"][0]["Status"] = "Completed"
    sf.restful("composite/sobjects/Task/LeadSync_Key__c", method="PATCH", json=body)
    assert sf.query("SELECT Id FROM Task WHERE IsClosed = true")["totalSize"] == 1
