"""The forms inbox: submissions the listener accepted, in the order they arrived.

The listener stores a submission and commits before it answers, so a 2xx means the
lead cannot be lost; the webhook source then reads the inbox past its cursor like
any source reads its system. A submission's key (the vendor's id, else the body's
hash) is unique per source: a vendor's retry is stored once and answered 2xx again.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, func, select
from sqlalchemy.orm import Session

from leadsync.state.models import InboxSubmission


def store(
    session: Session,
    source: str,
    key: str,
    fields: Mapping[str, Any],
    *,
    body: str,
    content_type: str,
    received_at: datetime,
    submitted_at: datetime | None,
) -> bool:
    """Store one submission; False when the source already holds one with this key."""
    # The dialect's own INSERT (for ON CONFLICT), imported when a submission comes in.
    dialect = session.get_bind().dialect.name
    module = "postgresql" if dialect == "postgresql" else "sqlite"
    insert = importlib.import_module(f"sqlalchemy.dialects.{module}").insert
    statement = (
        insert(InboxSubmission)
        .values(
            source=source,
            key=key,
            fields=dict(fields),
            body=body,
            content_type=content_type,
            received_at=received_at,
            submitted_at=submitted_at,
        )
        .on_conflict_do_nothing(index_elements=["source", "key"])
    )
    return bool(cast(CursorResult[Any], session.execute(statement)).rowcount)


def after(session: Session, source: str, last_id: int, limit: int) -> Sequence[InboxSubmission]:
    """The source's submissions stored after ``last_id``, oldest first."""
    return session.scalars(
        select(InboxSubmission)
        .where(InboxSubmission.source == source, InboxSubmission.id > last_id)
        .order_by(InboxSubmission.id)
        .limit(limit)
    ).all()


def received(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    """When each of these submissions reached the listener (for the latency histogram)."""
    rows = session.execute(
        select(InboxSubmission.id, InboxSubmission.received_at).where(InboxSubmission.id.in_(ids))
    )
    return {row.id: row.received_at for row in rows}


def count(engine: Engine, source: str | None = None) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(InboxSubmission)
        if source is not None:
            query = query.where(InboxSubmission.source == source)
        return session.scalar(query) or 0
