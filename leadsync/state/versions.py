"""A source's records as last committed: their versions (a content hash, the lead the
record is, its row), read by the records' keys or by their rows, and written a page
at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from leadsync.state.batches import insert_rows, one_of, slices
from leadsync.state.models import SourceRecord, table


class Version(NamedTuple):
    """A source record as last committed: its content hash, the lead it is, and its row
    (a new version is written over it by its id)."""

    content_hash: str
    lead_id: int | None
    row: int | None = None


def versions(session: Session, source: str, keys: Iterable[str]) -> dict[str, Version]:
    """The last committed version of each record, by its key (plain rows, not ORM
    objects: a page reads a thousand of them and changes none in place)."""
    return _versions_where(session, source, "external_id", keys)


def versions_of_rows(session: Session, source: str, rows: Iterable[int]) -> dict[str, Version]:
    """The versions of ``source``'s records in these rows, by the records' keys: a first
    load finds its own by their row ids (it builds the other indexes after its rows).
    Asked by row alone, the source checked here: with the source in the query, SQLite
    walks the whole source in ``ux_source_records`` where that index is there
    (``tests/state/test_query_plans.py``)."""
    out: dict[str, Version] = {}
    columns = [*_VERSION, _RECORDS.c.source]
    for part in slices(rows):
        found = session.execute(select(*columns).where(one_of(session, _RECORDS.c.id, part)))
        out.update(_versions(row[:4] for row in found if row.source == source))
    return out


_RECORDS = table(SourceRecord)
_VERSION = [_RECORDS.c[name] for name in ("external_id", "content_hash", "lead_id", "id")]


def _versions_where(
    session: Session, source: str, column: str, values: Iterable[Any]
) -> dict[str, Version]:
    out: dict[str, Version] = {}
    for part in slices(values):
        where = (_RECORDS.c.source == source, one_of(session, _RECORDS.c[column], part))
        out.update(_versions(session.execute(select(*_VERSION).where(*where)).all()))
    return out


def _versions(rows: Iterable[Any]) -> Iterator[tuple[str, Version]]:
    return ((key, Version(digest, lead_id, row)) for key, digest, lead_id, row in rows)


def save_versions(
    session: Session,
    source: str,
    new: dict[str, Version],
    changed: dict[str, Version],
    seen_at: datetime,
) -> None:
    """Records seen for the first time, and new versions of known ones: one executemany
    each (the rows are the table's, so no ORM unit of work runs over them)."""
    if new:
        rows = [
            {"source": source, "external_id": key, "content_hash": v.content_hash}
            | {"lead_id": v.lead_id, "seen_at": seen_at}
            for key, v in new.items()
        ]
        insert_rows(session, _RECORDS, rows)
    if changed:
        # By the row's id: a first load has no index by (source, external_id) yet.
        statement = (
            update(_RECORDS)
            .where(_RECORDS.c.id == bindparam("row"))
            .values(content_hash=bindparam("digest"), lead_id=bindparam("lead"), seen_at=seen_at)
        )
        rows = [
            {"row": v.row, "digest": v.content_hash, "lead": v.lead_id} for v in changed.values()
        ]
        session.execute(statement, rows)
