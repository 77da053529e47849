"""The HubSpot marketing source: contacts changed since the cursor, and what they did.

Contacts are read through the CRM search API, sorted by ``lastmodifieddate``,
with only the properties the mapping asks for. The search API answers at most
10,000 results per query, and paging by offset through a list that changes
under it skips records (a contact modified mid-read moves to the end and every
later one shifts back a place). So each page is a fresh query for contacts
modified at or after the last time seen: the window moves with the read and
never reaches the cap, and a contact modified mid-read is found again at its
new time.

Records that commit late, or share the cursor's exact millisecond, are caught
by starting each read ``overlap_seconds`` before the cursor; the cursor keeps
the (id, modified time) of every contact read within that overlap, so a
contact is never read twice at the same version.

Activity the portal keeps on the contact (last form submission, email open and
click, site visit) becomes leadsync events, keyed by contact, kind and time.
Datetimes arrive as ISO strings or epoch milliseconds depending on the
property: both become ISO 8601 UTC; date properties stay dates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from hubspot.crm.contacts import PublicObjectSearchRequest
from pydantic import Field

from leadsync.connectors.base import Page, RawRecord, Source, content_hash
from leadsync.connectors.hubspot.client import HubSpotApi, HubSpotConnection
from leadsync.connectors.hubspot.schema import field_type
from leadsync.errors import ConnectorError

SEARCH_PAGE = 200  # the search API's largest page
SEARCH_CAP = 10_000
MODIFIED = "lastmodifieddate"
# Contact properties that say when someone last did something: event type, time, attributes.
ACTIVITY = {
    "form_submit": ("recent_conversion_date", {"form": "recent_conversion_event_name"}),
    "email_open": ("hs_email_last_open_date", {}),
    "email_click": ("hs_email_last_click_date", {}),
    "page_view": ("hs_analytics_last_visit_timestamp", {}),
}


class HubSpotSourceConfig(HubSpotConnection):
    # Read contacts modified from this time on (ISO 8601) on the first run; all when unset.
    start_date: datetime | None = None
    # How far before the cursor each read starts, for records HubSpot commits late.
    overlap_seconds: float = Field(300.0, ge=0)
    # Contact activity (forms, email opens and clicks, visits) as leadsync events.
    activity_events: bool = True
    # Properties to read beyond those the field map names.
    properties: list[str] = Field(default_factory=list)


class HubSpotSource(Source):
    kind = "hubspot"
    Config = HubSpotSourceConfig
    config: HubSpotSourceConfig

    _api: HubSpotApi | None = None
    _types: dict[str, str] | None = None
    wanted: frozenset[str] = frozenset()

    @property
    def api(self) -> HubSpotApi:
        if self._api is None:
            self._api = HubSpotApi(self.config, self.calls)
        return self._api

    def want(self, columns: set[str]) -> None:
        self.wanted = frozenset(columns)

    def check(self) -> list[str]:
        try:
            self.types()
        except ConnectorError as exc:
            return [f"sources.{self.name}: {exc}"]
        return []

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
        wanted = set(self.wanted) | set(self.config.properties) | {MODIFIED, "email"}
        if self.config.activity_events:
            for at, attributes in ACTIVITY.values():
                wanted |= {at, *attributes.values()}
        known = self.types()
        return sorted(p for p in wanted if p in known)

    def read(self, cursor: Mapping[str, Any] | None, page_size: int) -> Iterator[Page]:
        properties = self.properties()
        overlap = int(self.config.overlap_seconds * 1000)
        start = self.config.start_date
        since = int(cursor["since_ms"]) if cursor else (_ms_of(start) if start else 0)
        seen: dict[str, int] = {k: int(v) for k, v in (cursor or {}).get("seen", {}).items()}
        lower, after = max(since - overlap, 0), 0
        limit = min(page_size, SEARCH_PAGE)
        while True:
            if after + limit > SEARCH_CAP:
                raise ConnectorError(
                    f"more than {SEARCH_CAP} contacts share the modification time "
                    f"{_iso(lower)}: HubSpot's search cannot page through them"
                )
            answer = self._search(properties, lower, limit, after)
            records, last = [], None
            for contact in answer.get("results") or []:
                props = contact.get("properties") or {}
                last = _ms(props.get(MODIFIED)) or _ms(contact.get("updatedAt")) or 0
                if seen.get(str(contact["id"]), -1) >= last:
                    continue  # this version (or a newer one) was read already
                seen[str(contact["id"])] = last
                records.append(self._record(str(contact["id"]), props))
            if last is not None:
                since = max(since, last)
            seen = {k: v for k, v in seen.items() if v >= since - overlap}
            yield Page(records=records, cursor={"since_ms": since, "seen": dict(seen)})
            if not (answer.get("paging") or {}).get("next"):
                return
            if last is not None and last > lower:
                lower, after = last, 0  # the window moves on
            else:
                after += limit  # a whole page at one instant: page through the tie

    def _search(self, properties: list[str], lower: int, limit: int, after: int) -> Any:
        request = PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": MODIFIED, "operator": "GTE", "value": str(lower)}]}
            ],
            sorts=[{"propertyName": MODIFIED, "direction": "ASCENDING"}],
            properties=properties,
            limit=limit,
            after=str(after) if after else None,
        )
        return self.api.json(
            "contacts_search", self.api.crm.contacts.search_api.do_search, request, attempts=5
        )

    def _record(self, contact_id: str, props: Mapping[str, Any]) -> RawRecord:
        types = self.types()
        data = {k: _value(types.get(k, "string"), v) for k, v in props.items()}
        content = {k: v for k, v in data.items() if k != MODIFIED}
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
            ms = _ms(data.get(at_prop))
            if ms is None:
                continue
            when = datetime.fromtimestamp(ms / 1000, UTC)
            events.append(
                {
                    "key": f"{contact_id}:{kind}:{ms}",
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
        ms = _ms(value)
        return _iso(ms) if ms is not None else value
    if kind == "date":
        text = str(value)
        if text.isdigit():  # epoch milliseconds at midnight UTC
            return datetime.fromtimestamp(int(text) / 1000, UTC).date().isoformat()
        return text[:10]
    return value


def _ms(value: Any) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return _ms_of(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _ms_of(when: datetime | None) -> int:
    if when is None:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ms % 1000:03d}Z"
    )
