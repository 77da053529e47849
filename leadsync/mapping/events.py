"""Events from source records: a form submission, an activity, with a stable key.

A source whose records are things people did says so in its ``event`` table::

    [sources.web_forms.event]
    type = "form_submit"          # or type_from = "Last Activity"
    at = "Submitted At"           # ISO 8601, epoch seconds or milliseconds
    attributes = { form = "Form Name", source = "Lead Source" }

Each record gives at most one event, keyed ``<source>:<record key>``, so that a
record read twice is one event. A time that does not parse leaves the event
without a time (its raw text kept in the attributes): the lead is not held back
for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from leadsync.mapping.transforms import TransformFailed, compile_transform
from leadsync.settings import EventSection

_parse_date = compile_transform("parse_date")


@dataclass(frozen=True)
class EventMap:
    source: str
    spec: EventSection

    def columns(self) -> set[str]:
        named = {self.spec.type_from, self.spec.at} - {None}
        return {c for c in named if c} | set(self.spec.attributes.values())

    def event(self, record_key: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        kind = self.spec.type or data.get(self.spec.type_from or "")
        if not kind:
            return None  # no activity named in this record: no event
        attributes = {name: data.get(col) for name, col in self.spec.attributes.items()}
        at = None
        if self.spec.at and data.get(self.spec.at):
            try:
                parsed = _parse_date(data[self.spec.at])
            except TransformFailed:
                attributes["at_raw"] = data[self.spec.at]
            else:
                at = (
                    parsed
                    if isinstance(parsed, datetime)
                    else (
                        datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
                        if isinstance(parsed, date)
                        else None
                    )
                )
        return {
            "key": f"{self.source}:{record_key}",
            "type": str(kind).strip(),
            "at": at,
            "attributes": attributes,
        }
