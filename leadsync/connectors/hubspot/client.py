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

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import hubspot
from urllib3.util.retry import Retry

from leadsync.connectors.calls import ApiQuota, CallCounter
from leadsync.connectors.http import classified, paged
from leadsync.connectors.hubspot.config import HubSpotConnection
from leadsync.connectors.hubspot.errors import classify
from leadsync.connectors.pacing import portal_window
from leadsync.retry import RetryPolicy

T = TypeVar("T")
READ_ATTEMPTS = 5  # reads change nothing: retried, bounded


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
        host = options.get("host", "api.hubapi.com")
        self.window = portal_window(host, token, "10s", 10.0)
        self.window.join(self, int(config.rate_limit_per_10s * config.rate_limit_share))
        # The same share of the search limit, as a longer second: 4 searches per 1.11 s
        # leave HubSpot's clock room to disagree with ours by a tenth of a second.
        self.search_window = portal_window(host, token, "search", 1.0 / config.rate_limit_share)
        self.search_window.join(self, max(int(config.search_per_second), 1))

    def close(self) -> None:
        """Leave the portal's windows: the limits this client was given no longer apply."""
        self.window.leave(id(self))
        self.search_window.leave(id(self))

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

    def pages(
        self, name: str, method: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Iterator[Mapping[str, Any]]:
        """Each page of a HubSpot listing or search, following ``paging.next.after``; reads
        are retried (``attempts``). A search request object takes ``after`` itself: pass
        ``with_after`` to build it for each page."""
        build = kwargs.pop("with_after", None)

        def fetch(after: str | None) -> Mapping[str, Any]:
            if build is not None:
                return self.json(name, method, build(after), attempts=READ_ATTEMPTS)
            return self.json(name, method, *args, after=after, attempts=READ_ATTEMPTS, **kwargs)

        return paged(fetch, next_after)

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


def next_after(page: Mapping[str, Any]) -> str | None:
    """The token of the page after this one, when HubSpot says there is one."""
    return ((page.get("paging") or {}).get("next") or {}).get("after")
