"""The report's figures, each one ``GROUP BY`` over the lead table (``state.ledger``):
stage entries, conversions, follow-up and recycling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Numeric,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from leadsync.state import ledger
from leadsync.state.ledger import STAGES, STEPS, Period, Spread
from leadsync.state.models import StageHistory, UTCDateTime, table


def stage_entries(
    session: Session, leads: Table, period: Period, by: str | None
) -> dict[str, dict[str, int]]:
    """Group -> stage -> the leads that entered it in the period (a lead re-entering a
    stage, recycled and qualified again, counts once a group)."""
    h = table(StageHistory)
    out: dict[str, dict[str, int]] = {}
    if by == "week":  # a lead's entries fall in different weeks: each entry's own
        group = ledger.group_of(session, leads, by, h.c.at)
        query = (
            select(group, h.c.stage, func.count(h.c.lead_id.distinct()))
            .where(period.holds(h.c.at))
            .group_by(group, h.c.stage)
        )
        for grp, stage, n in session.execute(query):
            out.setdefault(ledger.label(grp), {})[stage] = n
        return out
    # Else from the ledger's first entries (one pass over a row a lead), plus the leads
    # whose first entry came before the period and who entered again in it.
    group = ledger.group_of(session, leads, by, None)
    day = ledger.day_number(session, None)
    firsts = select(
        group,
        *(func.sum(case((period.holds(leads.c[f"{s}_day"], day), 1), else_=0)) for s in STAGES),
    ).group_by(group)
    for grp, *counts in session.execute(firsts):
        out[ledger.label(grp)] = {s: int(n or 0) for s, n in zip(STAGES, counts, strict=True)}
    if period.since is not None:
        first = case(*((h.c.stage == s, leads.c[f"{s}_day"]) for s in STAGES))
        again = (
            select(group, h.c.stage, func.count(h.c.lead_id.distinct()))
            .select_from(h.join(leads, leads.c.lead_id == h.c.lead_id))
            .where(period.holds(h.c.at), first < day(bindparam(None, period.since, UTCDateTime)))
            .group_by(group, h.c.stage)
        )
        for grp, stage, n in session.execute(again):
            entered = out.setdefault(ledger.label(grp), dict.fromkeys(STAGES, 0))
            entered[stage] += n
    return {g: counts for g, counts in out.items() if any(counts.values())}


def conversions(
    session: Session, leads: Table, period: Period, by: str | None
) -> dict[str, dict[str, tuple[int, int, Spread]]]:
    """Group -> "mql>sal" -> (leads that entered the first stage in the period, those of
    them that went on to the second, the days it took them)."""
    out: dict[str, dict[str, tuple[int, int, Spread]]] = {}
    for a, b in STEPS:
        start, end = leads.c[f"{a}_day"], leads.c[f"{b}_day"]
        grp = ledger.group_of(session, leads, by, start, days=True).label("g")
        went_on = and_(end.is_not(None), end >= start)
        cohort = period.holds(start, ledger.day_number(session, None))
        counts = select(grp, func.count(), func.sum(case((went_on, 1), else_=0)))
        took = select(grp, (end - start).label("v")).where(cohort, went_on)
        spreads = ledger.percentiles(session, took.subquery(), by is not None)
        for g, n, n_went_on in session.execute(counts.where(cohort).group_by(grp)):
            step = (n, int(n_went_on or 0), spreads.get(g, Spread()))
            out.setdefault(ledger.label(g), {})[f"{a}>{b}"] = step
    return out


def follow_up(
    session: Session,
    leads: Table,
    period: Period,
    by: str | None,
    business_days: Callable[[Any], Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Group -> the follow-up of the leads that became MQLs in the period: how many, how
    many sales accepted (SAL), how many were touched (within their SLA), breaches,
    reassignments, recycled for want of a touch, and the hours from MQL to first touch:
    on the calendar, and in business hours when ``business_days`` counts them
    (``ledger.business_calendar``)."""
    mql, touched_day = leads.c.mql_day, leads.c.touched_day
    grp = ledger.group_of(session, leads, by, mql, days=True).label("g")
    cohort = period.holds(mql, ledger.day_number(session, None))
    touched = and_(touched_day.is_not(None), touched_day >= mql)
    accepted = and_(leads.c.sal_day.is_not(None), leads.c.sal_day >= mql)
    query = (
        select(
            grp,
            func.count(),
            func.sum(case((touched, 1), else_=0)),
            func.sum(case((accepted, 1), else_=0)),
            func.sum(func.coalesce(leads.c.within_sla, 0)),
            func.sum(func.coalesce(leads.c.breaches, 0)),
            func.sum(func.coalesce(leads.c.reassigned, 0)),
            func.sum(func.coalesce(leads.c.not_followed_up, 0)),
        )
        .where(cohort)
        .group_by(grp)
    )
    hours = select(grp, ((touched_day - mql) * 24).label("v")).where(cohort, touched)
    spreads = ledger.percentiles(session, hours.subquery(), by is not None)
    worked: dict[Any, Spread] = {}
    if business_days is not None:
        took = (business_days(touched_day) - business_days(mql)) * 24
        in_hours = select(grp, took.label("v")).where(cohort, touched)
        worked = ledger.percentiles(session, in_hours.subquery(), by is not None)
    out: dict[str, dict[str, Any]] = {}
    for g, mqls, n_touched, n_accepted, within, breaches, reassigned, recycled in session.execute(
        query
    ):
        out[ledger.label(g)] = {
            "mqls": mqls,
            "accepted": int(n_accepted or 0),
            "touched": int(n_touched or 0),
            "touched_within_sla": int(within or 0),
            "sla_breaches": int(breaches or 0),
            "reassignments": int(reassigned or 0),
            "recycled_not_followed_up": int(recycled or 0),
            "hours_to_first_touch": spreads.get(g, Spread()),
            "business_hours_to_first_touch": worked.get(g) if business_days else None,
        }
    return out


