"""The Marketo source: leads that changed since the cursor, what they did, and the leads
merged or deleted, each read once.

Marketo's activity log is read through paging tokens, one stream each: the activities
(forms, web visits, email opens and clicks, interesting moments, merges and the types
the admin names; at most 10 type ids a call, so more types are more streams), then
lead changes (new leads and changes of the mapped fields), then deleted leads. A page
of activities becomes partial records: each lead's id with its activities of the page
as events, keyed by Marketo's activity id; the pipeline reads whole (``complete``) only
the leads it does not know yet, 300 ids a call. A page of lead changes is read whole.
The cursor holds each stream's token: a page committed is never read again, and a crash
reads again only what was not committed.

The first read starts at ``start_date``, or, with ``backfill_from``, takes the leads and
activities since then through Bulk Extract first (see ``extract.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from leadsync.connectors.base import Page, RawRecord, Source, content_hash
from leadsync.connectors.marketo.client import MOST_PAGES, MarketoApi
from leadsync.connectors.marketo.config import MarketoSourceConfig
from leadsync.connectors.marketo.schema import (
    activity_types,
    attribute,
    event_of,
    event_types,
    lead_fields,
)
from leadsync.errors import ConnectorError

MAX_BATCH = 300  # activities and leads a call
MAX_TYPES = 10  # activity type ids a call
PATHS = {
    "lead_changes": "/rest/v1/activities/leadchanges.json",
    "deleted_leads": "/rest/v1/activities/deletedleads.json",
    "activities": "/rest/v1/activities.json",
}
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class MarketoSource(Source):
    kind = "marketo"
    offers = "Marketo's lead fields"
    Config = MarketoSourceConfig
    config: MarketoSourceConfig

    _fields: dict[str, str] | None = None
    _types: dict[str, int] | None = None
    _events: dict[int, str] | None = None

    @cached_property
    def api(self) -> MarketoApi:
        """The session, made at the first call (a config check alone makes none)."""
        return MarketoApi(self.config, self.calls)

    def close(self) -> None:
        api = self.__dict__.pop("api", None)
        if api is not None:
            api.close()

    def what_maps(self) -> Any:
        # Where the instance is, its credentials, pacing and polling change no record.
        what = {"start_date", "backfill_from", "activity_events", "activity_types", "fields"}
        return self.config.model_dump(mode="json", include=what)

    def check(self) -> list[str]:
        return self.problems_asking(self.fields, self.event_types)

    def columns(self) -> list[str] | None:
        return sorted(self.fields())

    # -- what the instance holds --------------------------------------------------

    def fields(self) -> dict[str, str]:
        """Each lead field's REST name and data type, asked once."""
        if self._fields is None:
            answer = self.api.get("describe", "/rest/v1/leads/describe.json", {})
            self._fields = lead_fields(answer)
        return self._fields

    def type_ids(self) -> dict[str, int]:
        """Each activity type's id by its name, asked once."""
        if self._types is None:
            answer = self.api.get("types", "/rest/v1/activities/types.json", {})
            self._types = activity_types(answer)
        return self._types

    def event_types(self) -> dict[int, str]:
        """The activity type ids read, with the event type each becomes (merges too, to
        follow them); a name the instance does not know is refused with the known ones."""
        if self._events is None:
            self._events = event_types(self.type_ids(), self.config, self.name)
        return self._events

    def read_fields(self) -> list[str]:
        """The lead fields each read asks for: the mapped ones Marketo has, no more."""
        have = self.fields()
        wanted = set(self.wanted) | set(self.config.fields) | {"email"}
        return sorted(f for f in wanted if f in have and f != "id")

    # -- reading ------------------------------------------------------------------

    def read(self, cursor: Mapping[str, Any] | None, page_size: int) -> Iterator[Page]:
        size = max(1, min(page_size, MAX_BATCH))
        if cursor is None and self.config.backfill_from is not None:
            cursor = {"backfill": {"from": self.config.backfill_from.isoformat()}}
        if cursor is not None and "backfill" in cursor:
            from leadsync.connectors.marketo.extract import Backfill

            cursor = yield from Backfill(self, cursor["backfill"], size).pages()
        since = cursor["since"] if cursor else (self.config.start_date or EPOCH).isoformat()
        tokens = dict(cursor.get("tokens") or {}) if cursor else {}
        start: str | None = None  # a token is a place in the one log: every stream's start
        for stream, types in self.streams():
            if stream not in tokens:
                start = start or self._token_at(since)
                tokens[stream] = start
            for page, token in self._stream(stream, types, tokens[stream], size):
                tokens[stream] = token
                position = {"since": since, "tokens": dict(tokens)}
                yield Page(page.records, position, page.deleted, page.merged)

    def streams(self) -> list[tuple[str, list[int]]]:
        """The token streams a read follows, by name: the activities (10 types a stream),
        lead changes, deleted leads."""
        out: list[tuple[str, list[int]]] = []
        ids = sorted(self.event_types())
        for start in range(0, len(ids), MAX_TYPES):
            group = ids[start : start + MAX_TYPES]
            out.append(("activities:" + ",".join(map(str, group)), group))
        # Activities first: a lead that became hot is decided with what it did, so that
        # the rep's task tells it; the changes then bring the leads that only changed.
        return [*out, ("changes", []), ("deleted", [])]

    def _token_at(self, since: str) -> str:
        answer = self.api.get(
            "paging_token", "/rest/v1/activities/pagingtoken.json", {"sinceDatetime": since}
        )
        return str(answer["nextPageToken"])

    def _stream(
        self, stream: str, types: list[int], token: str, size: int
    ) -> Iterator[tuple[Page, str]]:
        """Each page of one stream, with the token after it, until Marketo has no more."""
        if stream == "changes":
            name, params = "lead_changes", {"fields": ",".join(self.read_fields())}
        elif stream == "deleted":
            name, params = "deleted_leads", {}
        else:
            name, params = "activities", {"activityTypeIds": ",".join(map(str, types))}
        path = PATHS[name]
        for _ in range(MOST_PAGES):
            answer = self.api.get(name, path, {**params, "nextPageToken": token, "batchSize": size})
            token = str(answer.get("nextPageToken") or token)
            activities = answer.get("result") or []
            if stream == "deleted":
                yield Page([], {}, deleted=[str(a["leadId"]) for a in activities]), token
            else:
                yield self.page_of(activities, with_events=stream != "changes"), token
            if not answer.get("moreResult"):
                return
        raise ConnectorError(f"Marketo's {name} went on past {MOST_PAGES} pages; stopped")

    def page_of(self, activities: Sequence[Mapping[str, Any]], *, with_events: bool) -> Page:
        """The leads these activities name, and the merges among them (loser id -> winner
        id). With events: partial records (a lead's id and its activities here), made
        whole only for the leads leadsync does not know yet (``complete``), so that a
        page of activities of known leads costs no call. Without (lead changes): whole
        records, their fields read."""
        kinds = self.event_types() if with_events else {}
        merged: dict[str, str] = {}
        events: dict[str, list[dict[str, Any]]] = {}
        for a in activities:
            who = str(a["leadId"])
            events.setdefault(who, [])
            kind = kinds.get(int(a["activityTypeId"]))
            if kind == "merge":
                for loser in attribute(a, "Merge ids") or []:
                    merged[str(loser)] = who
            elif kind is not None:
                events[who].append(event_of(a, kind))
        if with_events:
            records = [self.partial(who, found) for who, found in events.items()]
        else:
            records = self.whole(list(events), events)
        return Page(records, {}, merged=merged)

    def partial(self, lead_id: str, events: Sequence[Mapping[str, Any]]) -> RawRecord:
        keys = [e["key"] for e in events]
        return RawRecord(
            ref=f"lead {lead_id}",
            data={},
            external_id=lead_id,
            content_hash=content_hash(keys),
            events=tuple(events),
            partial=True,
        )

    def complete(self, records: Sequence[RawRecord]) -> list[RawRecord]:
        """Partial records made whole: their leads' fields read, 300 ids a call. A lead
        Marketo no longer has (deleted, merged away) is left out."""
        events = {str(r.external_id): list(r.events) for r in records}
        return self.whole(list(events), events)

    def whole(
        self, ids: list[str], events: Mapping[str, Sequence[Mapping[str, Any]]]
    ) -> list[RawRecord]:
        fields = self.read_fields()
        records = []
        for start in range(0, len(ids), MAX_BATCH):
            for lead in self.api.leads_by_id(ids[start : start + MAX_BATCH], fields):
                records.append(self.record(lead, events.get(str(lead["id"]), [])))
        return records

    def record(self, lead: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> RawRecord:
        lead_id = str(lead["id"])
        data = {k: v for k, v in lead.items() if k != "id"}
        content = [f"{k}={data[k]}" for k in sorted(data) if k != "updatedAt"]
        return RawRecord(
            ref=f"lead {lead_id}",
            data=data,
            external_id=lead_id,
            content_hash=content_hash([*content, *(e["key"] for e in events)]),
            events=tuple(events),
        )
