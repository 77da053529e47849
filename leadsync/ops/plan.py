"""`leadsync report plan`: the funnel against the targets in ``[planning]``.

For each target (a quarter or a month, all leads or one source's, campaign's or
owner's): the MQLs and SQLs so far, the pace (what the period will bring if it goes
on as it has), what is still needed, and the reverse funnel: how many more inquiries
that takes at the conversion rates of the period before (inquiry to MQL as inquiry to
lead times lead to MQL; MQL to SQL), the last whose leads had time to convert.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from leadsync.settings import PlanningSection, TargetSection
from leadsync.state import db, funnel, ledger
from leadsync.state.ledger import ALL, Period


def build_plan(engine: Engine, now: datetime, planning: PlanningSection) -> dict[str, Any]:
    """Each target, in the order of its period's start, with its figures as of ``now``."""
    targets = planning.targets
    rows = []
    with db.session_factory(engine)() as session:
        for dimension in dict.fromkeys(_dimension(t) for t in targets):
            with ledger.lead_table(session, dimension) as leads:
                for target in (t for t in targets if _dimension(t) == dimension):
                    start, end = period_bounds(target.period)
                    so_far = Period(start, min(end, max(now, start)))
                    before = Period(*period_bounds(previous(target.period)))
                    entered = funnel.stage_entries(session, leads, so_far, dimension)
                    steps = funnel.conversions(session, leads, before, dimension)
                    group = _group(target)
                    rows.append(
                        _target_row(
                            target, now, start, end, entered.get(group, {}), steps.get(group, {})
                        )
                    )
    rows.sort(key=lambda r: (period_bounds(r["period"]), r["segment"] or ""))
    return {"generated_at": now.isoformat(), "targets": rows}


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """``2026-Q4`` -> 1 October to 1 January; ``2026-11`` -> 1 November to 1 December (UTC)."""
    year, _, part = period.partition("-")
    if part.startswith("Q"):
        first, months = (int(part[1]) - 1) * 3 + 1, 3
    else:
        first, months = int(part), 1
    start = datetime(int(year), first, 1, tzinfo=UTC)
    after = first - 1 + months
    return start, datetime(int(year) + after // 12, after % 12 + 1, 1, tzinfo=UTC)


def previous(period: str) -> str:
    """The period before: ``2026-Q1`` -> ``2025-Q4``, ``2026-01`` -> ``2025-12``."""
    year, _, part = period.partition("-")
    if part.startswith("Q"):
        n = int(part[1]) - 1
        return f"{year}-Q{n}" if n else f"{int(year) - 1}-Q4"
    n = int(part) - 1
    return f"{year}-{n:02d}" if n else f"{int(year) - 1}-12"


def _target_row(
    target: TargetSection,
    now: datetime,
    start: datetime,
    end: datetime,
    entered: dict[str, int],
    steps: dict[str, tuple[int, int, Any]],
) -> dict[str, Any]:
    elapsed = min(max((now - start) / (end - start), 0.0), 1.0)
    to_mql = _rate(steps, "inquiry>lead", "lead>mql")
    mql_to_sql = _rate(steps, "mql>sql")
    row: dict[str, Any] = {
        "period": target.period,
        "segment": target.segment,
        "elapsed": round(elapsed, 3),
        "rates": {
            "from": previous(target.period),
            "inquiry_to_mql": _round(to_mql),
            "mql_to_sql": _round(mql_to_sql),
        },
    }
    if target.mql is not None:
        row["mql"] = _progress(target.mql, entered.get("mql", 0), elapsed)
        row["mql"]["inquiries_needed"] = _needed(row["mql"]["remaining"], to_mql)
    if target.sql is not None:
        row["sql"] = _progress(target.sql, entered.get("sql", 0), elapsed)
        mqls = _needed(row["sql"]["remaining"], mql_to_sql)
        row["sql"]["mqls_needed"] = mqls
        row["sql"]["inquiries_needed"] = None if mqls is None else _needed(mqls, to_mql)
    return row


def _progress(target: int, actual: int, elapsed: float) -> dict[str, Any]:
    """Target, actual, where the period ends at this pace, and what is left to find."""
    projected = round(actual / elapsed) if elapsed > 0 else None
    return {
        "target": target,
        "actual": actual,
        "projected": projected,
        "on_pace": None if projected is None else projected >= target,
        "remaining": max(target - actual, 0),
    }


def _rate(steps: dict[str, tuple[int, int, Any]], *names: str) -> float | None:
    """The product of the steps' conversion rates; None when one had no leads."""
    product = 1.0
    for name in names:
        n, went_on, _ = steps.get(name, (0, 0, None))
        if not n:
            return None
        product *= went_on / n
    return product


def _needed(remaining: int, rate: float | None) -> int | None:
    """How many leads a step needs to bring ``remaining`` at ``rate`` (None: no rate to go
    by, or a rate of 0, which no number of leads would meet)."""
    if remaining == 0:
        return 0
    return math.ceil(remaining / rate - 1e-9) if rate else None


def _dimension(target: TargetSection) -> str | None:
    return target.segment.partition(":")[0] if target.segment else None


def _group(target: TargetSection) -> str:
    return target.segment.partition(":")[2] if target.segment else ALL


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
