"""The HubSpot marketing source: contacts changed since the cursor, and what they did.

Contacts are read through the CRM search API with only the properties the
mapping asks for, in a moving window over ``lastmodifieddate`` that misses
none and repeats none (see ``changes.py``). Activity the portal keeps on the
contact (last form submission, email open and click, site visit) becomes
leadsync events, keyed by contact, kind and time. Datetimes arrive as ISO
strings or epoch milliseconds depending on the property: both become ISO 8601
UTC; date properties stay dates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from leadsync.connectors.base import Page, RawRecord, Source, content_hash
from leadsync.connectors.hubspot.changes import MODIFIED, iso, modified_since, ms, ms_of
from leadsync.connectors.hubspot.client import HubSpotApi
from leadsync.connectors.hubspot.config import HubSpotSourceConfig
from leadsync.connectors.hubspot.schema import field_type

# Contact properties that say when someone last did something: event type, time, attributes.
ACTIVITY = {
    "form_submit": ("recent_conversion_date", {"form": "recent_conversion_event_name"}),
    "email_open": ("hs_email_last_open_date", {}),
    "email_click": ("hs_email_last_click_date", {}),
    "page_view": ("hs_analytics_last_visit_timestamp", {}),
}


class HubSpotSource(Source):
    kind = "hubspot"
    offers = "the portal's contact properties"
    Config = HubSpotSourceConfig
    config: HubSpotSourceConfig

    _api: HubSpotApi | None = None
    _types: dict[str, str] | None = None

    @property
    def api(self) -> HubSpotApi:
        if self._api is None:
            self._api = HubSpotApi(self.config, self.calls)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def check(self) -> list[str]:
        return self.problems_asking(self.types)

    def columns(self) -> list[str] | None:
        return sorted(self.types())

    def types(self) -> dict[str, str]:
        """Each contact property's type (string, datetime, date, ...), asked once."""
        if self._types is None:
            answer = self.api.call(
                "properties", self.api.crm.properties.core_api.get_all, "contacts", attempts=5
            )
            self._types = {p.name: field_type(p.to_dict()) for p in answer.results}
        return self._types

    def properties(self) -> list[str]:
        """What each search asks for: the mapped properties and the activity ones, no more."""
        wanted = set(self.wanted) | set(self.config.properties) | {MODIFIED["contacts"], "email"}
        if self.config.activity_events:
            for at, attributes in ACTIVITY.values():
                wanted |= {at, *attributes.values()}
        known = self.types()
        return sorted(p for p in wanted if p in known)

    def read(self, cursor: Mapping[str, Any] | None, page_size: int) -> Iterator[Page]:
        start = self.config.start_date
        pages = modified_since(
            self.api,
            "contacts",
            self.properties(),
            cursor,
            page_size=page_size,
            overlap_seconds=self.config.overlap_seconds,
            start_ms=ms_of(start) if start else 0,
        )
        for contacts, position in pages:
            records = [self._record(str(c["id"]), c.get("properties") or {}) for c in contacts]
            yield Page(records=records, cursor=position)

    def _record(self, contact_id: str, props: Mapping[str, Any]) -> RawRecord:
        types = self.types()
        data = {k: _value(types.get(k, "string"), v) for k, v in props.items()}
        content = {k: v for k, v in data.items() if k != MODIFIED["contacts"]}
        return RawRecord(
            ref=f"contact {contact_id}",
            data=data,
            external_id=contact_id,
            content_hash=content_hash([f"{k}={content[k]}" for k in sorted(content)]),
            events=self._events(contact_id, data) if self.config.activity_events else (),
        )

    def _events(self, contact_id: str, data: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        events = []
        for kind, (at_prop, attributes) in ACTIVITY.items():
            millis = ms(data.get(at_prop))
            if millis is None:
                continue
            when = datetime.fromtimestamp(millis / 1000, UTC)
            events.append(
                {
                    "key": f"{contact_id}:{kind}:{millis}",
                    "type": kind,
                    "at": when,
                    "attributes": {name: data.get(p) for name, p in attributes.items()},
                }
            )
        return tuple(events)


def _value(kind: str, value: Any) -> Any:
    """HubSpot's text as leadsync reads it: datetimes in ISO 8601 UTC whichever way they came
    (ISO or epoch milliseconds), dates as dates, the rest as sent."""
    if value in (None, ""):
        return None
    if kind == "datetime":
        millis = ms(value)
        return iso(millis) if millis is not None else value
    if kind == "date":
        text = str(value)
        if text.isdigit():  # epoch milliseconds at midnight UTC
            return datetime.fromtimestamp(int(text) / 1000, UTC).date().isoformat()
        return text[:10]
    return value
