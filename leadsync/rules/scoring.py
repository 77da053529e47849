"""Lead scoring: fit (who they are) and behaviour (what they did, fading with time).

Pure: ``score(scoring, lead, events, now) -> Score``. Every point in a score can
be traced to the rule that gave it and, for behaviour, the event it came from,
so that `leadsync explain` can say in words why a lead is hot.

- A fit rule gives its points once when its condition holds for the lead.
- A behaviour rule gives its points for every event its condition holds for,
  each halved every ``half_life_days`` since the event (a demo request last week
  counts more than one last year).
- Points may be negative. A rule's ``cap`` bounds what that rule can give in all;
  ``fit_cap`` and ``behaviour_cap`` bound each category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from leadsync.rules.conditions import Condition, ConditionError, parse

Category = Literal["fit", "behaviour"]


@dataclass(frozen=True)
class Rule:
    name: str
    category: Category
    condition: Condition
    points: float
    cap: float | None = None


@dataclass(frozen=True)
class Scoring:
    rules: tuple[Rule, ...]
    half_life_days: float = 30.0
    fit_cap: float | None = None
    behaviour_cap: float | None = None


@dataclass(frozen=True)
class Contribution:
    """Points one rule gave, from one event for behaviour rules."""

    rule: str
    category: Category
    points: float
    event: Mapping[str, Any] | None = None
    note: str = ""


@dataclass(frozen=True)
class Score:
    fit: float
    behaviour: float
    breakdown: tuple[Contribution, ...] = field(default=())

    @property
    def total(self) -> float:
        return round(self.fit + self.behaviour, 2)


class ScoringError(ValueError):
    """Scoring rules that do not compile: each problem with the rule's index and name."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


def compile_scoring(
    rules: Sequence[Mapping[str, Any]],
    fields: Mapping[str, str],
    *,
    half_life_days: float = 30.0,
    fit_cap: float | None = None,
    behaviour_cap: float | None = None,
) -> Scoring:
    """Rules as written in config ({name, category, when, points, cap}), parsed once."""
    compiled: list[Rule] = []
    problems: list[tuple[int, str]] = []
    for i, raw in enumerate(rules):
        name = str(raw.get("name") or f"rule {i + 1}")
        category = raw.get("category")
        if category not in ("fit", "behaviour"):
            problems.append((i, f'{name}: category must be "fit" or "behaviour", not {category!r}'))
            continue
        try:
            condition = parse(str(raw["when"]), fields, about_event=category == "behaviour")
        except ConditionError as exc:
            problems.append((i, f"{name}: when: {exc}"))
            continue
        cap = raw.get("cap")
        compiled.append(
            Rule(
                name, category, condition, float(raw["points"]), None if cap is None else float(cap)
            )
        )
    if problems:
        raise ScoringError(problems)
    if half_life_days <= 0:
        raise ScoringError([(-1, "half_life_days must be more than 0")])
    return Scoring(tuple(compiled), half_life_days, fit_cap, behaviour_cap)


def score(
    scoring: Scoring, lead: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: datetime
) -> Score:
    context: dict[str, Any] = {"lead": lead, "events": events, "now": now}
    breakdown: list[Contribution] = []
    totals: dict[Category, float] = {"fit": 0.0, "behaviour": 0.0}
    # Each event's context and decay once, not once per rule: the hot loop of scoring.
    seen = [({**context, "event": e}, e, _decay(e, now, scoring.half_life_days)) for e in events]
    for rule in scoring.rules:
        if rule.category == "fit":
            if rule.condition(context):
                points = _capped(rule.points, rule.cap)
                breakdown.append(Contribution(rule.name, "fit", points))
                totals["fit"] += points
            continue
        given = 0.0
        for event_context, event, factor in seen:
            if not rule.condition(event_context):
                continue
            decayed = rule.points * factor
            points = _capped(given + decayed, rule.cap) - given
            # An event past the cap is kept, with 0 points: explain says why it gave nothing.
            note = "rule cap reached" if points != decayed else ""
            breakdown.append(Contribution(rule.name, "behaviour", round(points, 2), event, note))
            given += points
        totals["behaviour"] += given
    return Score(
        fit=round(_capped(totals["fit"], scoring.fit_cap), 2),
        behaviour=round(_capped(totals["behaviour"], scoring.behaviour_cap), 2),
        breakdown=tuple(breakdown),
    )


def _capped(value: float, cap: float | None) -> float:
    """Bound the size of ``value`` by ``cap``, keeping its sign (negative points too)."""
    if cap is None:
        return value
    return max(-cap, min(cap, value))


def _decay(event: Mapping[str, Any], now: datetime, half_life_days: float) -> float:
    at = event.get("at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            at = None
    if not isinstance(at, datetime):
        return 1.0  # an event with no time counts as new
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    age_days = max((now - at).total_seconds() / 86400, 0.0)
    return float(0.5 ** (age_days / half_life_days))
