"""Lifecycle stages: where a lead stands in the funnel, and when and why it got there.

Pure: ``advance(rules, history, score, context, now) -> new entries``. The funnel
runs inquiry -> lead -> mql -> sal -> sql; ``recycled`` and ``disqualified`` stand
beside it. leadsync moves leads up to MQL itself; SAL, SQL and recycling are
sales' decisions, read back from the CRM.

- Every entry keeps its time and reason.
- No stage is skipped in the history: a lead that jumps from nothing to MQL
  enters inquiry, lead and MQL at the same moment, each with its reason.
- A recycled lead that qualifies again re-enters MQL; a score that fades never
  takes a stage back on its own (moving back is a person's decision).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from leadsync.rules.conditions import Condition
from leadsync.rules.scoring import Score

FUNNEL = ("inquiry", "lead", "mql", "sal", "sql")


@dataclass(frozen=True)
class StageEntry:
    stage: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class MqlThreshold:
    """MQL when total >= ``total``, or when fit >= ``fit`` and behaviour >= ``behaviour``."""

    total: float | None = None
    fit: float | None = None
    behaviour: float | None = None

    def reached(self, s: Score) -> str | None:
        if self.total is not None and s.total >= self.total:
            return f"score {s.total:g} reached the MQL threshold (total >= {self.total:g})"
        if (
            self.fit is not None
            and self.behaviour is not None
            and (s.fit >= self.fit and s.behaviour >= self.behaviour)
        ):
            return (
                f"fit {s.fit:g} and behaviour {s.behaviour:g} reached the MQL threshold "
                f"(fit >= {self.fit:g} and behaviour >= {self.behaviour:g})"
            )
        return None


@dataclass(frozen=True)
class LifecycleRules:
    mql: MqlThreshold
    # A known, reachable person: without it an inquiry stays an inquiry.
    lead_when: Condition | None = None
    disqualify_when: Condition | None = None


def current(history: Sequence[StageEntry]) -> str | None:
    return history[-1].stage if history else None


def advance(
    rules: LifecycleRules,
    history: Sequence[StageEntry],
    score: Score,
    context: Mapping[str, Any],
    now: datetime,
    revisit_on: date | None = None,
) -> list[StageEntry]:
    """The stage entries this lead makes now, in order; [] when it stays where it is.

    A recycled lead re-qualifies from ``revisit_on`` on (the day sales chose), not before."""
    stage = current(history)
    if stage in ("disqualified", "sal", "sql"):
        return []  # sales own the lead from here; leadsync does not move it
    if stage == "recycled" and revisit_on is not None and now.date() < revisit_on:
        return []
    if rules.disqualify_when is not None and rules.disqualify_when(context):
        return [StageEntry("disqualified", now, f"disqualified: {rules.disqualify_when.source}")]
    target, reasons = _target(rules, score, context)
    if stage == "recycled":
        if target != "mql":
            return []
        return [StageEntry("mql", now, f"re-qualified after recycling: {reasons['mql']}")]
    reached = FUNNEL.index(stage) if stage in FUNNEL else -1
    wanted = FUNNEL.index(target)
    return [StageEntry(s, now, reasons[s]) for s in FUNNEL[reached + 1 : wanted + 1]]


def _target(
    rules: LifecycleRules, score: Score, context: Mapping[str, Any]
) -> tuple[str, dict[str, str]]:
    reasons = {"inquiry": "first seen"}
    if rules.lead_when is not None and not rules.lead_when(context):
        return "inquiry", reasons
    reasons["lead"] = (
        f"meets the lead criteria: {rules.lead_when.source}"
        if rules.lead_when is not None
        else "a known person"
    )
    why = rules.mql.reached(score)
    if why is None:
        return "lead", reasons
    reasons["mql"] = why
    return "mql", reasons
