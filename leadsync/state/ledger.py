"""The lead ledger, aggregated where it is stored: the figures `leadsync report` shows.

Each figure is one ``GROUP BY`` in the database, never a Python loop over leads (a
million leads' history reports in seconds). ``lead_table`` first folds each lead's
history into one row of a temporary table (when it first entered each stage, its
first touch, its SLA breaches, what it is grouped by); the other functions read it.

A period is half-open, ``[since, until)``, on the time a lead entered the stage a
figure starts from: "MQL to SAL in November" is of the leads that became MQLs in
November, accepted whenever. Percentiles interpolate between ranks, as PostgreSQL's
``percentile_cont`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from leadsync.state.models import Lead, SlaTimer, SourceRecord, StageHistory, UTCDateTime, table

STAGES = ("inquiry", "lead", "mql", "sal", "sql", "recycled", "disqualified")
# The conversions a report gives: each step of the funnel, and MQL to SQL (how many of
# the leads marketing handed over sales turned into pipeline).
STEPS = (("inquiry", "lead"), ("lead", "mql"), ("mql", "sal"), ("sal", "sql"), ("mql", "sql"))
DIMENSIONS = ("source", "campaign", "owner", "week")
ALL = "all"  # the one group of a report not broken down


@dataclass(frozen=True)
class Period:
    since: datetime | None = None
    until: datetime | None = None

    def holds(self, at: Any) -> ColumnElement[bool]:
        """``at`` falls in the period (and is set)."""
        terms = [at.is_not(None)]
        if self.since is not None:
            terms.append(at >= self.since)
        if self.until is not None:
            terms.append(at < self.until)
        return and_(*terms)


@dataclass(frozen=True)
class Spread:
    """How many values, their median and 90th percentile (None when there are none)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


def lead_table(session: Session) -> Table:
    """A temporary table of one row a lead: its first entry into each stage, its first
    touch, its follow-up SLA record and what a report groups it by. Gone with the
    session's transaction (a report writes nothing)."""
    columns: list[Column[Any]] = [
        Column("lead_id", Integer, primary_key=True),
        Column("owner", String),
        Column("campaign", String),
        Column("source", String),
        Column("stage", String),
        Column("score", Float),
        Column("revisit_on", Date),
        *(Column(f"{s}_at", UTCDateTime) for s in STAGES),
        Column("touched_at", UTCDateTime),
        Column("within_sla", Integer),
        Column("breaches", Integer),
        Column("reassigned", Integer),
        Column("not_followed_up", Integer),
    ]
    ledger = Table("report_leads", MetaData(), *columns, prefixes=["TEMPORARY"])
    ledger.create(session.connection())
    h, t, sr = table(StageHistory), table(SlaTimer), table(SourceRecord)
    firsts = select(h.c.lead_id, *(_first(h, s) for s in STAGES)).group_by(h.c.lead_id).subquery()
    met_in_time = and_(t.c.status == "met", t.c.reassignments == 0, t.c.touched_at <= t.c.due_at)
    timers = (
        select(
            t.c.lead_id,
            func.min(t.c.touched_at).label("touched_at"),
            func.max(case((met_in_time, 1), else_=0)).label("within_sla"),
            func.sum(t.c.reassignments + case((t.c.status == "recycled", 1), else_=0)).label(
                "breaches"
            ),
            func.sum(t.c.reassignments).label("reassigned"),
            func.sum(case((t.c.status == "recycled", 1), else_=0)).label("not_followed_up"),
        )
        .group_by(t.c.lead_id)
        .subquery()
    )
    # A lead several sources know is counted under the first by name: each lead once.
    sources = (
        select(sr.c.lead_id, func.min(sr.c.source).label("source"))
        .group_by(sr.c.lead_id)
        .subquery()
    )
    lead = table(Lead)
    rows = (
        select(
            lead.c.id,
            lead.c.owner,
            Lead.profile["campaign"].as_string(),
            sources.c.source,
            lead.c.stage,
            func.coalesce(lead.c.score_fit, 0) + func.coalesce(lead.c.score_behaviour, 0),
            lead.c.revisit_on,
            *(firsts.c[f"{s}_at"] for s in STAGES),
            timers.c.touched_at,
            timers.c.within_sla,
            timers.c.breaches,
            timers.c.reassigned,
            timers.c.not_followed_up,
        )
        .select_from(lead)
        .join(firsts, firsts.c.lead_id == lead.c.id)
        .outerjoin(timers, timers.c.lead_id == lead.c.id)
        .outerjoin(sources, sources.c.lead_id == lead.c.id)
    )
    session.execute(insert(ledger).from_select([c.name for c in columns], rows))
    return ledger


