"""The connector registry: a connector is found by its name among the built-ins, else
in the entry-point group ``leadsync.connectors``, loaded lazily, so that a third party
can ship one as its own package."""

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
    names = [f"{kind}.{role}", kind] if role else [kind]
    builtin = next((_BUILTINS[n] for n in names if n in _BUILTINS), None)
    if builtin is not None:
        # Found without scanning every installed package's entry points (a sync's start-up).
        module, _, attr = builtin.partition(":")
        cls = getattr(import_module(module), attr)
    else:
        found = {ep.name: ep for ep in entry_points(group=GROUP)}
        name = next((n for n in names if n in found), None)
        if name is None:
            known = sorted({n.split(".")[0] for n in set(found) | set(_BUILTINS)})
            raise ConfigError(f"unknown connector type {kind!r} (known: {', '.join(known)})")
        cls = found[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(f"connector {kind!r} ({cls!r}) is not a leadsync Connector")
    return cls
