"""Identity resolution and the merge of a new source profile into a lead's profile.

Identity: the source's external id first, then the normalised email. The merge
is progressive profiling: a non-empty value from a newer record replaces the
old one; an empty value never erases what the lead already has.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

# Lead keys are derived from who the person is, so that a state db rebuilt from scratch
# gives the same person the same key and finds the CRM records the lost one wrote.
KEY_NAMESPACE = uuid.UUID("5f0c2a1e-7d3b-4c89-9a41-1eadc0de2026")


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
    """(new profile, new field times, changed?) after merging ``incoming`` seen at ``at``."""
    merged, merged_times, changed = dict(profile), dict(times), False
    for field, value in incoming.items():
        if value is None or value == "":
            continue
        if merged_times.get(field, "") > at:
            continue  # what we hold came from a newer record
        if merged.get(field) != value:
            merged[field] = value
            changed = True
        merged_times[field] = at
    return merged, merged_times, changed
