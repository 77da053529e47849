"""Talking to Marketo's REST API: a requests session with the access token in a header,
every call paced, counted, timed out, classified and retried by the shared policy.

The token comes from the identity endpoint (client credentials, sent in a form body,
never in a URL) and is asked for again a minute before it expires, and at once when
Marketo says 601 or 602. Calls are paced below Marketo's 100 per 20 seconds (a share
of it: other integrations on the instance need theirs), one window per instance and
client id, so that two sources on one instance keep the limit together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import requests

from leadsync.connectors.calls import CallCounter
from leadsync.connectors.http import classified
from leadsync.connectors.marketo.config import MarketoSourceConfig
from leadsync.connectors.marketo.errors import (
    RATE_WINDOW_SECONDS,
    TokenRefused,
    classify,
    from_code,
    from_status,
)
from leadsync.connectors.pacing import portal_window
from leadsync.errors import ConnectorError
from leadsync.retry import RetryPolicy

T = TypeVar("T")
READ_ATTEMPTS = 6  # reads change nothing: retried, bounded (a 606 waits out its window)
RENEW_BEFORE_SECONDS = 60.0
MAX_URL = 7000  # Marketo refuses a URL over 8 KB (414): longer queries go as a POST
MOST_PAGES = 100_000  # a token stream that never ends is a bug


class MarketoApi:
    def __init__(self, config: MarketoSourceConfig, counter: CallCounter) -> None:
        self.config = config
        self.base = config.rest_url
        self.counter = counter
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self._token: str | None = None
        self._renew_at = 0.0  # monotonic
        self.window = portal_window(self.base, config.client_id, "20s", RATE_WINDOW_SECONDS)
        self.window.join(self, int(config.rate_limit_per_20s * config.rate_limit_share))

    def close(self) -> None:
        self.window.leave(id(self))
        self.session.close()

    # -- the token --------------------------------------------------------------------

    def token(self) -> str:
        """The token held, or a new one when it has less than a minute to live. Marketo
        hands out the token it holds until that one expires: one asked for in its last
        minute comes back the same, and is then used to its end (a 602 on the way gets a
        new one), rather than asked for again before every call."""
        if self._token is None or time.monotonic() >= self._renew_at:
            form = {
                "grant_type": "client_credentials",
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret.get_secret_value(),
            }
            self.counter.add("token")
            with classified(classify):
                answer = self.session.post(
                    f"{self.base}/identity/oauth/token",
                    data=form,
                    timeout=self.config.timeout_seconds,
                )
            if answer.status_code != 200:
                raise from_status(answer.status_code, answer.text)
            with classified(classify):
                body = answer.json()
            if "access_token" not in body:
                raise ConnectorError(f"Marketo's identity endpoint gave no token: {body!r}")
            self._token = str(body["access_token"])
            lasts = float(body.get("expires_in") or 0)
            early = RENEW_BEFORE_SECONDS if lasts > RENEW_BEFORE_SECONDS else 0.0
            self._renew_at = time.monotonic() + lasts - early
        return self._token

    # -- calls ------------------------------------------------------------------------

    def get(
        self, name: str, path: str, params: Mapping[str, Any], *, attempts: int = READ_ATTEMPTS
    ) -> dict[str, Any]:
        """A read: Marketo's JSON body once ``success`` is true, retried while it may pass
        (a token renewed, a rate limit waited out, a passing failure backed off)."""
        return self._retried(name, attempts, lambda: self._json("GET", path, params=params))

    def post(
        self,
        name: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        attempts: int = READ_ATTEMPTS,
    ) -> dict[str, Any]:
        return self._retried(name, attempts, lambda: self._json("POST", path, json=body or {}))

    def file(self, name: str, path: str) -> Iterator[bytes]:
        """A Bulk Extract file, streamed in blocks (a file can hold millions of rows)."""

        def once() -> requests.Response:
            answer = self._send("GET", path, stream=True)
            if answer.status_code != 200:
                raise from_status(answer.status_code, answer.text)
            if answer.headers.get("Content-Type", "").startswith("application/json"):
                self._check(answer.json())  # a failure, said as JSON
            return answer

        answer = self._retried(name, READ_ATTEMPTS, once)
        with classified(classify):
            yield from answer.iter_content(chunk_size=1 << 20)

    def leads_by_id(self, ids: list[str], fields: list[str]) -> list[dict[str, Any]]:
        """The leads of these ids (at most 300) with these fields; the ones not found
        (deleted, merged away) are not in the answer."""
        params = {"filterType": "id", "filterValues": ",".join(ids), "fields": ",".join(fields)}
        if len(ids) > 300:
            raise ValueError("at most 300 lead ids a call")
        if sum(len(v) for v in params.values()) > MAX_URL:
            # Marketo's way to send a long query: a POST with _method=GET, the query as a form.
            def once() -> dict[str, Any]:
                return self._checked(
                    self._send(
                        "POST", "/rest/v1/leads.json", params={"_method": "GET"}, data=params
                    )
                )

            return self._retried("leads", READ_ATTEMPTS, once).get("result") or []
        return self.get("leads", "/rest/v1/leads.json", params).get("result") or []

    def _retried(self, name: str, attempts: int, once: Callable[[], T]) -> T:
        def counted() -> T:
            self.window.take()
            self.counter.add(name)
            return once()

        return RetryPolicy(attempts, initial_seconds=0.5, max_seconds=20.0).call(
            counted, on_retry=self._on_retry
        )

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        if isinstance(error, TokenRefused):
            self._token = None  # the next attempt asks for a new one
        self.counter.note_retry(error)

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._checked(self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        with classified(classify):
            return self.session.request(
                method,
                self.base + path,
                headers=headers,
                timeout=self.config.timeout_seconds,
                **kwargs,
            )

    def _checked(self, answer: requests.Response) -> dict[str, Any]:
        if answer.status_code != 200:
            raise from_status(answer.status_code, answer.text)
        with classified(classify):
            body = answer.json()
        self._check(body)
        return body

    def _check(self, body: Mapping[str, Any]) -> None:
        """Marketo's HTTP 200 with ``success: false``: the first error's code decides."""
        if body.get("success") is False:
            error = (body.get("errors") or [{}])[0]
            raise from_code(
                str(error.get("code", "")),
                str(error.get("message", "")),
                rate_wait=self.config.rate_limit_wait_seconds,
                request_id=body.get("requestId"),
            )
