"""What sales did in the CRM, read back each run, and what it means for each lead.

The admin maps the CRM's lead status values to meanings (``[feedback]``):
accepted (SAL), qualified (SQL), rejected and recycled (both: recycled, to come
back on the date sales chose, or after ``recycle_days``). A converted lead is
qualified. Each stage sales sets is recorded like leadsync's own, with the
status as its reason, and asks for the same hand-off (a recycled lead rejoins
nurture). An owner sales changed becomes the lead's owner, so that leadsync
never writes its old choice back. A completed follow-up task becomes an event
(``task_completed``): the first touch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadsync import log
from leadsync.connectors.base import CrmChange
from leadsync.rules.lifecycle import StageEntry
from leadsync.settings import FeedbackSection
from leadsync.state import repo, sla
from leadsync.state.models import CrmRecord, Lead

logger = log.get("leadsync.sync.feedback")

MEANINGS = {"accepted": "sal", "qualified": "sql", "rejected": "recycled", "recycled": "recycled"}


@dataclass(frozen=True)
class FeedbackSpec:
    section: FeedbackSection
    owner_field: str | None  # the CRM field leadsync writes the owner to, if it does
    # CRM fields leadsync fills only while empty there: read back to know.
    fill_if_empty: tuple[str, ...] = ()

    def meaning(self, status: Any) -> str | None:
        for meaning in MEANINGS:
            if status in getattr(self.section, meaning):
                return meaning
        return None

    def lead_fields(self) -> list[str]:
        s = self.section
        named = [
            s.status_field,
            s.reason_field,
            s.recycle_date_field,
            self.owner_field,
            *self.fill_if_empty,
        ]
        return [f for f in dict.fromkeys(named) if f]


@dataclass
class Applied:
    """One page of changes, applied: the leads to decide again and the entries sales made."""

    leads: dict[int, Lead] = field(default_factory=dict)
    entries: dict[int, list[StageEntry]] = field(default_factory=dict)
    stages: int = 0
    owners: int = 0
    tasks_completed: int = 0


def apply(
    session: Session,
    spec: FeedbackSpec,
    changes: Sequence[CrmChange],
    destination: Any,
    now: datetime,
) -> Applied:
    """Apply a page of CRM changes to the leads they are about, in the caller's transaction."""
    out = Applied()
    keys = {c.key for c in changes if c.kind == "lead" and c.key}
    leads = repo.leads_by_key(session, keys)
    records = repo.crm_records(session, destination.name, [ld.id for ld in leads.values()])
    # A record without leadsync's key (a Contact a lead was attached or converted to) is
    # found by its CRM id.
    by_crm_id = repo.crm_records_by_id(
        session, destination.name, [c.crm_id for c in changes if c.kind == "lead" and not c.key]
    )
    unkeyed = repo.leads_by_id(session, [r.lead_id for r in by_crm_id.values()])
    for change in changes:
        if change.kind == "task":
            done = _task_done(session, change)
            if done is not None:
                out.tasks_completed += 1
                # The first touch: the rep's follow-up SLA is met.
                sla.touch(session, done.id, change.at or now, "the follow-up task was completed")
            continue
        if change.key:
            lead = leads.get(str(change.key))
            record = records.get(lead.id) if lead is not None else None
        else:
            record = by_crm_id.get(change.crm_id)
            lead = unkeyed.get(record.lead_id) if record is not None else None
        if lead is None or record is None:
            continue  # not a lead leadsync made
        seen = dict(record.seen or {})
        record.seen = {**seen, **{k: v for k, v in change.fields.items()}}
        entry = _stage_entry(spec, lead, change, seen, now)
        if entry is not None:
            out.entries.setdefault(lead.id, []).append(entry)
            out.leads[lead.id] = lead
            out.stages += 1
            lead.stage = entry.stage
            sla.touch(session, lead.id, entry.at, entry.reason)  # sales moved it on
            if entry.stage == "recycled":
                lead.revisit_on = _revisit_on(spec.section, change, entry.at)
        if _owner_changed(spec, lead, record, change, destination):
            out.leads[lead.id] = lead
            out.owners += 1
    return out


def _stage_entry(
    spec: FeedbackSpec, lead: Lead, change: CrmChange, seen: dict[str, Any], now: datetime
) -> StageEntry | None:
    """The stage sales moved the lead to, when they changed its status (or converted it)
    since it was last read; None when nothing sales did moves it."""
    s = spec.section
    status = change.fields.get(s.status_field)
    at = change.at or now
    converted = change.fields.get("ConvertedContactId") or change.fields.get("IsConverted")
    was_converted = seen.get("ConvertedContactId") or seen.get("IsConverted")
    if converted and not was_converted and lead.stage != "sql":
        return StageEntry("sql", at, f"converted in the CRM (contact {converted})")
    meaning = spec.meaning(status)
    if meaning is None or (s.status_field in seen and seen[s.status_field] == status):
        return None
    stage = MEANINGS[meaning]
    if stage == lead.stage:
        return None
    reason = f"sales set {s.status_field} to {status!r} in the CRM"
    why = change.fields.get(s.reason_field) if s.reason_field else None
    if meaning == "rejected":
        reason = f"rejected by sales: {s.status_field} {status!r}" + (f" ({why})" if why else "")
    return StageEntry(stage, at, reason)


def _revisit_on(s: FeedbackSection, change: CrmChange, at: datetime) -> date:
    chosen = change.fields.get(s.recycle_date_field) if s.recycle_date_field else None
    if chosen:
        try:
            return date.fromisoformat(str(chosen)[:10])
        except ValueError:
            logger.warning(
                "feedback.recycle_date.unreadable", field=s.recycle_date_field, value=chosen
            )
    return (at + timedelta(days=s.recycle_days)).date()


def _owner_changed(
    spec: FeedbackSpec,
    lead: Lead,
    record: CrmRecord | None,
    change: CrmChange,
    destination: Any,
) -> bool:
    """Sales gave the lead to someone else: that is its owner now, and what leadsync last
    wrote, so that the next plan does not write its old choice back."""
    field_name = spec.owner_field
    crm_owner = change.fields.get(field_name) if field_name else None
    if not crm_owner or record is None or field_name is None:
        return False
    written = record.fields.get(field_name)
    if written is None or destination.same_owner(str(written), str(crm_owner)):
        return False
    lead.owner = str(crm_owner)
    lead.route = {**(lead.route or {}), "owner": str(crm_owner), "reason": "changed in the CRM"}
    record.fields = {**record.fields, field_name: str(crm_owner)}
    return True


def _task_done(session: Session, change: CrmChange) -> Lead | None:
    """A completed follow-up task, stored once as the lead's ``task_completed`` event; the
    lead it is about (None: not new, or not a lead's task)."""
    if not change.fields.get("completed"):
        return None
    key = f"crm:task:{change.crm_id}:completed"
    if repo.events_by_key(session, [key]):
        return None
    lead_key = _lead_of_task(str(change.key or ""))
    lead = repo.leads_by_key(session, [lead_key]).get(lead_key) if lead_key else None
    if lead is None:
        return None
    attributes = {"task": change.crm_id, "task_key": change.key}
    event = {"key": key, "type": "task_completed", "at": change.at, "attributes": attributes}
    repo.store_events(session, {key: {**event, "lead_id": lead.id, "source": "crm"}})
    return lead


def _lead_of_task(task_key: str) -> str | None:
    """The lead key inside a follow-up task's key (``task:<lead key>:<stage>:<time>``)."""
    parts = task_key.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "task" else None
