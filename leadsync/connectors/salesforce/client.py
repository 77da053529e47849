"""Building the simple-salesforce client: the three logins, timeouts, counting, the sandbox.

Every request goes through one requests Session whose adapter sets a timeout
on calls that have none, counts the requests sent (a run's ``api_calls``), and,
when ``sandbox_url`` is set, sends the client's ``https://*.salesforce.com``
requests to the emulator instead, so that the real client code runs unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from leadsync.connectors.calls import ApiQuota, CallCounter
from leadsync.connectors.salesforce.config import SalesforceConfig

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class _Transport(HTTPAdapter):
    def __init__(
        self, timeout: float, counter: CallCounter, sandbox_url: str | None, quota: ApiQuota
    ) -> None:
        super().__init__(pool_maxsize=4)
        self.timeout = timeout
        self.counter = counter
        self.quota = quota
        self.sandbox = urlsplit(sandbox_url) if sandbox_url else None

    def send(  # type: ignore[override]  # requests' own signature, passed through whole
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if self.sandbox is not None and request.url:
            parts = urlsplit(request.url)
            request.url = urlunsplit(
                (self.sandbox.scheme, self.sandbox.netloc, parts.path, parts.query, parts.fragment)
            )
        self.counter.add(_endpoint(request.url or ""))
        response = super().send(request, **kwargs)
        # Every REST answer says how much of the org's daily quota is used.
        usage = _API_USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if usage:
            self.quota.note(int(usage.group(1)), int(usage.group(2)))
        return response


def _endpoint(url: str) -> str:
    path = urlsplit(url).path
    if "/composite/sobjects/" in path:
        return "collections_upsert"
    if "/query/" in path:
        return "query"
    if "/jobs/" in path:
        return "bulk"
    if "/Soap/u/" in path or path.endswith("/oauth2/token"):
        return "login"
    if path.endswith("/describe"):
        return "describe"
    return path.rsplit("/", 1)[-1] or "other"


def build_client(
    config: SalesforceConfig,
    counter: CallCounter,
    quota: ApiQuota | None = None,
    base_dir: Path = Path(),
) -> Salesforce:
    """Log in (or not, for a session id) and return the client; raises the client's errors."""
    from simple_salesforce import Salesforce  # heavy (JWT, cryptography): when first used

    session = requests.Session()
    # Sent with every request: the org's assignment rule runs only when the admin says so.
    session.headers["Sforce-Auto-Assign"] = config.assignment_rule or "FALSE"
    transport = _Transport(config.timeout_seconds, counter, config.sandbox_url, quota or ApiQuota())
    session.mount("https://", transport)
    session.mount("http://", transport)
    auth = config.auth
    common: dict[str, Any] = {"session": session}
    if config.api_version:  # else the version simple-salesforce is built for
        common["version"] = config.api_version
    if auth.method == "jwt":
        key_file = Path(auth.private_key_file).expanduser() if auth.private_key_file else None
        if key_file is not None and not key_file.is_absolute():
            key_file = base_dir / key_file
        return Salesforce(
            username=auth.username,
            consumer_key=auth.client_id,
            privatekey_file=str(key_file) if key_file else None,
            privatekey=auth.private_key.get_secret_value() if auth.private_key else None,
            domain=auth.domain,
            **common,
        )
    if auth.method == "password":
        assert auth.password is not None and auth.security_token is not None
        return Salesforce(
            username=auth.username,
            password=auth.password.get_secret_value(),
            security_token=auth.security_token.get_secret_value(),
            domain=auth.domain,
            **common,
        )
    if auth.method == "session":
        assert auth.session_id is not None
        return Salesforce(
            session_id=auth.session_id.get_secret_value(), instance_url=auth.instance_url, **common
        )
    assert auth.client_secret is not None
    return Salesforce(
        consumer_key=auth.client_id,
        consumer_secret=auth.client_secret.get_secret_value(),
        domain=auth.domain,
        **common,
    )
