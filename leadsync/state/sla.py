"""Follow-up SLA timers in the state db: opened at a hand-off, met by a touch, moved up
their ladder by the sweep."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from leadsync.state.models import SlaTimer


def open_timer(
    session: Session,
    lead_id: int,
    owner: str | None,
    task_key: str,
    started_at: datetime,
    due_at: datetime,
) -> SlaTimer:
    """A new timer for a hand-off; an earlier open one for the lead is closed (a new
    hand-off replaces it)."""
    for old in open_of(session, [lead_id]):
        old.status = "replaced"
    timer = SlaTimer(
        lead_id=lead_id,
        owner=owner,
        task_key=task_key,
        started_at=started_at,
        due_at=due_at,
        status="open",
        reassignments=0,
        steps=[],
    )
    session.add(timer)
    return timer


def open_of(session: Session, lead_ids: Iterable[int]) -> Sequence[SlaTimer]:
    return session.scalars(
        select(SlaTimer).where(SlaTimer.lead_id.in_(list(lead_ids)), SlaTimer.status == "open")
    ).all()


def touch(session: Session, lead_id: int, at: datetime, how: str) -> bool:
    """The rep touched the lead: its open timer is met (True), if it had one."""
    met = False
    for timer in open_of(session, [lead_id]):
        timer.status, timer.touched_at = "met", at
        timer.steps = [*timer.steps, step(at, "met", how)]
        met = True
    return met


def past_due(session: Session, now: datetime, limit: int = 1000) -> Sequence[SlaTimer]:
    return session.scalars(
        select(SlaTimer)
        .where(SlaTimer.status == "open", SlaTimer.due_at <= now)
        .order_by(SlaTimer.due_at)
        .limit(limit)
    ).all()


def of_lead(session: Session, lead_id: int) -> Sequence[SlaTimer]:
    return session.scalars(
        select(SlaTimer).where(SlaTimer.lead_id == lead_id).order_by(SlaTimer.id)
    ).all()


def open_and_breached(session: Session, limit: int = 20) -> tuple[int, Sequence[SlaTimer]]:
    """How many timers are open, and the latest that were breached (for `status`)."""
    open_count = session.scalar(
        select(func.count()).select_from(SlaTimer).where(SlaTimer.status == "open")
    )
    breached = session.scalars(
        select(SlaTimer)
        .where(or_(SlaTimer.reassignments > 0, SlaTimer.status == "recycled"))
        .order_by(SlaTimer.id.desc())
        .limit(limit)
    ).all()
    return open_count or 0, breached


def step(at: datetime, action: str, reason: str, **more: Any) -> dict[str, Any]:
    return {"at": at.isoformat(), "action": action, "reason": reason, **more}
