"""Talking to HubSpot through hubspot-api-client: configuration, pacing, counting, errors.

HubSpot limits requests per portal per rolling 10 seconds (100 on Free and
Starter, 190 on Professional and Enterprise), search requests to about 4 a
second, and requests per day. leadsync paces itself below those limits instead
of relying on 429s: every request first takes a slot in a rolling window that
matches HubSpot's own, shared by every connector in the process that uses the
same portal (same token). A 429 that comes anyway is classified with how long
to wait, and retried by the caller.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import hubspot
from pydantic import Field, SecretStr
from urllib3.util.retry import Retry

from leadsync.connectors.base import ApiQuota, CallCounter, ConnectorConfig
from leadsync.connectors.http import classified
from leadsync.connectors.hubspot.errors import classify
from leadsync.retry import RetryPolicy

T = TypeVar("T")


class HubSpotAuth(ConnectorConfig):
    # A private app's access token, with the scopes listed in config.example.toml.
    access_token: SecretStr


class HubSpotConnection(ConnectorConfig):
    """Options shared by the HubSpot source and destination."""

    auth: HubSpotAuth
    # The portal's limit per rolling 10 seconds (100 on Free/Starter, 190 on
    # Professional/Enterprise), and the share of it leadsync may use: other
    # integrations on the same portal need the rest.
    rate_limit_per_10s: int = Field(100, ge=1)
    rate_limit_share: float = Field(0.9, gt=0, le=1)
    search_per_second: float = Field(4.0, gt=0)
    timeout_seconds: float = Field(30.0, gt=0)
    # Send every request to this emulator URL instead of api.hubapi.com (demo, tests).
    sandbox_url: str | None = None


class Window:
    """At most ``limit`` requests in any ``seconds``-long window: HubSpot's own rule, kept
    on our side so that its 429 stays the exception."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = max(limit, 1)
        self.seconds = seconds
        self.sent: deque[float] = deque()
        self.lock = threading.Lock()

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


_PORTALS: dict[tuple[str, str], Window] = {}
_PORTALS_LOCK = threading.Lock()


def portal_window(token: str, kind: str, limit: int, seconds: float) -> Window:
    """The pacing window of one portal (known by a hash of its token, never the token),
    shared by every connector on it, at the lowest limit any of them was given: a source
    and a destination with different limits must not pass the portal's together."""
    key = (hashlib.sha256(token.encode()).hexdigest()[:16], kind)
    with _PORTALS_LOCK:
        window = _PORTALS.get(key)
        if window is None:
            window = _PORTALS[key] = Window(limit, seconds)
        with window.lock:
            window.limit = min(window.limit, max(limit, 1))
            window.seconds = max(window.seconds, seconds)
        return window


class HubSpotApi:
    """The hubspot-api-client, with every request paced, counted, timed out and classified."""

    def __init__(
        self, config: HubSpotConnection, counter: CallCounter, quota: ApiQuota | None = None
    ) -> None:
        self.quota = quota if quota is not None else ApiQuota()
        token = config.auth.access_token.get_secret_value()
        options: dict[str, Any] = {
            "access_token": token,
            # Retries are ours (bounded, classified), not urllib3's.
            "retry": Retry(total=0, connect=0, read=0, redirect=0, status=0),
        }
        if config.sandbox_url:
            options["host"] = config.sandbox_url.rstrip("/")
        self.client = hubspot.Client.create(**options)
        self.counter = counter
        self.timeout = config.timeout_seconds
        self.window = portal_window(
            token, "10s", int(config.rate_limit_per_10s * config.rate_limit_share), 10.0
        )
        # The same share of the search limit, as a longer second: 4 searches per 1.11 s
        # leave HubSpot's clock room to disagree with ours by a tenth of a second.
        self.search_window = portal_window(
            token,
            "search",
            max(int(config.search_per_second), 1),
            1.0 / config.rate_limit_share,
        )

    @property
    def crm(self) -> Any:
        return self.client.crm

    def json(self, name: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Like ``call``, with HubSpot's JSON answer as plain dicts: the client's own model
        objects cost more than the request (every timestamp parsed by dateutil), and the
        hot paths (search pages, batch results) only need a few keys of each record."""
        answer = self.call(name, method, *args, _preload_content=False, **kwargs)
        daily = answer.headers.get("X-HubSpot-RateLimit-Daily")
        left = answer.headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if daily and left and daily.isdigit() and left.isdigit():
            self.quota.note(int(daily) - int(left), int(daily))
        return json.loads(answer.data or b"{}")

    def call(
        self, name: str, method: Callable[..., T], *args: Any, attempts: int = 1, **kwargs: Any
    ) -> T:
        """One request: wait for a slot, send it, and raise leadsync's error if it fails.

        ``attempts`` > 1 retries what may succeed later (reads, which change nothing),
        waiting as HubSpot said or backing off; writes are retried by the pusher, which
        knows each record's outcome."""

        def once() -> T:
            if name.endswith("search"):
                self.search_window.take()
            self.window.take()
            self.counter.add(name)
            with classified(classify):
                return method(*args, _request_timeout=self.timeout, **kwargs)

        return RetryPolicy(attempts, initial_seconds=0.5, max_seconds=10.0).call(
            once, on_retry=self.counter.note_retry
        )
