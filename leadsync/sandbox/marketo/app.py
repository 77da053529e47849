"""The Marketo REST API emulator: identity, lead and activity reads, Bulk Extract.

Marketo answers almost every failure with HTTP 200 and ``success: false``, its
reason in ``errors[].code``: 600/601/602 for a missing, unknown or expired access
token, 606 past 100 calls in 20 seconds, 607 past the daily quota, 615 past 10
concurrent calls, 1003 for a bad request, 1029 for a full export queue or the
day's export quota. The identity endpoint alone answers 401. Its limits and a
token's lifetime are options, so that tests reach them in seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from leadsync.sandbox.faults import AFTER_THE_WORK, FaultPlan, answered
from leadsync.sandbox.marketo.exports import ExportError, Exports
from leadsync.sandbox.marketo.limits import Limits
from leadsync.sandbox.marketo.responses import (
    MarketoError,
    failure,
    fault_error,
    json_body,
    ok,
    refused,
    request_id,
)
from leadsync.sandbox.marketo.schema import (
    CHANGE_DATA_VALUE,
    CLIENT_ID,
    CLIENT_SECRET,
    DELETE_LEAD,
    FIELDS,
    NEW_LEAD,
    TYPES,
)
from leadsync.sandbox.marketo.store import Store, position_of, token_of
from leadsync.sandbox.server import routed

MAX_BATCH = 300  # activities, lead changes and leads a call
MAX_TYPES = 10  # activity type ids a call
DEFAULT_LEAD_FIELDS = ["email", "updatedAt", "createdAt", "lastName", "firstName"]
REST, BULK = "/rest/v1", "/bulk/v1"
# What can be done to an export job, and by which method.
EXPORT_ACTIONS = {"enqueue": "POST", "status": "GET", "file": "GET", "cancel": "POST"}
ROUTES = [
    ("/identity/oauth/token", "token", ("GET", "POST")),
    (f"{REST}/leads/describe.json", "describe", ("GET",)),
    (f"{REST}/activities/types.json", "types", ("GET",)),
    (f"{REST}/activities/pagingtoken.json", "paging_token", ("GET",)),
    (f"{REST}/activities.json", "activities", ("GET",)),
    (f"{REST}/activities/leadchanges.json", "lead_changes", ("GET",)),
    (f"{REST}/activities/deletedleads.json", "deleted_leads", ("GET",)),
    (f"{REST}/leads.json", "leads", ("GET", "POST")),
    (f"{REST}/stats/usage.json", "usage", ("GET",)),
    (f"{BULK}/<kind>/export.json", "export_list", ("GET",)),
    (f"{BULK}/<kind>/export/create.json", "export_create", ("POST",)),
    *(
        (f"{BULK}/<kind>/export/<job>/{action}.json", f"export_{action}", (method,))
        for action, method in EXPORT_ACTIONS.items()
    ),
    ("/__sandbox/marketo/stats", "sandbox_stats", ("GET",)),
    ("/__sandbox/marketo/faults", "sandbox_faults", ("POST",)),
    ("/__sandbox/marketo/leads", "sandbox_leads", ("GET",)),
    ("/__sandbox/marketo/do", "sandbox_do", ("POST",)),
]


@dataclass
class MarketoEmulator:
    store: Store = field(default_factory=Store)
    faults: FaultPlan = field(default_factory=FaultPlan)
    limits: Limits = field(default_factory=Limits)
    token_seconds: int = 3600
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    # How many log entries one activities call looks at before it answers (with more to come).
    scan_limit: int = 3000
    stats: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.exports = Exports(self.store)
        self.tokens: dict[str, float] = {}  # token -> when it expires (monotonic)
        self._window: deque[float] = deque()
        self._running = 0
        self._day = 0
        self.refused: Counter[str] = Counter()
        self.url_map = Map([Rule(p, endpoint=e, methods=list(m)) for p, e, m in ROUTES])

    def handles(self, path: str) -> bool:
        return path.startswith(("/identity/", f"{REST}/", f"{BULK}/", "/__sandbox/marketo/"))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return routed(self.url_map, environ, start_response, self._dispatch, refused)

    # -- the envelope: auth, limits, faults, errors ---------------------------------

    def _dispatch(self, endpoint: str, request: Request, args: Mapping[str, Any]) -> Response:
        if endpoint.startswith("sandbox_"):
            return getattr(self, endpoint)(request)
        with self.lock:
            self.stats[endpoint] += 1
        if endpoint == "token":
            return self.token(request)
        try:
            self._authorised(request)
            fault = self.faults.request_fault(endpoint)
            if fault is not None and fault.kind not in AFTER_THE_WORK:
                raise fault_error(fault.kind)
            self._enter()
            try:
                response = getattr(self, endpoint)(request, **args)
            finally:
                with self.lock:
                    self._running -= 1
        except MarketoError as exc:
            with self.lock:
                self.refused[exc.code] += 1
            return failure(exc.code, exc.message)
        except ExportError as exc:
            return failure(exc.code, exc.message)
        return answered(fault, request, response, lambda r: r)

    def _authorised(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.args.get("access_token")
        if not token:
            raise MarketoError("600", "Access token not specified")
        with self.lock:
            expires = self.tokens.get(token)
        if expires is None:
            raise MarketoError("601", "Access token invalid")
        if expires <= time.monotonic():
            raise MarketoError("602", "Access token expired")

    def _enter(self) -> None:
        """Count the call against the window, the day and the calls running now."""
        limits = self.limits
        with self.lock:
            now = time.monotonic()
            while self._window and self._window[0] <= now - limits.seconds:
                self._window.popleft()
            if self._day >= limits.daily:
                raise MarketoError("607", "Daily quota reached")
            if len(self._window) >= limits.calls:
                raise MarketoError(
                    "606",
                    f"Max rate limit '{limits.calls}' exceeded with in '{limits.seconds:g}' secs",
                )
            if self._running >= limits.concurrent:
                raise MarketoError("615", "Concurrent access limit reached")
            self._window.append(now)
            self._day += 1
            self._running += 1

    def token(self, request: Request) -> Response:
        values = request.values
        if (values.get("client_id"), values.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ) or values.get("grant_type") != "client_credentials":
            refusal = {"error": "invalid_client", "error_description": "Bad client credentials"}
            return json_body(refusal, 401)
        with self.lock:
            now = time.monotonic()
            # Marketo hands out the same token until it expires, with the seconds left.
            live = [(t, e) for t, e in self.tokens.items() if e - now > 0]
            if live:
                token, expires = max(live, key=lambda te: te[1])
            else:
                token = f"{secrets.token_hex(16)}:ab"
                expires = now + self.token_seconds
                self.tokens[token] = expires
        return json_body(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": max(int(expires - now), 0),
                "scope": "leadsync@example.com",
            }
        )

    def expire_tokens(self) -> None:
        """Every token handed out expires now (a test's way to reach 602)."""
        with self.lock:
            self.tokens = {t: 0.0 for t in self.tokens}

    # -- reads ------------------------------------------------------------------

    def describe(self, request: Request) -> Response:
        return ok(list(FIELDS.values()))

    def types(self, request: Request) -> Response:
        return ok(list(TYPES.values()))

    def paging_token(self, request: Request) -> Response:
        since = request.args.get("sinceDatetime")
        if not since:
            raise MarketoError("701", "sinceDatetime cannot be blank")
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise MarketoError(
                "1001", f"Invalid value '{since}'. Required of type 'Date'"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return json_body(
            {
                "requestId": request_id(),
                "success": True,
                "nextPageToken": token_of(self.store.position(when)),
            }
        )

    def activities(self, request: Request) -> Response:
        raw = request.args.get("activityTypeIds", "")
        wanted = frozenset(int(t) for t in raw.split(",") if t.strip().isdigit())
        if not wanted:
            raise MarketoError("1003", "activityTypeIds is required")
        if len(wanted) > MAX_TYPES:
            raise MarketoError("1003", f"Maximum of {MAX_TYPES} activityTypeIds allowed")
        return self._page(request, wanted)

    def lead_changes(self, request: Request) -> Response:
        fields = {f for f in request.args.get("fields", "").split(",") if f}
        if not fields:
            raise MarketoError("1003", "fields is required")
        return self._page(request, frozenset({NEW_LEAD, CHANGE_DATA_VALUE}), fields)

    def deleted_leads(self, request: Request) -> Response:
        return self._page(request, frozenset({DELETE_LEAD}))

    def _page(
        self, request: Request, wanted: frozenset[int], fields: set[str] | None = None
    ) -> Response:
        token = request.args.get("nextPageToken")
        if not token:
            raise MarketoError("1003", "nextPageToken is required")
        size = min(int(request.args.get("batchSize") or MAX_BATCH), MAX_BATCH)
        try:
            start = position_of(token)
        except ValueError as exc:
            raise MarketoError("1029", str(exc)) from None
        found, after = self.store.scan(start, wanted, size, self.scan_limit)
        result = []
        for activity in found:
            view = self.store.view(activity)
            changed = {f["name"] for f in view.get("fields", [])}
            if (
                fields is not None
                and activity.type_id == CHANGE_DATA_VALUE
                and not changed & fields
            ):
                continue  # a change of a field the caller does not watch
            result.append(view)
        body: dict[str, Any] = {
            "requestId": request_id(),
            "success": True,
            "nextPageToken": token_of(after),
            "moreResult": after < self.store.end(),
        }
        if result:
            body["result"] = result
        return json_body(body)

    def leads(self, request: Request) -> Response:
        # A long query goes as a POST with _method=GET and the query in a form body.
        values = request.form if request.method == "POST" else request.args
        if request.method == "POST" and request.args.get("_method") != "GET":
            raise MarketoError("1003", "Lead push is not supported by this emulator")
        if values.get("filterType") != "id":
            raise MarketoError("1003", "Only filterType id is supported by this emulator")
        ids = [v for v in values.get("filterValues", "").split(",") if v]
        if len(ids) > MAX_BATCH:
            raise MarketoError("1003", f"filterValues: at most {MAX_BATCH} values")
        fields = [f for f in values.get("fields", "").split(",") if f] or DEFAULT_LEAD_FIELDS
        unknown = [f for f in fields if f not in FIELDS]
        if unknown:
            raise MarketoError("1006", f"Field '{unknown[0]}' not found")
        found = [self.store.lead(int(i), fields) for i in ids if i.isdigit()]
        return ok([_leadjson_body(lead) for lead in found if lead is not None])

    # -- Bulk Extract -----------------------------------------------------------------

    def export_create(self, request: Request, kind: str) -> Response:
        _export_kind(kind)
        job = self.exports.create(kind, request.get_json(silent=True) or {}, _now())
        return ok([job.as_json()])

    def export_list(self, request: Request, kind: str) -> Response:
        jobs = [j.as_json() for j in self.exports.jobs.values() if j.kind == kind]
        return ok(jobs)

    def export_enqueue(self, request: Request, kind: str, job: str) -> Response:
        return ok([self.exports.enqueue(job, _now()).as_json()])

    def export_status(self, request: Request, kind: str, job: str) -> Response:
        return ok([self.exports.status(job, _now()).as_json()])

    def export_file(self, request: Request, kind: str, job: str) -> Response:
        """The file, or the bytes a ``Range`` header asks for (206), as Marketo serves it."""
        data = self.exports.file(job)
        spans = request.range.ranges if request.range else []
        if len(spans) == 1:
            start, end = spans[0]
            part = data[start : end if end is not None else len(data)]
            return Response(part, 206, content_type="text/csv;charset=UTF-8")
        return Response(data, 200, content_type="text/csv;charset=UTF-8")

    def usage(self, request: Request) -> Response:
        """The calls made today, as ``stats/usage.json`` tells them."""
        with self.lock:
            total = self._day
        day = _now().date().isoformat()
        return ok([{"date": day, "total": total, "users": [{"userId": "api", "count": total}]}])

    def export_cancel(self, request: Request, kind: str, job: str) -> Response:
        return ok([self.exports.cancel(job).as_json()])

    # -- the sandbox's own endpoints ---------------------------------------------------

    def sandbox_stats(self, request: Request) -> Response:
        with self.lock:
            body = {
                "requests": dict(self.stats),
                "refused": dict(self.refused),
                "faults": dict(self.faults.injected),
            }
        return json_body(body)

    def sandbox_faults(self, request: Request) -> Response:
        spec = request.get_data(as_text=True)
        try:
            self.faults = FaultPlan.parse(spec)
        except ValueError as exc:
            return json_body({"error": str(exc)}, 400)
        return json_body({"faults": spec})

    def sandbox_leads(self, request: Request) -> Response:
        with self.store.lock:
            leads = [_leadjson_body({"id": i, **v}) for i, v in self.store.leads.items()]
        return json_body(leads)

    def sandbox_do(self, request: Request) -> Response:
        """What people and admins do in Marketo, for tests and the demo: create, change,
        act (an activity), merge, delete, expire_tokens."""
        from leadsync.sandbox.marketo.seed import perform

        try:
            answer = perform(self, request.get_json(force=True))
        except (KeyError, ValueError, TypeError) as exc:
            return json_body({"error": f"{type(exc).__name__}: {exc}"}, 400)
        return json_body(answer)


def _export_kind(kind: str) -> None:
    if kind not in ("leads", "activities"):
        raise MarketoError("610", "Requested resource not found")


def _leadjson_body(lead: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (v.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else v)
        for k, v in lead.items()
    }


def _now() -> datetime:
    return datetime.now(UTC)
