"""The Salesforce connector's options (`[crm]` with `type = "salesforce"`): the org, the
fields leadsync keys its records by, bulk and assignment settings, and the login."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from leadsync.connectors.base import ConnectorConfig


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
    # 10,000: a job's records, their CSV and its results are held at once (50,000 took
    # a first sync of 100,000 leads to 604 MiB, 10,000 to 232 MiB), for 6 requests a job.
    bulk_job_records: int = Field(10_000, ge=1, le=150_000)
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
    api_version: str | None = None
    batch_size: int = Field(200, ge=1, le=200)
    timeout_seconds: float = Field(30.0, gt=0)
    # Send every request to this emulator URL instead of Salesforce (demo, tests).
    sandbox_url: str | None = None
    auth: SalesforceAuth
