"""Resolve, the second step: each mapped record's lead, found or made, with the record's
profile merged in; then what the page taught remembered (identities, record versions,
events).

Identity: the source's external id first (the lead its record was last time), then
the email, then the key the person derives to (a lead `reconcile --adopt` took back,
or one whose email changed). The merge is progressive profiling: a non-empty value
from a newer record replaces the old one; an empty value never erases what the lead
already has.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadsync.mapping.events import EventMap
from leadsync.mapping.lead import iso_utc
from leadsync.state import repo
from leadsync.state.firstload import INDEXED, Lookups
from leadsync.state.models import Lead
from leadsync.state.versions import Version, save_versions
from leadsync.sync.ingest import Mapped, warn
from leadsync.sync.summary import RunSummary

# Lead keys are derived from who the person is, so that a state db rebuilt from scratch
# gives the same person the same key and finds the CRM records the lost one wrote.
KEY_NAMESPACE = uuid.UUID("5f0c2a1e-7d3b-4c89-9a41-1eadc0de2026")
# How far ahead of the clock a source's time may be (clock skew) before it is not believed.
FUTURE_SKEW = timedelta(minutes=5)


def lead_key(source: str, external_id: str | None, email: str | None) -> str:
    """A new lead's key: from its email (the same person in every source), else from the
    source's own id for it; random only when neither is known."""
    if email:
        return str(uuid.uuid5(KEY_NAMESPACE, f"email:{email}"))
    if external_id:
        return str(uuid.uuid5(KEY_NAMESPACE, f"{source}:{external_id}"))
    return str(uuid.uuid4())


def merge(
    profile: Mapping[str, Any],
    times: Mapping[str, str],
    incoming: Mapping[str, Any],
    at: str,
) -> tuple[dict[str, Any], dict[str, str], bool]:
    """(new profile, new field times, changed?) after merging ``incoming`` seen at ``at``.

    ``times`` are the field times as stored (`field_times`, compact or one a field); the
    new ones come back compact (`compact_times`)."""
    if not profile and not times:  # a new lead: each value it is given, all of one time
        given = {field: value for field, value in incoming.items() if value not in (None, "")}
        return given, ({EVERY_FIELD: at} if given else {}), bool(given)
    merged, merged_times, changed = dict(profile), field_times(profile, times), False
    for field, value in incoming.items():
        if value is None or value == "":
            continue
        if merged_times.get(field, "") > at:
            continue  # what we hold came from a newer record
        if merged.get(field) != value:
            merged[field] = value
            changed = True
        merged_times[field] = at
    return merged, compact_times(merged, merged_times), changed


# The field times of a lead are mostly one time (the record that made it set them all),
# so a lead stores that time once, under this name, and names only the fields whose time
# differs: 9 fields' ISO times were 40% of a lead's row (bench/scale.py).
EVERY_FIELD = "*"


def field_times(profile: Mapping[str, Any], times: Mapping[str, str]) -> dict[str, str]:
    """Each field's time, one a field, from ``times`` as stored: the common time under
    ``EVERY_FIELD`` holds for every field of the profile not named (a lead written before
    the compact form names each field)."""
    common = times.get(EVERY_FIELD)
    if common is None:
        return dict(times)
    expanded = dict.fromkeys(profile, common)
    expanded.update(times)
    del expanded[EVERY_FIELD]
    return expanded


def compact_times(profile: Mapping[str, Any], times: Mapping[str, str]) -> dict[str, str]:
    """``times`` stored short: the time most of the profile's fields share once, the others
    by name (a field no record has timed, one `reconcile --adopt` took from the CRM, as
    "": no time, as before)."""
    every = {field: times.get(field, "") for field in profile} | dict(times)
    distinct = set(every.values())
    if len(distinct) <= 1:  # a lead one record made (a Counter for it cost 1 s a 100,000)
        return {EVERY_FIELD: distinct.pop()} if distinct else {}
    told = list(every.values())
    common = max(distinct, key=lambda t: (told.count(t), t))  # ties: the newest, always
    return {EVERY_FIELD: common} | {f: t for f, t in every.items() if t != common}


