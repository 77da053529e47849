"""The pusher: drains the outbox into the destination, in the largest batches the API allows.

For each batch:

1. the request is sent with bounded retries (tenacity: exponential backoff
   with jitter; ``Retry-After`` honoured) for what can succeed later;
2. each record's own result is written back in one transaction: done (with
   the CRM id, and the fields now in the CRM), retried alone later (a row
   lock), or dead-lettered with the CRM's code and message.

An op is marked done only after the CRM accepted it, and every op is an
upsert by external id: a process killed between the two re-sends the batch,
and the CRM ends with one record per lead, never two.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from leadsync import log
from leadsync.connectors.base import Destination, RecordResult
from leadsync.errors import RateLimited, RequestRejected, SyncError
from leadsync.retry import RetryPolicy
from leadsync.settings import SyncSection
from leadsync.state import outbox, repo
from leadsync.state.models import CrmRecord, utcnow
from leadsync.state.outbox import PendingOp
from leadsync.sync.quota import QuotaFellLow, QuotaGate, hold, quota_mode
from leadsync.sync.summary import RunSummary

logger = log.get("leadsync.sync.push")


def retry_policy(policy: SyncSection, deadline: float) -> RetryPolicy:
    """The pusher's retries, from the config: within what is left of the push deadline."""
    return RetryPolicy(
        attempts=policy.max_attempts,
        initial_seconds=policy.backoff_initial_seconds,
        max_seconds=policy.backoff_max_seconds,
        deadline_seconds=max(deadline - time.monotonic(), 1.0),
    )


def push(
    factory: sessionmaker[Session],
    destination: Destination,
    policy: SyncSection,
    stats: RunSummary,
    *,
    on_batch: Callable[[str, int, Mapping[str, int]], None] | None = None,
) -> RunSummary:
    """Drain the destination's pending ops, leads before the tasks that name them; raise
    only when the run must stop. ``stats`` (given by the caller) holds what was done even
    when the push stops half-way."""
    run_id = stats.run_id
    deadline = time.monotonic() + policy.push_deadline_seconds
    with factory() as session:
        pending = outbox.pending_by_kind(session, destination.name)  # counted once a push
    total = sum(pending.values())
    threshold = destination.bulk_threshold
    # A backfill: a few requests per bulk job instead of one per batch of 200.
    bulk = threshold is not None and pending.get("upsert", 0) >= threshold
    if total and not bulk:  # a bulk job's first answer tells the quota (QuotaGate)
        destination.refresh_quota()
    for kind in KINDS:
        _drain(
            factory,
            destination,
            policy,
            kind,
            stats,
            deadline,
            run_id,
            _watching(on_batch, kind, pending),
            bulk=bulk and kind == "upsert",
        )
    return stats


def _watching(
    on_batch: Callable[[str, int, Mapping[str, int]], None] | None,
    kind: str,
    pending: Mapping[str, int],
) -> Callable[[int], None]:
    """What each drained batch of ``kind`` tells the watcher, if one watches."""

    def tell(finished: int) -> None:
        if on_batch is not None:
            on_batch(kind, finished, pending)

    return tell


# Leads first: a task can only name a lead the CRM already holds; a task handed on is set
# aside after its successor exists.
KINDS = ("upsert", "task", "task_mark", "nurture")


