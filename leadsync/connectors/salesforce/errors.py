"""Salesforce's answers, classified once by a table: (HTTP status, error code) -> what to do.

The sync engine only ever sees leadsync's own error classes (see
``leadsync.errors``); vendor messages travel along in ``details`` for the
engineer, never as something to branch on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leadsync.connectors.http import StatusRule, common_rules, from_table
from leadsync.errors import (
    AuthenticationError,
    ConnectorError,
    LeadsyncError,
    RateLimited,
    RetriableError,
)

if TYPE_CHECKING:
    import requests

STATUS_TABLE: list[StatusRule] = [
    (
        401,
        "INVALID_SESSION_ID",
        AuthenticationError,
        "the Salesforce session expired and could not be renewed: check crm.auth",
    ),
    (
        403,
        "REQUEST_LIMIT_EXCEEDED",
        ConnectorError,
        "the org's daily API request limit is used up: wait for it to reset or raise the limit",
    ),
    (
        403,
        "API_DISABLED_FOR_ORG",
        AuthenticationError,
        "the API is not enabled for this org or user",
    ),
    (403, None, AuthenticationError, "Salesforce refused access: check the user's permissions"),
    (429, None, RateLimited, "Salesforce asked us to slow down"),
    *common_rules("Salesforce"),
]

# How long to wait when the org runs too many long requests at once; Salesforce says
# nothing, and such a request lasts at least 20 seconds.
CONCURRENT_WAIT_SECONDS = 5.0

# A write to a Lead converted since: followed to its Contact.
CONVERTED = "CANNOT_UPDATE_CONVERTED_LEAD"

# Per-record error codes in a batch result that may succeed when sent again.
RETRIABLE_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "MISSING_RESULT"})


def error_code(content: Any) -> tuple[str | None, str]:
    """The (errorCode, message) of a Salesforce REST error body: ``[{message, errorCode}]``."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return first.get("errorCode") or first.get("statusCode"), str(first.get("message", ""))
    if isinstance(content, dict):
        return content.get("errorCode") or content.get("error"), str(
            content.get("message") or content.get("error_description") or ""
        )
    return None, str(content)[:300]


def classify(exc: BaseException) -> LeadsyncError:
    """The leadsync error for anything the client raised while talking to Salesforce."""
    # Imported here: simple-salesforce's package pulls in JWT and cryptography, which a
    # sync that never calls Salesforce (nothing to write) should not load.
    import requests
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

    if isinstance(exc, LeadsyncError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        said = getattr(exc, "auth_message", "") or str(exc)
        return AuthenticationError(
            f"Salesforce refused the login ({exc.code}): {said} "
            "Check crm.auth and the environment variables it names.",
            code=exc.code,
        )
    if isinstance(exc, requests.Timeout):
        return RetriableError(f"Salesforce did not answer in time: {exc}", code="TIMEOUT")
    if isinstance(exc, requests.ConnectionError):
        return RetriableError(
            f"could not reach Salesforce at {_host(exc)}: {_root_cause(exc)}", code="CONNECTION"
        )
    if isinstance(exc, SalesforceError):
        code, message = error_code(exc.content)
        if code == "REQUEST_LIMIT_EXCEEDED" and "Concurrent" in message:
            # The same code as the daily limit, but this one passes in seconds: too many
            # long-running requests in the org at once (ConcurrentPerOrgLongTxn).
            return RateLimited(
                f"Salesforce's limit of concurrent long-running requests is reached "
                f"(HTTP {exc.status} {code}: {message})",
                retry_after=CONCURRENT_WAIT_SECONDS,
                status=exc.status,
                code=code,
                body=message[:300],
            )
        return from_table(STATUS_TABLE, exc.status, code, message, body=message[:300])
    return ConnectorError(f"unexpected error talking to Salesforce: {exc!r}")


def _host(exc: requests.RequestException) -> str:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) or ""
    return url.split("/services/")[0] or "its address"


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a connection error ("Connection refused"), not urllib3's wrapping."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        first = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        inner = getattr(exc, "reason", None) or first or exc.__context__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    text = str(exc)
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text
