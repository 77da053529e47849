"""Follow-up SLAs: how long a rep has for the first touch, counted in business hours.

Pure: ``BusinessHours.parse("Mon-Fri 09:00-18:00", "Europe/Berlin")`` and
``add_business_time(start, timedelta(hours=4), hours)`` give the moment an SLA falls
due (a lead arriving Friday 17:30 in Berlin with a 4 h SLA is due Monday 12:30);
``SlaPolicy.ladder`` says what a breach leads to. The sweep (``sync.sweep``) applies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(
    r"^\s*(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*"
    r"(?P<h2>\d{1,2}):(?P<m2>\d{2})\s*$",
    re.IGNORECASE,
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d)\s*$")
# A duration in business time never needs more days than this to fit (a 1-hour day, a
# long SLA): the loop that counts it has a bound.
MAX_DAYS = 3 * 366


class SlaError(ValueError):
    pass


@dataclass(frozen=True)
class BusinessHours:
    """The hours a rep works: per weekday (0 Monday) one window, in a time zone."""

    windows: Mapping[int, tuple[timedelta, timedelta]]  # from local midnight: 24:00 is exact
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, timezone: str) -> BusinessHours:
        """``"Mon-Fri 09:00-18:00"``, several spans joined by ``,`` (``"Mon-Thu 09:00-18:00,
        Fri 09:00-15:00"``), or ``"always"`` (every hour counts)."""
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SlaError(
                f"unknown time zone {timezone!r} (an IANA name: Europe/Berlin)"
            ) from None
        if spec.strip().lower() in ("always", "24x7", "24/7"):
            return cls({d: (timedelta(0), timedelta(days=1)) for d in range(7)}, zone)
        windows: dict[int, tuple[timedelta, timedelta]] = {}
        for part in spec.split(","):
            match = _SPAN.match(part)
            if not match:
                raise SlaError(
                    f"business hours {part.strip()!r}: write days and hours, "
                    'e.g. "Mon-Fri 09:00-18:00"'
                )
            first, last = _day(match["d1"]), _day(match["d2"] or match["d1"])
            opens = timedelta(hours=int(match["h1"]), minutes=int(match["m1"]))
            closes = timedelta(hours=int(match["h2"]), minutes=int(match["m2"]))
            if int(match["m1"]) > 59 or int(match["m2"]) > 59 or closes > timedelta(days=1):
                raise SlaError(f"business hours {part.strip()!r}: not a time of day")
            if closes <= opens:
                raise SlaError(f"business hours {part.strip()!r}: closes before it opens")
            for day in range(first, (last if last >= first else last + 7) + 1):
                windows[day % 7] = (opens, closes)
        return cls(windows, zone)


def _day(name: str) -> int:
    try:
        return DAYS.index(name.lower())
    except ValueError:
        raise SlaError(f"{name!r} is not a weekday (Mon, Tue, ... Sun)") from None


def parse_duration(text: str) -> timedelta:
    """``"4h"``, ``"30m"``, ``"1.5h"``, ``"2d"`` (business days of 24 business hours are
    rarely meant: prefer hours)."""
    match = _DURATION.match(text)
    if not match:
        raise SlaError(f'{text!r} is not a duration: write e.g. "4h", "30m", "2d"')
    amount, unit = float(match[1]), match[2]
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: amount})


def add_business_time(start: datetime, duration: timedelta, hours: BusinessHours) -> datetime:
    """The moment ``duration`` of business time after ``start`` (UTC in, UTC out)."""
    local = start.astimezone(hours.zone)
    remaining = duration
    day: date = local.date()
    cursor = local
    for _ in range(MAX_DAYS):
        window = hours.windows.get(day.weekday())
        if window is not None:
            midnight = datetime.combine(day, time(0), tzinfo=hours.zone)
            opens, closes = midnight + window[0], midnight + window[1]  # wall-clock hours
            cursor = max(cursor, opens)
            if cursor < closes:
                available = closes - cursor
                if remaining <= available:
                    return (cursor + remaining).astimezone(UTC)
                remaining -= available
        day += timedelta(days=1)
        cursor = datetime.combine(day, time(0), tzinfo=hours.zone)
    raise SlaError(f"{duration} of business time does not fit in {MAX_DAYS} days of these hours")


def open_spans(
    hours: BusinessHours, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The business hours from the day of ``start`` to the day of ``end``, as UTC (opens,
    closes) pairs in order: what a report's business-hours figures are counted over."""
    spans = []
    day, last = start.astimezone(hours.zone).date(), end.astimezone(hours.zone).date()
    while day <= last:
        window = hours.windows.get(day.weekday())
        if window is not None:
            midnight = datetime.combine(day, time(0), tzinfo=hours.zone)
            spans.append(
                ((midnight + window[0]).astimezone(UTC), (midnight + window[1]).astimezone(UTC))
            )
        day += timedelta(days=1)
    return spans


@dataclass(frozen=True)
class Terms:
    first_touch: timedelta
    hours: BusinessHours


@dataclass(frozen=True)
class SlaPolicy:
    """The terms for each owner (or their routing pool), and the breach ladder."""

    default: Terms
    max_reassignments: int = 1
    manager: str | None = None
    by_owner: Mapping[str, Terms] = field(default_factory=dict)
    by_pool: Mapping[str, Terms] = field(default_factory=dict)
    recycle_days: int = 90

    def terms(self, owner: str | None, pool: str | None) -> Terms:
        if owner and owner in self.by_owner:
            return self.by_owner[owner]
        if pool and pool in self.by_pool:
            return self.by_pool[pool]
        return self.default

    def due(self, start: datetime, owner: str | None, pool: str | None) -> datetime:
        terms = self.terms(owner, pool)
        return add_business_time(start, terms.first_touch, terms.hours)

    def ladder(self, reassignments: int) -> str:
        """What a breach leads to: ``reassign`` (to the pool's next owner, with a new task
        and a task for the manager) until ``max_reassignments`` is spent, then ``recycle``
        (back to nurture, "not followed up")."""
        return "reassign" if reassignments < self.max_reassignments else "recycle"
