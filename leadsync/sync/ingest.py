"""Ingest, the first step: a page a source read, mapped onto canonical profiles.

A record whose content is unchanged since the last read is counted and goes no
further; one that cannot be mapped is quarantined whole (the reason names the
field); a value set aside while its record goes on is a warning. The rest reach
identity resolution as ``Mapped`` records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from leadsync import log
from leadsync.connectors.base import RawRecord, Source, joined_hash
from leadsync.errors import MappingError
from leadsync.mapping.fieldmap import SourceMap
from leadsync.state import repo
from leadsync.state.firstload import INDEXED, Lookups
from leadsync.state.models import Lead
from leadsync.state.versions import Version
from leadsync.sync.summary import RunSummary

logger = log.get("leadsync.sync")


@dataclass
class Mapped:
    """A source record on its way through a page: its key, profile, previous version
    (with the lead it was), lead."""

    key: str
    record: RawRecord
    profile: dict[str, Any]
    prior: Version | None
    lead: Lead | None = None


def map_page(
    session: Session,
    summary: RunSummary,
    source: str,
    smap: SourceMap,
    records: Sequence[RawRecord],
    *,
    remap: bool,
    complete: Callable[[Sequence[RawRecord]], list[RawRecord]] | None = None,
    lookups: Lookups = INDEXED,
) -> list[Mapped]:
    """The page's records that are new or changed, mapped; the others counted or quarantined.
    ``remap``: the source's map changed, so unchanged records are mapped anew too. A
    partial record (its events only) goes to the lead its id is; one whose id is not known
    yet is made whole by ``complete`` first."""
    known = lookups.versions(session, source, [r.external_id for r in records if r.external_id])
    summary.read += len(records)
    if any(r.partial for r in records):
        records, events_only = _partials(records, known, complete)
    else:
        events_only = []
    out: list[Mapped] = events_only
    # Keys mapped in this page. Across pages each page's stored versions are read afresh,
    # so only within a page can a later row be taken for unchanged.
    applied: set[str] = set()
    unchanged = 0
    for rec in records:
        if rec.problem:
            quarantine(session, summary, source, rec, rec.problem_field, rec.problem)
            continue
        key = rec.external_id
        if not remap and key and key not in applied:
            # Checked before mapping: the cheap common case of a re-read export.
            prior = known.get(key)
            if prior is not None and prior.content_hash == rec.content_hash:
                unchanged += 1
                continue
        mapped = _mapped(session, summary, source, smap, rec, known)
        if mapped is None:
            continue
        out.append(mapped)
        if rec.external_id:
            # The same record twice in one read (a person exported twice under one id):
            # once one version is applied, every later one is too, so that the later row
            # wins on every re-read, not whichever differs from the last stored.
            applied.add(mapped.key)
    summary.unchanged += unchanged
    if any(not m.record.external_id for m in out):
        out = _changed_by_email(session, summary, source, out, applied, remap, lookups)
    return out


def _partials(
    records: Sequence[RawRecord],
    known: dict[str, Version],
    complete: Callable[[Sequence[RawRecord]], list[RawRecord]] | None,
) -> tuple[list[RawRecord], list[Mapped]]:
    """The records to map (the whole ones, and the partial ones of ids not known yet, made
    whole), and the partial ones of known ids, going to their lead as they are: nothing to
    merge, their version kept, their events stored."""
    whole, unknown, events_only = [], [], []
    for rec in records:
        prior = known.get(rec.external_id or "") if rec.partial else None
        if not rec.partial:
            whole.append(rec)
        elif prior is None:
            unknown.append(rec)
        else:
            kept = replace(rec, content_hash=prior.content_hash)
            events_only.append(Mapped(rec.external_id or "", kept, {}, prior))
    if unknown:
        if complete is None:
            raise ValueError("partial records of unknown ids, and no way to complete them")
        whole += complete(unknown)
    return whole, events_only


def _mapped(
    session: Session,
    summary: RunSummary,
    source: str,
    smap: SourceMap,
    rec: RawRecord,
    known: dict[str, Version],
) -> Mapped | None:
    """One record mapped, or None when it was quarantined."""
    warnings: list[tuple[str, str]] = []
    try:
        profile = smap.apply(rec.data, warnings)
    except MappingError as exc:
        quarantine(session, summary, source, rec, exc.field, exc.reason)
        return None
    for field, reason in warnings:
        warn(summary, source, rec.ref, field, reason)
    if not rec.external_id and not profile.get("email"):
        reason = "no external id and no email: cannot tell who this is"
        quarantine(session, summary, source, rec, "email", reason)
        return None
    key = rec.external_id or f"email:{profile['email']}"
    return Mapped(key, rec, profile, known.get(key))


def _changed_by_email(
    session: Session,
    summary: RunSummary,
    source: str,
    mapped: list[Mapped],
    applied: set[str],
    remap: bool,
    lookups: Lookups,
) -> list[Mapped]:
    """Records known by email only: their previous version is looked up now, and the
    unchanged ones dropped (in file order: the same person twice, as above)."""
    by_email = [m.key for m in mapped if not m.record.external_id]
    known = lookups.versions(session, source, by_email)
    kept = []
    for m in mapped:
        if not m.record.external_id:
            m.prior = known.get(m.key)
        if remap or m.record.external_id or m.key in applied:
            kept.append(m)
        elif not _same(m.prior, m.record):
            kept.append(m)
            applied.add(m.key)
    summary.unchanged += len(mapped) - len(kept)
    return kept


def _same(prior: Version | None, record: RawRecord) -> bool:
    return prior is not None and prior.content_hash == record.content_hash


def quarantine(
    session: Session,
    summary: RunSummary,
    source: str,
    rec: RawRecord,
    field: str | None,
    reason: str,
) -> None:
    """The record set aside whole, with the reason; the rest of the page goes on."""
    summary.quarantined += 1
    summary.note_problem(source, rec.ref, field, reason)
    # The reason quotes the bad value (an email, a phone): personal data stays out of log
    # lines above debug; the quarantine table and `leadsync status` keep it whole.
    logger.warning("sync.record.quarantined", source=source, record=rec.ref, field=field)
    logger.debug("sync.record.quarantined.reason", record=rec.ref, reason=reason)
    repo.quarantine(session, summary.run_id, source, rec.ref, field, reason, dict(rec.data))


def warn(summary: RunSummary, source: str, ref: str, field: str, reason: str) -> None:
    """A value set aside while the record goes on: said in the run's problems."""
    summary.warnings += 1
    summary.note_problem(source, ref, field, reason)
    logger.warning("sync.record.value_set_aside", source=source, record=ref, field=field)
    logger.debug("sync.record.value_set_aside.reason", record=ref, reason=reason)


def record_again(source: Source, ref: str, data: Mapping[str, Any]) -> RawRecord:
    """A quarantined record made a record again from what the quarantine kept, to be
    mapped anew: known by the source's id when its config names the id's field (a CSV's
    ``external_id``), else by email, as the source first read it."""
    field = getattr(source.config, "external_id", None)
    ext = str(data.get(field) or "").strip() if field else ""
    digest = joined_hash(json.dumps(data, sort_keys=True, default=str))
    return RawRecord(ref, dict(data), ext or None, digest)