def resolve_page(
    session: Session,
    summary: RunSummary,
    source: str,
    mapped: list[Mapped],
    now: datetime,
    lookups: Lookups = INDEXED,
) -> None:
    """Each record's lead, found or created, with the record's profile merged in."""
    ids = {
        m.key: m.prior.lead_id
        for m in mapped
        if m.record.external_id and m.prior is not None and m.prior.lead_id is not None
    }
    leads = repo.leads_by_id(session, ids.values())
    keys = [lead_key(source, m.record.external_id, m.profile.get("email")) for m in mapped]
    found = _Found(
        by_ext={ext: leads[lead_id] for ext, lead_id in ids.items() if lead_id in leads},
        by_email=lookups.leads_by_email(
            session, [m.profile["email"] for m in mapped if m.profile.get("email")]
        ),
        by_key=lookups.leads_by_key(session, keys),
    )
    seen_at = iso_utc(now)
    latest = iso_utc(now + FUTURE_SKEW)
    for m, key in zip(mapped, keys, strict=True):
        m.lead = found.lead(m, key, now)
        at = m.profile.get("source_updated_at") or seen_at
        if at > latest:
            # A time in the future would make this record win over every later one.
            reason = f"{at} is in the future: taken as {seen_at}"
            warn(summary, source, m.record.ref, "source_updated_at", reason)
            m.profile["source_updated_at"] = at = seen_at
        lead = m.lead
        profile, times, changed = merge(lead.values, lead.profile_times, m.profile, at)
        if changed:
            lead.keep(profile)
            lead.profile_times = times  # updated_at: stamped by the UPDATE itself
    repo.save_leads(session, found.made)


class _Found:
    """The page's leads as known so far, by source id, email and derived key; a lead made
    for one record is found by the next record of the same person."""

    def __init__(
        self, by_ext: dict[str, Lead], by_email: dict[str, Lead], by_key: dict[str, Lead]
    ) -> None:
        self.by_ext, self.by_email, self.by_key = by_ext, by_email, by_key
        self.made: list[Lead] = []  # new leads, written together once the page is merged

    def lead(self, m: Mapped, key: str, now: datetime) -> Lead:
        ext, email = m.record.external_id, m.profile.get("email")
        lead = self.by_ext.get(ext) if ext else None
        if lead is None and email:
            lead = self.by_email.get(email)
        if lead is None:
            lead = self.by_key.get(key)
        if lead is None:
            lead = repo.unsaved_lead(key, email, now)
            self.made.append(lead)
        if email:
            self.by_email.setdefault(email, lead)
        if ext:
            self.by_ext.setdefault(ext, lead)
        self.by_key.setdefault(key, lead)
        return lead


def remember(
    session: Session,
    source: str,
    resolved: list[Mapped],
    now: datetime,
    event_map: EventMap | None,
    lookups: Lookups = INDEXED,
) -> dict[int, Lead]:
    """Store the page's record versions (each with its lead: the record's identity) and
    events; return the leads touched."""
    session.flush()  # gives every new lead of the page its id
    touched: dict[int, Lead] = {}
    new: dict[str, Version] = {}
    changed: dict[str, Version] = {}
    events: dict[str, dict[str, Any]] = {}
    for m in resolved:
        assert m.lead is not None
        touched[m.lead.id] = m.lead
        # The same record twice in a page: its last version is the one kept.
        version = Version(m.record.content_hash, m.lead.id, m.prior.row if m.prior else None)
        (changed if m.prior is not None else new)[m.key] = version
        found: list[dict[str, Any] | None] = [
            dict(e, key=f"{source}:{e['key']}") for e in m.record.events
        ]
        if event_map is not None:
            found.append(event_map.event(m.key, m.record.data))
        for event in found:
            if event is not None:
                events[event["key"]] = {**event, "lead_id": m.lead.id, "source": source}
    save_versions(session, source, new, changed, now)
    lookups.note(source, new | changed, touched.values())
    repo.store_events(session, events)
    return touched
