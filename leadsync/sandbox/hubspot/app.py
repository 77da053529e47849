"""A HubSpot CRM v3 emulator as a WSGI app: the endpoints hubspot-api-client calls for leadsync.

- ``GET /crm/v3/properties/{objectType}``: property definitions (types, options).
- ``GET /crm/v3/owners``: owners, active or ``archived=true``, paged.
- ``GET /crm/v3/schemas``: custom object schemas (none).
- ``GET /crm/v3/objects/{objectType}``: every record by id, 100 a page.
- ``POST /crm/v3/objects/{objectType}/search``: filters, one sort, 200 a page,
  never past 10,000 results.
- ``POST /crm/v3/objects/{objectType}/batch/{upsert,create,update,read}``: 100
  inputs at most; all or nothing on validation (400 ``VALIDATION_ERROR``), 409
  ``CONFLICT`` on a duplicate email or unique value. Results come back in no
  particular order, as HubSpot's do: match them by id or property, not position.
- ``PUT /crm/v3/lists/{listId}/memberships/add-and-remove``.
- ``GET /__sandbox/hubspot/records/{objectType}``, ``GET /__sandbox/hubspot/stats``,
  ``POST /__sandbox/hubspot/faults``: what it holds, what it served, faults to inject.

Rate limits are enforced per portal as HubSpot does: requests per rolling 10
seconds, search requests per second, requests per day. Every answer carries the
``X-HubSpot-RateLimit-*`` headers; a request over a limit gets a 429 naming its
``policyName``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from leadsync.sandbox.faults import AFTER_THE_WORK, FaultPlan, answered
from leadsync.sandbox.hubspot.responses import (
    error,
    fault_response,
    json_response,
    owner,
    timestamp,
    without_last_result,
)
from leadsync.sandbox.hubspot.schema import PROPERTIES
from leadsync.sandbox.hubspot.store import HubSpotError, Store
from leadsync.sandbox.server import routed

MAX_BATCH = 100
DEMO_TOKEN = "pat-na1-00000000-leadsync-demo"
PREFIX = "/crm/v3/"


@dataclass
class RateLimits:
    """A portal's limits: HubSpot Free and Starter allow 100 a rolling 10 s, Professional and
    Enterprise 190; search about 4 a second. 0 switches a limit off."""

    per_10s: int = 100
    search_per_second: int = 4
    daily: int = 250_000

    @classmethod
    def parse(cls, spec: str | None) -> RateLimits:
        """``"100/10s,4/s,250000/day"`` (any of the three), or "off"."""
        limits = cls()
        if spec in (None, ""):
            return limits
        if spec == "off":
            return cls(0, 0, 0)
        units = {"10s": "per_10s", "s": "search_per_second", "day": "daily"}
        for part in spec.split(","):
            number, _, unit = part.strip().partition("/")
            if unit not in units:
                raise ValueError(f"rate limit {part!r}: write N/10s, N/s (search) or N/day")
            setattr(limits, units[unit], int(number))
        return limits


@dataclass
class HubSpotEmulator:
    store: Store = field(default_factory=Store)
    faults: FaultPlan = field(default_factory=FaultPlan)
    limits: RateLimits = field(default_factory=RateLimits)
    token: str = DEMO_TOKEN
    stats: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._window: deque[float] = deque()
        self._search_window: deque[float] = deque()
        self.limited: Counter[str] = Counter()
        p = PREFIX
        self.url_map = Map(
            [
                Rule(f"{p}properties/<obj>", endpoint="properties", methods=["GET"]),
                Rule(f"{p}owners", endpoint="owners", methods=["GET"]),
                Rule(f"{p}schemas", endpoint="schemas", methods=["GET"]),
                Rule(f"{p}objects/<obj>", endpoint="list_objects", methods=["GET"]),
                Rule(f"{p}objects/<obj>/search", endpoint="search", methods=["POST"]),
                Rule(f"{p}objects/<obj>/batch/<op>", endpoint="batch", methods=["POST"]),
                Rule(
                    f"{p}lists/<list_id>/memberships/add-and-remove",
                    endpoint="memberships",
                    methods=["PUT"],
                ),
                Rule("/__sandbox/hubspot/records/<obj>", endpoint="sandbox_records"),
                Rule("/__sandbox/hubspot/stats", endpoint="sandbox_stats"),
                Rule("/__sandbox/hubspot/faults", endpoint="sandbox_faults", methods=["POST"]),
                Rule(
                    "/__sandbox/hubspot/rep/<obj>/<rid>", endpoint="sandbox_rep", methods=["POST"]
                ),
                Rule(
                    "/__sandbox/hubspot/rep/tasks/<rid>/complete",
                    endpoint="sandbox_rep_complete",
                    methods=["POST"],
                ),
            ]
        )

    def handles(self, path: str) -> bool:
        return path.startswith(PREFIX) or path.startswith("/__sandbox/hubspot/")

    # -- WSGI -----------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["PATH_INFO"] = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        return routed(self.url_map, environ, start_response, self._dispatch, _refused)

    def _dispatch(self, endpoint: str, request: Request, args: Mapping[str, Any]) -> Response:
        if endpoint.startswith("sandbox_"):
            return getattr(self, endpoint)(request, **args)
        name = f"{endpoint}_{args['op']}" if endpoint == "batch" else endpoint
        with self.lock:
            self.stats[name] += 1
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            return error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        limited = self._over_limit(endpoint == "search")
        if limited is not None:
            return self._headers(limited)
        fault = self.faults.request_fault(name)
        if fault is not None and fault.kind not in AFTER_THE_WORK:
            response = fault_response(fault.kind)
            if fault.retry_after is not None:
                response.headers["Retry-After"] = f"{fault.retry_after:g}"
            return self._headers(response)
        try:
            body = json.loads(request.get_data() or b"null")
            response = getattr(self, endpoint)(request, body, **args)
        except HubSpotError as exc:
            response = error(exc.status, exc.category, exc.message, **exc.extra)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            response = error(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc}")
        return self._headers(answered(fault, request, response, without_last_result))

    # -- limits ---------------------------------------------------------------

    def _over_limit(self, search: bool) -> Response | None:
        now = time.monotonic()
        with self.lock:
            used_today = sum(self.stats.values())
            if self.limits.daily and used_today > self.limits.daily:
                return self._rate_limited("DAILY", "You have reached your daily limit.")
            window = self._window
            while window and window[0] <= now - 10:
                window.popleft()
            if self.limits.per_10s and len(window) >= self.limits.per_10s:
                return self._rate_limited(
                    "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
                )
            if search:
                searches = self._search_window
                while searches and searches[0] <= now - 1:
                    searches.popleft()
                if self.limits.search_per_second and (
                    len(searches) >= self.limits.search_per_second
                ):
                    return self._rate_limited("SECONDLY", "You have reached your secondly limit.")
                searches.append(now)
            window.append(now)
        return None

    def _rate_limited(self, policy: str, message: str) -> Response:
        self.limited[policy] += 1
        return json_response(
            429,
            {
                "status": "error",
                "message": message,
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": policy,
                "requestId": str(uuid.uuid4()),
            },
        )

    def _headers(self, response: Response) -> Response:
        with self.lock:
            now = time.monotonic()
            in_window = sum(1 for t in self._window if t > now - 10)
            used = sum(self.stats.values())
        h = response.headers
        if self.limits.per_10s:
            h["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000"
            h["X-HubSpot-RateLimit-Max"] = str(self.limits.per_10s)
            h["X-HubSpot-RateLimit-Remaining"] = str(max(self.limits.per_10s - in_window, 0))
        if self.limits.daily:
            h["X-HubSpot-RateLimit-Daily"] = str(self.limits.daily)
            h["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(self.limits.daily - used, 0))
        return response

    # -- endpoints ------------------------------------------------------------

    def properties(self, request: Request, body: Any, obj: str) -> Response:
        if obj not in PROPERTIES:
            raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {obj}")
        return json_response(200, {"results": list(self.store.definitions[obj].values())})

    def schemas(self, request: Request, body: Any) -> Response:
        """``GET /crm/v3/schemas``: this portal has no custom objects."""
        return json_response(200, {"results": []})

    def owners(self, request: Request, body: Any) -> Response:
        archived = request.args.get("archived", "false").lower() == "true"
        limit = min(int(request.args.get("limit", 100)), 500)
        after = int(request.args.get("after") or 0)
        email = request.args.get("email")
        chosen = [
            owner(o)
            for o in self.store.owners
            if o["archived"] == archived and (email is None or o["email"] == email)
        ]
        out: dict[str, Any] = {"results": chosen[after : after + limit]}
        if after + limit < len(chosen):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return json_response(200, out)

    def list_objects(self, request: Request, body: Any, obj: str) -> Response:
        """``GET /crm/v3/objects/{obj}``: every record by id, 100 a page at most, with the
        properties named in ``properties`` (comma-separated or repeated)."""
        self._known(obj)
        limit = min(int(request.args.get("limit", 10)), 100)
        wanted = [p for v in request.args.getlist("properties") for p in v.split(",") if p]
        return json_response(200, self.store.page(obj, wanted, limit, request.args.get("after")))

    def search(self, request: Request, body: Any, obj: str) -> Response:
        self._known(obj)
        return json_response(200, self.store.search(obj, body or {}))

    def batch(self, request: Request, body: Any, obj: str, op: str) -> Response:
        self._known(obj)
        inputs = (body or {}).get("inputs")
        if not isinstance(inputs, list):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: no `inputs` array")
        if len(inputs) > MAX_BATCH:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"Batch input size {len(inputs)} exceeds the maximum of {MAX_BATCH}",
            )
        started = timestamp()
        errors: list[dict[str, Any]] = []
        if op == "upsert":
            results = self.store.upsert(obj, inputs)
        elif op == "create":
            results = self.store.create(obj, inputs)
        elif op == "update":
            results = self.store.update(obj, inputs)
        elif op == "read":
            results, errors = self._read(obj, body)
        else:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unknown batch operation {op}")
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results[::-1],  # HubSpot promises no order: neither do we
            "startedAt": started,
            "completedAt": timestamp(),
        }
        if errors:
            out.update(errors=errors, numErrors=len(errors))
        return json_response(207 if errors else (201 if op == "create" else 200), out)

    def _read(self, obj: str, body: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
        id_prop = body.get("idProperty")
        wanted = body.get("properties") or []
        found, missing = [], []
        for item in body["inputs"]:
            key = str(item.get("id", ""))
            rid = self.store.find(obj, id_prop, key) if id_prop else key
            record = self.store.get(obj, rid) if rid else None
            if record is None:
                missing.append(key)
                continue
            props = record["properties"]
            found.append(
                {
                    "id": rid,
                    "properties": {k: props.get(k) for k in [*wanted, "hs_object_id"]},
                    "createdAt": record["createdAt"],
                    "updatedAt": record["updatedAt"],
                    "archived": False,
                }
            )
        errors = []
        if missing:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {obj.upper()[:-1]} objects, they may be "
                    "deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            )
        return found, errors

    def memberships(self, request: Request, body: Any, list_id: str) -> Response:
        body = body or {}
        return json_response(
            200,
            self.store.set_list(
                list_id, body.get("recordIdsToAdd") or [], body.get("recordIdsToRemove") or []
            ),
        )

    def _known(self, obj: str) -> None:
        if obj not in PROPERTIES:
            raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {obj}")

    # -- the emulator's own endpoints ----------------------------------------

    def sandbox_records(self, request: Request, obj: str) -> Response:
        records = self.store.all(obj)
        if obj == "tasks":
            for record in records:
                record["associations"] = {"contacts": self.store.associations.get(record["id"], [])}
        return json_response(200, {"results": records, "lists": self.store.lists})

    def sandbox_rep(self, request: Request, obj: str, rid: str) -> Response:
        """Act as a rep in HubSpot: set a record's properties (``{"properties": {...}}``:
        hs_lead_status, hubspot_owner_id), stamped now."""
        props = (request.get_json(silent=True) or {}).get("properties")
        if not isinstance(props, dict) or not props:
            return json_response(400, {"message": 'send {"properties": {...}} to set'})
        return self._as_rep(obj, rid, props)

    def sandbox_rep_complete(self, request: Request, rid: str) -> Response:
        """Act as a rep: complete a task (the first touch leadsync reads back)."""
        return self._as_rep("tasks", rid, {"hs_task_status": "COMPLETED"})

    def _as_rep(self, obj: str, rid: str, props: Mapping[str, Any]) -> Response:
        if rid not in self.store.objects.get(obj, {}):
            return json_response(404, {"message": f"no {obj} {rid}"})
        self.store.touch(obj, rid, props, int(time.time() * 1000))
        return json_response(200, self.store.objects[obj][rid])

    def sandbox_stats(self, request: Request) -> Response:
        return json_response(
            200,
            {
                "requests": dict(self.stats),
                "rate_limited": dict(self.limited),
                "faults": dict(self.faults.injected),
            },
        )

    def sandbox_faults(self, request: Request) -> Response:
        self.faults = FaultPlan.parse(request.get_data(as_text=True))
        return json_response(200, {"faults": request.get_data(as_text=True)})


def _refused(exc: HTTPException) -> Response:
    if isinstance(exc, NotFound):
        return error(404, "OBJECT_NOT_FOUND", "Resource not found")
    return error(exc.code or 400, "VALIDATION_ERROR", str(exc))
