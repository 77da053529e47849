"""The CSV source's options (`[sources.X]` with `type = "csv"`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from leadsync.connectors.base import ConnectorConfig


class CsvConfig(ConnectorConfig):
    path: str
    # A last line with no newline yet is taken as still being written (and left for the
    # next read) while the file changed within this many seconds.
    settle_seconds: float = Field(30.0, ge=0)
    encoding: Literal["auto", "utf-8", "utf-8-sig", "latin-1", "cp1252"] = "auto"
    delimiter: str = Field(",", min_length=1, max_length=1)
    null_values: list[str] = Field(default_factory=lambda: [""])
    external_id: str | None = None
