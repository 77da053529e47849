"""Quarantined records an admin asked to try again: mapped anew from what the quarantine
kept, by the next sync of their source (the admin fixed the map, or a rule)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsync.state.models import Cursor, Quarantine, utcnow

_KEY = "quarantine:retry"


def ask_retry(session: Session, ids: Iterable[int]) -> list[Quarantine]:
    """Mark these quarantined records for the next sync of their source; the ones found."""
    rows = list(session.scalars(select(Quarantine).where(Quarantine.id.in_(list(ids)))))
    marks = session.get(Cursor, _KEY)
    asked = sorted({*(marks.value.get("ids", []) if marks else []), *(r.id for r in rows)})
    if marks is None:
        session.add(Cursor(source=_KEY, value={"ids": asked}, updated_at=utcnow()))
    else:
        marks.value, marks.updated_at = {"ids": asked}, utcnow()
    return rows


def take_retries(session: Session, source: str) -> Sequence[Quarantine]:
    """The records of ``source`` asked to be tried again, taken off the quarantine (a record
    still wrong is quarantined anew, with today's reason)."""
    marks = session.get(Cursor, _KEY)
    asked = set(marks.value.get("ids", [])) if marks else set()
    if not asked:
        return []
    rows = list(
        session.scalars(
            select(Quarantine).where(Quarantine.id.in_(sorted(asked)), Quarantine.source == source)
        )
    )
    for row in rows:
        session.delete(row)
    assert marks is not None
    marks.value = {"ids": sorted(asked - {r.id for r in rows})}
    return rows
