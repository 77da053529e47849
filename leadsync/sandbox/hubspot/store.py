"""The HubSpot emulator's records: contacts and tasks, their properties, lists and associations.

Writes are validated as HubSpot validates them, and a batch is all or nothing:
one bad input refuses the whole request with ``VALIDATION_ERROR`` listing the
invalid property values. Every value is kept as the string HubSpot would
return: datetimes as ISO 8601 with milliseconds (written as ISO or epoch
milliseconds), dates as ``YYYY-MM-DD``, numbers and booleans as text.
"""

from __future__ import annotations

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
from leadsync.sandbox.hubspot.search import Search
from leadsync.sandbox.hubspot.values import HubSpotError, error_code, iso_ms, normalised


@dataclass
class Store(Search):
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
            return self._written(obj, plan, upsert=True)

    def create(self, obj: str, inputs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Batch create with associations; a duplicate unique value refuses the batch (409)."""
        with self.lock:
            plan: list[tuple[str | None, dict[str, str]]] = []
            associated: list[list[str]] = []
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
                plan.append((None, props))
                associated.append(targets)
            return self._written(obj, plan, associated)

    def update(self, obj: str, inputs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        with self.lock:
            plan = []
            for item in inputs:
                rid = str(item.get("id", ""))
                if rid not in self.objects[obj]:
                    raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Object not found. objectId={rid}")
                plan.append((rid, self._validated(obj, dict(item.get("properties") or {}), rid)))
            return self._written(obj, plan)

    def _written(
        self,
        obj: str,
        plan: Sequence[tuple[str | None, dict[str, str]]],
        associated: list[list[str]] | None = None,
        *,
        upsert: bool = False,
    ) -> list[dict[str, Any]]:
        """The batch written once every unique value in it checks out (all or nothing, as
        HubSpot's batches are); an upsert says which records it made."""
        self._check_unique(obj, plan)
        out = []
        for i, (rid, props) in enumerate(plan):
            new = rid is None
            rid = self._write(obj, rid, props)
            if associated and associated[i]:
                self.associations[rid] = associated[i]
            out.append(self._public(obj, rid, new=new if upsert else None))
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


def _unique_value(prop: str, value: str) -> str:
    return value.strip().lower() if prop == "email" else value
