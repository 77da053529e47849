"""What a source says became of records it sent before: merged into another (the winner
keeps the history) or deleted. leadsync keeps every lead and its CRM record (sales may
be working it); what changes is which lead the source's ids stand for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, tuple_, update
from sqlalchemy.orm import Session

from leadsync.state.models import Event, SourceRecord
from leadsync.state.versions import versions


def follow_merges(session: Session, source: str, merged: Mapping[str, str]) -> set[int]:
    """Each loser's record forgotten and its events (of this source) moved to the winner's
    lead; the winners' leads whose history grew."""
    known = versions(session, source, [*merged, *merged.values()])
    grown: set[int] = set()
    for loser, winner in merged.items():
        gone, kept = known.get(loser), known.get(winner)
        if gone is None or kept is None or gone.lead_id is None or kept.lead_id is None:
            continue  # never read (or not yet): nothing of it to move
        if gone.lead_id != kept.lead_id:
            session.execute(
                update(Event)
                .where(Event.lead_id == gone.lead_id, Event.source == source)
                .values(lead_id=kept.lead_id)
            )
            grown.add(kept.lead_id)
    forget(session, source, merged)
    return grown


def forget(session: Session, source: str, ids: Iterable[str]) -> int:
    """The source's records of these ids forgotten (an id read again later is a new
    record of whoever it then is); how many there were."""
    keys = [(source, i) for i in ids]
    if not keys:
        return 0
    pair = tuple_(SourceRecord.source, SourceRecord.external_id)
    result = session.execute(delete(SourceRecord).where(pair.in_(keys)))
    return int(getattr(result, "rowcount", 0) or 0)
