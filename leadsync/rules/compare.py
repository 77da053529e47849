"""How the condition language compares values: literals typed as the field they meet,
dates against datetimes, numbers against text, case-insensitive membership and
``contains``, and the events counted by ``count()``. Pure: the time is the context's."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

Context = Mapping[str, Any]  # "lead": profile, "events": [{type, at, ...}], "now": datetime
Evaluator = Callable[[Context], Any]


def context_now(ctx: Context) -> datetime:
    # Rules are pure: the caller says what time it is (leadsync.clock), never the wall clock.
    now = ctx.get("now")
    if not isinstance(now, datetime):
        raise TypeError("a condition's context needs 'now', a datetime")
    return now


def typed(value: Any, kind: str) -> Any:
    """A profile value (JSON-native) as its type, so that dates compare as dates."""
    if value is None or kind not in ("date", "datetime") or not isinstance(value, str):
        return value
    try:
        if kind == "date":
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def comparable(a: Any, b: Any) -> tuple[Any, Any]:
    """Make a date and a datetime, or a date-like string and a date, comparable."""
    if isinstance(a, datetime) and isinstance(b, date) and not isinstance(b, datetime):
        return a.date(), b
    if isinstance(b, datetime) and isinstance(a, date) and not isinstance(a, datetime):
        return a, b.date()
    if isinstance(a, date | datetime) and isinstance(b, str):
        parsed = typed(b, "datetime" if isinstance(a, datetime) and "T" in b else "date")
        return comparable(a, parsed) if parsed is not None else (a, b)
    if isinstance(b, date | datetime) and isinstance(a, str):
        left, right = comparable(b, a)
        return right, left
    if isinstance(a, datetime) and isinstance(b, datetime):
        return (a if a.tzinfo else a.replace(tzinfo=UTC)), (
            b if b.tzinfo else b.replace(tzinfo=UTC)
        )
    return a, b


def compare(op: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    if isinstance(a, str) and isinstance(b, str):
        return op(a.casefold(), b.casefold())
    a, b = comparable(a, b)
    return op(a, b)


class Members:
    """The values of an `in [...]` list, folded once when the condition is parsed."""

    def __init__(self, options: Sequence[Any]) -> None:
        self.options = tuple(options)
        self.folded = frozenset(str(o).casefold() for o in options)

    def hold(self, value: Any) -> bool:
        if value is None:
            return False
        if isinstance(value, str):
            return value.casefold() in self.folded
        try:
            return value in self.options
        except TypeError:
            return False


def contains(haystack: Any, needle: Any) -> bool:
    if haystack is None or needle is None:
        return False
    if isinstance(haystack, str):
        return str(needle).casefold() in haystack.casefold()
    if isinstance(haystack, list | tuple):
        return needle in haystack
    return False


def count_events(ctx: Context, predicate: Evaluator, days: float | None) -> int:
    """How many of the lead's events match, within the last ``days`` when given."""
    since = context_now(ctx) - timedelta(days=days) if days is not None else None
    n = 0
    for event in ctx.get("events") or ():
        if since is not None:
            at = event.get("at")
            if isinstance(at, str):
                at = typed(at, "datetime")
            if not isinstance(at, datetime):
                continue  # an event with no time cannot be in a window
            if (at if at.tzinfo else at.replace(tzinfo=UTC)) < since:
                continue
        try:
            if predicate({**ctx, "event": event}):
                n += 1
        except TypeError:
            continue
    return n
