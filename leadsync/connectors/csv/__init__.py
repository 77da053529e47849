"""CSV and other delimited exports as a lead source."""

from leadsync.connectors.csv.connector import CsvSource

__all__ = ["CsvSource"]
