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

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
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
    bindparam,
    case,
    func,
    insert,
    literal,
    null,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from leadsync.state.models import Lead, SlaTimer, SourceRecord, StageHistory, UTCDateTime, table

STAGES = ("inquiry", "lead", "mql", "sal", "sql", "recycled", "disqualified")
# The conversions a report gives: each step of the funnel, and MQL to SQL (how many of
# the leads marketing handed over sales turned into pipeline).
STEPS = (("inquiry", "lead"), ("lead", "mql"), ("mql", "sal"), ("sal", "sql"), ("mql", "sql"))
DIMENSIONS = ("source", "campaign", "owner", "week")
ALL = "all"  # the one group of a report not broken down
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Period:
    since: datetime | None = None
    until: datetime | None = None

    def holds(self, at: Any, convert: Any = None) -> ColumnElement[bool]:
        """``at`` falls in the period (and is set); ``convert`` turns a bound into what
        ``at`` holds (a day number)."""
        terms = [at.is_not(None)]
        for bound, after in ((self.since, True), (self.until, False)):
            if bound is not None:
                value = bindparam(None, bound, type_=UTCDateTime)
                value = convert(value) if convert else value
                terms.append(at >= value if after else at < value)
        return and_(*terms)


@dataclass(frozen=True)
class Spread:
    """How many values, their median and 90th percentile (None when there are none)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


@contextmanager
def lead_table(session: Session, by: str | None = None) -> Iterator[Table]:
    """A temporary table of one row a lead: its first entry into each stage, its first
    touch, its follow-up SLA record, its owner and, when ``by`` asks, its source or
    campaign. Dropped on the way out, on its own connection: SQLite keeps a temporary
    table past a rollback, and a pooled connection would keep it for the next report."""
    columns: list[Column[Any]] = [
        Column("lead_id", Integer, primary_key=True),
        Column("owner", String),
        Column("campaign", String),
        Column("source", String),
        Column("stage", String),
        Column("score", Float),
        Column("revisit_on", Date),
        *(Column(f"{s}_day", Float) for s in STAGES),
        Column("touched_day", Float),
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
            Lead.profile["campaign"].as_string() if by == "campaign" else null(),
            sources.c.source if by == "source" else null(),
            lead.c.stage,
            func.coalesce(lead.c.score_fit, 0) + func.coalesce(lead.c.score_behaviour, 0),
            lead.c.revisit_on,
            *(day_number(session, firsts.c[f"{s}_at"]) for s in STAGES),
            day_number(session, timers.c.touched_at),
            timers.c.within_sla,
            timers.c.breaches,
            timers.c.reassigned,
            timers.c.not_followed_up,
        )
        .select_from(lead)
        .join(firsts, firsts.c.lead_id == lead.c.id)
        .outerjoin(timers, timers.c.lead_id == lead.c.id)
    )
    if by == "source":
        rows = rows.outerjoin(sources, sources.c.lead_id == lead.c.id)
    try:
        session.execute(insert(ledger).from_select([c.name for c in columns], rows))
        yield ledger
    finally:
        # Dropped while the session still holds the connection that made it: released
        # first, the pool may hand the DROP another connection (the service's threads).
        try:
            session.execute(text(f"DROP TABLE IF EXISTS {ledger.name}"))
            session.commit()
        except SQLAlchemyError:
            session.rollback()  # PostgreSQL's aborted transaction: the table goes with it


@contextmanager
def business_calendar(
    session: Session, spans: Sequence[tuple[datetime, datetime]]
) -> Iterator[Callable[[Any], Any]]:
    """A temporary table of business-hours spans (as day numbers, with the business time
    before each), and the function that gives, for a day-number expression, the business
    days from the first span to it: the business time between two moments is the
    difference, found by one indexed look-up each, whatever the time zone and its DST."""
    calendar = Table(
        "report_business_hours",
        MetaData(),
        Column("opens", Float, primary_key=True),
        Column("closes", Float),
        Column("before", Float),
        prefixes=["TEMPORARY"],
    )
    calendar.create(session.connection())
    rows, before = [], 0.0
    for opens, closes in spans:
        start, stop = opens.timestamp() / 86400, closes.timestamp() / 86400
        rows.append({"opens": start, "closes": stop, "before": before})
        before += stop - start
    if rows:
        session.execute(insert(calendar), rows)
    c = calendar.c

    def business_days(day: Any) -> Any:
        upto = case((day >= c.closes, c.closes), else_=day)
        last = select(c.before + upto - c.opens).where(c.opens <= day).order_by(c.opens.desc())
        return func.coalesce(last.limit(1).scalar_subquery(), 0.0)

    try:
        yield business_days
    finally:
        session.execute(text(f"DROP TABLE IF EXISTS {calendar.name}"))


def percentiles(session: Session, values: Subquery, groups: bool = True) -> dict[Any, Spread]:
    """Group -> the spread of the values of ``values`` (columns ``g``, ``v``; no NULLs),
    ranked in the database: only the rows at the median's and the 90th percentile's
    ranks come back. ``groups`` False: ``g`` is one value (a window not partitioned
    sorts a million values a quarter faster on SQLite)."""
    g, v = values.c.g, values.c.v
    within = g if groups else None
    ranked = select(
        g,
        v,
        func.row_number().over(partition_by=within, order_by=v).label("rn"),
        func.count().over(partition_by=within).label("n"),
    ).subquery()
    n1 = ranked.c.n - 1
    # rn - 1 is the 0-based rank; floor((n-1)p) and the rank after it, by integer division.
    wanted = [n1 // 2, n1 // 2 + 1, n1 * 9 // 10, n1 * 9 // 10 + 1]
    rows = select(ranked.c.g, ranked.c.n, ranked.c.rn, ranked.c.v).where(
        (ranked.c.rn - 1).in_(wanted)
    )
    at_rank: dict[Any, dict[int, float]] = {}
    sizes: dict[Any, int] = {}
    for group, n, rn, value in session.execute(rows):
        at_rank.setdefault(group, {})[rn - 1] = float(value)
        sizes[group] = n
    return {
        group: Spread(
            n, _interpolate(at_rank[group], n, 1, 2), _interpolate(at_rank[group], n, 9, 10)
        )
        for group, n in sizes.items()
    }


def _interpolate(values: Mapping[int, float], n: int, num: int, den: int) -> float:
    """The ``num/den`` quantile of n sorted values, given those at the ranks around it."""
    low, rest = divmod((n - 1) * num, den)
    if rest == 0:
        return values[low]
    return values[low] + (values[low + 1] - values[low]) * rest / den


def _first(h: Table, stage: str) -> Any:
    # FILTER, not MIN(CASE ...): a fifth faster over a million leads' history on SQLite.
    return func.min(h.c.at).filter(h.c.stage == stage).label(f"{stage}_at")


def group_of(session: Session, ledger: Table, by: str | None, at: Any, days: bool = False) -> Any:
    """What a report's rows are: one group, a column of the lead, or the week of the time
    the figure starts from (``at``: a time, or a day number when ``days``), as the day
    number of its Monday: arithmetic, not a date function a row (``_label`` names it)."""
    if by is None:
        return literal(ALL)
    if by != "week":
        return ledger.c[by]
    day = at if days else day_number(session, at)
    week: Any
    # 1970-01-01 was a Thursday: weeks counted from the Monday before it, day -3.
    if dialect(session) == "postgresql":
        week = func.floor((day + 3) / 7)
    else:
        week = sql_cast((day + 3) / 7, Integer)  # truncated: days since 1970 are >= 0
    return week * 7 - 3


def month_of(session: Session, day: Any) -> Any:
    """The month (``2026-11``) of a day number, UTC."""
    if dialect(session) == "postgresql":
        return func.to_char(func.timezone("UTC", func.to_timestamp(day * 86400)), "YYYY-MM")
    return func.strftime("%Y-%m", day * 86400, "unixepoch")


def day_number(session: Session, at: Any) -> Any:
    """A time as days since 1970-01-01 UTC, a float: the ledger's times are these, so that
    the days between two are a subtraction. ``at`` None: the conversion alone, for a
    period's bounds (made by the database too, so that a bound equal to a stored time
    compares equal)."""
    if at is None:
        return lambda bound: day_number(session, bound)
    if dialect(session) == "postgresql":
        return func.extract("epoch", at) / 86400.0
    return func.julianday(at) - 2440587.5


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def label(group: Any) -> str:
    """A group as a report names it; a week (its Monday's day number) as that Monday."""
    if group is None:
        return "(none)"
    if isinstance(group, int | float | Decimal):
        return (EPOCH + timedelta(days=int(group))).isoformat()
    return str(group)
