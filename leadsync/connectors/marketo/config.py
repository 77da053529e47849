"""The Marketo source's options: where the instance is, its API user's credentials, what
to read, and the share of Marketo's limits leadsync may use."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field, SecretStr, model_validator

from leadsync.connectors.base import ConnectorConfig


class MarketoSourceConfig(ConnectorConfig):
    # The instance: its Munchkin id (123-ABC-456, Admin > Web Services), or the REST API's
    # base URL from the same page (an emulator's, in the demo and tests).
    munchkin_id: str | None = None
    base_url: str | None = None
    # A LaunchPoint custom service's credentials; its API user needs the role permissions
    # Read-Only Lead and Read-Only Activity (and Read-Only Assets for Bulk Extract).
    client_id: str
    client_secret: SecretStr
    # First read without a cursor: lead changes and activities from this time on.
    start_date: datetime | None = None
    # First read: every lead created since this day, through Bulk Extract (31-day windows
    # within the day's export quota), and their activities; then lead changes from then on.
    backfill_from: date | None = None
    # Activities as leadsync events: forms, web visits, email opens and clicks and
    # interesting moments always; more types by their Marketo names.
    activity_events: bool = True
    activity_types: list[str] = Field(default_factory=list)
    # Lead fields to read beyond those the field map names.
    fields: list[str] = Field(default_factory=list)
    # Marketo allows 100 calls per 20 s and 10 at once to a subscription; other
    # integrations on the instance need their part.
    rate_limit_per_20s: int = Field(100, ge=1)
    rate_limit_share: float = Field(0.9, gt=0, le=1)
    # How long a 606 (the 20-second limit passed anyway, by another integration) waits.
    rate_limit_wait_seconds: float = Field(20.0, ge=0)
    timeout_seconds: float = Field(30.0, gt=0)
    # How long a Bulk Extract job may take before the read gives up (it resumes next run).
    export_timeout_seconds: float = Field(3600.0, gt=0)
    export_poll_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _one_instance(self) -> MarketoSourceConfig:
        if not (self.munchkin_id or self.base_url):
            raise ValueError("give munchkin_id (Admin > Web Services) or base_url")
        return self

    @property
    def rest_url(self) -> str:
        """The instance's base URL, without a trailing slash or ``/rest``."""
        if self.base_url:
            return self.base_url.rstrip("/").removesuffix("/rest")
        return f"https://{self.munchkin_id}.mktorest.com"
