"""The planner: what to write to the CRM is the desired state minus what was last written.

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
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any


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


def op_key(destination: str, lead_key: str, payload: Mapping[str, Any], base: str) -> str:
    """An idempotency key derived from what the op means: these values for this lead, on top
    of the CRM state written at ``base`` (the last write's time, or "new").

    Planning the same change twice gives the same key. A value that returns to an
    earlier one (CTO, VP, CTO, VP) is a new change on a newer base: a new key.
    """
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"upsert:{destination}:{lead_key}:{base}:{digest[:20]}"


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
    a, b = _text(ours), _text(theirs)
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        pass
    left, right = _instant(a), _instant(b)
    return left is not None and left == right


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _instant(text: str) -> datetime | None:
    """A datetime in any ISO 8601 form the CRMs answer (``Z``, ``+0000``, milliseconds)."""
    if "T" not in text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