def _drain(
    factory: sessionmaker[Session],
    destination: Destination,
    policy: SyncSection,
    kind: str,
    stats: RunSummary,
    deadline: float,
    run_id: str,
    progress: Callable[[int], Any],
    *,
    bulk: bool = False,
) -> None:
    size = destination.batch_size
    upsert = destination.upsert
    if bulk:
        size, upsert = destination.bulk_job_size, destination.bulk_upsert
        stats.bulk = True
    while True:
        mode = quota_mode(destination.quota, policy)
        if mode == "stopped" or (mode == "handoffs" and kind == "nurture"):
            hold(factory, destination, policy, stats, mode)
            return
        with factory() as session:
            ops = outbox.next_batch(
                session, destination.name, kind, size, handoffs_only=mode == "handoffs"
            )
            if mode == "handoffs" and stats.quota is None:
                hold(factory, destination, policy, stats, mode)
            if not ops:
                return
            if time.monotonic() > deadline:
                raise SyncError(
                    f"push deadline of {policy.push_deadline_seconds:.0f}s passed with "
                    f"{outbox.count_pending(session, destination.name)} ops still pending; "
                    "they stay in the outbox for the next run"
                )
            retry_round = max(op.attempts for op in ops)
            if retry_round:
                # These records failed alone before (a row lock): give the CRM a moment.
                time.sleep(retry_policy(policy, deadline).backoff(retry_round))
            outcomes = outbox.Outcomes()
            ops = _sendable(ops, stats, outcomes)
            # What the CRM holds for these leads: their ids to send, their records to update.
            known = repo.crm_records(session, destination.name, [op.lead_id for op in ops])
            if kind != "upsert":
                ops, call = _related_call(destination, kind, ops, known, stats, outcomes)
            else:
                crm_ids = [known[op.lead_id].crm_id if op.lead_id in known else None for op in ops]
                call = partial(upsert, [op.payload for op in ops], crm_ids)
                if bulk:
                    gate = QuotaGate(destination, policy, chosen_under=mode)
                    call = partial(call, before_upload=gate)
            finished = 0
            if ops:
                tries = stats.retried
                try:
                    results = _send(destination, call, len(ops), policy, stats, deadline)
                except QuotaFellLow:
                    session.rollback()
                    continue  # chosen again under the quota as it now stands
                # Sent more than once (a timeout, a dropped answer): "not created" may be
                # our own first try's create.
                resent = stats.retried > tries
                finished = _record(
                    session,
                    destination,
                    kind,
                    ops,
                    results,
                    known,
                    policy,
                    stats,
                    run_id,
                    outcomes,
                    resent=resent,
                )
            outcomes.write(session)
            session.commit()
        progress(finished)


def _sendable(
    ops: list[PendingOp], stats: RunSummary, outcomes: outbox.Outcomes
) -> list[PendingOp]:
    """The ops a request can carry. One holding a number no JSON can carry (NaN, infinity:
    planned before leadsync refused them at mapping) is dead-lettered alone, naming the
    field, so that it cannot fail its whole batch run after run."""
    ready = []
    for op in ops:
        bad = [k for k, v in op.payload.items() if isinstance(v, float) and not math.isfinite(v)]
        if not bad:
            ready.append(op)
            continue
        outcomes.dead(
            op,
            "INVALID_NUMBER",
            f"{bad[0]} is {op.payload[bad[0]]}: not a number a "
            "CRM can hold; fix the source value or the mapping, then `leadsync errors retry`",
            bad,
        )
        stats.failed += 1
    return ready


def _related_call(
    destination: Destination,
    kind: str,
    ops: list[PendingOp],
    known: dict[int, CrmRecord],
    stats: RunSummary,
    outcomes: outbox.Outcomes,
) -> tuple[list[PendingOp], Callable[[], list[RecordResult]]]:
    """Ops about a lead (a task, a nurture change) whose lead is in the CRM, ready to send;
    the others dead-lettered, saying why."""
    ready = [op for op in ops if known.get(op.lead_id) and known[op.lead_id].crm_id]
    for op in ops:
        if op not in ready:
            outcomes.dead(
                op,
                "LEAD_NOT_IN_CRM",
                f"the lead this {kind} op is for never reached the CRM (see the lead's "
                "own dead letter); fix that, then retry both",
                [],
            )
            stats.failed += 1
    who = [str(known[op.lead_id].crm_id) for op in ready]
    if kind == "task_mark":
        return ready, partial(destination.mark_tasks, [op.payload for op in ready])
    if kind == "task":
        # A record taken over may hold an open task another state db left: the CRM is asked.
        tasks = [{**op.payload, "check_open": known[op.lead_id].adopted} for op in ready]
        return ready, partial(destination.upsert_tasks, tasks, who)
    return ready, partial(destination.set_nurture, [op.payload for op in ready], who)


