"""Pacing: at most so many requests in any window of so many seconds, kept on our side so
that a vendor's rate-limit answer (HubSpot's 429, Marketo's 606) stays the exception.

Every connector on one account paces through one window (found by the account's host
and a hash of its credential, never the credential); the limit is the lowest any
connector still open was given, so that a source and a destination configured apart
cannot pass the account's limit together.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections import deque


class Window:
    """At most ``limit`` requests in any ``seconds``-long window, the vendor's own rule."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: deque[float] = deque()
        self.lock = threading.Lock()
        self._limits: dict[int, int] = {}  # id of each open client -> the limit it was given

    @property
    def limit(self) -> int:
        return min(self._limits.values(), default=1)

    def join(self, client: object, limit: int) -> None:
        """``client`` paces through this window at ``limit`` until it leaves (or is gone)."""
        with self.lock:
            self._limits[id(client)] = max(limit, 1)
        weakref.finalize(client, self.leave, id(client))

    def leave(self, client_id: int) -> None:
        with self.lock:
            self._limits.pop(client_id, None)

    def take(self) -> None:
        """Block until a request may go: never longer than one window, since the oldest
        request in the window leaves it by then."""
        while True:
            with self.lock:
                now = time.monotonic()
                while self.sent and self.sent[0] <= now - self.seconds:
                    self.sent.popleft()
                if len(self.sent) < self.limit:
                    self.sent.append(now)
                    return
                wait = self.sent[0] + self.seconds - now
            time.sleep(min(max(wait, 0.001), self.seconds))


_PORTALS: dict[tuple[str, str, str, float], Window] = {}
_PORTALS_LOCK = threading.Lock()


def portal_window(host: str, token: str, kind: str, seconds: float) -> Window:
    """The pacing window of one account (known by its host and a hash of its token, never
    the token)."""
    key = (host, hashlib.sha256(token.encode()).hexdigest()[:16], kind, seconds)
    with _PORTALS_LOCK:
        return _PORTALS.setdefault(key, Window(seconds))
