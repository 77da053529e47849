"""Adopt: rebuild a state db from what the CRM holds (`leadsync reconcile --adopt`).

A state db can be lost (a disk, a container without a volume) or new beside a CRM an
earlier leadsync filled. The CRM still carries leadsync's key on every record it wrote,
and the key of every follow-up task it made. Adopting reads them back (Salesforce: one
Bulk API query for the records, one for the tasks) and writes, for every key the state
db does not know:

- the lead (its key, email and owner), and its CRM record with the values there now,
  so that the next sync plans only real differences;
- the stage entries its tasks record (``task:<lead>:<stage>:<entered at>``), so that a
  lead already handed off is not handed off again.

The source records themselves are not in the CRM: the next sync reads every source
from its start and resolves each record to these leads by email.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from leadsync import log
from leadsync.connectors.base import Destination
from leadsync.mapping.lead import normalise_email
from leadsync.state import repo
from leadsync.state.models import CrmRecord, Lead, StageHistory, utcnow

logger = log.get("leadsync.ops.adopt")


@dataclass
class Adopted:
    leads: int = 0
    known: int = 0  # keys the state db holds already
    same_email: int = 0  # a lead of this state db has the email under another key
    stages: int = 0
    tasks_read: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def adopt(
    factory: sessionmaker[Session],
    destination: Destination,
    fields: Collection[str],
    *,
    email_field: str | None,
    owner_field: str | None,
    run_id: str,
) -> Adopted:
    """Leads for the CRM's keyed records the state db does not know, with their stages."""
    report = Adopted()
    now = utcnow()
    read = sorted({*fields, *(f for f in (email_field, owner_field) if f)})
    with factory() as session, session.begin():
        keys = set(session.scalars(select(Lead.key)))
        emails = {e for e in session.scalars(select(Lead.email)) if e}
        for key, crm_id, values in destination.snapshot(read, []):
            if key is None:
                continue
            if key in keys:
                report.known += 1
                continue
            values = {k: (None if v == "" else v) for k, v in values.items()}
            email = normalise_email(str(values.get(email_field or "") or "")) or None
            if email and email in emails:
                report.same_email += 1
                continue
            lead = Lead.new(key, email, now, values.get(owner_field) if owner_field else None)
            session.add(lead)
            session.flush()
            session.add(
                CrmRecord(
                    lead_id=lead.id,
                    destination=destination.name,
                    crm_id=crm_id,
                    # What the CRM holds now, as if leadsync had written it: the next
                    # sync plans only where the source says otherwise.
                    fields={**values, destination.external_id_field: key},
                    synced_at=now,
                    adopted=True,
                )
            )
            keys.add(key)
            if email:
                emails.add(email)
            report.leads += 1
        report.stages = _stages(session, destination, run_id, report)
    logger.info("sync.adopt.finished", **report.as_dict())
    return report


def _stages(session: Session, destination: Destination, run_id: str, report: Adopted) -> int:
    """Stage entries from the keys of the follow-up tasks in the CRM, for leads that have
    none in the state db yet."""
    try:
        tasks = list(destination.task_keys())
    except NotImplementedError:
        report.tasks_read = False
        return 0
    entries: dict[str, list[tuple[str, datetime, str]]] = {}
    for task_key, task_id in tasks:
        parts = task_key.split(":", 3)
        if len(parts) != 4 or parts[0] != "task":
            continue
        try:
            at = datetime.fromisoformat(parts[3])
        except ValueError:
            continue
        entries.setdefault(parts[1], []).append((parts[2], at, task_id))
    if not entries:
        return 0
    leads = {
        lead.key: lead for lead in session.scalars(select(Lead).where(Lead.key.in_(list(entries))))
    }
    history = repo.stage_history(session, {lead.id: lead for lead in leads.values()})
    rows = []
    for key, found in entries.items():
        lead = leads.get(key)
        if lead is None or history.get(lead.id):
            continue
        for stage, at, task_id in sorted(found, key=lambda e: e[1]):
            rows.append(
                {
                    "lead_id": lead.id,
                    "stage": stage,
                    "at": at,
                    "reason": f"restored from the CRM: follow-up task {task_id}",
                    "run_id": run_id,
                }
            )
            lead.stage = stage
    if rows:
        session.execute(insert(StageHistory), rows)
    return len(rows)
