"""`leadsync report`: how lead management is doing, from the ledger leadsync keeps.

The funnel (leads entering each stage, conversion from one to the next and the days
it took), follow-up (the MQLs touched, within their SLA or not, and how soon), the
owners (load, acceptance, time to first touch) and recycling (why, what became of
the leads, when they come back). Read-only: every figure is aggregated in the state
db (``state.ledger``), which the report leaves as it found it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, func, select
from sqlalchemy.orm import Session

from leadsync.rules.sla import BusinessHours, open_spans
from leadsync.state import db, funnel, ledger, owners
from leadsync.state.ledger import ALL, STAGES, Period, Spread

# Figures a rate is given for: converted of entered, touched of MQLs.
ROUND = 3


def build_report(
    engine: Engine,
    now: datetime,
    period: Period,
    by: str | None = None,
    hours: BusinessHours | None = None,
) -> dict[str, Any]:
    """The report as one JSON-ready dict: ``funnel``, ``follow_up``, ``owners`` and
    ``recycling``; the first two have a row per group when ``by`` is given. With the
    SLA's business ``hours``, the time to first touch is given in them too."""
    if by is not None and by not in ledger.DIMENSIONS:
        raise ValueError(f"unknown --by {by!r}: one of {', '.join(ledger.DIMENSIONS)}")
    with db.session_factory(engine)() as session, ledger.lead_table(session, by) as leads:
        entered = funnel.stage_entries(session, leads, period, by)
        converted = funnel.conversions(session, leads, period, by)
        with _business_days(session, leads, hours) as business_days:
            followed = funnel.follow_up(session, leads, period, by, business_days)
            by_owner = (
                followed
                if by == "owner"
                else funnel.follow_up(session, leads, period, "owner", business_days)
            )
        open_now: dict[str | None, int] = dict(
            session.execute(
                select(leads.c.owner, func.count())
                .where(leads.c.stage == "mql")
                .group_by(leads.c.owner)
            ).all()
        )
        recycled = funnel.recycling(session, leads, period, now.date())
        names = owners.known(session)
    groups = sorted(set(entered) | set(converted) | set(followed), key=_group_order)
    return {
        "generated_at": now.isoformat(),
        "period": _period(period),
        "by": by,
        "funnel": [
            _named(_funnel_row(g, entered.get(g, {}), converted.get(g, {})), by, names)
            for g in groups
        ],
        "follow_up": [
            _named(_follow_up_row(g, followed[g]), by, names) for g in groups if g in followed
        ],
        "owners": [
            {**_owner_row(owner, by_owner[owner], open_now), "name": names.get(owner)}
            for owner in sorted(by_owner, key=_group_order)
        ],
        "recycling": {**recycled, "coming_back": _coming_back(recycled["coming_back"])},
    }


@contextmanager
def _business_days(
    session: Session, leads: Table, hours: BusinessHours | None
) -> Iterator[Callable[[Any], Any] | None]:
    """The business-days function over the spans of ``hours`` from the first MQL to the
    last touch the ledger holds (None without hours, or without a touch)."""
    first, last = session.execute(
        select(func.min(leads.c.mql_day), func.max(leads.c.touched_day))
    ).one()
    if hours is None or first is None or last is None:
        yield None
        return
    start, end = (datetime.fromtimestamp(day * 86400, UTC) for day in (first, last))
    with ledger.business_calendar(session, open_spans(hours, start, end)) as business_days:
        yield business_days


def build_scoring(
    engine: Engine, now: datetime, period: Period, outcome: str = "sql", band: float = 10
) -> dict[str, Any]:
    """How well the scores rank the leads that reached ``outcome``: for the leads first
    seen in the period, the ROC AUC of the score (overall and a month), the outcome's
    rate by score band, and for the MQLs against the other leads."""
    with db.session_factory(engine)() as session, ledger.lead_table(session) as leads:
        rows = funnel.score_outcomes(session, leads, period, outcome)
    scores: dict[float, list[int]] = {}
    months: dict[str, dict[float, list[int]]] = {}
    bands: dict[float, list[int]] = {}
    mql = {True: [0, 0], False: [0, 0]}
    for month, score, is_mql, n, won in rows:
        for tally in (
            scores.setdefault(score, [0, 0]),
            months.setdefault(month, {}).setdefault(score, [0, 0]),
            bands.setdefault(math.floor(score / band) * band, [0, 0]),
            mql[is_mql],
        ):
            tally[0] += n
            tally[1] += won
    leads_n, won_n = sum(t[0] for t in scores.values()), sum(t[1] for t in scores.values())
    return {
        "generated_at": now.isoformat(),
        "period": _period(period),
        "outcome": outcome,
        "leads": leads_n,
        "reached": won_n,
        "rate": rate(won_n, leads_n),
        "auc": _round(roc_auc(scores), 4),
        "mqls": _tally(mql[True]),
        "other_leads": _tally(mql[False]),
        "bands": [{"from": lo, "to": lo + band, **_tally(bands[lo])} for lo in sorted(bands)],
        "months": [
            {
                "month": m,
                **_tally([sum(t[0] for t in s.values()), sum(t[1] for t in s.values())]),
                "auc": _round(roc_auc(s), 4),
            }
            for m, s in sorted(months.items())
        ],
    }


