"""The Salesforce destination through the real simple-salesforce client, against `responses`.

Every mock is strict both ways: an unexpected request fails the test, and so
does an expected one that never came. Bodies are Salesforce's recorded shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses

from leadsync.connectors.salesforce import SalesforceDestination
from leadsync.errors import (
    AuthenticationError,
    ConnectorError,
    RateLimited,
    RequestRejected,
    RetriableError,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
LOGIN = "https://login.salesforce.com/services/Soap/u/59.0"
INSTANCE = "https://acme.my.salesforce.com/services/data/v59.0"
UPSERT = f"{INSTANCE}/composite/sobjects/Lead/LeadSync_Id__c"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def destination(tmp_path: Path, **auth) -> SalesforceDestination:
    auth = auth or {
        "username": "integration@acme.example",
        "password": "pw",
        "security_token": "tok",
    }
    return SalesforceDestination.from_options(
        "crm", {"auth": auth}, key="crm", path=tmp_path / "config.toml"
    )


def records(n: int) -> list[dict]:
    return [{"LeadSync_Id__c": f"k{i}", "LastName": f"L{i}", "Company": "C"} for i in range(n)]


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def login_ok(mocked: responses.RequestsMock) -> None:
    mocked.post(LOGIN, body=fixture("login_response.xml"), content_type="text/xml")


def test_soap_login_then_collections_upsert_reads_each_result(tmp_path, mocked):
    """Per-record results come back in order: created, updated, refused, locked (retriable)."""
    login_ok(mocked)
    call = mocked.patch(UPSERT, body=fixture("collections_upsert_partial.json"))
    dest = destination(tmp_path)

    results = dest.upsert(records(5))

    sent = json.loads(call.calls[0].request.body)
    assert sent["allOrNone"] is False
    assert sent["records"][0] == {"attributes": {"type": "Lead"}, **records(1)[0]}
    assert call.calls[0].request.headers["Authorization"] == (
        "Bearer 00D5g000004XXXX!AQ4AQFakeSessionIdForTests"
    )
    assert [(r.ok, r.created, r.code, r.retriable) for r in results] == [
        (True, True, None, False),
        (True, False, None, False),
        (False, False, "FIELD_CUSTOM_VALIDATION_EXCEPTION", False),
        (False, False, "UNABLE_TO_LOCK_ROW", True),
        (False, False, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", False),
    ]
    assert results[0].crm_id == "00Q5g00000XyZaBEAV"
    assert results[4].fields == ("Status",)
    assert dest.calls.by_name == {"login": 1, "collections_upsert": 1}


def test_a_result_missing_from_the_answer_counts_as_failed(tmp_path, mocked):
    """An answer with fewer results than records fails the records it says nothing of."""
    login_ok(mocked)
    answer = json.loads(fixture("collections_upsert_partial.json"))[:2]
    mocked.patch(UPSERT, json=answer)

    results = destination(tmp_path).upsert(records(3))

    assert [r.ok for r in results] == [True, True, False]
    assert results[2].code == "MISSING_RESULT" and results[2].retriable


def test_refused_login_is_an_authentication_error_naming_the_config(tmp_path, mocked):
    """INVALID_LOGIN is fatal and tells the admin where the credentials come from."""
    mocked.post(LOGIN, body=fixture("login_fault.xml"), status=500, content_type="text/xml")

    with pytest.raises(AuthenticationError) as err:
        destination(tmp_path).upsert(records(1))

    assert str(err.value) == (
        "Salesforce refused the login (INVALID_LOGIN): Invalid username, password, security "
        "token; or user locked out. Check crm.auth and the environment variables it names."
    )


def test_client_credentials_login_uses_the_my_domain(tmp_path, mocked):
    """OAuth client credentials post to the My Domain token endpoint and use its instance."""
    token = mocked.post(
        "https://acme.my.salesforce.com/services/oauth2/token", body=fixture("oauth_token.json")
    )
    mocked.get(f"{INSTANCE}/sobjects/Lead/describe", body=fixture("describe_lead.json"))
    dest = destination(tmp_path, client_id="cid", client_secret="secret", domain="acme.my")

    schema = dest.describe()

    assert "grant_type=client_credentials" in token.calls[0].request.body
    assert token.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert schema.fields["LeadSync_Id__c"].external_id
    assert {n for n, f in schema.fields.items() if f.required} == {"LastName", "Company"}
    assert "Hot" not in schema.fields["Status"].picklist


def test_bad_client_credentials_are_refused(tmp_path, mocked):
    """A refused client-credentials login is an authentication error."""
    mocked.post(
        "https://acme.my.salesforce.com/services/oauth2/token",
        body=fixture("oauth_error.json"),
        status=400,
    )
    with pytest.raises(AuthenticationError, match="invalid_client"):
        destination(tmp_path, client_id="cid", client_secret="bad", domain="acme.my").describe()


def test_session_id_login_sends_no_login_request(tmp_path, mocked):
    """With a session id and instance URL the client goes straight to the API."""
    mocked.get(f"{INSTANCE}/sobjects/Lead/describe", body=fixture("describe_lead.json"))
    dest = destination(
        tmp_path, session_id="00Dabc!token", instance_url="https://acme.my.salesforce.com"
    )
    assert dest.describe().name == "Lead"
    assert dest.calls.by_name == {"describe": 1}


ERRORS = [
    (503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "Server unavailable"}], RetriableError),
    (
        500,
        [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred."}],
        RetriableError,
    ),
    (502, "<html>Bad Gateway</html>", RetriableError),
    (
        429,
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentPerOrgLongTxn"}],
        RateLimited,
    ),
    (
        403,
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
        ConnectorError,
    ),
    (
        403,
        [{"errorCode": "INSUFFICIENT_ACCESS", "message": "insufficient access rights"}],
        AuthenticationError,
    ),
    (
        400,
        [
            {
                "errorCode": "INVALID_FIELD",
                "message": "No such column 'Foo__c' on sobject of type Lead",
            }
        ],
        RequestRejected,
    ),
    (
        400,
        [{"errorCode": "EXCEEDED_ID_LIMIT", "message": "Record limit reached."}],
        RequestRejected,
    ),
    (
        404,
        [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
        RequestRejected,
    ),
]


@pytest.mark.parametrize(("status", "body", "expected"), ERRORS)
def test_error_table(tmp_path, mocked, status, body, expected):
    """Each (status, error code) maps to one disposition; the vendor message rides along."""
    login_ok(mocked)
    if isinstance(body, str):
        mocked.patch(UPSERT, body=body, status=status)
    else:
        mocked.patch(UPSERT, json=body, status=status)

    with pytest.raises(expected) as err:
        destination(tmp_path).upsert(records(1))

    assert type(err.value) is expected
    assert err.value.details["status"] == status
    if not isinstance(body, str):
        assert err.value.details["code"] == body[0]["errorCode"]


@pytest.mark.parametrize(
    "exc", [requests.ConnectionError("reset by peer"), requests.ReadTimeout("read timed out")]
)
def test_network_failures_are_retriable(tmp_path, mocked, exc):
    """Dropped connections and timeouts may succeed later."""
    login_ok(mocked)
    mocked.patch(UPSERT, body=exc)
    with pytest.raises(RetriableError):
        destination(tmp_path).upsert(records(1))


def test_a_closed_port_says_where_and_why_in_one_line(tmp_path):
    """An unreachable CRM is retriable, and the message names the address and the reason."""
    dest = SalesforceDestination.from_options(
        "crm",
        {
            "sandbox_url": "http://127.0.0.1:9",
            "auth": {"username": "u", "password": "p", "security_token": "t"},
        },
        key="crm",
        path=tmp_path / "config.toml",
    )
    with pytest.raises(RetriableError) as err:
        dest.describe()
    assert str(err.value) == "could not reach Salesforce at http://127.0.0.1:9: Connection refused"


def test_expired_session_is_renewed_once_by_the_client(tmp_path, mocked):
    """INVALID_SESSION_ID makes the client log in again and repeat the call."""
    login_ok(mocked)
    mocked.patch(
        UPSERT,
        json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
        status=401,
    )
    login_ok(mocked)
    mocked.patch(
        UPSERT, json=[{"id": "00Q5g00000XyZaBEAV", "success": True, "errors": [], "created": True}]
    )

    (result,) = destination(tmp_path).upsert(records(1))

    assert result.ok


def test_more_than_two_hundred_records_is_refused_before_sending(tmp_path, mocked):
    """A batch over the API's limit is a bug in the caller, caught before any request."""
    with pytest.raises(ValueError, match="at most 200"):
        destination(tmp_path).upsert(records(201))


def test_auth_without_a_complete_method_names_the_choices(tmp_path):
    """An incomplete auth table says which combinations are accepted."""
    from leadsync.errors import ConfigError

    with pytest.raises(ConfigError, match="session_id \\+ instance_url"):
        destination(tmp_path, username="u")
    with pytest.raises(ConfigError, match="My Domain"):
        destination(tmp_path, client_id="c", client_secret="s")
