"""Reading HubSpot objects modified since a cursor: missing none, repeating none.

The search API answers at most 10,000 results per query, and paging by offset
through a list that changes under it skips records (an object modified mid-read
moves to the end and every later one shifts back a place). So each page is a
fresh query for objects modified at or after the last time seen: the window
moves with the read, never reaches the cap, and an object modified mid-read is
found again at its new time.

Objects that commit late, or share the cursor's exact millisecond, are caught
by starting each read ``overlap`` before the cursor; the cursor keeps the
(id, modified time) of every object read within that overlap, so an object is
never read twice at the same version. The source (contacts) and the
destination's read-back of what sales did (contacts, tasks) both read this way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hubspot.crm.contacts import PublicObjectSearchRequest as ContactSearch
from hubspot.crm.objects.tasks import PublicObjectSearchRequest as TaskSearch

from leadsync.connectors.base import CrmChange
from leadsync.connectors.hubspot.client import HubSpotApi
from leadsync.errors import ConnectorError
from leadsync.mapping.lead import iso_utc

SEARCH_PAGE = 200  # the search API's largest page
SEARCH_CAP = 10_000
MODIFIED = {"contacts": "lastmodifieddate", "tasks": "hs_lastmodifieddate"}


def modified_since(
    api: HubSpotApi,
    obj: str,
    properties: list[str],
    cursor: Mapping[str, Any] | None,
    *,
    page_size: int = SEARCH_PAGE,
    overlap_seconds: float = 300.0,
    start_ms: int = 0,
) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """(objects, cursor) a page at a time; each object is HubSpot's ``{id, properties}``,
    and each cursor holds once its page is processed."""
    modified = MODIFIED[obj]
    overlap = int(overlap_seconds * 1000)
    since = int(cursor["since_ms"]) if cursor else start_ms
    seen: dict[str, int] = {k: int(v) for k, v in (cursor or {}).get("seen", {}).items()}
    lower, after = max(since - overlap, 0), 0
    limit = min(page_size, SEARCH_PAGE)
    wanted = sorted({*properties, modified})
    while True:
        if after + limit > SEARCH_CAP:
            raise ConnectorError(
                f"more than {SEARCH_CAP} {obj} share the modification time {iso(lower)}: "
                "HubSpot's search cannot page through them"
            )
        answer = _search(api, obj, wanted, lower, limit, after)
        found, last = [], None
        for item in answer.get("results") or []:
            props = item.get("properties") or {}
            last = ms(props.get(modified)) or ms(item.get("updatedAt")) or 0
            if seen.get(str(item["id"]), -1) >= last:
                continue  # this version (or a newer one) was read already
            seen[str(item["id"])] = last
            found.append(item)
        if last is not None:
            since = max(since, last)
        seen = {k: v for k, v in seen.items() if v >= since - overlap}
        yield found, {"since_ms": since, "seen": dict(seen)}
        if not (answer.get("paging") or {}).get("next"):
            return
        if last is not None and last > lower:
            lower, after = last, 0  # the window moves on
        else:
            after += limit  # a whole page at one instant: page through the tie


def _search(
    api: HubSpotApi, obj: str, properties: list[str], lower: int, limit: int, after: int
) -> Any:
    model, method = (
        (ContactSearch, api.crm.contacts.search_api.do_search)
        if obj == "contacts"
        else (TaskSearch, api.crm.objects.tasks.search_api.do_search)
    )
    request = model(
        filter_groups=[
            {"filters": [{"propertyName": MODIFIED[obj], "operator": "GTE", "value": str(lower)}]}
        ],
        sorts=[{"propertyName": MODIFIED[obj], "direction": "ASCENDING"}],
        properties=properties,
        limit=limit,
        after=str(after) if after else None,
    )
    return api.json(f"{obj}_search", method, request, attempts=5)


def ms(value: Any) -> int | None:
    """Epoch milliseconds of an ISO 8601 datetime or an epoch-milliseconds string."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return ms_of(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def ms_of(when: datetime | None) -> int:
    if when is None:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1000)


def iso(millis: int) -> str:
    return iso_utc(datetime.fromtimestamp(millis / 1000, UTC), "milliseconds")


# What sales does that leadsync reads back ([feedback]).
CONTACT_FEEDBACK = ("hs_lead_status", "lifecyclestage", "hubspot_owner_id")
TASK_FEEDBACK = ("hs_task_status", "hubspot_owner_id")


def sales_changes(
    api: HubSpotApi,
    cursor: Mapping[str, Any] | None,
    *,
    lead_key: str,
    task_key: str,
    lead_fields: Sequence[str],
) -> Iterator[tuple[list[CrmChange], dict[str, Any]]]:
    """Contacts whose status, stage or owner may have changed, then tasks (completed or
    not), modified since the cursor: the same moving window as the source reads."""
    position = dict(cursor or {})
    reads = (
        ("contacts", "lead", lead_key, (*CONTACT_FEEDBACK, *lead_fields)),
        ("tasks", "task", task_key, TASK_FEEDBACK),
    )
    for obj, kind, key_prop, wanted in reads:
        pages = modified_since(api, obj, [key_prop, *wanted], position.get(obj))
        for items, obj_cursor in pages:
            position[obj] = obj_cursor
            changes = []
            for item in items:
                props = item.get("properties") or {}
                at = ms(props.get(MODIFIED[obj]))
                fields = {p: props.get(p) for p in wanted}
                if kind == "task":
                    fields["completed"] = props.get("hs_task_status") == "COMPLETED"
                changes.append(
                    CrmChange(
                        kind=kind,
                        crm_id=str(item["id"]),
                        key=props.get(key_prop),
                        fields=fields,
                        at=datetime.fromtimestamp(at / 1000, UTC) if at else None,
                    )
                )
            yield changes, dict(position)
