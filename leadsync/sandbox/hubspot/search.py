"""The HubSpot emulator's search (``POST /crm/v3/objects/{obj}/search``) and list pages,
with HubSpot's own limits: 200 a page, no paging past 10,000 results."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from leadsync.sandbox.hubspot.schema import CREATED, MODIFIED
from leadsync.sandbox.hubspot.values import HubSpotError, to_ms

MAX_SEARCH_RESULTS = 10_000


class Search:
    """HubSpot's search and list APIs over the emulator's records: filter groups, one
    sort, limits, paging."""

    objects: dict[str, dict[str, dict[str, Any]]]
    associations: Any
    lock: Any
    _order: Any
    definitions: Any

    def search(self, obj: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/objects/{obj}/search``: filter groups (OR of ANDs), one sort,
        ``limit`` up to 200, ``after`` as an offset, and no paging past 10,000 results."""
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        if limit > 200:
            raise HubSpotError(400, "VALIDATION_ERROR", f"limit must be at most 200, got {limit}")
        if after + limit > MAX_SEARCH_RESULTS:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                "The search API returns at most 10,000 results per query; narrow the filters "
                f"(after={after}, limit={limit})",
            )
        groups = body.get("filterGroups") or []
        for group in groups:
            for f in group.get("filters") or []:
                if not f.get("propertyName") or not f.get("operator"):
                    raise HubSpotError(
                        400,
                        "VALIDATION_ERROR",
                        "Invalid input JSON on line 1: each filter needs propertyName and operator",
                    )
        if len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups):
            raise HubSpotError(
                400, "VALIDATION_ERROR", "At most 5 filterGroups of at most 6 filters each"
            )
        sorts = body.get("sorts") or []
        sort = sorts[0] if sorts else None
        name = (sort if isinstance(sort, str) else (sort or {}).get("propertyName")) or ""
        descending = isinstance(sort, dict) and sort.get("direction") == "DESCENDING"
        with self.lock:
            if name == MODIFIED[obj] and not descending:
                # The common incremental read: walk the records in modification order
                # from the lower bound, instead of sorting them all for every page.
                order = self._modified_order(obj)
                start = bisect.bisect_left(order, (_lower_bound(obj, groups), -1, ""))
                candidates = [(rid, self.objects[obj][rid]) for _, _, rid in order[start:]]
                presorted = True
            else:
                candidates = list(self.objects[obj].items())
                presorted = False
            if presorted and _only_lower_bound(obj, groups):
                found = candidates  # the bound is all there is, and bisect applied it
            else:
                found = [
                    (rid, r)
                    for rid, r in candidates
                    if not groups or any(self._matches(obj, r, g["filters"]) for g in groups)
                ]
        if not presorted and name:
            found.sort(
                key=lambda pair: (self._sortable(obj, name, pair[1]), int(pair[0])),
                reverse=descending,
            )
        elif not presorted:
            found.sort(key=lambda pair: int(pair[0]))
        wanted = list(body.get("properties") or []) or ["email", "firstname", "lastname"]
        wanted += ["hs_object_id", CREATED[obj], MODIFIED[obj]]
        page = found[after : after + limit]
        results = []
        for rid, record in page:
            props = record["properties"]
            results.append(
                {
                    "id": rid,
                    "properties": {k: props.get(k) for k in dict.fromkeys(wanted)},
                    "createdAt": record["createdAt"],
                    "updatedAt": record["updatedAt"],
                    "archived": False,
                }
            )
        out: dict[str, Any] = {"total": len(found), "results": results}
        if after + limit < len(found):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return out

    def page(
        self, obj: str, properties: list[str], limit: int, after: str | None
    ) -> dict[str, Any]:
        """One page of the list endpoint: records in id order from ``after`` (an id)."""
        with self.lock:
            ids = sorted(int(rid) for rid in self.objects[obj])
            start = bisect.bisect_left(ids, int(after)) if after else 0
            chosen = ids[start : start + limit]
            wanted = [*properties, "hs_object_id", CREATED[obj], MODIFIED[obj]]
            results = []
            for rid in map(str, chosen):
                record = self.objects[obj][rid]
                results.append(
                    {
                        "id": rid,
                        "properties": {
                            k: record["properties"].get(k) for k in dict.fromkeys(wanted)
                        },
                        "createdAt": record["createdAt"],
                        "updatedAt": record["updatedAt"],
                        "archived": False,
                    }
                )
        out: dict[str, Any] = {"results": results}
        if start + limit < len(ids):
            out["paging"] = {"next": {"after": str(ids[start + limit])}}
        return out

    def _modified_order(self, obj: str) -> list[tuple[int, int, str]]:
        """(modified ms, numeric id, id) of every record, sorted; rebuilt after writes."""
        if self._order.get(obj) is None:
            self._order[obj] = sorted(
                (r["_ms"], int(rid), rid) for rid, r in self.objects[obj].items()
            )
        return self._order[obj]  # type: ignore[return-value]

    def _matches(self, obj: str, record: Mapping[str, Any], filters: list[Any]) -> bool:
        props = record["properties"]
        for f in filters:
            name, op = f.get("propertyName"), f.get("operator", "EQ")
            if name == "associations.contact":  # a task's contacts, as HubSpot's search has
                linked = set(self.associations.get(str(props.get("hs_object_id")), []))
                wanted = {str(v) for v in (f.get("values") or [f.get("value")])}
                if not (linked & wanted if op in ("EQ", "IN") else not linked & wanted):
                    return False
                continue
            have = props.get(name)
            if op == "HAS_PROPERTY":
                ok = have not in (None, "")
            elif op == "NOT_HAS_PROPERTY":
                ok = have in (None, "")
            elif have in (None, ""):
                ok = op == "NEQ"
            elif op == "IN":
                ok = _cmp_key(self, obj, name, have) in {
                    _cmp_key(self, obj, name, v) for v in f.get("values") or []
                }
            else:
                # The modification time is kept as a number too: searches filter on it most.
                a = record["_ms"] if name == MODIFIED[obj] else _cmp_key(self, obj, name, have)
                b = _cmp_key(self, obj, name, f.get("value", ""))
                ok = {
                    "EQ": a == b,
                    "NEQ": a != b,
                    "LT": a < b,
                    "LTE": a <= b,
                    "GT": a > b,
                    "GTE": a >= b,
                }.get(op, False)
            if not ok:
                return False
        return True

    def _sortable(self, obj: str, name: str, record: Mapping[str, Any]) -> Any:
        if name == MODIFIED[obj]:
            return (True, record["_ms"])
        value = record["properties"].get(name)
        return (value is not None, _cmp_key(self, obj, name, value) if value else 0)


def _lower_bound(obj: str, groups: list[Any]) -> int:
    """The least modification time any filter group lets through (0 when one has no bound)."""
    bounds = []
    for group in groups or [{"filters": []}]:
        found = [
            to_ms(f.get("value", "0"))
            for f in group.get("filters") or []
            if f.get("propertyName") == MODIFIED[obj] and f.get("operator") in ("GT", "GTE", "EQ")
        ]
        bounds.append(max(found) if found else 0)
    return min(bounds)


def _only_lower_bound(obj: str, groups: list[Any]) -> bool:
    """True for the incremental read's query: one group, one GTE on the modification time."""
    if len(groups) != 1 or len(groups[0].get("filters") or []) != 1:
        return False
    f = groups[0]["filters"][0]
    return bool(f.get("propertyName") == MODIFIED[obj] and f.get("operator") == "GTE")


def _cmp_key(store: Search, obj: str, name: str, value: Any) -> Any:
    """How HubSpot compares a property: datetimes as instants, numbers as numbers,
    text case-insensitively."""
    spec = store.definitions[obj].get(name) or {"type": "string"}
    text = str(value)
    if spec["type"] in ("datetime", "date"):
        return to_ms(text)
    if spec["type"] == "number":
        return float(text)
    return text.lower()