def stage_entries(
    session: Session, ledger: Table, period: Period, by: str | None
) -> dict[str, dict[str, int]]:
    """Group -> stage -> the leads that entered it in the period (a lead re-entering a
    stage, recycled and qualified again, counts once a group)."""
    h = table(StageHistory)
    group = _group(session, ledger, by, h.c.at)
    query = (
        select(group, h.c.stage, func.count(h.c.lead_id.distinct()))
        .select_from(h.join(ledger, ledger.c.lead_id == h.c.lead_id))
        .where(period.holds(h.c.at))
        .group_by(group, h.c.stage)
    )
    out: dict[str, dict[str, int]] = {}
    for grp, stage, n in session.execute(query):
        out.setdefault(_label(grp), {})[stage] = n
    return out


def conversions(
    session: Session, ledger: Table, period: Period, by: str | None
) -> dict[str, dict[str, tuple[int, int, Spread]]]:
    """Group -> "mql>sal" -> (leads that entered the first stage in the period, those of
    them that went on to the second, the days it took them)."""
    parts = []
    for a, b in STEPS:
        start, end = ledger.c[f"{a}_at"], ledger.c[f"{b}_at"]
        went_on = and_(end.is_not(None), end >= start)
        parts.append(
            select(
                _group(session, ledger, by, start).label("grp"),
                literal(f"{a}>{b}").label("step"),
                case((went_on, 1), else_=0).label("went_on"),
                case((went_on, _days(session, start, end)), else_=None).label("days"),
            ).where(period.holds(start))
        )
    steps = union_all(*parts).subquery()
    counts = select(steps.c.grp, steps.c.step, func.count(), func.sum(steps.c.went_on)).group_by(
        steps.c.grp, steps.c.step
    )
    spreads = percentiles(session, steps.c.grp, steps.c.step, steps.c.days)
    out: dict[str, dict[str, tuple[int, int, Spread]]] = {}
    for grp, step, n, went_on in session.execute(counts):
        spread = spreads.get((grp, step), Spread())
        out.setdefault(_label(grp), {})[step] = (n, int(went_on or 0), spread)
    return out


def follow_up(
    session: Session, ledger: Table, period: Period, by: str | None
) -> dict[str, dict[str, Any]]:
    """Group -> the follow-up of the leads that became MQLs in the period: how many, how
    many were touched (within their SLA), breaches, reassignments, recycled for want of
    a touch, and the hours from MQL to the first touch."""
    mql = ledger.c.mql_at
    grp = _group(session, ledger, by, mql).label("grp")
    touched = and_(ledger.c.touched_at.is_not(None), ledger.c.touched_at >= mql)
    query = (
        select(
            grp,
            func.count(),
            func.sum(case((touched, 1), else_=0)),
            func.sum(func.coalesce(ledger.c.within_sla, 0)),
            func.sum(func.coalesce(ledger.c.breaches, 0)),
            func.sum(func.coalesce(ledger.c.reassigned, 0)),
            func.sum(func.coalesce(ledger.c.not_followed_up, 0)),
        )
        .where(period.holds(mql))
        .group_by(grp)
    )
    hours = (
        select(
            grp,
            literal("touch").label("step"),
            (_days(session, mql, ledger.c.touched_at) * 24).label("hours"),
        )
        .where(period.holds(mql), touched)
        .subquery()
    )
    spreads = percentiles(session, hours.c.grp, hours.c.step, hours.c.hours)
    out: dict[str, dict[str, Any]] = {}
    for g, mqls, n_touched, within, breaches, reassigned, recycled in session.execute(query):
        out[_label(g)] = {
            "mqls": mqls,
            "touched": int(n_touched or 0),
            "touched_within_sla": int(within or 0),
            "sla_breaches": int(breaches or 0),
            "reassignments": int(reassigned or 0),
            "recycled_not_followed_up": int(recycled or 0),
            "hours_to_first_touch": spreads.get((g, "touch"), Spread()),
        }
    return out


