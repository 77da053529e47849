"""Weighted round robin, with daily caps and out-of-office, over state kept outside.

Pure: ``assign(pool, state, available, today) -> (owner, new state)``. The state is
a small JSON-able value the caller stores (in the state db), so that a restart
goes on exactly where the last process stopped: fairness survives restarts.

The algorithm is smooth weighted round robin (as in nginx): every pick adds each
eligible member's weight to its running credit, takes the member with the most,
and charges it the sum of the eligible weights. Over any run of picks each
member's share is its weight's share to within one lead, and picks are spread
out (A, B, A, C, ...) rather than bunched (A, A, B, C).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Member:
    owner: str
    weight: int = 1
    daily_cap: int | None = None


@dataclass(frozen=True)
class Pool:
    name: str
    members: tuple[Member, ...]

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError(f"pool {self.name!r} has no members")
        if any(m.weight < 1 for m in self.members):
            raise ValueError(f"pool {self.name!r}: weights are whole numbers of 1 or more")


def empty_state() -> dict[str, Any]:
    return {"credit": {}, "day": None, "today": {}}


def assign(
    pool: Pool, state: Mapping[str, Any], available: Collection[str] | None, today: date
) -> tuple[str | None, dict[str, Any]]:
    """The next owner, or None when every member is away or at their cap today."""
    credit = dict(state.get("credit") or {})
    counts = dict(state.get("today") or {}) if state.get("day") == today.isoformat() else {}
    eligible = [
        m
        for m in pool.members
        if (available is None or m.owner in available)
        and (m.daily_cap is None or counts.get(m.owner, 0) < m.daily_cap)
    ]
    new_state = {"credit": credit, "day": today.isoformat(), "today": counts}
    if not eligible:
        return None, new_state
    total = sum(m.weight for m in eligible)
    for m in eligible:
        credit[m.owner] = credit.get(m.owner, 0) + m.weight
    chosen = max(eligible, key=lambda m: credit[m.owner])  # first listed wins a tie
    credit[chosen.owner] -= total
    counts[chosen.owner] = counts.get(chosen.owner, 0) + 1
    return chosen.owner, new_state
