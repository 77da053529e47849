"""The CRM owners' names, as the CRM last told them: kept so that reports, `status`,
`preview` and `explain` name people, not ids, without asking the CRM (they run without
its credentials). Learned for free when a sync asks who may own leads; never deleted
(a rep who left still owned last quarter's MQLs)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsync.state.models import Cursor, utcnow

_PREFIX = "owners:"


def remember(session: Session, destination: str, names: dict[str, str]) -> None:
    """Add or rename ``names`` (owner id -> name) for ``destination``."""
    row = session.get(Cursor, _PREFIX + destination)
    if row is None:
        session.add(Cursor(source=_PREFIX + destination, value=dict(names), updated_at=utcnow()))
    elif any(row.value.get(k) != v for k, v in names.items()):
        row.value, row.updated_at = {**row.value, **names}, utcnow()


def known(session: Session) -> dict[str, str]:
    """Every owner name the state db holds, by owner id."""
    out: dict[str, str] = {}
    for value in session.scalars(select(Cursor.value).where(Cursor.source.like(_PREFIX + "%"))):
        out.update(value)
    return out


def named(owner: str | None, names: dict[str, str]) -> str | None:
    """An owner as people read it: the name when known, else the id as it is."""
    if owner is None:
        return None
    return names.get(owner, owner)
