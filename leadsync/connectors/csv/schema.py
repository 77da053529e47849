"""A CSV file's schema: the column names of its header line."""

from __future__ import annotations

from leadsync.connectors.csv.client import BOM
from leadsync.errors import ConnectorError


def header(values: list[str], where: str, file: str) -> list[str]:
    """The column names; two columns of one name are refused (the later would win)."""
    names = [c.strip().lstrip(BOM.decode("utf-8")) for c in values]
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name in seen:
            raise ConnectorError(
                f"{where}: the header of {file} names {name!r} twice (columns {seen[name]} "
                f"and {i}): rename one, or drop it from the export"
            )
        seen[name] = i
    return names
