"""What a form vendor sends, and how it proves it sent it.

Each format checks the request's signature against the raw body (constant-time
compare), refuses a signed time too far from now, and turns the body into a flat
``Submission``: the fields as the form named them, the vendor's submission id (else
the body's hash, so that a resent body is recognised) and when it was submitted.

- ``generic``: ``X-Leadsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
  "<t>.<raw body>">``; a JSON object or an urlencoded form.
- ``webflow``: ``x-webflow-timestamp`` (milliseconds) and ``x-webflow-signature``, the
  hex HMAC-SHA256 of ``"<timestamp>:<raw body>"``; a ``form_submission`` trigger.
- ``typeform``: ``Typeform-Signature: sha256=<base64 HMAC-SHA256 of the raw body>``; a
  ``form_response`` whose answers are named by their field's ``ref``. Typeform signs no
  time: its response token makes a replay a duplicate, stored once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

# The form's own name or id, beside its fields (a field map or event may read it).
FORM = "@form"


@dataclass(frozen=True)
class Submission:
    key: str
    fields: dict[str, Any]
    submitted_at: datetime | None = None
    # a body that is valid but not a submission (another webhook trigger): answered, not kept
    ignored: str | None = None


@dataclass
class Refused(Exception):
    """A request the inbox will not store: its HTTP status and the reason, for the sender."""

    status: int
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.reason


# The request's headers, by their names in lower case.
Headers = Mapping[str, str]

Parser = Callable[[bytes, str, Headers, str, datetime, int], Submission]


def accept(
    format: str,
    body: bytes,
    content_type: str,
    headers: Headers,
    secret: str,
    now: datetime,
    tolerance_seconds: int,
) -> Submission:
    """The submission in this request, or ``Refused`` (401 signature, 400 body)."""
    return _FORMATS[format](body, content_type, headers, secret, now, tolerance_seconds)


def body_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def sign_generic(secret: str, body: bytes, at: int) -> str:
    """The `X-Leadsync-Signature` a sender puts on ``body`` sent at unix time ``at``."""
    digest = _hmac_hex(secret, f"{at}.".encode() + body)
    return f"t={at},v1={digest}"


# -- generic -------------------------------------------------------------------------


def _generic(
    body: bytes, content_type: str, headers: Headers, secret: str, now: datetime, tolerance: int
) -> Submission:
    header = headers.get("x-leadsync-signature", "")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts:
        raise Refused(401, "missing signature: send X-Leadsync-Signature: t=<unix time>,v1=<hex>")
    _fresh(parts["t"], 1, now, tolerance)
    _same(parts["v1"], _hmac_hex(secret, parts["t"].encode() + b"." + body))
    fields = _form_fields(body, content_type)
    key = headers.get("x-leadsync-submission-id") or body_hash(body)
    return Submission(key=key[:200], fields=fields)


def _form_fields(body: bytes, content_type: str) -> dict[str, Any]:
    """A JSON object's fields, or an urlencoded form's (a field sent twice: a list)."""
    text = _text(body)
    if content_type.startswith("application/x-www-form-urlencoded"):
        parsed = parse_qs(text, keep_blank_values=True, strict_parsing=False)
        if not parsed and text.strip():
            raise Refused(400, "malformed form body: no name=value pairs")
        return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}
    if content_type.startswith("application/json") or not content_type:
        data = _json(text)
        if not isinstance(data, dict):
            raise Refused(400, f"malformed body: a JSON object is expected, not {_kind(data)}")
        return data
    raise Refused(
        415, f"unsupported Content-Type {content_type!r}: send application/json or a form"
    )


# -- Webflow ---------------------------------------------------------------------------


def _webflow(
    body: bytes, content_type: str, headers: Headers, secret: str, now: datetime, tolerance: int
) -> Submission:
    stamp, signature = headers.get("x-webflow-timestamp"), headers.get("x-webflow-signature")
    if not stamp or not signature:
        raise Refused(401, "missing signature: x-webflow-timestamp and x-webflow-signature")
    _fresh(stamp, 1000, now, tolerance)
    _same(signature, _hmac_hex(secret, stamp.encode() + b":" + body))
    data = _json(_text(body))
    if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
        raise Refused(400, "malformed Webflow body: no `payload` object")
    if data.get("triggerType") != "form_submission":
        return Submission(key="", fields={}, ignored=f"triggerType {data.get('triggerType')!r}")
    payload = data["payload"]
    fields = payload.get("data")
    if not isinstance(fields, dict):
        raise Refused(400, "malformed Webflow form_submission: `payload.data` is not an object")
    return Submission(
        key=str(payload.get("id") or body_hash(body)),
        fields={**fields, FORM: payload.get("name") or payload.get("formId")},
        submitted_at=_time(payload.get("submittedAt")),
    )


# -- Typeform --------------------------------------------------------------------------

# an answer's type -> where its value is
_ANSWER = {
    "choice": lambda a: (
        (a.get("choice") or {}).get("label") or (a.get("choice") or {}).get("other")
    ),
    "choices": lambda a: (a.get("choices") or {}).get("labels"),
    "payment": lambda a: (a.get("payment") or {}).get("amount"),
}


def _typeform(
    body: bytes, content_type: str, headers: Headers, secret: str, now: datetime, tolerance: int
) -> Submission:
    signature = headers.get("typeform-signature", "")
    if not signature.startswith("sha256="):
        raise Refused(401, "missing signature: Typeform-Signature: sha256=<base64>")
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    _same(signature.removeprefix("sha256="), base64.b64encode(digest).decode())
    data = _json(_text(body))
    response = data.get("form_response") if isinstance(data, dict) else None
    if not isinstance(response, dict):
        raise Refused(400, "malformed Typeform body: no `form_response` object")
    if data.get("event_type", "form_response") != "form_response":
        return Submission(key="", fields={}, ignored=f"event_type {data.get('event_type')!r}")
    fields: dict[str, Any] = dict(response.get("hidden") or {})
    for answer in response.get("answers") or []:
        spec = answer.get("field") or {}
        name = spec.get("ref") or spec.get("id")
        kind = answer.get("type")
        if name and kind:
            fields[name] = _ANSWER[kind](answer) if kind in _ANSWER else answer.get(kind)
    fields[FORM] = response.get("form_id")
    return Submission(
        key=str(response.get("token") or data.get("event_id") or body_hash(body)),
        fields=fields,
        submitted_at=_time(response.get("submitted_at")),
    )


_FORMATS: dict[str, Parser] = {"generic": _generic, "webflow": _webflow, "typeform": _typeform}


# -- shared checks ---------------------------------------------------------------------


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> None:
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise Refused(401, "bad signature: it does not match the body and the shared secret")


def _fresh(stamp: str, per_second: int, now: datetime, tolerance: int) -> None:
    """A signed time within ``tolerance`` seconds of now (``per_second``: its units)."""
    try:
        signed = int(stamp) / per_second
    except ValueError:
        raise Refused(401, f"bad signature: its time {stamp[:20]!r} is not a number") from None
    skew = abs(now.timestamp() - signed)
    if skew > tolerance:
        raise Refused(
            401, f"signature time is {int(skew)} s from now (at most {tolerance}): a replay?"
        )


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, f"malformed body: not UTF-8 (byte {exc.start})") from None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(
            400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else type(value).__name__


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
