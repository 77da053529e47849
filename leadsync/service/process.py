"""Start and stop `leadsync run`: the scheduler, the listener, the signals.

One process per state db. SIGTERM or SIGINT: the listener refuses new forms (503),
no new job starts, the job in flight finishes its batch and commits, and the
process exits 0 within ``shutdown_grace_seconds``; a second signal exits at once
(the outbox keeps what was planned, the next start sends it).
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from waitress import create_server

from leadsync import log
from leadsync.errors import ConfigError
from leadsync.service.jobs import Job, Jobs, Reconcile
from leadsync.service.listener import Listener
from leadsync.service.metrics import Metrics
from leadsync.service.schedule import trigger
from leadsync.state import db, outbox
from leadsync.sync.wiring import Wiring

logger = log.get("leadsync.service")
EXIT_AT_ONCE = 130  # the second signal: as a shell reports a process stopped by one
ON_SUBMISSION = "on submission"
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
# The main thread waits for a signal; it also looks up this often, in case a signal went
# to a thread that could not take it (a library's own thread, started before the service).
IDLE_WAKE_SECONDS = 60.0


def service_jobs(wiring: Wiring, reconcile: Reconcile | None = None) -> list[Job]:
    """The jobs the config asks for; every bad schedule in one ConfigError."""
    s = wiring.config.settings
    found: list[Job] = []
    problems: list[str] = []

    def add(name: str, spec: str | None, key: str, **kw: object) -> None:
        try:
            when = trigger(spec, key) if spec else None
        except ConfigError as exc:
            problems.extend(exc.problems)
            return
        found.append(Job(name, spec or ON_SUBMISSION, when, **kw))  # type: ignore[arg-type]

    for name, section in s.sources.items():
        if section.schedule or name in wiring.webhook_sources:
            add(f"sync:{name}", section.schedule, f"sources.{name}.schedule", source=name)
    if s.feedback is not None and s.feedback.schedule:
        add("feedback", s.feedback.schedule, "feedback.schedule", read_feedback=True)
    # Recycled leads whose day has come, and follow-up SLAs past due ([sla] schedule, if
    # it asks for sweeps more often than [service]).
    sweep = s.sla.schedule if s.sla is not None else s.service.sweep_schedule
    add("sweep", sweep, "sla.schedule" if s.sla is not None else "service.sweep_schedule")
    if s.scoring is not None:
        add("rescore", s.service.rescore_schedule, "service.rescore_schedule", rescore=True)
    if s.service.reconcile_schedule and reconcile is not None:
        add(
            "reconcile",
            s.service.reconcile_schedule,
            "service.reconcile_schedule",
            reconcile=reconcile,
        )
    if problems:
        raise ConfigError(problems)
    return found


def listen_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(
            f"--listen / service.listen: {text!r}: write HOST:PORT, e.g. 127.0.0.1:8780"
        )
    return host.strip("[]"), int(port)


class Service:
    def __init__(
        self, wiring: Wiring, engine: Engine, listen: str, reconcile: Reconcile | None = None
    ) -> None:
        self.wiring = wiring
        self.engine = engine
        self.settings = wiring.config.settings.service
        self.address = listen_address(listen)
        self.jobs_wanted = service_jobs(wiring, reconcile)
        self.stopping = threading.Event()
        self.signals = 0
        self.metrics = Metrics(crm=wiring.config.settings.crm.type)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(4)},
            # Missed runs coalesce into one, late ones still run, no job overlaps itself.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.jobs = Jobs(wiring, engine, self.metrics, self.stopping, self._next_run)
        self._by_source = {j.source: j for j in self.jobs_wanted if j.source}
        self._watch_state()

    def serve(self) -> int:
        """Run until a signal; the exit code."""
        db.require_current(self.engine)
        # The threads started here never take SIGTERM or SIGINT: the main thread does, and
        # it sleeps until one comes (an idle service wakes for nothing).
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            server = self._listen()
            threading.Thread(target=server.run, name="listener", daemon=True).start()
            self._schedule()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            raise
        previous = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        try:
            logger.info(
                "service.started",
                listen=f"{self.address[0]}:{server.effective_port}",  # type: ignore[union-attr]
                jobs=[j.name for j in self.jobs_wanted],
            )
            while not self.stopping.wait(IDLE_WAKE_SECONDS):
                pass
            server.close()  # no new forms: a sender gets "connection refused" and retries
            self.scheduler.shutdown(wait=False)  # no new job
            if not self.jobs.idle(self.settings.shutdown_grace_seconds):
                logger.warning(
                    "service.stop.grace_passed", seconds=self.settings.shutdown_grace_seconds
                )
                return EXIT_AT_ONCE
            logger.info("service.stopped")
            return 0
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            self.wiring.close()

    def _listen(self) -> Any:
        host, port = self.address
        listener = Listener(
            self.wiring, self.engine, self.jobs, self.metrics, self.wake, self.stopping
        )
        try:
            return create_server(
                listener,
                host=host,
                port=port,
                threads=4,
                ident="leadsync",
                # how often its loop wakes with no request: its housekeeping (idle
                # connections closed) can wait; an idle service should not
                asyncore_loop_timeout=30,
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror} (another process? "
                "choose another with --listen or [service] listen)"
            ) from None

    def _schedule(self) -> None:
        """Each job, remembered with its first run (now: what was missed while the service
        was down), then the scheduler started and the inbox woken (submissions stored
        before a crash and not yet synced)."""
        now = datetime.now(UTC)
        for job in self.jobs_wanted:
            self.jobs.register(job, now if job.trigger is not None else None)
            if job.trigger is not None:
                self.scheduler.add_job(
                    self.jobs.run, job.trigger, args=[job], id=job.name, next_run_time=now
                )
        self.scheduler.start()
        for source in self.wiring.webhook_sources:
            self.wake(source)

    def wake(self, source: str) -> None:
        """Run ``source``'s sync shortly: submissions arriving meanwhile share the run."""
        job = self._by_source.get(source)
        if job is None or self.stopping.is_set():
            return
        when = datetime.now(UTC) + timedelta(seconds=self.settings.form_batch_seconds)
        # A run already due takes this submission with it.
        with suppress(ConflictingIdError):
            self.scheduler.add_job(
                self.jobs.run, "date", run_date=when, args=[job], id=f"wake:{source}"
            )

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals > 1:
            os._exit(EXIT_AT_ONCE)  # asked twice: at once; the outbox keeps the rest
        logger.info("service.stopping", signal=signal.Signals(signum).name)
        self.stopping.set()

    def _next_run(self, name: str) -> datetime | None:
        job = self.scheduler.get_job(name)
        return getattr(job, "next_run_time", None) if job else None

    def _watch_state(self) -> None:
        crm = self.wiring.destination
        factory = db.session_factory(self.engine)

        def backlog() -> float:
            with factory() as session:
                return float(outbox.count_pending(session, crm.name))

        def dead() -> float:
            with factory() as session:
                return float(outbox.count_dead(session, crm.name))

        self.metrics.read_on_scrape(backlog, dead, lambda: crm.quota.share or 0.0)
