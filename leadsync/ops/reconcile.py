"""Reconcile: the state db against the CRM, and the drift repaired.

The state db holds, for every lead leadsync wrote, the CRM id and the values it last
wrote (``crm_records``). Over time the two part: a record deleted or merged by hand, a
field leadsync owns edited by a rep, a write that never arrived. ``reconcile`` reads
every record carrying leadsync's key from the CRM (Salesforce: one Bulk API query, a few
requests whatever the size), and sorts each lead:

- ``missing``: neither its CRM id nor its key is in the CRM (deleted, or never
  arrived): repaired by writing the whole record again, by key;
- ``moved``: its key is there under another id (merged, or re-made): the state db
  takes the CRM's id;
- ``changed``: fields leadsync owns hold other values in the CRM: repaired by
  writing leadsync's values again. Fields sales owns (``crm``) and fill-if-empty
  ones are not leadsync's to repair;
- ``unknown``: a CRM record carries a key the state db never wrote (another
  leadsync, a restored db): reported only.

A lead with a write still in the outbox is skipped: the CRM will hear of it. The
repairs are ordinary outbox ops, keyed so that reconciling twice plans them once,
sent by the same pusher as a sync (``--repair``), with its retries and quota rules.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from leadsync import clock, log
from leadsync.connectors.base import Destination
from leadsync.state import outbox, repo
from leadsync.state.models import Lead
from leadsync.sync import plan as planner
from leadsync.sync.plan import same

logger = log.get("leadsync.ops.reconcile")
SHOWN = 20


@dataclass
class Report:
    checked: int = 0
    in_crm: int = 0
    in_sync: int = 0
    pending: int = 0
    missing: int = 0
    moved: int = 0
    changed: int = 0
    unknown: int = 0
    repairs_planned: int = 0
    api_calls: int = 0
    drift: list[dict[str, Any]] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)

    def note(self, kind: str, lead: str, crm_id: str | None, **details: Any) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.drift) < SHOWN:
            self.drift.append({"lead": lead, "kind": kind, "crm_id": crm_id, **details})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reconcile_wired(
    wiring: Any, factory: sessionmaker[Session], *, repair: bool, run_id: str
) -> Report:
    """``reconcile`` with the fields leadsync owns in this wiring's CRM map (not the owner
    and status sales set after a hand-off); repairs pushed at once. The caller holds the
    state db's run lock."""
    from leadsync.sync.push import push
    from leadsync.sync.summary import RunSummary

    dest = wiring.destination
    feedback = wiring.feedback
    sales = {
        f
        for f in (
            *(f.target for f in wiring.crm_map.fields if f.sources == ("owner",)),
            feedback.section.status_field if feedback else None,
        )
        if f
    }
    owned = owned_fields(wiring.crm_map.direction, dest.external_id_field, sales)
    before = dest.calls.total
    report = reconcile(factory, dest, owned, repair=repair, run_id=run_id)
    if repair and report.repairs_planned:
        push(factory, dest, wiring.config.settings.sync, RunSummary(run_id=run_id))
    report.api_calls = dest.calls.total - before
    return report


