"""The one retry policy: bounded attempts, exponential backoff with jitter, the server's
``Retry-After`` when it gives one, and a deadline that no wait outlasts.

The pusher retries a batch with it, every connector its reads and the steps of a bulk
job. Only what may pass later is retried: a leadsync error whose disposition is
``retry`` (a timeout, a 5xx) or ``wait`` (a rate limit). Everything else goes up at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from leadsync.errors import LeadsyncError

T = TypeVar("T")


def may_pass_later(exc: BaseException) -> bool:
    """Whether sending the same request again may succeed."""
    return isinstance(exc, LeadsyncError) and exc.disposition in ("retry", "wait")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try again. ``deadline_seconds`` bounds the whole call,
    waits included: a server asking for a longer wait than is left gets what is left."""

    attempts: int = 4
    initial_seconds: float = 0.2
    max_seconds: float = 5.0
    deadline_seconds: float | None = None

    def backoff(self, attempt: int) -> float:
        """The wait after the ``attempt``-th failure, without jitter (for waits between
        rounds, as when records that failed alone are sent again)."""
        return min(self.initial_seconds * 2 ** max(attempt - 1, 0), self.max_seconds)

    def call(
        self,
        fn: Callable[[], T],
        *,
        retriable: Callable[[BaseException], bool] = may_pass_later,
        on_retry: Callable[[BaseException, int], None] | None = None,
    ) -> T:
        """``fn()``, tried again while it raises what ``retriable`` accepts, at most
        ``attempts`` times and within the deadline; the last error goes up as it was.
        ``on_retry(error, attempt)`` runs before each wait (count it, log it, renew a
        session)."""
        started = time.monotonic()
        deadline = None if self.deadline_seconds is None else started + self.deadline_seconds
        stop: Any = stop_after_attempt(self.attempts)
        if self.deadline_seconds is not None:
            stop = stop | stop_after_delay(self.deadline_seconds)

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None:
                error = state.outcome.exception()
                assert error is not None
                on_retry(error, state.attempt_number)

        retrying = Retrying(
            stop=stop,
            wait=_Wait(self, deadline),
            retry=retry_if_exception(retriable),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)


class _Wait:
    """Backoff with jitter, or what the server asked for: a rate limit lasts as long as it
    lasts, whatever our own backoff would have guessed; never past the deadline."""

    def __init__(self, policy: RetryPolicy, deadline: float | None) -> None:
        self.backoff = wait_exponential_jitter(
            multiplier=policy.initial_seconds, max=policy.max_seconds, jitter=policy.initial_seconds
        )
        self.deadline = deadline

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = getattr(error, "retry_after", None)
        wait = float(asked) if asked is not None else float(self.backoff(state))
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
        return max(wait, 0.0)
