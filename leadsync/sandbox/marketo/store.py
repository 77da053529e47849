"""The Marketo emulator's lead database: leads, their activity log, and what happens to
them (changes, activities, merges, deletes), as Marketo records it.

The activity log is append-only and ordered, as Marketo's is: a paging token is a
position in it, so a client that keeps its last token reads each activity once. A
merge moves the losers' activities to the winner (Marketo rewrites their ``leadId``)
and logs "Merge Leads" on the winner; a delete logs "Delete Lead" and the lead and its
activities are no longer served.
"""

from __future__ import annotations

import base64
import bisect
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadsync.sandbox.marketo.schema import (
    CHANGE_DATA_VALUE,
    DELETE_LEAD,
    FIELDS,
    MERGE_LEADS,
    NEW_LEAD,
    TYPES,
)


@dataclass(slots=True)
class Activity:
    id: int
    lead_id: int
    at: datetime
    type_id: int
    primary_id: int | None = None
    primary: str | None = None
    attributes: tuple[tuple[str, Any], ...] = ()
    # A "Change Data Value" or "New Lead": the fields it set, (name, new, old).
    changes: tuple[tuple[str, Any, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The activity as Marketo's REST API answers it."""
        out: dict[str, Any] = {
            "id": self.id,
            "marketoGUID": str(self.id),
            "leadId": self.lead_id,
            "activityDate": stamp(self.at),
            "activityTypeId": self.type_id,
        }
        if self.primary_id is not None:
            out["primaryAttributeValueId"] = self.primary_id
        if self.primary is not None:
            out["primaryAttributeValue"] = self.primary
        if self.changes:
            out["fields"] = [
                {"id": FIELDS[n]["id"], "name": n, "newValue": new, "oldValue": old}
                for n, new, old in self.changes
            ]
        out["attributes"] = [{"name": k, "value": v} for k, v in self.attributes]
        return out


def token_of(position: int) -> str:
    """A paging token: a position in the activity log, written as Marketo's look (base32)."""
    return base64.b32encode(f"{position:012d}".encode()).decode().rstrip("=")


def position_of(token: str) -> int:
    try:
        return int(base64.b32decode(token + "=" * (-len(token) % 8)))
    except (ValueError, TypeError):
        raise ValueError(f"invalid paging token {token!r}") from None


def stamp(at: datetime) -> str:
    """A time as Marketo writes it: UTC, seconds, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Store:
    leads: dict[int, dict[str, Any]] = field(default_factory=dict)
    log: list[Activity] = field(default_factory=list)
    deleted: set[int] = field(default_factory=set)
    next_lead: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._seconds: list[float] = [a.at.timestamp() for a in self.log]
        # Activities that were merged away from a lead keep their id, with the winner's.
        self._moved: dict[int, int] = {}

    # -- reading --------------------------------------------------------------

    def position(self, since: datetime) -> int:
        """The first activity at or after ``since``: where a paging token starts."""
        with self.lock:
            return bisect.bisect_left(self._seconds, since.timestamp())

    def end(self) -> int:
        return len(self.log)

    def scan(
        self, start: int, wanted: frozenset[int], limit: int, scan_limit: int
    ) -> tuple[list[Activity], int]:
        """Up to ``limit`` activities of the ``wanted`` types from ``start``, looking at no
        more than ``scan_limit`` entries (Marketo may answer fewer, with more to come);
        the position after the last entry looked at."""
        found: list[Activity] = []
        with self.lock:
            pos = start
            stop = min(len(self.log), start + scan_limit)
            while pos < stop and len(found) < limit:
                activity = self.log[pos]
                pos += 1
                if activity.type_id not in wanted:
                    continue
                if activity.type_id != DELETE_LEAD and self.owner(activity) in self.deleted:
                    continue
                found.append(activity)
        return found, pos

    def owner(self, activity: Activity) -> int:
        """The lead an activity belongs to now (the winner, after a merge)."""
        return self._moved.get(activity.id, activity.lead_id)

    def view(self, activity: Activity) -> dict[str, Any]:
        out = activity.as_json()
        out["leadId"] = self.owner(activity)
        return out

    def lead(self, lead_id: int, fields: Sequence[str]) -> dict[str, Any] | None:
        with self.lock:
            lead = self.leads.get(lead_id)
            if lead is None:
                return None
            return {"id": lead_id, **{f: lead.get(f) for f in fields if f != "id"}}

    def leads_where(self, column: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Leads whose ``createdAt`` or ``updatedAt`` falls in [start, end)."""
        with self.lock:
            rows = list(self.leads.items())
        for lead_id, lead in rows:
            if start <= lead[column] < end:
                yield {"id": lead_id, **lead}

    def activities_between(
        self, start: datetime, end: datetime, types: frozenset[int]
    ) -> Iterator[Activity]:
        with self.lock:
            lo = bisect.bisect_left(self._seconds, start.timestamp())
            hi = bisect.bisect_left(self._seconds, end.timestamp())
            chosen = [a for a in self.log[lo:hi] if not types or a.type_id in types]
        for activity in chosen:
            if self.owner(activity) not in self.deleted or activity.type_id == DELETE_LEAD:
                yield activity

    # -- what people and admins do ---------------------------------------------

    def create(self, fields: Mapping[str, Any], at: datetime) -> int:
        """A new lead, logged as "New Lead"."""
        with self.lock:
            lead_id = self.next_lead
            self.next_lead += 1
            values = {k: v for k, v in fields.items() if k in FIELDS and k != "id"}
            self.leads[lead_id] = {**values, "createdAt": at, "updatedAt": at}
            changes = tuple((k, v, None) for k, v in values.items() if v not in (None, ""))
            attributes = (("Source Type", "New lead"), ("Form Name", None))
            self._append(lead_id, at, NEW_LEAD, None, None, attributes, changes)
            return lead_id

    def change(self, lead_id: int, fields: Mapping[str, Any], at: datetime) -> None:
        """Fields changed, one "Change Data Value" each, as Marketo logs them."""
        with self.lock:
            lead = self.leads[lead_id]
            for name, value in fields.items():
                old = lead.get(name)
                if old == value:
                    continue
                lead[name] = value
                attributes = (("New Value", value), ("Old Value", old), ("Reason", "API"))
                spec = FIELDS[name]
                change = ((name, value, old),)
                self._append(
                    lead_id,
                    at,
                    CHANGE_DATA_VALUE,
                    spec["id"],
                    spec["displayName"],
                    attributes,
                    change,
                )
            lead["updatedAt"] = at

    def act(
        self,
        lead_id: int,
        type_id: int,
        at: datetime,
        primary: tuple[int | None, str | None] = (None, None),
        attributes: Iterable[tuple[str, Any]] = (),
    ) -> int:
        """Something the lead did (a form, a visit, an email opened): its activity id."""
        with self.lock:
            if lead_id not in self.leads:
                raise KeyError(lead_id)
            return self._append(lead_id, at, type_id, *primary, tuple(attributes), ())

    def merge(self, winner: int, losers: Sequence[int], at: datetime) -> None:
        """The losers merged into the winner: their activities are the winner's now, their
        empty fields filled from them; "Merge Leads" on the winner names them."""
        with self.lock:
            target = self.leads[winner]
            for loser in losers:
                lead = self.leads.pop(loser)
                for name, value in lead.items():
                    if target.get(name) in (None, "") and value not in (None, ""):
                        target[name] = value
                for activity in self.log:
                    if self.owner(activity) == loser:
                        self._moved[activity.id] = winner
            target["updatedAt"] = at
            attributes = (
                ("Merge ids", list(losers)),
                ("Merged in Sales", False),
                ("Merge Source", "API"),
                ("Master Updated", True),
            )
            self._append(winner, at, MERGE_LEADS, winner, None, attributes, ())

    def delete(self, lead_id: int, at: datetime) -> None:
        with self.lock:
            lead = self.leads.pop(lead_id)
            self.deleted.add(lead_id)
            name = " ".join(str(lead.get(k) or "") for k in ("firstName", "lastName")).strip()
            self._append(lead_id, at, DELETE_LEAD, lead_id, name or None, (), ())

    def _append(
        self,
        lead_id: int,
        at: datetime,
        type_id: int,
        primary_id: int | None,
        primary: str | None,
        attributes: tuple[tuple[str, Any], ...],
        changes: tuple[tuple[str, Any, Any], ...],
    ) -> int:
        if type_id not in TYPES:
            raise ValueError(f"unknown activity type {type_id}")
        # The log is in time order: an activity is never logged before the last one.
        if self.log and at < self.log[-1].at:
            at = self.log[-1].at
        activity = Activity(
            len(self.log) + 1, lead_id, at, type_id, primary_id, primary, attributes, changes
        )
        self.log.append(activity)
        self._seconds.append(at.timestamp())
        return activity.id
