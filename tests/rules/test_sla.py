"""Business hours and the SLA's due time: pure, with no clock but the one given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from leadsync.rules.sla import (
    BusinessHours,
    SlaError,
    SlaPolicy,
    Terms,
    add_business_time,
    parse_duration,
)

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = BusinessHours.parse("Mon-Fri 09:00-18:00", "Europe/Berlin")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_friday_1730_in_berlin_with_4h_is_due_monday_1230():
    due = add_business_time(berlin(2026, 11, 27, 17, 30), timedelta(hours=4), OFFICE)
    assert due == berlin(2026, 11, 30, 12, 30)
    assert due.tzinfo == UTC  # stored and compared in UTC


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (berlin(2026, 11, 24, 10, 0), 4, berlin(2026, 11, 24, 14, 0)),  # within one day
        (berlin(2026, 11, 24, 7, 15), 4, berlin(2026, 11, 24, 13, 0)),  # before opening
        (berlin(2026, 11, 24, 20, 0), 1, berlin(2026, 11, 25, 10, 0)),  # after closing
        (berlin(2026, 11, 28, 11, 0), 4, berlin(2026, 11, 30, 13, 0)),  # a Saturday
        (berlin(2026, 11, 24, 17, 0), 9, berlin(2026, 11, 25, 17, 0)),  # a whole day on
        (berlin(2026, 11, 24, 9, 0), 9, berlin(2026, 11, 24, 18, 0)),  # to the closing minute
    ],
)
def test_business_time_skips_nights_and_weekends(start, hours, due):
    assert add_business_time(start, timedelta(hours=hours), OFFICE) == due


def test_summer_time_starting_over_the_weekend_keeps_wall_clock_hours():
    # Europe/Berlin moves to CEST on Sunday 28 March 2027: Monday's 09:00 is 07:00Z.
    due = add_business_time(berlin(2027, 3, 26, 17, 0), timedelta(hours=4), OFFICE)
    assert due == berlin(2027, 3, 29, 12, 0)
    assert due == datetime(2027, 3, 29, 10, 0, tzinfo=UTC)


def test_always_counts_every_hour_and_spans_can_differ_by_day():
    always = BusinessHours.parse("always", "UTC")
    start = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    assert add_business_time(start, timedelta(hours=4), always) == start + timedelta(hours=4)
    short_friday = BusinessHours.parse("Mon-Thu 09:00-18:00, Fri 09:00-15:00", "Europe/Berlin")
    assert add_business_time(
        berlin(2026, 11, 27, 14, 0), timedelta(hours=2), short_friday
    ) == berlin(2026, 11, 30, 10, 0)


@pytest.mark.parametrize(
    ("spec", "zone", "message"),
    [
        ("Mon-Fri 9-18", "UTC", "write days and hours"),
        ("Mon-Fri 18:00-09:00", "UTC", "closes before it opens"),
        ("Mon-Fry 09:00-18:00", "UTC", "not a weekday"),
        ("Mon-Fri 09:00-18:00", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_business_hours_say_what_is_wrong(spec, zone, message):
    with pytest.raises(SlaError, match=message):
        BusinessHours.parse(spec, zone)


def test_durations_and_the_ladder():
    assert parse_duration("4h") == timedelta(hours=4)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(SlaError, match="not a duration"):
        parse_duration("4 hours")
    policy = SlaPolicy(Terms(timedelta(hours=4), OFFICE), max_reassignments=2)
    assert [policy.ladder(n) for n in range(4)] == ["reassign", "reassign", "recycle", "recycle"]


def test_an_owners_own_hours_win_over_their_pools_and_the_default():
    ny = Terms(timedelta(hours=2), BusinessHours.parse("Mon-Fri 09:00-17:00", "America/New_York"))
    team = Terms(timedelta(hours=1), OFFICE)
    policy = SlaPolicy(
        Terms(timedelta(hours=4), OFFICE), by_owner={"005NY": ny}, by_pool={"emea": team}
    )
    start = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # 14:00 Berlin, 08:00 New York
    assert policy.due(start, "005NY", "emea") == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert policy.due(start, "005XX", "emea") == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert policy.due(start, "005XX", None) == datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
