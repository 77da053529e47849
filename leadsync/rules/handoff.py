"""The hand-off: the follow-up task a rep gets when a lead becomes sales-ready.

Pure: ``follow_up(spec, lead, decision, events, entry, owner, lead_key) -> dict``,
a task in leadsync's own words (subject, due date, priority, description,
owner, key); the CRM connector writes it in its own. The description is the
sales insight: why this lead, why now, what they did and where they came from,
so the rep never has to open another tool.

Subjects are ``$placeholder`` templates over the lead's fields (``$first_name``,
``$company``, ``$score``...): a missing value leaves nothing behind (nor the comma or
brackets around it), and there is no way for a template to reach anything but those
values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from string import Template
from typing import Any

from leadsync.mapping.lead import iso_utc
from leadsync.rules.conditions import Condition
from leadsync.rules.decide import Decision
from leadsync.rules.lifecycle import StageEntry

MAX_REASONS = 5
MAX_MOMENTS = 5


@dataclass(frozen=True)
class NurtureSpec:
    campaign_id: str
    when: Condition
    stages: frozenset[str]
    status: str = "Sent"
    left_status: str = "Responded"


def nurture_ops(
    spec: NurtureSpec,
    entries: Sequence[StageEntry],
    context: Mapping[str, Any],
    lead_key: str,
    nurtured: bool,
) -> list[dict[str, Any]]:
    """Join the campaign on entering a nurture stage (when the lead may be emailed); leave it on
    entering MQL if it had joined. A lead that jumps straight to MQL never joins."""
    if not entries:
        return []
    last = entries[-1]
    member = f"{spec.campaign_id}:{lead_key}"
    stamp = last.at.replace(microsecond=0).isoformat()
    if last.stage in spec.stages and not nurtured and spec.when(context):
        return [
            {
                "key": f"nurture:{member}:join:{stamp}",
                "member": member,
                "action": "join",
                "campaign": spec.campaign_id,
                "status": spec.status,
            }
        ]
    if last.stage == "mql" and nurtured:
        return [
            {
                "key": f"nurture:{member}:leave:{stamp}",
                "member": member,
                "action": "leave",
                "campaign": spec.campaign_id,
                "status": spec.left_status,
            }
        ]
    return []


@dataclass(frozen=True)
class TaskSpec:
    subject: str
    due_in_hours: float = 24.0
    high_priority_score: float | None = None
    # A lead whose latest activity is older than this is history, not a hand-off: it is
    # scored, staged and routed, but no rep gets a task for it (a first load, a backfill).
    max_age_days: float | None = None
    description: str | None = None  # a template over the insight's parts; None: all of them


def is_history(
    spec: TaskSpec, lead: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: datetime
) -> bool:
    """Whether the lead's latest activity (its newest event, else the source's update or
    creation time) is older than ``max_age_days``: too old to hand to a rep as news."""
    if spec.max_age_days is None:
        return False
    times = [str(e["at"]) for e in events if e.get("at")]
    times += [str(lead[f]) for f in ("source_updated_at", "source_created_at") if lead.get(f)]
    if not times:
        return False  # nothing says when: treated as new
    latest = datetime.fromisoformat(max(times).replace("Z", "+00:00"))
    if latest.tzinfo is None:
        latest = latest.replace(tzinfo=UTC)
    return latest < now - timedelta(days=spec.max_age_days)


def task_key(lead_key: str, entry: StageEntry) -> str:
    """The task's idempotency key: this lead, this stage entry. Re-entering MQL is a new key."""
    return f"task:{lead_key}:{entry.stage}:{entry.at.replace(microsecond=0).isoformat()}"


def follow_up(
    spec: TaskSpec,
    lead: Mapping[str, Any],
    decision: Decision,
    events: Sequence[Mapping[str, Any]],
    entry: StageEntry,
    owner: str | None,
    lead_key: str,
) -> dict[str, Any]:
    values = {k: ("" if v is None else v) for k, v in {**lead, **decision.fields}.items()}
    score = decision.score
    high = spec.high_priority_score is not None and score.total >= spec.high_priority_score
    due = entry.at + timedelta(hours=spec.due_in_hours)
    return {
        "key": task_key(lead_key, entry),
        "subject": subject(spec.subject, values)[:255],
        # Salesforce's ActivityDate is a date; HubSpot's hs_timestamp an instant.
        "due": due.date().isoformat(),
        "due_at": iso_utc(due, "seconds"),
        "priority": "high" if high else "normal",
        "description": insight(lead, decision, events, entry, spec.description),
        "owner": owner,
    }


# The parts of a task's description, in the default's order: a [tasks] description
# template names them ($why, $what_counts...) beside the lead's own fields.
INSIGHT_PARTS = ("why", "score_line", "what_counts", "moments", "latest_activity", "came_from")
# Events a marketing system marks as worth a rep's attention (Marketo's interesting moments).
MOMENT = "interesting_moment"


