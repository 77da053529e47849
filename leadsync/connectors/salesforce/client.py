"""Building the simple-salesforce client: the three logins, timeouts, counting, the sandbox.

Every request goes through one requests Session whose adapter sets a timeout
on calls that have none, counts the requests sent (a run's ``api_calls``), and,
when ``sandbox_url`` is set, sends the client's ``https://*.salesforce.com``
requests to the emulator instead, so that the real client code runs unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import requests
from pydantic import Field, SecretStr, model_validator
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.api import DEFAULT_API_VERSION

from leadsync.connectors.base import ApiQuota, CallCounter, ConnectorConfig

_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceAuth(ConnectorConfig):
    """One of, OAuth first (Salesforce retires SOAP login: not available from API 65.0,
    gone for every version in Summer '27):

    - client_id + client_secret, with your My Domain as `domain`: OAuth client
      credentials (the connected app's run-as user);
    - client_id + username + private_key_file (or private_key): OAuth JWT bearer, signed
      with the key of the certificate uploaded to the connected app;
    - session_id + instance_url: a session you already hold;
    - username + password + security_token: the legacy SOAP login.
    """

    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    session_id: SecretStr | None = None
    instance_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    private_key_file: str | None = None
    private_key: SecretStr | None = None
    domain: str = "login"

    @model_validator(mode="after")
    def _one_method(self) -> SalesforceAuth:
        if self.method == "none":
            raise ValueError(
                "give client_id + client_secret (with your My Domain as `domain`), or "
                "client_id + username + private_key_file (JWT bearer), or session_id + "
                "instance_url, or username + password + security_token (legacy SOAP login)"
            )
        if self.method == "client_credentials" and self.domain in ("login", "test"):
            raise ValueError(
                "client-credentials login needs your My Domain in `domain` "
                '(for example "acme.my"), not "login" or "test"'
            )
        return self

    @property
    def method(self) -> Literal["jwt", "password", "session", "client_credentials", "none"]:
        if self.client_id and self.username and (self.private_key or self.private_key_file):
            return "jwt"
        if self.username and self.password and self.security_token is not None:
            return "password"
        if self.session_id and self.instance_url:
            return "session"
        if self.client_id and self.client_secret:
            return "client_credentials"
        return "none"


class SalesforceConfig(ConnectorConfig):
    object: Literal["Lead"] = "Lead"
    external_id_field: str = "LeadSync_Id__c"
    # Text(200), External ID, Unique, on Task: the follow-up task's idempotency key.
    task_key_field: str = "LeadSync_Key__c"
    # Text(200), External ID, Unique, on CampaignMember: one member per campaign and lead.
    member_key_field: str = "LeadSync_Key__c"
    # A new lead whose email a Contact already has updates that Contact, not a new Lead.
    attach_to_contacts: bool = True
    # A push with at least this many leads to write goes through Bulk API 2.0 (0: never),
    # in jobs of up to bulk_job_records; its status is asked every bulk_poll_seconds, for
    # at most bulk_deadline_seconds (then its records wait in the outbox for the next run).
    bulk_threshold: int = Field(10_000, ge=0)
    bulk_job_records: int = Field(50_000, ge=1, le=150_000)
    bulk_poll_seconds: float = Field(5.0, ge=0)
    bulk_deadline_seconds: float = Field(1800.0, gt=0)
    # Who assigns new and updated Leads. Unset: leadsync routes, and every request says
    # `Sforce-Auto-Assign: FALSE` so that the org's active assignment rule does not
    # overwrite the owner leadsync chose. An AssignmentRule id (01Q...): that rule runs
    # on every Lead leadsync writes ("TRUE": the org's active rule).
    assignment_rule: str | None = None
    # Reading back what sales changed starts this long before the previous read began, for
    # records whose commit came after their SystemModstamp (long transactions).
    changes_overlap_seconds: float = Field(300.0, ge=0)
    # The REST API version; unset, the one simple-salesforce is built for.
    api_version: str = DEFAULT_API_VERSION
    batch_size: int = Field(200, ge=1, le=200)
    timeout_seconds: float = Field(30.0, gt=0)
    # Send every request to this emulator URL instead of Salesforce (demo, tests).
    sandbox_url: str | None = None
    auth: SalesforceAuth


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
    session = requests.Session()
    # Sent with every request: the org's assignment rule runs only when the admin says so.
    session.headers["Sforce-Auto-Assign"] = config.assignment_rule or "FALSE"
    transport = _Transport(config.timeout_seconds, counter, config.sandbox_url, quota or ApiQuota())
    session.mount("https://", transport)
    session.mount("http://", transport)
    auth = config.auth
    common: dict[str, Any] = {"version": config.api_version, "session": session}
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
