"""What a connector counts: the requests it sent, by name, and the ones it sent again; and
the system's daily API quota as its last answer told it."""

from __future__ import annotations

from dataclasses import dataclass, field

from leadsync.errors import RateLimited


@dataclass
class ApiQuota:
    """The CRM's daily API requests, as its last answer told: used and allowed."""

    used: int | None = None
    limit: int | None = None

    def note(self, used: int, limit: int) -> None:
        self.used, self.limit = used, limit

    @property
    def known(self) -> bool:
        return self.used is not None and self.limit is not None

    @property
    def share(self) -> float | None:
        """The share of the day's requests used (None: the CRM has not said)."""
        return self.used / self.limit if self.used is not None and self.limit else None


@dataclass
class CallCounter:
    """Counts requests sent to an outside system, by name; the `api_calls` of a run."""

    by_name: dict[str, int] = field(default_factory=dict)
    # Requests the connector retried itself (a read, a step of a bulk job; the pusher
    # counts the batches it retries), and of those, the ones the system asked to slow
    # down (HTTP 429, a request limit).
    retried: int = 0
    limited: int = 0

    def add(self, name: str) -> None:
        self.by_name[name] = self.by_name.get(name, 0) + 1

    def note_retry(self, error: BaseException | None = None, *_: object) -> None:
        """One request sent again (usable as a retry policy's ``on_retry``)."""
        self.retried += 1
        if isinstance(error, RateLimited):
            self.limited += 1

    @property
    def total(self) -> int:
        return sum(self.by_name.values())