def recycling(session: Session, leads: Table, period: Period, today: date) -> dict[str, Any]:
    """Why leads were recycled in the period, what became of them since, and when the
    ones still recycled come back (weeks from ``today``; overdue: their date is past)."""
    h = table(StageHistory)
    later = h.alias("later")
    # "not followed up: <who, which SLA>" reads as one reason; sales' words stay whole.
    reason = case(
        (h.c.reason.like("not followed up%"), literal("not followed up")), else_=h.c.reason
    )
    recycled = and_(h.c.stage == "recycled", period.holds(h.c.at))
    reasons = select(reason, func.count()).where(recycled).group_by(reason)

    def then(*stages: str) -> Any:
        went = exists().where(
            later.c.lead_id == h.c.lead_id, later.c.at > h.c.at, later.c.stage.in_(stages)
        )
        return func.sum(case((went, 1), else_=0))

    since = select(func.count(), then("mql"), then("sal"), then("sql"), then("disqualified")).where(
        recycled
    )
    total, mql, sal, sql, dq = session.execute(since).one()
    back = leads.c.revisit_on
    weeks = case((back < today, literal(-1)), else_=_weeks_from(session, today, back))
    due = (
        select(weeks.label("w"), func.count())
        .where(leads.c.stage == "recycled", back.is_not(None))
        .group_by("w")
    )
    return {
        "reasons": dict(sorted(session.execute(reasons).all(), key=lambda r: -r[1])),
        "recycled": total,
        "qualified_again": int(mql or 0),
        "accepted": int(sal or 0),
        "converted": int(sql or 0),
        "disqualified": int(dq or 0),
        "coming_back": {int(w): n for w, n in session.execute(due).all()},
    }


def score_outcomes(
    session: Session, leads: Table, period: Period, outcome: str
) -> list[tuple[str, float, bool, int, int]]:
    """The leads first seen in the period, counted by (month first seen, score to a tenth
    of a point, MQL or not): how many, and how many reached ``outcome`` (``sql``; ``sal``:
    accepted or further). A few thousand rows for a million leads: the AUC and the bands
    are read from them."""
    seen = leads.c.inquiry_day
    reached: ColumnElement[bool] = leads.c.sql_day.is_not(None)
    if outcome == "sal":
        reached = or_(reached, leads.c.sal_day.is_not(None))
    month = ledger.month_of(session, seen).label("m")
    score = func.round(sql_cast(leads.c.score, Numeric), 1).label("s")  # PostgreSQL: numeric
    mql = case((leads.c.mql_day.is_not(None), 1), else_=0).label("q")
    rows = (
        select(month, score, mql, func.count(), func.sum(case((reached, 1), else_=0)))
        .where(period.holds(seen, ledger.day_number(session, None)))
        .group_by(month, score, mql)
    )
    return [(m, float(s), bool(q), n, int(won or 0)) for m, s, q, n, won in session.execute(rows)]


def _weeks_from(session: Session, start: date, end: Any) -> Any:
    """Whole weeks from ``start`` to the date ``end`` (not before it)."""
    if ledger.dialect(session) == "postgresql":
        return (end - literal(start, Date)) // 7  # a date minus a date: whole days
    days = func.julianday(end) - func.julianday(literal(start.isoformat()))
    return sql_cast(days / 7, Integer)  # whole weeks: truncated, as days >= 0
