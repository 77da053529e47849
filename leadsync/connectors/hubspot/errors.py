"""HubSpot's answers, classified once by a table: (HTTP status, category) -> what to do.

HubSpot's error body is ``{status, message, correlationId, category}`` (plus
``errors`` with per-property details on validation errors); a 429 says which
limit was hit in ``policyName`` (TEN_SECONDLY_ROLLING, SECONDLY, DAILY).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError

from leadsync.connectors.http import StatusRule, common_rules, from_table, seconds
from leadsync.errors import (
    AuthenticationError,
    ConnectorError,
    LeadsyncError,
    RateLimited,
    RequestRejected,
    RetriableError,
)

STATUS_TABLE: list[StatusRule] = [
    (401, None, AuthenticationError, "HubSpot refused the access token: check crm.auth"),
    (
        403,
        "MISSING_SCOPES",
        AuthenticationError,
        "the private app lacks a scope leadsync needs (see config.example.toml)",
    ),
    (403, None, AuthenticationError, "HubSpot refused access"),
    (409, None, RequestRejected, "HubSpot found a conflict"),
    *common_rules("HubSpot"),
]

# How long each limit lasts when HubSpot does not say (no Retry-After).
POLICY_WAIT = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}


def error_body(exc: Any) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or b"{}")
    except (TypeError, ValueError):
        return {"message": str(exc.body)[:300]}
    return body if isinstance(body, dict) else {"message": str(body)[:300]}


def classify(exc: BaseException) -> LeadsyncError:
    """The leadsync error for anything hubspot-api-client (or urllib3 under it) raised."""
    if isinstance(exc, LeadsyncError):
        return exc
    if isinstance(exc, ReadTimeoutError) or (
        isinstance(exc, MaxRetryError) and isinstance(exc.reason, ReadTimeoutError)
    ):
        return RetriableError("HubSpot did not answer in time", code="TIMEOUT")
    if isinstance(exc, MaxRetryError | ProtocolError | Urllib3Error):
        reason = getattr(exc, "reason", None) or exc
        return RetriableError(f"could not reach HubSpot: {reason}", code="CONNECTION")
    status = getattr(exc, "status", None)
    if not isinstance(status, int) or not hasattr(exc, "body"):
        return ConnectorError(f"unexpected error talking to HubSpot: {exc!r}")
    body = error_body(exc)
    message = str(body.get("message", ""))
    if status == 429:
        return _rate_limited(body, getattr(exc, "headers", None) or {})
    return from_table(
        STATUS_TABLE,
        status,
        body.get("category"),
        message,
        body=message[:4000],
        correlation_id=body.get("correlationId"),
    )


def _rate_limited(body: Mapping[str, Any], headers: Mapping[str, str]) -> LeadsyncError:
    policy = str(body.get("policyName") or "")
    if policy == "DAILY":
        return ConnectorError(
            "the HubSpot portal's daily API limit is used up: leadsync stops until it resets "
            "(midnight in the portal's time zone)",
            status=429,
            code="DAILY",
        )
    wait = seconds(headers.get("Retry-After"))
    if wait is None:
        interval = seconds(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
        wait = interval / 1000 if interval else POLICY_WAIT.get(policy, 10.0)
    return RateLimited(
        f"HubSpot's {policy or 'rate'} limit was reached; waiting {wait:.0f}s",
        retry_after=wait,
        status=429,
        code=policy or "RATE_LIMIT",
    )
