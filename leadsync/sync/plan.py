"""Plan, the step after decide: what to write to the CRM is the desired state minus what
was last written, enqueued in the outbox (``Planner``); the pure functions below it
say what differs and key each op.

Directions per CRM field:

- ``leadsync``: leadsync owns the field and writes every change;
- ``fill_if_empty``: written while the CRM holds no value for it: judged on the
  value read back from the CRM when there is one (``[feedback]``), else on what
  leadsync last wrote;
- ``crm``: sales owns it; leadsync writes it only when it creates the record.

An empty desired value never clears a CRM field. A lead whose desired state
equals what was last written plans nothing, so a second run writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from leadsync.errors import MappingError
from leadsync.mapping.lead import as_text
from leadsync.rules.decide import Decision
from leadsync.rules.lifecycle import StageEntry
from leadsync.state import outbox, repo
from leadsync.state.firstload import INDEXED, Lookups
from leadsync.state.models import CrmRecord, Lead
from leadsync.sync.decide import Decider
from leadsync.sync.summary import RunSummary
from leadsync.sync.wiring import Wiring

MAX_SHOWN_CHANGES = 10
# Entering these stages, or a new owner, is news for sales: written first on a low quota.
HANDOFF_STAGES = frozenset({"mql", "sal", "sql"})


@dataclass
class Planner:
    """Decides leads and plans their CRM writes into the outbox, in the caller's transaction."""

    wiring: Wiring
    summary: RunSummary
    decider: Decider

    def plan(
        self,
        session: Session,
        touched: dict[int, Lead],
        sales: dict[int, list[StageEntry]] | None = None,
        lookups: Lookups = INDEXED,
    ) -> None:
        """``sales``: stage entries sales made in the CRM (feedback); ``lookups``: where
        the outbox's ops are found (a first load's own way, or the indexes). A change planned again
        under the key of one superseded before (a lead whose values went A, B, A within a
        run, as pages of the same person come in) puts that op back to pending: the outbox
        never holds a key twice, and a superseded key left as it was would leave the lead
        with nothing to write."""
        decisions = self.decider.decide(session, touched, sales, lookups)
        dest = self.wiring.destination
        last = repo.crm_records(session, dest.name, touched)
        pending = lookups.pending_upserts(session, dest.name, touched)
        ops: list[dict[str, Any]] = []
        for lead_id, lead in touched.items():
            decision, record = decisions.get(lead_id), last.get(lead_id)
            try:
                payload = self._payload(lead, decision, record)
            except MappingError as exc:
                self._quarantine(session, lead, exc)  # the CRM map cannot carry this lead
                continue
            old = pending.get(lead_id)
            if payload is None:
                if old is not None:
                    # The lead went back to what the CRM holds (a value changed and changed
                    # back within the run): the change waiting in the outbox is stale.
                    outbox.supersede(session, old)
                continue
            base = record.synced_at.isoformat() if record else "new"
            key = op_key(dest.name, lead_id, payload, base)
            if old is not None and old.key == key:
                continue
            if old is not None:
                outbox.supersede(session, old)
            handoff = _is_handoff(decision, (sales or {}).get(lead_id))
            ops.append(
                outbox.new_op(
                    key, dest.name, "upsert", lead_id, payload, self.summary.run_id, handoff=handoff
                )
            )
            before = record.fields if record else None
            self.summary.planned(
                record is None, field_diff(payload, before), lead.key, MAX_SHOWN_CHANGES
            )
        lookups.enqueue(session, ops, revive=True)

    def _payload(
        self, lead: Lead, decision: Decision | None, record: CrmRecord | None
    ) -> dict[str, Any] | None:
        """What to send for the lead; None when the CRM has it all."""
        crm_map = self.wiring.crm_map
        desired = crm_map.desired({**lead.values, **(decision.fields if decision else {})})
        return upsert_payload(
            external_id_field=self.wiring.destination.external_id_field,
            lead_key=lead.key,
            desired=desired,
            last=record.fields if record else None,
            direction=crm_map.direction,
            crm=record.seen if record else None,
        )

    def _quarantine(self, session: Session, lead: Lead, exc: MappingError) -> None:
        ref = f"lead {lead.key}"
        self.summary.quarantined += 1
        self.summary.note_problem("crm", ref, exc.field, exc.reason)
        run_id, profile = self.summary.run_id, dict(lead.values)
        repo.quarantine(session, run_id, "crm", ref, exc.field, exc.reason, profile)


def _is_handoff(decision: Decision | None, by_sales: list[StageEntry] | None) -> bool:
    if by_sales:
        return True
    if decision is None:
        return False
    return decision.route is not None or any(e.stage in HANDOFF_STAGES for e in decision.entries)


def upsert_payload(
    *,
    external_id_field: str,
    lead_key: str,
    desired: Mapping[str, Any],
    last: Mapping[str, Any] | None,
    direction: Callable[[str], str],
    crm: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The fields to send for one lead, or None when there is nothing to write. ``crm``
    holds the values read back from the CRM, where leadsync read any (feedback)."""
    payload: dict[str, Any] = {}
    for field, value in desired.items():
        if value is not None and _wanted(direction(field), value, last, field, crm):
            payload[field] = value
    if not payload:
        return None
    payload[external_id_field] = lead_key
    return payload


def _wanted(
    way: str,
    value: Any,
    last: Mapping[str, Any] | None,
    field: str,
    crm: Mapping[str, Any] | None,
) -> bool:
    if last is None:
        return True  # creating: every value, whatever its direction
    if way == "leadsync":
        return not same(last.get(field), value)
    if way == "fill_if_empty":
        if crm is not None and field in crm:
            # The CRM's own value, read back: a value sales typed stays; an empty field is
            # filled with each new value once (one sales cleared after it is left so).
            return crm[field] in (None, "") and not same(last.get(field), value)
        return last.get(field) in (None, "")
    return False  # crm-owned: never after creation


def op_key(destination: str, lead_id: int, payload: Mapping[str, Any], base: str) -> str:
    """An idempotency key derived from what the op means: these values for this lead, on top
    of the CRM state written at ``base`` (the last write's time, or "new").

    Planning the same change twice gives the same key. A value that returns to an
    earlier one (CTO, VP, CTO, VP) is a new change on a newer base: a new key. The lead
    is named by its id, zero-padded: a first sync's keys then arrive in index order, and
    each page appends to the outbox's key index instead of writing a page of it per op.
    """
    text = orjson.dumps(payload, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    digest = hashlib.sha256(text).hexdigest()
    return f"upsert:{destination}:{lead_id:012d}:{base}:{digest[:20]}"


def field_diff(
    payload: Mapping[str, Any], last: Mapping[str, Any] | None
) -> dict[str, tuple[Any, Any]]:
    """field -> (before, after), for showing a planned change to a person."""
    before = last or {}
    return {f: (before.get(f), v) for f, v in payload.items() if before.get(f) != v}


def same(ours: Any, theirs: Any) -> bool:
    """Whether a value leadsync wrote is the one the CRM holds, across the CRM's ways of
    writing it back: text for everything in a bulk query, ``30.0`` for 30, a datetime in
    another offset or precision, "" for null."""
    if ours == theirs:
        return True  # the common case, before any conversion
    a, b = as_text(ours), as_text(theirs)
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        pass
    left, right = _instant(a), _instant(b)
    return left is not None and left == right


def _instant(text: str) -> datetime | None:
    """A datetime in any ISO 8601 form the CRMs answer (``Z``, ``+0000``, milliseconds)."""
    if "T" not in text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
