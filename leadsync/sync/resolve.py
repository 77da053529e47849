"""Identity resolution and the merge of a new source profile into a lead's profile.

Identity: the source's external id first, then the normalised email. The merge
is progressive profiling: a non-empty value from a newer record replaces the
old one; an empty value never erases what the lead already has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
