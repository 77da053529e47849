"""The HubSpot connector's options: the portal connection both sides share (token,
pacing), the source's (what to read) and the destination's (the key properties)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, SecretStr, field_validator

from leadsync.connectors.base import ConnectorConfig

MAX_BATCH = 100  # HubSpot's limit for one batch request


class HubSpotAuth(ConnectorConfig):
    # A private app's access token, with the scopes listed in config.example.toml.
    access_token: SecretStr


class HubSpotConnection(ConnectorConfig):
    """Options shared by the HubSpot source and destination."""

    auth: HubSpotAuth
    # The portal's limit per rolling 10 seconds (100 on Free/Starter, 190 on
    # Professional/Enterprise), and the share of it leadsync may use: other
    # integrations on the same portal need the rest.
    rate_limit_per_10s: int = Field(100, ge=1)
    rate_limit_share: float = Field(0.9, gt=0, le=1)
    search_per_second: float = Field(4.0, gt=0)
    timeout_seconds: float = Field(30.0, gt=0)
    # Send every request to this emulator URL instead of api.hubapi.com (demo, tests).
    sandbox_url: str | None = None


class HubSpotSourceConfig(HubSpotConnection):
    # Read contacts modified from this time on (ISO 8601) on the first run; all when unset.
    start_date: datetime | None = None
    # How far before the cursor each read starts, for records HubSpot commits late.
    overlap_seconds: float = Field(300.0, ge=0)
    # Contact activity (forms, email opens and clicks, visits) as leadsync events.
    activity_events: bool = True
    # Properties to read beyond those the field map names.
    properties: list[str] = Field(default_factory=list)


class HubSpotDestinationConfig(HubSpotConnection):
    # A contact property with unique values (single-line text) holding leadsync's lead key.
    id_property: str = "leadsync_id"
    # A contact HubSpot holds under the same email becomes the lead's contact.
    adopt_by_email: bool = True
    # A task property with unique values holding the follow-up task's key.
    task_key_property: str = "leadsync_key"
    batch_size: int = Field(MAX_BATCH, ge=1, le=MAX_BATCH)

    @field_validator("id_property")
    @classmethod
    def _not_email(cls, value: str) -> str:
        if value.lower() == "email":
            raise ValueError(
                "id_property holds leadsync's own lead key, so it cannot be email: create a "
                "unique property (leadsync_id); contacts HubSpot holds under the same email "
                "are matched by email anyway (adopt_by_email)"
            )
        return value
