"""The one clock that decisions are made by.

Scores fade with time, stages wait for days and tasks fall due, so every
decision (a sync, `preview`, `explain`, the demo) asks this module what time it
is, never `datetime.now()` itself. `LEADSYNC_NOW` (or `leadsync --now`) fixes
it: the tests pin it so that no result depends on the day they run, and an
admin can ask what the rules would do next Monday. Bookkeeping times (when a
row was written, when a run started) stay on the wall clock.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache

from leadsync.errors import ConfigError

ENV = "LEADSYNC_NOW"


def now() -> datetime:
    """The time decisions are made at: `LEADSYNC_NOW` when set, else the wall clock, in UTC."""
    fixed = os.environ.get(ENV)
    return parse(fixed) if fixed else datetime.now(UTC)


@lru_cache(maxsize=8)
def parse(text: str) -> datetime:
    """An ISO 8601 time (`2026-11-23T12:00:00Z`, or a date: midnight UTC) as UTC."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{ENV}={text!r} is not a time: give ISO 8601, for example 2026-11-23T12:00:00Z"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
