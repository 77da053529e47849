"""The forms inbox's options (`[sources.X]` with `type = "webhook"`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from leadsync.connectors.base import ConnectorConfig

FORMATS = ("generic", "webflow", "typeform")


class WebhookConfig(ConnectorConfig):
    # The shared secret the sender signs with: `${FORMS_SECRET}`, never the value itself.
    secret: SecretStr
    # Whose body and signature scheme: leadsync's own, Webflow's form_submission,
    # Typeform's form_response.
    format: Literal["generic", "webflow", "typeform"] = "generic"
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=10 * 1024 * 1024)
    # A signed time further than this from now is refused (a replayed request).
    tolerance_seconds: int = Field(300, ge=30, le=3600)