def roc_auc(scores: dict[float, list[int]]) -> float | None:
    """The chance that a lead that reached the outcome outscores one that did not (ties
    count half), from (score -> [leads, reached]): Mann-Whitney's U over n1 * n0. None
    when either side is empty."""
    positives = sum(won for _, won in scores.values())
    negatives = sum(n - won for n, won in scores.values())
    if not positives or not negatives:
        return None
    below, wins = 0, 0.0
    for score in sorted(scores):
        n, won = scores[score]
        lost = n - won
        wins += won * below + won * lost / 2
        below += lost
    return wins / (positives * negatives)


def _tally(tally: list[int]) -> dict[str, Any]:
    return {"leads": tally[0], "reached": tally[1], "rate": rate(tally[1], tally[0])}


def _period(period: Period) -> dict[str, str | None]:
    return {
        "since": period.since.isoformat() if period.since else None,
        "until": period.until.isoformat() if period.until else None,
    }


def _named(row: dict[str, Any], by: str | None, names: dict[str, str]) -> dict[str, Any]:
    """A row by owner gets the owner's name beside the id."""
    return {**row, "name": names.get(row["group"])} if by == "owner" else row


def _funnel_row(
    group: str, entered: dict[str, int], steps: dict[str, tuple[int, int, Spread]]
) -> dict[str, Any]:
    return {
        "group": group,
        "entered": {stage: entered.get(stage, 0) for stage in STAGES},
        "conversion": {
            step: {
                "from": n,
                "to": went_on,
                "rate": rate(went_on, n),
                "median_days": _round(spread.median),
                "p90_days": _round(spread.p90),
            }
            for step, (n, went_on, spread) in steps.items()
        },
    }


def _follow_up_row(group: str, figures: dict[str, Any]) -> dict[str, Any]:
    hours: Spread = figures["hours_to_first_touch"]
    worked: Spread = figures["business_hours_to_first_touch"] or Spread()
    mqls = figures["mqls"]
    return {
        "group": group,
        **{k: v for k, v in figures.items() if not k.endswith("hours_to_first_touch")},
        "follow_up_rate": rate(figures["touched"], mqls),
        "within_sla_rate": rate(figures["touched_within_sla"], mqls),
        "median_hours_to_first_touch": _round(hours.median),
        "p90_hours_to_first_touch": _round(hours.p90),
        "median_business_hours_to_first_touch": _round(worked.median),
        "p90_business_hours_to_first_touch": _round(worked.p90),
    }


def _owner_row(
    owner: str,
    figures: dict[str, Any],
    open_now: dict[str | None, int],
) -> dict[str, Any]:
    accepted = figures["accepted"]
    hours: Spread = figures["hours_to_first_touch"]
    return {
        "owner": owner,
        "mqls": figures["mqls"],
        "open_mqls_now": open_now.get(None if owner == "(none)" else owner, 0),
        "accepted": accepted,
        "acceptance_rate": rate(accepted, figures["mqls"]),
        "follow_up_rate": rate(figures["touched"], figures["mqls"]),
        "median_hours_to_first_touch": _round(hours.median),
        "median_business_hours_to_first_touch": _round(
            (figures["business_hours_to_first_touch"] or Spread()).median
        ),
        "sla_breaches": figures["sla_breaches"],
    }


def _coming_back(by_week: dict[int, int]) -> dict[str, int]:
    """Recycled leads by when they come back: ``overdue`` (their date is past), then
    ``in 0-6 days``, ``in 7-13 days``..."""
    return {
        "overdue" if w < 0 else f"in {7 * w}-{7 * w + 6} days": n
        for w, n in sorted(by_week.items())
    }


def rate(part: int, whole: int) -> float | None:
    """``part / whole``, rounded; None (not 0) when there is nothing to divide."""
    return round(part / whole, ROUND) if whole else None


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _group_order(group: str) -> tuple[int, str]:
    """The one group first, a lead with no value for the dimension last."""
    return (0 if group == ALL else 2 if group == "(none)" else 1, group)
