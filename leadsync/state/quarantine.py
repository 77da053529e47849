"""Quarantined records an admin asked to try again: mapped anew from what the quarantine
kept, by the next sync of their source (the admin fixed the map, or a rule)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsync.state.models import Quarantine
from leadsync.state.repo import cursor, save_cursor

_KEY = "quarantine:retry"


def ask_retry(session: Session, ids: Iterable[int]) -> list[Quarantine]:
    """Mark these quarantined records for the next sync of their source; the ones found."""
    rows = list(session.scalars(select(Quarantine).where(Quarantine.id.in_(list(ids)))))
    marks = cursor(session, _KEY) or {}
    save_cursor(session, _KEY, {"ids": sorted({*marks.get("ids", []), *(r.id for r in rows)})})
    return rows


def take_retries(session: Session, source: str) -> Sequence[Quarantine]:
    """The records of ``source`` asked to be tried again, taken off the quarantine (a record
    still wrong is quarantined anew, with today's reason)."""
    asked = set((cursor(session, _KEY) or {}).get("ids", []))
    if not asked:
        return []
    rows = list(
        session.scalars(
            select(Quarantine).where(Quarantine.id.in_(sorted(asked)), Quarantine.source == source)
        )
    )
    for row in rows:
        session.delete(row)
    save_cursor(session, _KEY, {"ids": sorted(asked - {r.id for r in rows})})
    return rows
