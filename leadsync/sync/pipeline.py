"""One sync pass: pull, map, resolve, plan, push.

Each page a source yields is handled in one transaction: bad records go to
quarantine, good ones are merged into their lead, the lead's CRM change is
planned into the outbox, and the source's cursor moves, all or nothing. Then the
pusher drains the outbox. A run killed anywhere starts again from the last
committed page and re-sends only what the CRM never confirmed.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from leadsync import clock, log
from leadsync.connectors.base import Page, Source
from leadsync.errors import ConfigError, Interrupted, LeadsyncError
from leadsync.mapping.fieldmap import SourceMap
from leadsync.state import db, firstload, merges, outbox, owners, quarantine, repo
from leadsync.state.models import Lead
from leadsync.sync import feedback
from leadsync.sync.decide import Decider
from leadsync.sync.ingest import map_page, record_again
from leadsync.sync.plan import Planner
from leadsync.sync.push import push
from leadsync.sync.readahead import read_ahead
from leadsync.sync.resolve import remember, resolve_page
from leadsync.sync.summary import RunSummary
from leadsync.sync.sweep import rescore_decayed, sweep_sla
from leadsync.sync.wiring import Wiring

logger = log.get("leadsync.sync")


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """A run allocates millions of short-lived objects (rows, profiles, ORM states): at
    Python's default of a young-generation pass per 700 allocations, the cyclic garbage
    collector took 15% of a first sync's CPU (bench/scale.py). Passes every 50,000
    allocations for the run, the defaults back after it."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class Run:
    def __init__(
        self,
        wiring: Wiring,
        engine: Engine,
        *,
        dry_run: bool = False,
        only_source: str | None = None,
        push: bool = True,
        on_push: Callable[[str, int, Mapping[str, int]], None] | None = None,
        on_read: Callable[[str, int], None] | None = None,
        now: datetime | None = None,
        no_handoff: bool = False,
        read_sources: bool = True,
        read_feedback: bool = True,
        rescore: bool = False,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        if only_source and only_source not in wiring.sources:
            known = ", ".join(wiring.sources)
            raise ConfigError(f"--source {only_source}: no such source (configured: {known})")
        self.wiring = wiring
        self.engine = engine
        self.factory = db.session_factory(engine)
        self.dry_run = dry_run
        self.only_source = only_source
        self.push = push  # False: plan into the outbox and stop (the next run pushes)
        self._dry_session: Session | None = None
        self._lookups: firstload.Lookups = firstload.INDEXED
        # Watchers (a terminal's progress): records read, mapped and planned so far, by
        # source; ops written so far, by kind, against those pending at the push's start.
        self.on_push = on_push
        self.on_read = on_read
        # What a run does (the service runs the steps as separate jobs): the sources, what
        # sales did in the CRM, the recycled leads whose day has come; then the push.
        self.read_sources = read_sources
        self.read_feedback = read_feedback
        self.rescore = rescore  # write decayed scores that moved (the service's job)
        # Asked between pages and between batches: True stops the run once what is in
        # flight has committed (the service's graceful stop).
        self.stop = stop or (lambda: False)
        self._calls_before = self._calls()  # the connectors outlive a run in the service
        wiring.attach_inbox(self.factory)
        self.summary = RunSummary(run_id=str(uuid.uuid4()), dry_run=dry_run)
        self.policy = wiring.config.settings.sync
        # The moment decisions are made at: scores fade with time, so tests pin it.
        self.now = now or clock.now()
        decider = Decider(wiring, self.summary, self.now, no_handoff=no_handoff)
        self.planner = Planner(wiring, self.summary, decider)

    def execute(self) -> RunSummary:
        """Run the pass; a fatal error ends it as `failed`, with the reason in the summary.

        A run that writes holds the state db's run lock throughout; a dry run reads only.
        """
        db.require_current(self.engine)
        with fewer_gc_passes():
            if self.dry_run:
                return self._execute()
            with db.run_lock(self.engine):
                return self._execute()

    def _execute(self) -> RunSummary:
        started = time.monotonic()
        structlog.contextvars.bind_contextvars(run_id=self.summary.run_id)
        if not self.dry_run:
            firstload.restore(self.engine)  # a first load a crash cut short
        self._open_run()
        try:
            if self.dry_run:
                with self.factory() as session:
                    self._dry_session = session
                    self._ingest()
                    session.rollback()  # the state db is left as it was
            else:
                self._ingest()
                if self.push:
                    self._push()
        except LeadsyncError as exc:
            self.summary.fail(exc)
            logger.error("sync.run.failed", error=str(exc), disposition=exc.disposition)
        except (Interrupted, KeyboardInterrupt) as exc:
            # Asked to stop: what is committed stays, the outbox keeps the rest.
            name = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
            self.summary.stopped = name
            self.summary.error = f"stopped by {name}; the next sync goes on from here"
            logger.warning("sync.run.stopped", signal=name)
            raise
        except BaseException as exc:
            # A bug: the run's record says so before the error goes on up.
            self.summary.fail(LeadsyncError(f"internal error: {exc!r}"))
            raise
        finally:
            (total, retried, limited), before = self._calls(), self._calls_before
            self.summary.api_calls = total - before[0]
            self.summary.retried += retried - before[1]
            self.summary.rate_limited += limited - before[2]
            self.summary.duration_s = round(time.monotonic() - started, 3)
            with self.factory() as session:
                self.summary.pending = outbox.count_pending(session, self.wiring.destination.name)
            self._close_run()
            logger.info("sync.run.finished", **self.summary.log_fields())
            structlog.contextvars.unbind_contextvars("run_id")
        return self.summary

    # -- pull, map, resolve, plan ---------------------------------------------

    def _calls(self) -> tuple[int, int, int]:
        """Requests sent to the CRM so far; requests sent again, and of those the ones a
        system asked to slow down, by the CRM's connector and the sources'."""
        crm = self.wiring.destination.calls
        sources = [source.calls for source, _ in self.wiring.sources.values()]
        retried = crm.retried + sum(c.retried for c in sources)
        return crm.total, retried, crm.limited + sum(c.limited for c in sources)

    def _sources(self) -> list[tuple[str, Source, SourceMap]]:
        return [
            (n, s, m) for n, (s, m) in self.wiring.sources.items() if self.only_source in (None, n)
        ]

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A committed transaction; in a dry run, the one session that is rolled back at the end."""
        if self._dry_session is not None:
            yield self._dry_session
            self._dry_session.flush()
            return
        with self.factory() as session, session.begin():
            yield session

    def _ingest(self) -> None:
        self._replan_if_crm_map_changed()
        self._replan_retried()
        if self.read_feedback:
            self._read_feedback()
        self._revisit_due()
        self._sweep_sla()
        if self.rescore:
            self._rescore()
        if not self.read_sources:
            return
        first_load = None if self.dry_run else firstload.begin(self.engine)
        self._lookups = first_load or firstload.INDEXED
        try:
            for name, source, smap in self._sources():
                self._read(name, source, smap)
        finally:
            if first_load is not None:
                self._lookups = firstload.INDEXED
                first_load.close()
                firstload.restore(self.engine)

    def _read(self, name: str, source: Source, smap: SourceMap) -> None:
        """One source's new pages, each committed with the cursor past it."""
        with self._transaction() as session:
            stored = repo.cursor(session, name) or {}
        fingerprint = self.wiring.source_fingerprints[name]
        changed_map = bool(stored) and stored.get("fields") != fingerprint
        # A changed map reads everything again and maps it anew, unchanged rows too; a
        # remap cut short by a crash goes on from its last page, still remapping.
        remap = changed_map or bool(stored.get("remapping"))
        if remap:
            logger.info("sync.source.remap", source=name, resumed=not changed_map)
        position = None if changed_map else stored.get("position")
        self._retry_quarantined(name, source, smap)
        last, read = None, 0
        pages = source.read(position, self.policy.chunk_size)
        for page in read_ahead(pages, name=name) if source.read_ahead else pages:
            with self._transaction() as session:
                self._page(session, name, smap, page, remap=remap)
                last = {"position": page.cursor, "fields": fingerprint, "remapping": remap}
                repo.save_cursor(session, name, last)
            self._lookups.committed(self.engine)
            read += len(page.records)
            if self.on_read is not None:
                self.on_read(name, read)
            self._stop_if_asked()
        if remap and last is not None:
            with self._transaction() as session:
                repo.save_cursor(session, name, {**last, "remapping": False})

    def _retry_quarantined(self, name: str, source: Source, smap: SourceMap) -> None:
        """The records of this source an admin asked to try again, mapped anew (a record
        still wrong goes back to the quarantine with today's reason)."""
        with self._transaction() as session:
            rows = quarantine.take_retries(session, name)
            if rows:
                records = [record_again(source, q.record_ref, q.raw) for q in rows]
                self._page(session, name, smap, Page(records, {}), remap=True)
                logger.info("sync.quarantine.retried", source=name, records=len(rows))

    def _read_feedback(self) -> None:
        """What sales did in the CRM since the last run: stages, owners, completed tasks;
        each page applied, and its leads decided and planned again, with its cursor."""
        spec = self.wiring.feedback
        if spec is None:
            return
        dest = self.wiring.destination
        key = f"feedback:{dest.name}"
        with self._transaction() as session:
            position = repo.cursor(session, key)
        for changes, cursor in dest.read_changes(position, spec.lead_fields()):
            with self._transaction() as session:
                applied = feedback.apply(session, spec, changes, dest, self.now)
                if applied.leads:
                    self.planner.plan(session, applied.leads, sales=applied.entries)
                repo.save_cursor(session, key, cursor)
            self.summary.sales_stage_changes += applied.stages
            self.summary.sales_owner_changes += applied.owners
            self.summary.tasks_completed += applied.tasks_completed
            self._stop_if_asked()

    def _revisit_due(self) -> None:
        with self._transaction() as session:
            # Recycled leads whose day has come are decided again, touched or not.
            due = repo.leads_to_revisit(session, self.now.date())
            for lead in due.values():
                lead.revisit_on = None
            if due:
                self.planner.plan(session, due)

    def _sweep_sla(self) -> None:
        """Follow-up SLAs past due move up their ladder: reassign, escalate, recycle."""
        if self.wiring.sla is None:
            return
        with self._transaction() as session:
            sweep_sla(session, self.wiring, self.planner, self.summary, self.now)

    def _rescore(self) -> None:
        """Behaviour scores decay: leads whose score moved enough are planned again."""
        with self._transaction() as session:
            ids = repo.leads_with_behaviour(session)
        size = self.policy.chunk_size
        for start in range(0, len(ids), size):
            with self._transaction() as session:
                chunk = ids[start : start + size]
                rescore_decayed(session, self.wiring, self.planner, self.summary, self.now, chunk)
            self._stop_if_asked()

    def _stop_if_asked(self) -> None:
        """Between committed pages or batches: stop here when the service is stopping."""
        if self.stop():
            raise Interrupted("SIGTERM")

    def _replan_if_crm_map_changed(self) -> None:
        """A new CRM map re-plans every lead: only real differences reach the outbox."""
        key = f"crm-map:{self.wiring.destination.name}"
        fingerprint = self.wiring.crm_fingerprint
        with self._transaction() as session:
            stored = repo.cursor(session, key)
            if stored is not None and stored.get("fingerprint") == fingerprint:
                return  # the map the leads were planned with: nothing to read
            # Every lead's id only when the map changed (a no-op sync of a million leads
            # read them all for nothing).
            ids = [] if stored is None else repo.all_lead_ids(session)
            if not ids:
                repo.save_cursor(session, key, {"fingerprint": fingerprint})
                return
        logger.info("sync.crm.replan", leads=len(ids))
        size = self.policy.chunk_size
        for start in range(0, len(ids), size):
            with self._transaction() as session:
                leads = repo.leads_by_id(session, ids[start : start + size])
                self.planner.plan(session, leads)
                self.summary.replanned += len(leads)
                if start + size >= len(ids):
                    repo.save_cursor(session, key, {"fingerprint": fingerprint})

    def _replan_retried(self) -> None:
        """Leads whose refused write the admin sent back (`leadsync errors retry`): planned
        anew from the mapping in force, so that a fixed mapping is what reaches the CRM."""
        key = f"replan:{self.wiring.destination.name}"
        with self._transaction() as session:
            ids = outbox.leads_to_replan(session, self.wiring.destination.name)
            if not ids:
                return
            leads = repo.leads_by_id(session, ids)
            self.planner.plan(session, leads)
            self.summary.replanned += len(leads)
            repo.save_cursor(session, key, {"leads": []})

    def _page(
        self, session: Session, source: str, smap: SourceMap, page: Page, *, remap: bool
    ) -> None:
        """One page, in the caller's transaction: map, resolve, remember, decide and plan."""
        now = self.now  # the one clock: records seen in this run are seen at its time
        with session.no_autoflush:  # one flush per page, not one per lookup
            lookups = self._lookups  # a first load's own, or the state db's indexes
            changed = map_page(
                session,
                self.summary,
                source,
                smap,
                page.records,
                remap=remap,
                complete=self.wiring.sources[source][0].complete,
                lookups=lookups,
            )
            resolve_page(session, self.summary, source, changed, now, lookups)
        touched = remember(session, source, changed, now, self.wiring.events.get(source), lookups)
        if page.merged or page.deleted:
            touched.update(self._follow(session, source, page))
        self.planner.plan(session, touched, lookups=self._lookups)

    def _follow(self, session: Session, source: str, page: Page) -> dict[int, Lead]:
        """Merges and deletes the source reported: the winners' leads, to decide again."""
        grown = merges.follow_merges(session, source, page.merged)
        self.summary.merged += len(page.merged)
        self.summary.deleted += merges.forget(session, source, page.deleted)
        merged, deleted = len(page.merged), len(page.deleted)
        logger.info("sync.source.followed", source=source, merged=merged, deleted=deleted)
        return repo.leads_by_id(session, sorted(grown))

    # -- push ------------------------------------------------------------------

    def _push(self) -> None:
        # What is written is counted in the run's summary as it goes: a push that stops
        # half-way still reports what it wrote.
        def on_batch(kind: str, done: int, pending: Mapping[str, int]) -> None:
            if self.on_push is not None:
                self.on_push(kind, done, pending)
            self._stop_if_asked()

        push(self.factory, self.wiring.destination, self.policy, self.summary, on_batch=on_batch)

    # -- the run's own record --------------------------------------------------

    def _open_run(self) -> None:
        if self.dry_run:
            return
        with self.factory() as session, session.begin():
            repo.open_run(session, self.summary.run_id)

    def _close_run(self) -> None:
        if self.dry_run:
            return
        with self.factory() as session, session.begin():
            repo.close_run(
                session, self.summary.run_id, self.summary.status, self.summary.as_dict()
            )
            names = self.wiring.destination.owner_names()
            if names:
                owners.remember(session, self.wiring.destination.name, names)
