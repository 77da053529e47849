"""CSV and other delimited exports as a lead source."""

from leadsync.connectors.csv.source import CsvSource

__all__ = ["CsvSource"]
