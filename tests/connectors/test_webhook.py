"""The forms inbox's formats: each vendor's signature checked against the raw body, its
body turned into a flat submission; the signatures here are made as the vendors make
them (tests/fixtures/forms/README.md), not by leadsync's own helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from leadsync.connectors.webhook.formats import FORM, Refused, accept, sign_generic
from tests.conftest import FIXTURES

SECRET = "whsec-forms-test"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())


def generic_headers(body: bytes, at: int = T, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return {"x-leadsync-signature": f"t={at},v1={digest}"}


def take(fmt: str, body: bytes, headers: dict[str, str], ctype: str = "application/json"):
    return accept(fmt, body, ctype, headers, SECRET, NOW, 300)


def refused(fmt: str, body: bytes, headers: dict[str, str], ctype: str = "application/json"):
    with pytest.raises(Refused) as caught:
        take(fmt, body, headers, ctype)
    return caught.value


# -- generic ---------------------------------------------------------------------------


def test_generic_json_signed_is_accepted_and_keyed_by_its_body():
    body = json.dumps({"email": "a@x.example", "last_name": "Ng"}).encode()
    got = take("generic", body, generic_headers(body))
    assert got.fields == {"email": "a@x.example", "last_name": "Ng"}
    assert got.key == "sha256:" + hashlib.sha256(body).hexdigest()
    # leadsync's own signing helper agrees with the scheme as documented
    assert sign_generic(SECRET, body, T) == generic_headers(body)["x-leadsync-signature"]


def test_generic_form_urlencoded_with_a_submission_id():
    body = urlencode([("email", "b@x.example"), ("interest", "a"), ("interest", "b")]).encode()
    headers = {**generic_headers(body), "x-leadsync-submission-id": "landing-42"}
    got = take("generic", body, headers, "application/x-www-form-urlencoded")
    assert got.fields == {"email": "b@x.example", "interest": ["a", "b"]}
    assert got.key == "landing-42"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing signature"),
        ({"x-leadsync-signature": "v1=abc"}, "missing signature"),
        ({"x-leadsync-signature": f"t={T},v1=" + "0" * 64}, "bad signature"),
        ({"x-leadsync-signature": f"t=soon,v1={'0' * 64}"}, "not a number"),
    ],
)
def test_generic_without_a_good_signature_is_401(headers, reason):
    body = b'{"email": "a@x.example"}'
    error = refused("generic", body, headers)
    assert error.status == 401 and reason in error.reason


def test_generic_signed_with_another_secret_is_401():
    body = b'{"email": "a@x.example"}'
    assert refused("generic", body, generic_headers(body, secret="other")).status == 401


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_generic_signed_time_beyond_the_tolerance_is_a_replay(skew):
    body = b'{"email": "a@x.example"}'
    error = refused("generic", body, generic_headers(body, at=T - skew))
    assert error.status == 401 and "from now" in error.reason


def test_generic_within_the_tolerance_is_accepted():
    body = b'{"email": "a@x.example"}'
    assert take("generic", body, generic_headers(body, at=T - 299)).fields


@pytest.mark.parametrize(
    ("body", "ctype", "status", "reason"),
    [
        (b'{"email": ', "application/json", 400, "malformed JSON"),
        (b'["a@x.example"]', "application/json", 400, "a JSON object is expected, not an array"),
        (b"\xff\xfe{}", "application/json", 400, "not UTF-8"),
        (b"<xml/>", "text/xml", 415, "unsupported Content-Type"),
    ],
)
def test_generic_malformed_bodies_say_why(body, ctype, status, reason):
    error = refused("generic", body, generic_headers(body), ctype)
    assert error.status == status and reason in error.reason


# -- Webflow ---------------------------------------------------------------------------


def webflow_headers(body: bytes, at_ms: int = T * 1000, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{at_ms}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-webflow-timestamp": str(at_ms), "x-webflow-signature": digest}


def test_webflow_form_submission_keeps_its_fields_id_and_time():
    body = (FIXTURES / "forms" / "webflow_form_submission.json").read_bytes()
    got = take("webflow", body, webflow_headers(body))
    assert got.key == "6321a92bc2c9f15c2ef46a3d"
    assert got.fields["email"] == "Zaphod@HeartOfGold.example"
    assert got.fields["Phone Number"] == 15550000000
    assert got.fields[FORM] == "Contact Us"
    assert got.submitted_at == datetime(2026, 11, 23, 11, 58, 16, 117000, tzinfo=UTC)


def test_webflow_bad_or_old_signatures_are_401():
    body = (FIXTURES / "forms" / "webflow_form_submission.json").read_bytes()
    assert refused("webflow", body, webflow_headers(body, secret="x")).status == 401
    old = webflow_headers(body, at_ms=(T - 600) * 1000)
    assert "from now" in refused("webflow", body, old).reason
    assert refused("webflow", body, {}).status == 401
    tampered = body.replace(b"Zaphod@", b"Trillian@")
    assert refused("webflow", tampered, webflow_headers(body)).status == 401


def test_webflow_other_triggers_are_answered_not_stored():
    body = json.dumps({"triggerType": "site_publish", "payload": {"site": "x"}}).encode()
    got = take("webflow", body, webflow_headers(body))
    assert got.ignored and "site_publish" in got.ignored


# -- Typeform --------------------------------------------------------------------------


def typeform_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"typeform-signature": "sha256=" + base64.b64encode(digest).decode()}


def test_typeform_answers_are_named_by_their_field_ref():
    body = (FIXTURES / "forms" / "typeform_form_response.json").read_bytes()
    got = take("typeform", body, typeform_headers(body))
    assert got.key == "a3a12ec67a1365927098a606107fac15"
    assert got.fields == {
        "utm_campaign": "winter-webinar",
        "email": "arthur.dent@example.org",
        "last_name": "Dent",
        "role": "VP",
        "products": ["Scoring", "Routing"],
        "employees": 250,
        "consent": True,
        "buy_date": "2027-01-15",
        FORM: "lT4Z3j",
    }
    assert got.submitted_at == datetime(2026, 11, 23, 11, 57, 2, tzinfo=UTC)


def test_typeform_bad_signature_is_401():
    body = (FIXTURES / "forms" / "typeform_form_response.json").read_bytes()
    assert refused("typeform", body, typeform_headers(body, secret="nope")).status == 401
    assert refused("typeform", body, {"typeform-signature": "sha1=abc"}).status == 401
