"""The HubSpot CRM v3 emulator."""

from leadsync.sandbox.hubspot.app import DEMO_TOKEN, HubSpotEmulator, RateLimits
from leadsync.sandbox.hubspot.store import Store

__all__ = ["DEMO_TOKEN", "HubSpotEmulator", "RateLimits", "Store"]
