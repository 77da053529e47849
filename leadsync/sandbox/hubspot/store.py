"""The HubSpot emulator's records: contacts and tasks, their properties, lists and associations.

Writes are validated as HubSpot validates them, and a batch is all or nothing:
one bad input refuses the whole request with ``VALIDATION_ERROR`` listing the
invalid property values. Every value is kept as the string HubSpot would
return: datetimes as ISO 8601 with milliseconds (written as ISO or epoch
milliseconds), dates as ``YYYY-MM-DD``, numbers and booleans as text.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadsync.sandbox.hubspot.schema import (
    CREATED,
    LIFECYCLE_STAGES,
    MODIFIED,
    NURTURE_LIST_ID,
    OWNERS,
    PORTAL_ID,
    PROPERTIES,
)
from leadsync.sandbox.hubspot.values import error_code, iso_ms, normalised, to_ms

MAX_SEARCH_RESULTS = 10_000


class HubSpotError(Exception):
    """An answer HubSpot gives instead of a result: status, category, message."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra


@dataclass
class Store:
    data_file: Path | None = None
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"contacts": {}, "tasks": {}}
    )
    # task id -> contact ids
    associations: dict[str, list[str]] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=lambda: {NURTURE_LIST_ID: []})
    next_id: int = 1001
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.definitions = {obj: {p["name"]: p for p in make()} for obj, make in PROPERTIES.items()}
        self.owners = [
            {"id": oid, "email": email, "firstName": first, "lastName": last, "archived": gone}
            for oid, email, first, last, gone in OWNERS
        ]
        if self.data_file and self.data_file.exists():
            saved = json.loads(self.data_file.read_text(encoding="utf-8"))
            self.objects = saved["objects"]
            self.associations = saved["associations"]
            self.lists = saved["lists"]
            self.next_id = saved["next_id"]
        self._unique: dict[tuple[str, str, str], str] = {}
        self._order: dict[str, list[tuple[int, int, str]] | None] = {}
        for obj, records in self.objects.items():
            for rid, record in records.items():
                self._index(obj, rid, record["properties"])

    # -- reading --------------------------------------------------------------

    def get(self, obj: str, rid: str) -> dict[str, Any] | None:
        return self.objects[obj].get(rid)

    def find(self, obj: str, prop: str, value: str) -> str | None:
        """The id of the record whose unique property (or email) holds ``value``."""
        return self._unique.get((obj, prop, _unique_value(prop, value)))

    def all(self, obj: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r, id=rid) for rid, r in self.objects[obj].items()]

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

    # -- writing --------------------------------------------------------------

    def upsert(self, obj: str, inputs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Batch upsert by ``idProperty``: all validated first, then all written."""
        with self.lock:
            plan = []
            for i, item in enumerate(inputs):
                id_prop = item.get("idProperty") or "hs_object_id"
                key = str(item.get("id", ""))
                props = dict(item.get("properties") or {})
                if id_prop == "hs_object_id":
                    rid = key if key in self.objects[obj] else None
                else:
                    if not self._unique_property(obj, id_prop):
                        raise HubSpotError(
                            400,
                            "VALIDATION_ERROR",
                            f"Property {id_prop!r} is not a unique identifier property "
                            f"for {obj}; inputs[{i}].idProperty",
                        )
                    rid = self.find(obj, id_prop, key)
                    props.setdefault(id_prop, key)
                plan.append((rid, self._validated(obj, props, rid)))
            self._check_unique(obj, plan)
            out = []
            for rid, props in plan:
                new = rid is None
                rid = self._write(obj, rid, props)
                out.append(self._public(obj, rid, new=new))
            self._save()
            return out

    def create(self, obj: str, inputs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Batch create with associations; a duplicate unique value refuses the batch (409)."""
        with self.lock:
            plan = []
            for item in inputs:
                props = self._validated(obj, dict(item.get("properties") or {}), None)
                targets = []
                for assoc in item.get("associations") or []:
                    target = str((assoc.get("to") or {}).get("id", ""))
                    if target not in self.objects["contacts"]:
                        raise HubSpotError(
                            400,
                            "VALIDATION_ERROR",
                            f"One or more associations are invalid: contact {target} "
                            "does not exist",
                        )
                    targets.append(target)
                plan.append((None, props, targets))
            self._check_unique(obj, [(rid, props) for rid, props, _ in plan])
            out = []
            for _, props, targets in plan:
                rid = self._write(obj, None, props)
                if targets:
                    self.associations[rid] = targets
                out.append(self._public(obj, rid))
            self._save()
            return out

    def update(self, obj: str, inputs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        with self.lock:
            plan = []
            for item in inputs:
                rid = str(item.get("id", ""))
                if rid not in self.objects[obj]:
                    raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Object not found. objectId={rid}")
                plan.append((rid, self._validated(obj, dict(item.get("properties") or {}), rid)))
            self._check_unique(obj, plan)
            out = [self._public(obj, self._write(obj, rid, props)) for rid, props in plan]
            self._save()
            return out

    def set_list(self, list_id: str, add: Iterable[str], remove: Iterable[str]) -> dict[str, Any]:
        with self.lock:
            if list_id not in self.lists:
                raise HubSpotError(404, "OBJECT_NOT_FOUND", f"List {list_id} does not exist.")
            members = self.lists[list_id]
            added, removed, missing = [], [], []
            for rid in add:
                if rid not in self.objects["contacts"]:
                    missing.append(rid)
                elif rid not in members:
                    members.append(rid)
                    added.append(rid)
            for rid in remove:
                if rid in members:
                    members.remove(rid)
                    removed.append(rid)
            self._save()
            # "recordsIdsAdded" is HubSpot's own spelling.
            return {
                "recordsIdsAdded": added,
                "recordIdsRemoved": removed,
                "recordIdsMissing": missing,
            }

    def put(self, obj: str, props: Mapping[str, Any], *, modified_ms: int | None = None) -> str:
        """Seed a record as if HubSpot held it (tests): no validation, timestamps as given."""
        with self.lock:
            rid = self._write(obj, None, {k: str(v) for k, v in props.items()}, modified_ms)
            self._save()
            return rid

    def touch(self, obj: str, rid: str, props: Mapping[str, Any], modified_ms: int) -> None:
        """Change a record as a HubSpot user would (tests), at a given time."""
        with self.lock:
            self._write(obj, rid, {k: str(v) for k, v in props.items()}, modified_ms)
            self._save()

    def delete(self, obj: str, rid: str) -> None:
        """Delete a record as a HubSpot user would (tests)."""
        with self.lock:
            record = self.objects[obj].pop(rid)
            self._unindex(obj, rid, record["properties"])
            self._order[obj] = None
            self._save()

    # -- internals ------------------------------------------------------------

    def _unique_property(self, obj: str, prop: str) -> bool:
        spec = self.definitions[obj].get(prop)
        return bool(spec and (spec["hasUniqueValue"] or (obj, prop) == ("contacts", "email")))

    def _validated(self, obj: str, props: dict[str, Any], rid: str | None) -> dict[str, str]:
        problems = []
        clean: dict[str, str] = {}
        current = self.objects[obj][rid]["properties"] if rid else {}
        for name, value in props.items():
            spec = self.definitions[obj].get(name)
            text = "" if value is None else str(value)
            if spec is None:
                message = f'Property "{name}" does not exist'
                problems.append((name, "PROPERTY_DOESNT_EXIST", message))
                continue
            if spec["modificationMetadata"]["readOnlyValue"]:
                problems.append((name, "READ_ONLY_VALUE", f'"{name}" is a read only property'))
                continue
            try:
                clean[name] = normalised(spec, text)
            except ValueError as exc:
                problems.append((name, error_code(spec), f"{text!r} {exc}"))
                continue
            if name == "lifecyclestage" and clean[name] and current.get(name):
                now, wanted = current[name], clean[name]
                if LIFECYCLE_STAGES.index(wanted) < LIFECYCLE_STAGES.index(now):
                    problems.append(
                        (
                            name,
                            "INVALID_OPTION",
                            f"{wanted!r} is an earlier lifecycle stage than {now!r}: clear "
                            "lifecyclestage first to move it backwards",
                        )
                    )
        if problems:
            detail = [
                {
                    "isValid": False,
                    "message": message,
                    "error": code,
                    "name": name,
                    "localizedErrorMessage": message,
                    "portalId": PORTAL_ID,
                }
                for name, code, message in problems
            ]
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"Property values were not valid: {json.dumps(detail)}",
                errors=[
                    {"message": m, "code": c, "context": {"propertyName": [n]}}
                    for n, c, m in problems
                ],
            )
        return clean

    def _check_unique(self, obj: str, plan: Sequence[tuple[str | None, Mapping[str, str]]]) -> None:
        """409 when a unique value (or a contact's email) already belongs to another record."""
        seen: dict[tuple[str, str], str | None] = {}
        for rid, props in plan:
            for prop, value in props.items():
                if not value or not self._unique_property(obj, prop):
                    continue
                norm = _unique_value(prop, value)
                owner = self._unique.get((obj, prop, norm))
                twin = seen.get((prop, norm), "-")
                if (owner is not None and owner != rid) or (twin != "-" and twin != rid):
                    existing = owner or twin
                    if prop == "email":
                        message = f"Contact already exists. Existing ID: {existing}"
                    else:
                        message = (
                            f"{obj[:-1].title()} already exists with {prop} = {value}. "
                            f"Existing ID: {existing}"
                        )
                    raise HubSpotError(409, "CONFLICT", message)
                seen[(prop, norm)] = rid

    def _write(
        self, obj: str, rid: str | None, props: Mapping[str, str], modified_ms: int | None = None
    ) -> str:
        now = modified_ms if modified_ms is not None else int(time.time() * 1000)
        if rid is None:
            rid = str(self.next_id)
            self.next_id += 1
            record: dict[str, Any] = {
                "properties": {CREATED[obj]: iso_ms(now), "hs_object_id": rid},
                "createdAt": iso_ms(now),
                "archived": False,
            }
            self.objects[obj][rid] = record
            changed = True
        else:
            record = self.objects[obj][rid]
            changed = any(record["properties"].get(k, "") != v for k, v in props.items())
            self._unindex(obj, rid, record["properties"])
        record["properties"].update({k: v for k, v in props.items()})
        for k in [k for k, v in record["properties"].items() if v == ""]:
            del record["properties"][k]  # an empty string clears a property
        if changed:
            record["properties"][MODIFIED[obj]] = iso_ms(now)
            record["updatedAt"] = iso_ms(now)
            record["_ms"] = now
        self._index(obj, rid, record["properties"])
        self._order[obj] = None
        return rid

    def _index(self, obj: str, rid: str, props: Mapping[str, str]) -> None:
        for prop, value in props.items():
            if value and self._unique_property(obj, prop):
                self._unique[(obj, prop, _unique_value(prop, value))] = rid

    def _unindex(self, obj: str, rid: str, props: Mapping[str, str]) -> None:
        for prop, value in props.items():
            key = (obj, prop, _unique_value(prop, value))
            if self._unique.get(key) == rid:
                del self._unique[key]

    def _public(self, obj: str, rid: str, *, new: bool | None = None) -> dict[str, Any]:
        record = self.objects[obj][rid]
        out = {
            "id": rid,
            "properties": dict(record["properties"]),
            "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"],
            "archived": False,
        }
        if new is not None:
            out["new"] = new
        return out

    def _save(self) -> None:
        if self.data_file is None:
            return
        tmp = self.data_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "objects": self.objects,
                    "associations": self.associations,
                    "lists": self.lists,
                    "next_id": self.next_id,
                }
            ),
            encoding="utf-8",
        )
        tmp.replace(self.data_file)


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


def _cmp_key(store: Store, obj: str, name: str, value: Any) -> Any:
    """How HubSpot compares a property: datetimes as instants, numbers as numbers,
    text case-insensitively."""
    spec = store.definitions[obj].get(name) or {"type": "string"}
    text = str(value)
    if spec["type"] in ("datetime", "date"):
        return to_ms(text)
    if spec["type"] == "number":
        return float(text)
    return text.lower()


def _unique_value(prop: str, value: str) -> str:
    return value.strip().lower() if prop == "email" else value
