"""Marketo's errors as leadsync's. Marketo answers almost every failure with HTTP 200 and
``success: false``, the reason in ``errors[].code``; only its identity endpoint (401)
and an oversized request (413, 414) use HTTP statuses.

606 (past 100 calls in 20 s) and 615 (past 10 at once) wait and go again; 601 and 602
(the access token unknown or expired) get a new token and go again; 607 (the day's
quota) stops the run and says when the quota resets; 1029 is a full export queue
(wait) or the day's export quota (stop).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import requests

from leadsync import clock
from leadsync.connectors.http import common_rules, from_table
from leadsync.errors import (
    AuthenticationError,
    ConnectorError,
    RateLimited,
    RequestRejected,
    RetriableError,
)

if TYPE_CHECKING:
    from leadsync.errors import LeadsyncError

# Marketo's day ends at midnight in its data centres' time, US Central.
MARKETO_DAY = ZoneInfo("America/Chicago")
RATE_WINDOW_SECONDS = 20.0
TOKEN_CODES = ("601", "602")


class TokenRefused(RetriableError):
    """The access token was unknown (601) or expired (602): a new one is asked for and the
    call sent again, a bounded number of times."""


def quota_resets(now: datetime | None = None) -> datetime:
    """When Marketo's daily quota is next reset: the coming midnight, US Central, in UTC."""
    local = (now or clock.now()).astimezone(MARKETO_DAY)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(ZoneInfo("UTC"))


def from_code(
    code: str, message: str, *, rate_wait: float = RATE_WINDOW_SECONDS, **details: object
) -> LeadsyncError:
    """The leadsync error for a Marketo error body's code."""
    said = f"(Marketo {code}: {message})"
    if code in TOKEN_CODES:
        return TokenRefused(f"Marketo refused the access token {said}", code=code, **details)
    if code == "606":
        return RateLimited(
            f"Marketo's limit of calls per 20 seconds was reached; waiting {said}",
            retry_after=rate_wait,
            code=code,
            **details,
        )
    if code == "615":
        return RateLimited(
            f"Marketo's limit of 10 calls at once was reached (another integration is busy); "
            f"waiting {said}",
            retry_after=2.0,
            code=code,
            **details,
        )
    if code == "607":
        reset = quota_resets()
        return ConnectorError(
            f"Marketo's daily API quota is used up: leadsync stops until it resets at "
            f"{reset:%Y-%m-%d %H:%M} UTC (midnight US Central), or ask Marketo for a higher "
            f"quota {said}",
            code=code,
            resets_at=reset.isoformat(),
            **details,
        )
    if code == "1029" and "quota" in message.lower():
        reset = quota_resets()
        return ConnectorError(
            f"Marketo's daily Bulk Extract quota is used up: the backfill goes on after it "
            f"resets at {reset:%Y-%m-%d %H:%M} UTC {said}",
            code=code,
            **details,
        )
    if code == "1029":
        return RateLimited(
            f"Marketo's export queue is full; waiting {said}",
            retry_after=60.0,
            code=code,
            **details,
        )
    if code in ("604", "608", "611", "713"):
        return RetriableError(f"Marketo had a passing failure {said}", code=code, **details)
    if code in ("603", "614"):
        return AuthenticationError(
            "Marketo refused access: the API user's role needs Read-Only Lead and Read-Only "
            f"Activity, the instance (munchkin_id) must be right, and an IP allowlist must "
            f"let this host in {said}",
            code=code,
            **details,
        )
    if code == "1006":
        return RequestRejected(
            f"a mapped field is not a Marketo lead field: check the source's fields {said}",
            code=code,
            **details,
        )
    return RequestRejected(f"Marketo refused the request {said}", code=code, **details)


HTTP_TABLE = [
    (401, None, AuthenticationError, "Marketo refused the client id and secret: check them"),
    (413, None, RequestRejected, "the request was over Marketo's 1 MB"),
    (414, None, RequestRejected, "the request's URL was over Marketo's 8 KB"),
    *common_rules("Marketo"),
]


def classify(exc: BaseException) -> LeadsyncError:
    """The leadsync error for what requests raised talking to Marketo (leadsync's own
    errors pass ``classified`` as they are)."""
    if isinstance(exc, requests.Timeout):
        return RetriableError("Marketo did not answer in time", code="TIMEOUT")
    if isinstance(exc, requests.ConnectionError):
        return RetriableError(f"could not reach Marketo: {exc}", code="CONNECTION")
    if isinstance(exc, ValueError):  # the answer was not JSON
        return RetriableError(f"Marketo's answer was not JSON: {exc}", code="NOT_JSON")
    return ConnectorError(f"unexpected error talking to Marketo: {exc!r}")


def from_status(status: int, text: str) -> LeadsyncError:
    return from_table(HTTP_TABLE, status, None, text[:300], body=text[:4000])