def recycling(session: Session, ledger: Table, period: Period, today: date) -> dict[str, Any]:
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
    back = ledger.c.revisit_on
    weeks = case((back < today, literal(-1)), else_=_weeks_from(session, today, back))
    due = (
        select(weeks.label("w"), func.count())
        .where(ledger.c.stage == "recycled", back.is_not(None))
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


def percentiles(
    session: Session, group: Any, key: Any, value: Any
) -> dict[tuple[Any, Any], Spread]:
    """(group, key) -> the spread of ``value`` (NULLs left out), ranked in the database:
    only the rows at the median's and the 90th percentile's ranks come back."""
    ranked = (
        select(
            group.label("g"),
            key.label("k"),
            value.label("v"),
            func.row_number().over(partition_by=(group, key), order_by=value).label("rn"),
            func.count().over(partition_by=(group, key)).label("n"),
        )
        .where(value.is_not(None))
        .subquery()
    )
    n1 = ranked.c.n - 1
    # rn - 1 is the 0-based rank; floor((n-1)p) and the rank after it, by integer division.
    wanted = [n1 // 2, n1 // 2 + 1, n1 * 9 // 10, n1 * 9 // 10 + 1]
    rows = select(ranked.c.g, ranked.c.k, ranked.c.n, ranked.c.rn, ranked.c.v).where(
        (ranked.c.rn - 1).in_(wanted)
    )
    at_rank: dict[tuple[Any, Any], dict[int, float]] = {}
    sizes: dict[tuple[Any, Any], int] = {}
    for g, k, n, rn, v in session.execute(rows):
        at_rank.setdefault((g, k), {})[rn - 1] = float(v)
        sizes[(g, k)] = n
    return {
        gk: Spread(n, _interpolate(at_rank[gk], n, 1, 2), _interpolate(at_rank[gk], n, 9, 10))
        for gk, n in sizes.items()
    }


def _interpolate(values: Mapping[int, float], n: int, num: int, den: int) -> float:
    """The ``num/den`` quantile of n sorted values, given those at the ranks around it."""
    low, rest = divmod((n - 1) * num, den)
    if rest == 0:
        return values[low]
    return values[low] + (values[low + 1] - values[low]) * rest / den


def _first(h: Table, stage: str) -> Any:
    return func.min(case((h.c.stage == stage, h.c.at))).label(f"{stage}_at")


def _group(session: Session, ledger: Table, by: str | None, at: Any) -> Any:
    """What a report's rows are: one group, a column of the lead, or the week (its Monday)
    of the time the figure starts from."""
    if by is None:
        return literal(ALL)
    if by == "week":
        if _dialect(session) == "postgresql":
            monday = func.date_trunc("week", func.timezone("UTC", at))
            return func.to_char(monday, "YYYY-MM-DD")
        return func.date(at, "weekday 0", "-6 days")
    return ledger.c[by]


def _days(session: Session, start: Any, end: Any) -> Any:
    if _dialect(session) == "postgresql":
        return func.extract("epoch", end - start) / 86400.0
    return func.julianday(end) - func.julianday(start)


def _weeks_from(session: Session, start: date, end: Any) -> Any:
    """Whole weeks from ``start`` to the date ``end`` (not before it)."""
    if _dialect(session) == "postgresql":
        return (end - literal(start, Date)) // 7  # a date minus a date: whole days
    days = func.julianday(end) - func.julianday(literal(start.isoformat()))
    return sql_cast(days / 7, Integer)  # whole weeks: truncated, as days >= 0


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _label(group: Any) -> str:
    return "(none)" if group is None else str(group)