def insight(
    lead: Mapping[str, Any],
    decision: Decision,
    events: Sequence[Mapping[str, Any]],
    entry: StageEntry,
    template: str | None = None,
) -> str:
    """The description a rep reads: why now, the score, what counts most, the latest
    activity and where the lead came from; laid out by ``template`` when the admin
    wrote one (a line left empty by an empty part is dropped)."""
    parts = insight_parts(lead, decision, events, entry)
    if template is None:
        return "\n".join(parts[name] for name in INSIGHT_PARTS if parts[name])
    values = {k: _human(v) for k, v in lead.items() if v is not None} | parts
    lines = []
    for line in template.splitlines():
        filled = Template(line).safe_substitute(_Blank(values))
        if filled.strip() or not line.strip():
            lines.append(filled.rstrip())
    return "\n".join(lines).strip()


def insight_parts(
    lead: Mapping[str, Any],
    decision: Decision,
    events: Sequence[Mapping[str, Any]],
    entry: StageEntry,
) -> dict[str, str]:
    """Each part of the insight as text ("" when there is nothing to say)."""
    s = decision.score
    counts = []
    reasons = sorted((c for c in s.breakdown if c.points), key=lambda c: -abs(c.points))
    for c in reasons[:MAX_REASONS]:
        when = f" ({c.event.get('type')}, {str(c.event.get('at') or '')[:10]})" if c.event else ""
        counts.append(f"  {c.points:+g}  {c.rule}{when}")
    latest = sorted((e for e in events if e.get("at")), key=lambda e: str(e["at"]), reverse=True)
    moments = [
        f"  {str(e['at'])[:10]}  {e.get('description') or e.get('asset') or 'interesting moment'}"
        + (f" ({e['marketo_type']})" if e.get("marketo_type") else "")
        for e in latest
        if e.get("type") == MOMENT
    ][:MAX_MOMENTS]
    activity = []
    for e in latest[:MAX_MOMENTS]:
        details = ", ".join(
            f"{k}={v}"
            for k, v in sorted(e.items())
            if k not in ("type", "at") and v not in (None, "")
        )
        activity.append(
            f"  {str(e['at'])[:16].replace('T', ' ')}  {e['type']}"
            + (f" ({details})" if details else "")
        )
    origin = [
        f"{k.replace('_', ' ')}: {lead[k]}" for k in ("lead_source", "campaign") if lead.get(k)
    ]
    return {
        "why": f"Why now: {entry.reason}.",
        "score_line": f"Score {s.total:g}: fit {s.fit:g}, behaviour {s.behaviour:g}.",
        "what_counts": "\n".join(["What counts most:", *counts]) if counts else "",
        "moments": "\n".join(["Interesting moments:", *moments]) if moments else "",
        "latest_activity": "\n".join(["Latest activity:", *activity]) if activity else "",
        "came_from": "Came from: " + "; ".join(origin) + "." if origin else "",
    }


def subject(template: str, values: Mapping[str, Any]) -> str:
    """The template with the lead's values: numbers as people write them (a score of
    78.72 as 79, 2.50 visits as 2.5), and
    where a value is missing, the separators and brackets around it gone with it
    ("Lee (Unemployed, )" reads "Lee (Unemployed)", "Acme - " reads "Acme")."""
    shown = {k: _human(v, whole=k.startswith("score")) for k, v in values.items()}
    text = Template(template).safe_substitute(_Blank(shown))
    named = {m.group("named") or m.group("braced") for m in Template.pattern.finditer(template)}
    if any(not shown.get(name) for name in named - {None}):
        text = _tidy(text)
    return " ".join(text.split())


# Separators an empty slot leaves behind: a comma, semicolon, slash, bar or middle dot,
# or a dash (hyphen or en dash) between spaces, not the one inside a word.
_DASH = "[-\u2013]"
_SEP = rf"(?:[,;/|\u00b7]|\s{_DASH}\s|\s{_DASH}$|^{_DASH}\s)"
_TIDY = (
    (re.compile(rf"([(\[])\s*(?:{_SEP}\s*)+"), r"\1"),  # "( , x" -> "(x"
    (re.compile(rf"(?:\s*{_SEP})+\s*([)\]])"), r"\1"),  # "x , )" -> "x)"
    (re.compile(r"\(\s*\)|\[\s*\]"), ""),  # "()" -> ""
    (re.compile(rf"({_SEP})(?:\s*{_SEP})+"), r"\1"),  # "a, , b" -> "a, b"
    (re.compile(rf"^(?:\s*{_SEP})+|(?:\s*{_SEP}|\s*:)+\s*$"), ""),  # leading, trailing
    (re.compile(r"\s+([,;)\]])"), r"\1"),  # "a , b" -> "a, b"
)


def _tidy(text: str) -> str:
    for _ in range(3):  # each pass can uncover another (an emptied bracket, then its comma)
        for pattern, replacement in _TIDY:
            text = pattern.sub(replacement, text.strip())
    return text


def _human(value: Any, whole: bool = False) -> Any:
    """A float as people write it: 42.0 -> 42, 2.5 -> 2.5; a score in whole points
    (78.72 -> 79)."""
    if isinstance(value, float):
        return f"{round(value, 0 if whole else 1):g}"
    return value


class _Blank(dict):  # type: ignore[type-arg]
    """Template values where a missing field reads as empty, not as `$field`."""

    def __missing__(self, key: str) -> str:
        return ""
