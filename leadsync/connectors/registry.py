"""The connector registry: a connector is found by its name in the entry-point group
``leadsync.connectors`` (the built-ins register themselves there too), loaded lazily, so
that a third party can ship one as its own package."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from leadsync.connectors.base import Connector
from leadsync.errors import ConfigError

GROUP = "leadsync.connectors"
_BUILTINS = {
    "csv": "leadsync.connectors.csv:CsvSource",
    "salesforce": "leadsync.connectors.salesforce:SalesforceDestination",
    "hubspot.source": "leadsync.connectors.hubspot:HubSpotSource",
    "hubspot.destination": "leadsync.connectors.hubspot:HubSpotDestination",
    "webhook": "leadsync.connectors.webhook:WebhookSource",
}


def connector_class(kind: str, role: str | None = None) -> type[Connector]:
    """The connector registered under ``kind``; an unknown name lists the known ones.

    A system that is both a source and a CRM (HubSpot) registers ``kind.source``
    and ``kind.destination``; ``role`` picks one, so that both are ``type = "kind"``."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    names = [f"{kind}.{role}", kind] if role else [kind]
    for name in names:
        if name in found:
            cls = found[name].load()
            break
        if name in _BUILTINS:
            # Running from a source tree that was never installed: the built-ins still work.
            module, _, attr = _BUILTINS[name].partition(":")
            cls = getattr(import_module(module), attr)
            break
    else:
        known = sorted({n.split(".")[0] for n in set(found) | set(_BUILTINS)})
        raise ConfigError(f"unknown connector type {kind!r} (known: {', '.join(known)})")
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(f"connector {kind!r} ({cls!r}) is not a leadsync Connector")
    return cls
