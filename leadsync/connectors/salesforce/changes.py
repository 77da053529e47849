"""Reading Salesforce records changed since a cursor, by ``SystemModstamp`` with an ``Id``
tie-break, so that records committed late or sharing a timestamp are not missed.

Each query asks for records stamped at or after the last stamp seen, ordered by
(SystemModstamp, Id), 2,000 at most. A page whose rows all share one stamp is
paged through by ``Id > last`` at that stamp, then the read goes on after it.
Every read starts ``overlap`` before the cursor: a record committed late, with
an earlier stamp, is still found. A record is late by at most the overlap, so the
window needs to reach back only that far before the previous read began
(``read_at``): a quiet org is not read again and again for the writes of one
backfill whose stamps stay the newest. Salesforce stamps to the second, so a record
changed twice within one second keeps its stamp: what was read is remembered
by (stamp, a digest of the fields read), and a record is returned again when
either differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leadsync.connectors.base import CrmChange
from leadsync.mapping.lead import iso_utc

PAGE = 2000
# What sales changes that leadsync reads back ([feedback]).
LEAD_FEEDBACK = ("Status", "OwnerId", "IsConverted", "ConvertedContactId")
TASK_FEEDBACK = ("Status", "IsClosed", "OwnerId")


def stamp(value: str) -> datetime:
    """A Salesforce datetime (``2024-05-01T10:00:00.000+0000``) as an aware datetime."""
    return datetime.fromisoformat(value).astimezone(UTC)  # 3.11 reads +0000 and Z


def literal(when: datetime) -> str:
    """A SOQL datetime literal (to the second, in UTC)."""
    return iso_utc(when, "seconds")


def changed_since(
    query: Callable[[str], Mapping[str, Any]],
    obj: str,
    fields: list[str],
    where: str,
    cursor: Mapping[str, Any] | None,
    *,
    overlap_seconds: float = 300.0,
    page: int = PAGE,
    read_at: datetime | None = None,
) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """(records, cursor) a page at a time; ``where`` narrows the records (leadsync's own).
    ``read_at``: when this read began, kept in the cursor for the next one."""
    since = stamp(cursor["since"]) if cursor and cursor.get("since") else None
    seen: dict[str, list[str]] = {k: list(v) for k, v in (cursor or {}).get("seen", {}).items()}
    before = stamp(cursor["read_at"]) if cursor and cursor.get("read_at") else None
    # Anything stamped before the last read began, less the overlap, was committed by then.
    floor = max(since, before) if since and before else since
    lower = floor - timedelta(seconds=overlap_seconds) if floor else None
    began = {"read_at": literal(read_at)} if read_at else {}
    after_lower = False  # True once a stamp is paged through: records after it, not at it
    tie: tuple[datetime, str] | None = None  # paging through one stamp by Id
    columns = ", ".join(dict.fromkeys(["Id", "SystemModstamp", *fields]))
    for _ in range(1_000_000):  # bounded: each query moves the window or the Id on
        terms = [where]
        if tie is not None:
            terms += [f"SystemModstamp = {literal(tie[0])}", f"Id > '{tie[1]}'"]
        elif lower is not None:
            terms.append(f"SystemModstamp {'>' if after_lower else '>='} {literal(lower)}")
        rows = query(
            f"SELECT {columns} FROM {obj} WHERE {' AND '.join(terms)} "
            f"ORDER BY SystemModstamp, Id LIMIT {page}"
        )["records"]
        fresh = []
        for row in rows:
            record = {k: v for k, v in row.items() if k != "attributes"}
            digest = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode())
            mark = [str(record["SystemModstamp"]), digest.hexdigest()[:16]]
            if seen.get(record["Id"]) != mark:
                seen[record["Id"]] = mark
                fresh.append(record)
        if rows:
            last = stamp(str(rows[-1]["SystemModstamp"]))
            since = max(since, last) if since else last
        if since is not None:
            keep_from = max(since, read_at or since) - timedelta(seconds=overlap_seconds)
            seen = {k: v for k, v in seen.items() if stamp(v[0]) >= keep_from}
        yield fresh, {"since": literal(since) if since else None, "seen": dict(seen), **began}
        if len(rows) < page:
            if tie is None:
                return
            # The stamp is paged through: go on after it.
            lower, after_lower, tie = tie[0], True, None
            continue
        first, last_row = stamp(str(rows[0]["SystemModstamp"])), rows[-1]
        last = stamp(str(last_row["SystemModstamp"]))
        if tie is not None or first == last:
            tie = (last, str(last_row["Id"]))
        else:
            lower, after_lower = last, False
    raise AssertionError("unreachable: the read ends when a page is short")


def sales_changes(
    query: Callable[[str], Mapping[str, Any]],
    cursor: Mapping[str, Any] | None,
    *,
    lead_key: str,
    task_key: str,
    lead_fields: Sequence[str],
    overlap_seconds: float,
) -> Iterator[tuple[list[CrmChange], dict[str, Any]]]:
    """Leads leadsync made (status, owner, conversion, and ``lead_fields``), then their
    tasks (status, closed), then Contacts' owners (the leads attached or converted to
    one), changed since the cursor, by SystemModstamp and Id. Contacts carry no key of
    leadsync's: every Contact changed is read, from the first read on, and the caller
    keeps those it wrote to."""
    position = dict(cursor or {})
    began = datetime.now(UTC)  # the org's clock, near enough: stamps are compared to it
    if "Contact" not in position:
        # Not the whole org's history: the Contacts that change from now on.
        position["Contact"] = {"since": literal(began)}
    reads = (
        ("Lead", "lead", lead_key, [*LEAD_FEEDBACK, *lead_fields]),
        ("Task", "task", task_key, list(TASK_FEEDBACK)),
        ("Contact", "lead", None, ["OwnerId"]),
    )
    for obj, kind, key_field, fields in reads:
        pages = changed_since(
            query,
            obj,
            [*([key_field] if key_field else []), *dict.fromkeys(fields)],
            f"{key_field or 'Id'} != null",
            position.get(obj),
            read_at=began,
            overlap_seconds=overlap_seconds,
        )
        for rows, obj_cursor in pages:
            position[obj] = obj_cursor
            changes = [
                CrmChange(
                    kind=kind,
                    crm_id=str(row["Id"]),
                    key=row.get(key_field) if key_field else None,
                    fields={f: row.get(f) for f in fields}
                    | ({"completed": bool(row.get("IsClosed"))} if kind == "task" else {}),
                    at=stamp(str(row["SystemModstamp"])),
                )
                for row in rows
            ]
            yield changes, dict(position)
