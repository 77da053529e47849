"""A schedule as the config writes it ("5m", "1h", "30s", "2d", or a cron line) as an
APScheduler 3 trigger, in UTC."""

from __future__ import annotations

import re
from datetime import timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from leadsync.errors import ConfigError

_INTERVAL = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
MIN_INTERVAL = timedelta(seconds=1)


def trigger(spec: str, key: str) -> BaseTrigger:
    """The trigger for ``spec``; a ConfigError naming ``key`` when it is neither form."""
    match = _INTERVAL.match(spec)
    if match:
        every = timedelta(**{_UNIT[match[2]]: int(match[1])})
        if every < MIN_INTERVAL:
            raise ConfigError(f"{key}: {spec!r}: an interval is at least 1s")
        return IntervalTrigger(seconds=every.total_seconds(), timezone="UTC")
    try:
        return CronTrigger.from_crontab(spec, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(
            f"{key}: {spec!r} is not a schedule ({exc}): write an interval such as "
            '"5m", "1h", "30s", or a cron line such as "*/10 * * * *" (UTC)'
        ) from None
