"""A schedule as the config writes it ("5m", "1h", "30s", "2d", or a cron line) as an
APScheduler 3 trigger, in UTC."""

from __future__ import annotations

import re
from datetime import timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from leadsync.errors import ConfigError
from leadsync.settings import Settings

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


def schedule_problems(settings: Settings, path: object) -> list[str]:
    """Every schedule the config writes that `leadsync run` could not follow (for `check`)."""
    specs = {f"sources.{n}.schedule": s.schedule for n, s in settings.sources.items()}
    specs["feedback.schedule"] = settings.feedback.schedule if settings.feedback else None
    specs["sla.schedule"] = settings.sla.schedule if settings.sla else None
    service = settings.service
    specs |= {
        "service.sweep_schedule": service.sweep_schedule,
        "service.rescore_schedule": service.rescore_schedule,
        "service.reconcile_schedule": service.reconcile_schedule,
    }
    problems: list[str] = []
    for key, spec in specs.items():
        if spec:
            try:
                trigger(spec, f"{path}: {key}")
            except ConfigError as exc:
                problems += exc.problems
    return problems
