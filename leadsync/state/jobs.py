"""The service's jobs as the state db remembers them: last run, result, next run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsync.state.models import ScheduledJob


def scheduled(session: Session, name: str, schedule: str, next_run_at: datetime | None) -> None:
    """The job as the scheduler holds it now (its next run), added on first sight."""
    _job(session, name, schedule).next_run_at = next_run_at


def started(session: Session, name: str, schedule: str, at: datetime) -> None:
    job = _job(session, name, schedule)
    job.last_started_at, job.last_result = at, "running"


def _job(session: Session, name: str, schedule: str) -> ScheduledJob:
    job = session.get(ScheduledJob, name)
    if job is None:
        job = ScheduledJob(name=name, failures_in_row=0)
        session.add(job)
    job.schedule = schedule
    return job


def finished(
    session: Session,
    name: str,
    at: datetime,
    result: str,
    duration_s: float,
    error: str | None,
    next_run_at: datetime | None,
) -> int:
    """Record how the job's run ended; the number of runs in a row that failed."""
    job = session.get(ScheduledJob, name)
    if job is None:
        return 0
    job.last_finished_at, job.last_result = at, result
    job.last_duration_s, job.last_error, job.next_run_at = duration_s, error, next_run_at
    if result == "failed":
        job.failures_in_row += 1
    else:
        job.failures_in_row = 0
        job.last_success_at = at
    return job.failures_in_row


def all_jobs(session: Session) -> Sequence[ScheduledJob]:
    return session.scalars(select(ScheduledJob).order_by(ScheduledJob.name)).all()
