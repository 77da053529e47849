"""What a Marketo instance holds, as leadsync reads it: its lead fields and their types
(``describe``), its activity types (``activities/types.json``) and the leadsync events
the ones read become."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from leadsync.connectors.marketo.config import MarketoSourceConfig
from leadsync.errors import ConfigError

# Marketo's activity types read by default, and the event types they become.
EVENT_TYPES = {
    "Fill Out Form": "form_submit",
    "Visit Webpage": "page_view",
    "Open Email": "email_open",
    "Click Email": "email_click",
    "Interesting Moment": "interesting_moment",
}
MERGE_LEADS = "Merge Leads"


def lead_fields(answer: Mapping[str, Any]) -> dict[str, str]:
    """Each lead field's REST name and data type, from ``leads/describe.json``."""
    return {
        f["rest"]["name"]: f.get("dataType", "string")
        for f in answer.get("result") or []
        if f.get("rest")
    }


def activity_types(answer: Mapping[str, Any]) -> dict[str, int]:
    """Each activity type's id by its name, from ``activities/types.json``."""
    return {t["name"]: int(t["id"]) for t in answer.get("result") or []}


def event_types(
    known: Mapping[str, int], config: MarketoSourceConfig, source: str
) -> dict[int, str]:
    """The activity type ids read, with the event type each becomes (merges too, to
    follow them); a name the instance does not know is refused with the known ones."""
    names = dict(EVENT_TYPES) if config.activity_events else {}
    for name in config.activity_types:
        names.setdefault(name, snake(name))
    unknown = sorted(n for n in names if n not in known)
    if unknown:
        raise ConfigError(
            f"sources.{source}.activity_types: Marketo has no activity type "
            f"{', '.join(map(repr, unknown))} (it has: {', '.join(sorted(known))})"
        )
    out = {known[name]: kind for name, kind in names.items()}
    if MERGE_LEADS in known:
        out[known[MERGE_LEADS]] = "merge"
    return out


def event_of(activity: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """A Marketo activity as a leadsync event: keyed by its id, at its time, with what it
    was about (``asset``: the form, page or email) and its attributes in snake case."""
    attributes: dict[str, Any] = {}
    if activity.get("primaryAttributeValue") is not None:
        attributes["asset"] = activity["primaryAttributeValue"]
    for item in activity.get("attributes") or []:
        name = snake(str(item.get("name", "")))
        attributes[f"marketo_{name}" if name in ("type", "at") else name] = item.get("value")
    at = datetime.fromisoformat(str(activity["activityDate"]).replace("Z", "+00:00"))
    return {
        "key": str(activity.get("marketoGUID") or activity["id"]),
        "type": kind,
        "at": at.astimezone(UTC),
        "attributes": attributes,
    }


def attribute(activity: Mapping[str, Any], name: str) -> Any:
    for item in activity.get("attributes") or []:
        if item.get("name") == name:
            return item.get("value")
    return None


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