def reconcile(
    factory: sessionmaker[Session],
    destination: Destination,
    owned: Callable[[str], bool],
    *,
    repair: bool,
    run_id: str,
) -> Report:
    """Compare every lead leadsync wrote to ``destination`` with the CRM; with ``repair``,
    plan the writes that bring the CRM back (the caller pushes them)."""
    report = Report()
    with factory() as session:
        records = repo.all_crm_records(session, destination.name)
        report.checked = len(records)
        fields = sorted({f for r in records.values() for f in r.fields if owned(f)})
        known = [str(r.crm_id) for r in records.values() if r.crm_id]
        by_id: dict[str, tuple[str | None, dict[str, Any]]] = {}
        by_key: dict[str, str] = {}
        for key, crm_id, values in destination.snapshot(fields, known):
            by_id[crm_id] = (key, values)
            if key:
                by_key.setdefault(key, crm_id)
        report.in_crm = len(by_id)
        leads = repo.leads_by_id(session, records)
        pending = outbox.pending_upserts(session, destination.name, records)
        ops: list[dict[str, Any]] = []
        written_keys = set()
        for lead_id, record in records.items():
            lead = leads[lead_id]
            written_keys.add(lead.key)
            if lead_id in pending:
                report.pending += 1
                continue
            found = by_id.get(str(record.crm_id)) if record.crm_id else None
            if found is None and lead.key in by_key:
                # The key under another id: the CRM's id is the truth from now on.
                report.note("moved", lead.key, by_key[lead.key], was=record.crm_id)
                if repair:
                    record.crm_id = by_key[lead.key]
                found = by_id[by_key[lead.key]]
            if found is None:
                report.note("missing", lead.key, record.crm_id)
                payload = {**record.fields, destination.external_id_field: lead.key}
                if repair:
                    record.crm_id = None  # written again by key: the CRM gives a new id
                    ops.append(_repair(destination, lead, payload, run_id))
                continue
            drifted = {
                f: {"leadsync": ours, "crm": found[1][f]}
                for f, ours in record.fields.items()
                if owned(f) and f in found[1] and not same(ours, found[1][f])
            }
            if not drifted:
                report.in_sync += 1
                continue
            report.note("changed", lead.key, record.crm_id, fields=drifted)
            if repair:
                payload = {f: record.fields[f] for f in drifted}
                ops.append(
                    _repair(
                        destination,
                        lead,
                        {**payload, destination.external_id_field: lead.key},
                        run_id,
                    )
                )
        unknown = sorted(k for k in by_key if k not in written_keys)
        report.unknown, report.unknown_keys = len(unknown), unknown[:SHOWN]
        if repair:
            report.repairs_planned = len(outbox.enqueue(session, ops))
            session.commit()
    logger.info(
        "reconcile.finished",
        run_id=run_id,
        **{k: v for k, v in report.as_dict().items() if isinstance(v, int)},
    )
    return report


def _repair(destination: Destination, lead: Lead, payload: dict[str, Any], run_id: str) -> dict:
    """An outbox op writing ``payload`` again, keyed as the planner keys its ops, on a
    base of the day: reconciling twice plans it once, and a drift that comes back
    another day is repaired again."""
    key = planner.op_key(destination.name, lead.id, payload, f"reconcile-{clock.now().date()}")
    return outbox.new_op(key, destination.name, "upsert", lead.id, payload, run_id)


def render(report: Report, repair: bool) -> list[str]:
    """The report as lines for a person."""
    lines = [
        f"checked {report.checked:,} leads leadsync wrote; the CRM holds {report.in_crm:,} "
        f"records with its key ({report.api_calls:,} requests)",
        f"  in step: {report.in_sync:,}   waiting in the outbox: {report.pending:,}",
        f"  missing: {report.missing:,}   moved: {report.moved:,}   changed: {report.changed:,}"
        f"   unknown to the state db: {report.unknown:,}",
    ]
    for item in report.drift:
        what = item["kind"]
        if what == "changed":
            fields = ", ".join(
                f"{f} {v['crm']!r} (leadsync wrote {v['leadsync']!r})"
                for f, v in item["fields"].items()
            )
            lines.append(f"  {item['lead']}: changed in the CRM: {fields}")
        elif what == "moved":
            lines.append(f"  {item['lead']}: now {item['crm_id']} in the CRM (was {item['was']})")
        else:
            lines.append(f"  {item['lead']}: not in the CRM (was {item['crm_id']})")
    if report.unknown_keys:
        lines.append(f"  keys the state db never wrote: {', '.join(report.unknown_keys[:5])}")
    drift = report.missing + report.moved + report.changed
    if repair:
        lines.append(f"repairs planned and pushed: {report.repairs_planned:,}")
    elif drift:
        lines.append("run `leadsync reconcile --repair` to write leadsync's values back")
    return lines


def owned_fields(
    direction: Callable[[str], str], external_id_field: str, sales_fields: Collection[str]
) -> Callable[[str], bool]:
    """The fields reconcile compares and repairs: leadsync's own; not the key, not those
    sales owns, and not the owner and status that sales changes after a hand-off (an owner
    sales chose is kept; the feedback loop reads those back)."""
    return lambda f: f != external_id_field and f not in sales_fields and direction(f) == "leadsync"
