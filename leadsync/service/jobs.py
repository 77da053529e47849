"""The service's jobs, each run in its turn, each run remembered.

A job is one pipeline run with some of its steps: a source's sync, the read-back of
what sales did, the come-back of recycled leads. Jobs of this process take turns
(one at a time: they share the connectors and the outbox), and wait, never fail,
while another process holds the state db's run lock, up to ``lock_wait_seconds``.
A job never raises into the scheduler: how it ended is stored (`leadsync status`),
counted (`/metrics`) and logged.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from leadsync import log
from leadsync.config import secret_values
from leadsync.errors import Interrupted, LeadsyncError, RunLockBusy
from leadsync.service.alerts import Alerts
from leadsync.service.metrics import Metrics
from leadsync.state import db, inbox, jobs, outbox, repo
from leadsync.sync.pipeline import Run
from leadsync.sync.summary import RunSummary
from leadsync.sync.wiring import Wiring

logger = log.get("leadsync.service")
T = TypeVar("T")
# (wiring, sessions, repair, run id) -> the report (missing, moved, changed)
Reconcile = Callable[..., Any]


@dataclass(frozen=True)
class Job:
    name: str  # "sync:web", "feedback", "sweep"
    schedule: str  # as the config writes it, or "on submission"
    trigger: BaseTrigger | None  # None: only woken (a forms source with no schedule)
    source: str | None = None  # the source it reads
    read_feedback: bool = False
    rescore: bool = False
    # the reconcile job: ops' reconcile, handed over by the command line (the service
    # does not import ops: they are peers)
    reconcile: Reconcile | None = None


class Jobs:
    def __init__(
        self,
        wiring: Wiring,
        engine: Engine,
        metrics: Metrics,
        stopping: threading.Event,
        next_run: Callable[[str], datetime | None],
    ) -> None:
        self.wiring = wiring
        self.engine = engine
        self.factory = db.session_factory(engine)
        self.metrics = metrics
        self.stopping = stopping
        self.next_run = next_run
        self.lock_wait = wiring.config.settings.service.lock_wait_seconds
        self.turn = threading.Lock()
        # The CRM's last answer to a job: (wall time, whether it went well), for /readyz.
        self.crm_contact: tuple[float, bool] | None = None
        section = wiring.config.settings.alerts
        self.alerts: Alerts | None = None
        if section is not None:
            log.mask(secret_values(section))  # a webhook URL is its own credential
            self.alerts = Alerts(section, engine, wiring.config.settings.crm.type)

    def register(self, job: Job, first_run: datetime | None) -> None:
        with self.factory() as session, session.begin():
            jobs.scheduled(session, job.name, job.schedule, first_run)

    def run(self, job: Job) -> None:
        """Run ``job`` in its turn (the scheduler's callable)."""
        with self.turn:
            if self.stopping.is_set():
                return
            self._run(job)

    def idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the job in flight to end; True when none runs."""
        if self.turn.acquire(timeout=timeout):
            self.turn.release()
            return True
        return False

    def _run(self, job: Job) -> None:
        started, clock_start = time.time(), time.monotonic()
        with self.factory() as session, session.begin():
            jobs.started(session, job.name, job.schedule, _utc(started))
            first_submission = self._inbox_position(session, job)
        summary: RunSummary | None = None
        error: str | None = None
        try:
            if job.reconcile is not None:
                result, error = self._run_when_free(partial(self._reconcile, job.reconcile))
            else:
                summary = self._run_when_free(partial(self._sync, job))
                result, error = summary.status, summary.error
        except Interrupted:
            result, error = "stopped", "the service stopped; the next start goes on from here"
        except LeadsyncError as exc:  # the run never started (the lock stayed busy)
            result, error = "failed", str(exc)
        except Exception as exc:  # a bug: recorded, and the scheduler goes on
            logger.exception("service.job.crashed", job=job.name)
            result, error = "failed", f"internal error: {exc!r}"
        ended = time.time()
        if summary is not None and summary.api_calls:
            self.crm_contact = (ended, summary.status != "failed")
        with self.factory() as session, session.begin():
            in_row = jobs.finished(
                session,
                job.name,
                _utc(ended),
                result,
                round(time.monotonic() - clock_start, 3),
                error,
                self.next_run(job.name),
            )
            if job.source in self.wiring.webhook_sources and result in ("ok", "partial"):
                self._observe_latency(session, job.source, first_submission, ended)
        self.metrics.job_ran(job.name, result, summary, ended)
        if self.alerts is not None:
            self._alert(job, result, summary, in_row, error)
        logger.info("service.job.finished", job=job.name, result=result, failures_in_row=in_row)

    def _run_when_free(self, work: Callable[[], T]) -> T:
        """``work()``, once the state db's run lock is free (another process may hold it)."""
        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                return work()
            except RunLockBusy:
                if time.monotonic() > deadline:
                    raise
                if self.stopping.wait(1.0):
                    raise Interrupted("SIGTERM") from None

    def _sync(self, job: Job) -> RunSummary:
        run = Run(
            self.wiring,
            self.engine,
            only_source=job.source,
            read_sources=job.source is not None,
            read_feedback=job.read_feedback,
            rescore=job.rescore,
            stop=self.stopping.is_set,
        )
        summary = run.execute()
        if summary.stopped:
            raise Interrupted(summary.stopped)
        return summary

    def _reconcile(self, reconcile: Reconcile) -> tuple[str, str | None]:
        """The nightly reconcile: ok when the CRM matches (or was repaired), partial when
        drift was found and left (the report names it in the job's error)."""
        repair = self.wiring.config.settings.service.reconcile_repair
        with db.run_lock(self.engine):
            report = reconcile(self.wiring, self.factory, repair=repair, run_id=str(uuid.uuid4()))
        drift = report.missing + report.moved + report.changed
        if not drift or repair:
            return "ok", None
        return "partial", (
            f"{report.missing} missing, {report.moved} moved, {report.changed} changed in the "
            "CRM: `leadsync reconcile` lists them, `--repair` writes them back"
        )

    def _alert(
        self,
        job: Job,
        result: str,
        summary: RunSummary | None,
        failures_in_row: int,
        error: str | None,
    ) -> None:
        assert self.alerts is not None
        dest = self.wiring.destination
        with self.factory() as session:
            dead = outbox.count_dead(session, dest.name)
        share = dest.quota.share
        self.alerts.after_job(job.name, result, summary, failures_in_row, error, dead, share)
        if summary is not None:
            self.alerts.hot_handoffs(summary.run_id)

    # -- speed to lead ---------------------------------------------------------

    def _inbox_position(self, session: Session, job: Job) -> int:
        if job.source not in self.wiring.webhook_sources:
            return 0
        return _inbox_read(session, job.source)

    def _observe_latency(self, session: Session, source: str, before: int, ended: float) -> None:
        """Each submission this run read: from its arrival to its lead written (the run
        pushed before it ended)."""
        after = _inbox_read(session, source)
        if after <= before:
            return
        rows = inbox.after(session, source, before, after - before)
        for row in rows:
            if row.id <= after:
                self.metrics.latency.labels(source).observe(
                    max(0.0, ended - row.received_at.timestamp())
                )


def _inbox_read(session: Session, source: str) -> int:
    """The last inbox id the source's committed cursor covers."""
    position = (repo.cursor(session, source) or {}).get("position") or {}
    return int(position.get("inbox_id", 0))


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)
