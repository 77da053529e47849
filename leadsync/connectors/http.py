"""What every HTTP connector shares: its status table, the one place where what a client
raised becomes leadsync's error, and chunking.

A connector's ``errors`` module writes its table (HTTP status and vendor code to an
error class and advice) and a ``classify`` function for what its client raises; the
connector's calls run inside ``classified(classify)``, so that the sync engine only ever
sees leadsync's own errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from leadsync.errors import ConnectorError, LeadsyncError, RequestRejected, RetriableError

T = TypeVar("T")

# (HTTP status, vendor code, error class, advice); first match wins; None matches anything.
StatusRule = tuple[int | None, str | None, type[ConnectorError], str]


def common_rules(vendor: str) -> list[StatusRule]:
    """The rows every vendor's table ends with: 5xx retried, 400/404 refused, the catch-all."""
    return [
        (500, None, RetriableError, f"{vendor} had an internal error"),
        (502, None, RetriableError, f"{vendor}'s gateway failed"),
        (503, None, RetriableError, f"{vendor} is unavailable for the moment"),
        (504, None, RetriableError, f"{vendor}'s gateway timed out"),
        (400, None, RequestRejected, f"{vendor} refused the request"),
        (404, None, RequestRejected, f"{vendor} does not know this resource"),
        (None, None, RequestRejected, f"{vendor} answered with an error"),
    ]


def from_table(
    table: Sequence[StatusRule], status: int, code: str | None, message: str, **details: Any
) -> LeadsyncError:
    """The error the table's first matching row makes, its advice before what the vendor said."""
    for want_status, want_code, cls, advice in table:
        if want_status in (None, status) and want_code in (None, code):
            said = f"HTTP {status} {code or ''}: {message}".replace(" :", ":")
            return cls(f"{advice} ({said})", status=status, code=code, **details)
    raise AssertionError("a status table ends with a catch-all row")  # pragma: no cover


@contextmanager
def classified(classify: Callable[[BaseException], LeadsyncError]) -> Iterator[None]:
    """Raise leadsync's error for whatever the block raises (leadsync's own pass as they are)."""
    try:
        yield
    except LeadsyncError:
        raise
    except Exception as exc:
        raise classify(exc) from exc


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``: one request each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def paged(
    fetch: Callable[[str | None], Mapping[str, Any]],
    next_token: Callable[[Mapping[str, Any]], str | None],
    *,
    most: int = 10_000,
) -> Iterator[Mapping[str, Any]]:
    """Each page of a listing paged by a token (HubSpot's ``after``, Salesforce's
    ``nextRecordsUrl``): ``fetch(None)`` first, then ``fetch(token)`` while the answer
    names a next page, ``most`` pages at the most (a listing that never ends is a bug)."""
    token: str | None = None
    for _ in range(most):
        page = fetch(token)
        yield page
        token = next_token(page)
        if not token:
            return
    raise ConnectorError(f"a listing went on past {most} pages; stopped")


def seconds(value: str | None) -> float | None:
    """A header's number of seconds (``Retry-After``), or None when absent or not a number."""
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None
