"""The Marketo connector: a source of leads and their activities."""

from leadsync.connectors.marketo.source import MarketoSource

__all__ = ["MarketoSource"]
