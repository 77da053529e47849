"""HubSpot both ways: contacts and their activity as a source, the CRM as a destination."""

from leadsync.connectors.hubspot.destination import HubSpotDestination
from leadsync.connectors.hubspot.source import HubSpotSource

__all__ = ["HubSpotDestination", "HubSpotSource"]
