"""One sync pass: pull, map, resolve, plan, push.

Each page a source yields is handled in one transaction: bad records go to
quarantine, good ones are merged into their lead, the lead's CRM change is
planned into the outbox, and the source's cursor moves, all or nothing. Then the
pusher drains the outbox. A run killed anywhere starts again from the last
committed page and re-sends only what the CRM never confirmed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from leadsync import clock, log
from leadsync.connectors.base import Page, RawRecord, Source
from leadsync.errors import ConfigError, Interrupted, LeadsyncError, MappingError
from leadsync.mapping.fieldmap import SourceMap
from leadsync.mapping.lead import iso_utc
from leadsync.rules.decide import Decision
from leadsync.rules.lifecycle import StageEntry
from leadsync.state import db, repo
from leadsync.state.models import (
    Event,
    Lead,
    LeadIdentity,
    OutboxOp,
    SourceRecord,
    SyncRun,
    utcnow,
)
from leadsync.sync import feedback
from leadsync.sync import plan as planner
from leadsync.sync.decide import Decider
from leadsync.sync.push import PushStats, push
from leadsync.sync.resolve import lead_key, merge
from leadsync.sync.summary import RunSummary
from leadsync.sync.wiring import Wiring

logger = log.get("leadsync.sync")
MAX_SHOWN_CHANGES = 10
# How far ahead of the clock a source's time may be (clock skew) before it is not believed.
FUTURE_SKEW = timedelta(minutes=5)


@dataclass
class _Mapped:
    """A source record on its way through a page: its key, profile, previous version, lead."""

    key: str
    record: RawRecord
    profile: dict[str, Any]
    prior: SourceRecord | None
    lead: Lead | None = None
    new_identity: bool = False


def _same(prior: SourceRecord | None, record: RawRecord) -> bool:
    return prior is not None and prior.content_hash == record.content_hash


class Run:
    def __init__(
        self,
        wiring: Wiring,
        engine: Engine,
        *,
        dry_run: bool = False,
        only_source: str | None = None,
        push: bool = True,
        on_push: Callable[[int, int], None] | None = None,
        now: datetime | None = None,
        no_handoff: bool = False,
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
        self.on_push = on_push
        self.summary = RunSummary(run_id=str(uuid.uuid4()), dry_run=dry_run)
        self.policy = wiring.config.settings.sync
        # The moment decisions are made at: scores fade with time, so tests pin it.
        self.now = now or clock.now()
        self.decider = Decider(wiring, self.summary, self.now, no_handoff=no_handoff)

    def execute(self) -> RunSummary:
        """Run the pass; a fatal error ends it as `failed`, with the reason in the summary.

        A run that writes holds the state db's run lock throughout; a dry run reads only.
        """
        db.require_current(self.engine)
        if self.dry_run:
            return self._execute()
        with db.run_lock(self.engine):
            return self._execute()

    def _execute(self) -> RunSummary:
        started = time.monotonic()
        structlog.contextvars.bind_contextvars(run_id=self.summary.run_id)
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
            self.summary.api_calls = self.wiring.destination.calls.total
            self.summary.retried += self.wiring.destination.calls.retried
            self.summary.duration_s = round(time.monotonic() - started, 3)
            with self.factory() as session:
                self.summary.pending = repo.count_pending(session, self.wiring.destination.name)
            self._close_run()
            logger.info("sync.run.finished", **self.summary.log_fields())
            structlog.contextvars.unbind_contextvars("run_id")
        return self.summary

    # -- pull, map, resolve, plan ---------------------------------------------

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
        self._read_feedback()
        for name, source, smap in self._sources():
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
            last = None
            for page in source.read(position, self.policy.chunk_size):
                with self._transaction() as session:
                    self._page(session, name, smap, page, remap=remap)
                    last = {"position": page.cursor, "fields": fingerprint, "remapping": remap}
                    repo.save_cursor(session, name, last)
            if remap and last is not None:
                with self._transaction() as session:
                    repo.save_cursor(session, name, {**last, "remapping": False})

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
                    self._plan(session, applied.leads, sales=applied.entries)
                repo.save_cursor(session, key, cursor)
            self.summary.sales_stage_changes += applied.stages
            self.summary.sales_owner_changes += applied.owners
            self.summary.tasks_completed += applied.tasks_completed
        with self._transaction() as session:
            # Recycled leads whose day has come are decided again, touched or not.
            due = repo.leads_to_revisit(session, self.now.date())
            for lead in due.values():
                lead.revisit_on = None
            if due:
                self._plan(session, due)

    def _replan_if_crm_map_changed(self) -> None:
        """A new CRM map re-plans every lead: only real differences reach the outbox."""
        key = f"crm-map:{self.wiring.destination.name}"
        fingerprint = self.wiring.crm_fingerprint
        with self._transaction() as session:
            stored = repo.cursor(session, key)
            ids = [] if stored is None else repo.all_lead_ids(session)
            if stored is None or stored.get("fingerprint") == fingerprint or not ids:
                repo.save_cursor(session, key, {"fingerprint": fingerprint})
                return
        logger.info("sync.crm.replan", leads=len(ids))
        size = self.policy.chunk_size
        for start in range(0, len(ids), size):
            with self._transaction() as session:
                leads = repo.leads_by_id(session, ids[start : start + size])
                self._plan(session, leads)
                self.summary.replanned += len(leads)
                if start + size >= len(ids):
                    repo.save_cursor(session, key, {"fingerprint": fingerprint})

    def _replan_retried(self) -> None:
        """Leads whose refused write the admin sent back (`leadsync errors retry`): planned
        anew from the mapping in force, so that a fixed mapping is what reaches the CRM."""
        key = f"replan:{self.wiring.destination.name}"
        with self._transaction() as session:
            ids = repo.leads_to_replan(session, self.wiring.destination.name)
            if not ids:
                return
            leads = repo.leads_by_id(session, ids)
            self._plan(session, leads, revive=True)
            self.summary.replanned += len(leads)
            repo.save_cursor(session, key, {"leads": []})

    def _page(
        self, session: Session, source: str, smap: SourceMap, page: Page, *, remap: bool
    ) -> None:
        """One page, in the caller's transaction: map, resolve, remember, plan."""
        now = self.now  # the one clock: records seen in this run are seen at its time
        with session.no_autoflush:  # one flush per page, not one per lookup
            changed = self._map(session, source, smap, page.records, remap=remap)
            resolved = self._resolve_all(session, source, changed, now)
        touched = self._remember(session, source, resolved, now)
        self._plan(session, touched)

    def _map(
        self,
        session: Session,
        source: str,
        smap: SourceMap,
        records: Sequence[RawRecord],
        *,
        remap: bool,
    ) -> list[_Mapped]:
        """The page's records that are new or changed, mapped; the others counted or quarantined."""
        known = repo.source_records(
            session, source, [r.external_id for r in records if r.external_id]
        )
        out: list[_Mapped] = []
        # Keys mapped in this page. Across pages each page's stored versions are read
        # afresh, so only within a page can a later row be taken for unchanged.
        applied: set[str] = set()
        for rec in records:
            self.summary.read += 1
            if rec.problem:
                self._quarantine(session, source, rec, rec.problem_field, rec.problem)
                continue
            if (
                not remap
                and rec.external_id
                and rec.external_id not in applied
                and _same(known.get(rec.external_id), rec)
            ):
                self.summary.unchanged += 1  # checked before mapping: the cheap common case
                continue
            warnings: list[tuple[str, str]] = []
            try:
                profile = smap.apply(rec.data, warnings)
            except MappingError as exc:
                self._quarantine(session, source, rec, exc.field, exc.reason)
                continue
            for field, reason in warnings:
                self._warn(source, rec.ref, field, reason)
            if not rec.external_id and not profile.get("email"):
                reason = "no external id and no email: cannot tell who this is"
                self._quarantine(session, source, rec, "email", reason)
                continue
            key = rec.external_id or f"email:{profile['email']}"
            out.append(_Mapped(key, rec, profile, known.get(key)))
            if rec.external_id:
                # The same record twice in one read (a person exported twice under one id):
                # once one version is applied, every later one is too, so that the later
                # row wins on every re-read, not whichever differs from the last stored.
                applied.add(key)
        # Records known by email only: their previous version is looked up now.
        by_email = [m.key for m in out if not m.record.external_id]
        if by_email:
            known = repo.source_records(session, source, by_email)
            for m in out:
                if not m.record.external_id:
                    m.prior = known.get(m.key)
            kept = []
            for m in out:  # in file order: the same person twice, as above
                if remap or m.record.external_id or m.key in applied:
                    kept.append(m)
                elif not _same(m.prior, m.record):
                    kept.append(m)
                    applied.add(m.key)
            self.summary.unchanged += len(out) - len(kept)
            out = kept
        return out

    def _resolve_all(
        self, session: Session, source: str, mapped: list[_Mapped], now: datetime
    ) -> list[_Mapped]:
        """Each record's lead, found or created, with the record's profile merged in."""
        ids = repo.identities(
            session, source, [m.record.external_id for m in mapped if m.record.external_id]
        )
        leads = repo.leads_by_id(session, ids.values())
        by_ext = {ext: leads[lead_id] for ext, lead_id in ids.items() if lead_id in leads}
        by_email = repo.leads_by_email(
            session, [m.profile["email"] for m in mapped if m.profile.get("email")]
        )
        seen_at = iso_utc(now)
        latest = iso_utc(now + FUTURE_SKEW)
        # A lead holding the key this record's person derives to is that person: one
        # `reconcile --adopt` took back from the CRM, or one whose email changed since.
        by_key = repo.leads_by_key(
            session,
            [lead_key(source, m.record.external_id, m.profile.get("email")) for m in mapped],
        )
        for m in mapped:
            m.lead = self._resolve(
                session, source, m.record, m.profile, by_ext, by_email, now, by_key
            )
            m.new_identity = bool(m.record.external_id) and m.record.external_id not in ids
            at = m.profile.get("source_updated_at") or seen_at
            if at > latest:
                # A time in the future would make this record win over every later one.
                reason = f"{at} is in the future: taken as {seen_at}"
                self._warn(source, m.record.ref, "source_updated_at", reason)
                m.profile["source_updated_at"] = at = seen_at
            lead = m.lead
            profile, times, changed = merge(lead.profile, lead.profile_times, m.profile, at)
            if changed:
                lead.profile, lead.profile_times, lead.updated_at = profile, times, now
                lead.email = profile.get("email") or lead.email
        return mapped

    def _remember(
        self, session: Session, source: str, resolved: list[_Mapped], now: datetime
    ) -> dict[int, Lead]:
        """Store identities and record hashes (bulk inserts); return the leads touched."""
        session.flush()  # gives every new lead of the page its id
        touched: dict[int, Lead] = {}
        identities: dict[str, dict[str, Any]] = {}
        records: dict[str, dict[str, Any]] = {}
        for m in resolved:
            assert m.lead is not None
            touched[m.lead.id] = m.lead
            ext = m.record.external_id
            if ext and m.new_identity:
                identities.setdefault(
                    ext, {"source": source, "external_id": ext, "lead_id": m.lead.id}
                )
            if m.prior is not None:
                m.prior.content_hash, m.prior.lead_id, m.prior.seen_at = (
                    m.record.content_hash,
                    m.lead.id,
                    now,
                )
            else:
                records[m.key] = {
                    "source": source,
                    "external_id": m.key,
                    "content_hash": m.record.content_hash,
                    "lead_id": m.lead.id,
                    "seen_at": now,
                }
        if identities:
            session.execute(insert(LeadIdentity), list(identities.values()))
        if records:
            session.execute(insert(SourceRecord), list(records.values()))
        self._store_events(session, source, resolved)
        return touched

    def _store_events(self, session: Session, source: str, resolved: list[_Mapped]) -> None:
        """The page's events, stored once each under their stable key."""
        event_map = self.wiring.events.get(source)
        rows: dict[str, dict[str, Any]] = {}
        for m in resolved:
            if m.lead is None:
                continue
            found: list[dict[str, Any] | None] = [
                dict(e, key=f"{source}:{e['key']}") for e in m.record.events
            ]
            if event_map is not None:
                found.append(event_map.event(m.key, m.record.data))
            for event in found:
                if event is not None:
                    rows[event["key"]] = {**event, "lead_id": m.lead.id, "source": source}
        if not rows:
            return
        known = repo.events_by_key(session, rows)
        for key, row in list(rows.items()):
            if key in known:  # the record changed: so did its event
                old = known.pop(key)
                old.type, old.at, old.attributes, old.lead_id = (
                    row["type"],
                    row["at"],
                    row["attributes"],
                    row["lead_id"],
                )
                del rows[key]
        if rows:
            session.execute(insert(Event), list(rows.values()))

    def _resolve(
        self,
        session: Session,
        source: str,
        rec: RawRecord,
        profile: dict[str, Any],
        by_ext: dict[str, Lead],
        by_email: dict[str, Lead],
        now: Any,
        by_key: dict[str, Lead],
    ) -> Lead:
        """The lead this record is about: by the source's id, then by email, then by the key
        its person derives to, else a new one."""
        email = profile.get("email")
        key = lead_key(source, rec.external_id, email)
        lead = by_ext.get(rec.external_id) if rec.external_id else None
        if lead is None and email:
            lead = by_email.get(email)
        if lead is None:
            lead = by_key.get(key)
        if lead is None:
            lead = Lead.new(key, email, now)
            session.add(lead)
        if email:
            by_email.setdefault(email, lead)
        if rec.external_id:
            by_ext.setdefault(rec.external_id, lead)
        by_key.setdefault(key, lead)
        return lead

    def _plan(
        self,
        session: Session,
        touched: dict[int, Lead],
        sales: dict[int, list[StageEntry]] | None = None,
        *,
        revive: bool = False,
    ) -> None:
        """Decide the leads and plan their CRM writes into the outbox. ``revive``: an op
        planned before under the same key (refused, then sent back by the admin) is put
        back to pending rather than planned twice."""
        decisions = self.decider.decide(session, touched, sales)
        dest = self.wiring.destination
        last = repo.crm_records(session, dest.name, touched)
        pending = repo.pending_upserts(session, dest.name, touched)
        ops: list[dict[str, Any]] = []
        for lead_id, lead in touched.items():
            try:
                decided = decisions[lead_id].fields if lead_id in decisions else {}
                desired = self.wiring.crm_map.desired({**lead.profile, **decided})
            except MappingError as exc:
                self._quarantine_lead(session, lead, exc)
                continue
            record = last.get(lead_id)
            payload = planner.upsert_payload(
                external_id_field=dest.external_id_field,
                lead_key=lead.key,
                desired=desired,
                last=record.fields if record else None,
                direction=self.wiring.crm_map.direction,
                crm=record.seen if record else None,
            )
            if payload is None:
                if lead_id in pending:
                    # The lead went back to what the CRM holds (a value changed and changed
                    # back within the run): the change waiting in the outbox is stale.
                    repo.supersede(session, pending[lead_id])
                continue
            base = record.synced_at.isoformat() if record else "new"
            key = planner.op_key(dest.name, lead.key, payload, base)
            old = pending.get(lead_id)
            if old is not None and old.key == key:
                continue
            if old is not None:
                repo.supersede(session, old)
            ops.append(
                repo.outbox_row(
                    key,
                    dest.name,
                    "upsert",
                    lead_id,
                    payload,
                    self.summary.run_id,
                    handoff=_is_handoff(decisions.get(lead_id), (sales or {}).get(lead_id)),
                )
            )
            self.summary.planned(
                record is None,
                planner.field_diff(payload, record.fields if record else None),
                lead.key,
                MAX_SHOWN_CHANGES,
            )
        if ops:
            # The same change on the same base was planned before (a CRM map change that
            # alters nothing here, or a write refused and sent back): never twice.
            earlier = repo.ops_by_keys(session, [op["key"] for op in ops])
            for op in earlier.values():
                if revive and op.status == "superseded":
                    op.status, op.attempts, op.updated_at = "pending", 0, utcnow()
            ops = [op for op in ops if op["key"] not in earlier]
        if ops:
            session.execute(insert(OutboxOp), ops)

    def _quarantine(
        self, session: Session, source: str, rec: RawRecord, field: str | None, reason: str
    ) -> None:
        self.summary.quarantined += 1
        self.summary.note_problem(source, rec.ref, field, reason)
        # The reason quotes the bad value (an email, a phone): personal data stays out of
        # log lines above debug; the quarantine table and `leadsync status` keep it whole.
        logger.warning("sync.record.quarantined", source=source, record=rec.ref, field=field)
        logger.debug("sync.record.quarantined.reason", record=rec.ref, reason=reason)
        repo.quarantine(
            session, self.summary.run_id, source, rec.ref, field, reason, dict(rec.data)
        )

    def _warn(self, source: str, ref: str, field: str, reason: str) -> None:
        """A value set aside while the record goes on: said in the run's problems."""
        self.summary.warnings += 1
        self.summary.note_problem(source, ref, field, reason)
        logger.warning("sync.record.value_set_aside", source=source, record=ref, field=field)
        logger.debug("sync.record.value_set_aside.reason", record=ref, reason=reason)

    def _quarantine_lead(self, session: Session, lead: Lead, exc: MappingError) -> None:
        self.summary.quarantined += 1
        self.summary.note_problem("crm", f"lead {lead.key}", exc.field, exc.reason)
        repo.quarantine(
            session,
            self.summary.run_id,
            "crm",
            f"lead {lead.key}",
            exc.field,
            exc.reason,
            dict(lead.profile),
        )

    # -- push ------------------------------------------------------------------

    def _push(self) -> None:
        stats = PushStats()
        try:
            push(
                self.factory,
                self.wiring.destination,
                self.policy,
                run_id=self.summary.run_id,
                on_batch=self.on_push,
                stats=stats,
            )
        finally:
            # A push that stops half-way still reports what it wrote.
            self._count(stats)

    def _count(self, stats: PushStats) -> None:
        self.summary.quota = stats.quota_note
        self.summary.bulk = self.summary.bulk or stats.bulk
        self.summary.created += stats.created
        self.summary.adopted += stats.adopted
        self.summary.updated += stats.updated
        self.summary.failed += stats.failed
        self.summary.retried += stats.retried
        self.summary.tasks_created += stats.tasks_created
        self.summary.nurture_added += stats.nurture_added
        self.summary.nurture_left += stats.nurture_left

    # -- the run's own record --------------------------------------------------

    def _open_run(self) -> None:
        if self.dry_run:
            return
        with self.factory() as session, session.begin():
            session.add(
                SyncRun(
                    id=self.summary.run_id,
                    started_at=utcnow(),
                    status="running",
                    dry_run=False,
                    summary={},
                )
            )

    def _close_run(self) -> None:
        if self.dry_run:
            return
        with self.factory() as session, session.begin():
            run = session.get(SyncRun, self.summary.run_id)
            if run is not None:
                run.finished_at = utcnow()
                run.status = self.summary.status
                run.summary = self.summary.as_dict()


# Entering these stages, or a new owner, is news for sales: written first on a low quota.
HANDOFF_STAGES = frozenset({"mql", "sal", "sql"})


def _is_handoff(decision: Decision | None, by_sales: list[StageEntry] | None) -> bool:
    if by_sales:
        return True
    if decision is None:
        return False
    return decision.route is not None or any(e.stage in HANDOFF_STAGES for e in decision.entries)
