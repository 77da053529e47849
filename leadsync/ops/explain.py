"""`leadsync explain`: everything leadsync knows and decided about one lead, in words.

The lead is found by email, by leadsync's lead key, as ``source:external_id``, by its
CRM record's id (a Salesforce Lead or Contact, a HubSpot contact), or by a bare source
id when one source has it.
Its score is computed again now, with the rules in the config as they are, so
that an admin sees what the current rules make of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from leadsync.errors import ConfigError
from leadsync.mapping.lead import normalise_email
from leadsync.rules.decide import decide
from leadsync.rules.lifecycle import StageEntry
from leadsync.state import db, owners, repo, sla
from leadsync.state.models import CrmRecord, DeadLetter, Lead, OutboxOp, SourceRecord
from leadsync.sync.wiring import Wiring


def find_lead(session: Session, who: str) -> Lead | None:
    """By lead key, email, ``source:external_id``, the CRM record's id, then a bare
    source id (raising ConfigError, with each ``source:id``, when sources share it)."""
    lead = session.scalars(select(Lead).where(Lead.key == who)).first()
    if lead is None:
        lead = session.scalars(
            select(Lead).where(Lead.email == normalise_email(who)).order_by(Lead.id)
        ).first()
    if lead is None and ":" in who:
        source, _, ext = who.partition(":")
        lead_id = session.scalar(
            select(SourceRecord.lead_id).where(
                SourceRecord.source == source, SourceRecord.external_id == ext
            )
        )
        lead = session.get(Lead, lead_id) if lead_id else None
    if lead is None:
        lead_id = session.scalar(select(CrmRecord.lead_id).where(CrmRecord.crm_id == who))
        lead = session.get(Lead, lead_id) if lead_id else None
    if lead is None:
        found = session.execute(
            select(SourceRecord.source, SourceRecord.lead_id).where(SourceRecord.external_id == who)
        ).all()
        if len({lead_id for _, lead_id in found}) > 1:
            named = ", ".join(sorted(f"{source}:{who}" for source, _ in found))
            raise ConfigError(f"{who!r} is an id in several sources: give one of {named}")
        lead = session.get(Lead, found[0].lead_id) if found and found[0].lead_id else None
    return lead


def explain(wiring: Wiring, engine: Engine, who: str, now: datetime) -> list[str] | None:
    """The explanation, line by line; None when no lead matches ``who``."""
    with db.session_factory(engine)() as session:
        lead = find_lead(session, who)
        names = owners.known(session)
        if lead is None:
            return None
        events = [
            repo.event_values(e) for e in repo.events_of_leads(session, [lead.id]).get(lead.id, [])
        ]
        history = repo.stage_history(session, [lead.id]).get(lead.id, [])
        past = [StageEntry(h.stage, h.at, h.reason) for h in history]
        decision = decide(
            wiring.rules,
            lead.values,
            events,
            past,
            now,
            owner=lead.owner,
            revisit_on=lead.revisit_on,
        )
        identities = session.scalars(
            select(SourceRecord)
            .where(SourceRecord.lead_id == lead.id, SourceRecord.external_id.not_like("email:%"))
            .order_by(SourceRecord.source, SourceRecord.external_id)
        ).all()
        crm = session.scalars(select(CrmRecord).where(CrmRecord.lead_id == lead.id)).all()
        ops = session.scalars(
            select(OutboxOp).where(OutboxOp.lead_id == lead.id).order_by(OutboxOp.id)
        ).all()
        dead = {
            d.op_id: d
            for d in session.scalars(select(DeadLetter).where(DeadLetter.lead_id == lead.id))
        }

        lines = [f"lead {lead.key}" + (f" <{lead.email}>" if lead.email else "")]
        lines.append(f"  stage: {lead.stage or 'none (no lifecycle rules)'}")
        if lead.owner:
            route = lead.route or {}
            who_owns = _owner(lead.owner, names)
            lines.append(f"  owner: {who_owns} ({route.get('reason', 'set before routing')})")
            lines += [f"    not: {why}" for why in route.get("skipped", [])]
        lines.append(
            "  known as: " + ", ".join(f"{i.source}:{i.external_id}" for i in identities)
            if identities
            else "  known as: its email only"
        )
        lines.append("profile")
        lines += [f"  {k}: {_show(v)}" for k, v in sorted(lead.values.items())]
        lines += _score_lines(wiring, decision, now)
        lines.append(f"events ({len(events)})")
        lines += [f"  {e.get('at') or 'no time'}  {e['type']}" + _attributes(e) for e in events]
        lines.append("stage history")
        lines += [f"  {h.at:%Y-%m-%d %H:%M}Z  {h.stage:<12} {h.reason}" for h in history] or [
            "  none"
        ]
        if lead.revisit_on is not None:
            lines.append(
                f"  comes back on {lead.revisit_on:%Y-%m-%d} (the date sales chose): "
                "it is not decided again before"
            )
        if decision.entries:
            lines.append(
                "  the next run would enter: "
                + ", ".join(f"{e.stage} ({e.reason})" for e in decision.entries)
            )
        lines += _sla_lines(sla.of_lead(session, lead.id), names)
        lines.append("in the CRM")
        lines += [
            f"  {r.destination} {r.crm_id or '(no id yet)'}, last written "
            f"{r.synced_at:%Y-%m-%d %H:%M}Z: "
            + ", ".join(f"{k}={_show(v)}" for k, v in sorted(r.fields.items()))
            for r in crm
        ] or ["  not written yet"]
        lines.append("writes")
        for op in ops:
            line = f"  {op.created_at:%Y-%m-%d %H:%M}Z  {op.kind} {op.status:<10} " + ", ".join(
                sorted(op.payload)
            )
            if op.id in dead:
                line += f"  -- {dead[op.id].code}: {dead[op.id].message}"
            lines.append(line)
        if not ops:
            lines.append("  none")
        return lines


def _owner(owner: str | None, names: dict[str, str]) -> str:
    """An owner as the admin reads it: "Ann Rep (0055g...)", or the id alone."""
    name = owners.named(owner, names)
    return f"{name} ({owner})" if owner and name != owner else str(owner)


def _sla_lines(timers: Any, names: dict[str, str]) -> list[str]:
    """Each follow-up SLA of the lead: whose, due when, and the steps of its ladder."""
    if not timers:
        return []
    lines = ["follow-up SLA"]
    for t in timers:
        lines.append(
            f"  {t.started_at:%Y-%m-%d %H:%M}Z  {t.status:<9} owner {_owner(t.owner, names)}, "
            f"due {t.due_at:%Y-%m-%d %H:%M}Z"
            + (f", touched {t.touched_at:%Y-%m-%d %H:%M}Z" if t.touched_at else "")
        )
        for step in t.steps:
            moved = (
                f" ({owners.named(step['owner_from'], names)} -> "
                f"{owners.named(step['owner_to'], names)})"
                if step.get("owner_to")
                else ""
            )
            lines.append(f"    {step['at'][:16]}Z  {step['action']}{moved}: {step['reason']}")
    return lines


def _score_lines(wiring: Wiring, decision: Any, now: datetime) -> list[str]:
    if wiring.rules.scoring is None:
        return ["score: no scoring rules in the config"]
    s = decision.score
    lines = [
        f"score {s.total:g} = fit {s.fit:g} + behaviour {s.behaviour:g} "
        f"(computed {now:%Y-%m-%d %H:%M}Z with the current rules)"
    ]
    for c in s.breakdown:
        where = (
            f"  from {c.event.get('type')} at {c.event.get('at') or 'no time'}" if c.event else ""
        )
        note = f"  ({c.note})" if c.note else ""
        lines.append(f"  {c.points:+8.2f}  {c.category:<9}  {c.rule}{where}{note}")
    if not s.breakdown:
        lines.append("  no rule gave points")
    return lines


def _attributes(event: dict[str, Any]) -> str:
    extra = {k: v for k, v in event.items() if k not in ("type", "at") and v is not None}
    return ("  " + ", ".join(f"{k}={v}" for k, v in sorted(extra.items()))) if extra else ""


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