def _send(
    destination: Destination,
    call: Callable[[], list[RecordResult]],
    count: int,
    policy: SyncSection,
    stats: RunSummary,
    deadline: float,
) -> list[RecordResult]:
    def before_retry(error: BaseException, attempt: int) -> None:
        stats.retried += 1
        if isinstance(error, RateLimited):
            stats.rate_limited += 1
        logger.warning(
            "sync.batch.retry",
            destination=destination.name,
            attempt=attempt,
            error=str(error),
            code=getattr(error, "details", {}).get("code"),
        )

    try:
        return retry_policy(policy, deadline).call(call, on_retry=before_retry)
    except RequestRejected as exc:
        # The request as a whole was refused (its shape, not one record): every
        # record in it carries the reason, and the rest of the outbox goes on.
        code = str(exc.details.get("code") or "REQUEST_REJECTED")
        return [RecordResult(ok=False, code=code, message=exc.message) for _ in range(count)]


def _record(
    session: Session,
    destination: Destination,
    kind: str,
    ops: Any,
    results: list[RecordResult],
    known: dict[int, CrmRecord],
    policy: SyncSection,
    stats: RunSummary,
    run_id: str,
    outcomes: outbox.Outcomes,
    *,
    resent: bool = False,
) -> int:
    """Each record's outcome, noted in ``outcomes``; return how many ops are finished
    (done or dead)."""
    counts = {"ok": 0, "retry": 0, "dead": 0}
    made: dict[int, dict[str, Any]] = {}  # CRM records new to this state db, as rows
    answered = utcnow()  # when the CRM's answer came: the batch's records are as of then
    for op, result in zip(ops, results, strict=True):
        attempts = op.attempts + 1
        first_try = attempts == 1 and not resent
        if result.ok and kind != "upsert":
            outcomes.done(op, result.crm_id)
            if kind == "task":
                # Not new: an open task taken over, or one the CRM held under this very
                # key on a first try (a state db rebuilt from scratch derives the same key).
                if not result.adopted and (result.created or not first_try):
                    stats.tasks_created += 1
            elif kind == "nurture" and op.payload.get("action") == "join":
                stats.nurture_added += 1
            elif kind == "nurture":
                stats.nurture_left += 1
            counts["ok"] += 1
        elif result.ok:
            outcomes.done(op)
            _apply(made, known, destination.name, op, result, stats, answered, first_try=first_try)
            counts["ok"] += 1
        elif result.retriable and attempts < policy.max_attempts:
            outcomes.retry_later(op, result.code, result.message)
            stats.retried += 1
            counts["retry"] += 1
        else:
            reason = result.message or ""
            if result.retriable:
                reason = f"{reason} (still failing after {attempts} attempts)"
            outcomes.dead(op, result.code or "UNKNOWN", reason, result.fields)
            stats.failed += 1
            counts["dead"] += 1
    repo.add_crm_records(session, made.values())
    logger.info(
        "sync.batch.pushed",
        run_id=run_id,
        destination=destination.name,
        kind=kind,
        size=len(ops),
        written=counts["ok"],
        retry_later=counts["retry"],
        dead=counts["dead"],
    )
    return counts["ok"] + counts["dead"]


def _apply(
    made: dict[int, dict[str, Any]],
    known: dict[int, CrmRecord],
    destination: str,
    op: PendingOp,
    result: RecordResult,
    stats: RunSummary,
    at: datetime,
    *,
    first_try: bool = True,
) -> None:
    """An upsert the CRM took: what the CRM now holds remembered."""
    record = known.get(op.lead_id)
    if record is not None:
        stats.updated += 1
        repo.record_written(record, op.payload, result.crm_id, at)
        return
    row = made.get(op.lead_id)
    if row is not None:  # written twice in one batch: the later fields on top
        stats.updated += 1
        row["fields"] = {**row["fields"], **op.payload}
        row["crm_id"] = result.crm_id or row["crm_id"]
        return
    # New to this state db. Taken over when the CRM had the record already: found by email,
    # or, on a first try, under the same key (a state db rebuilt from scratch derives the
    # keys the lost one wrote). A create sent again after its answer was lost also answers
    # "not created": that one is ours.
    adopted = result.adopted or (first_try and not result.created)
    if adopted:
        stats.adopted += 1
    else:
        stats.created += 1
    made[op.lead_id] = repo.crm_record_row(
        op.lead_id, destination, result.crm_id, op.payload, adopted=adopted, at=at
    )
