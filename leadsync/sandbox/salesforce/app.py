"""A Salesforce API emulator as a WSGI app: the endpoints simple-salesforce calls for leadsync.

- ``POST /services/Soap/u/<v>``: SOAP username/password(+token) login, answering
  the partner API's ``loginResponse`` or a ``LoginFault``.
- ``POST /services/oauth2/token``: client-credentials and password grants.
- ``GET /services/data/v<v>/sobjects/<obj>/describe`` and ``GET .../limits``.
- ``PATCH /services/data/v<v>/composite/sobjects/<obj>/<extField>``: sObject
  Collections upsert (200 records at most, per-record ``{id, success, errors, created}``).
- ``PATCH /services/data/v<v>/sobjects/<obj>/<extField>/<value>``: one-record upsert.
- ``GET /services/data/v<v>/sobjects/<obj>/<id>``: one record.
- ``GET /__sandbox/records/<obj>[?fields=A,B]``, ``GET /__sandbox/stats``,
  ``POST /__sandbox/faults``: what the emulator holds, how many requests it served by
  endpoint, faults to inject.
- ``POST /__sandbox/rep/<obj>/<id>`` (a JSON object of fields) and
  ``POST /__sandbox/rep/Task/<id>/complete``: act as a rep (a status, an owner, a task done).

Every REST response carries ``Sforce-Limit-Info: api-usage=N/MAX`` as Salesforce's does.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from leadsync.sandbox.faults import AFTER_THE_WORK, FaultPlan, answered
from leadsync.sandbox.salesforce.auth import LoginEndpoints
from leadsync.sandbox.salesforce.bulk import BulkJobs
from leadsync.sandbox.salesforce.describe import describe
from leadsync.sandbox.salesforce.reads import ReadEndpoints
from leadsync.sandbox.salesforce.responses import (
    fault_response,
    json_response,
    not_supported,
    rest_error,
    without_last_result,
)
from leadsync.sandbox.salesforce.schema import OBJECTS
from leadsync.sandbox.salesforce.store import RecordError, Store, sf_id
from leadsync.sandbox.server import routed

MAX_COLLECTION = 200
# What /limits lists besides the API requests (an Enterprise org's maxima).
# Path, endpoint (the method answering it), HTTP method.
DATA = "/services/data/v<version>"
JOBS = f"{DATA}/jobs"  # Bulk API 2.0
REST = [
    ("/services/Soap/u/<version>", "login", "POST"),
    ("/services/oauth2/token", "oauth_token", "POST"),
    (f"{DATA}/limits", "limits", "GET"),
    (f"{DATA}/sobjects/<obj>/describe", "describe", "GET"),
    (f"{DATA}/composite/sobjects/<obj>/<ext_field>", "collections_upsert", "PATCH"),
    (f"{DATA}/sobjects/<obj>/<ext_field>/<path:value>", "sobject_upsert", "PATCH"),
    (f"{DATA}/sobjects/<obj>/<rid>", "sobject_get", "GET"),
    (f"{DATA}/composite/sobjects", "collections_update", "PATCH"),
    (f"{DATA}/query", "query", "GET"),
    (f"{DATA}/query/<locator>", "query_more", "GET"),
    (f"{JOBS}/ingest", "bulk_ingest_create", "POST"),
    (f"{JOBS}/ingest/<job_id>", "bulk_ingest_get", "GET"),
    (f"{JOBS}/ingest/<job_id>", "bulk_ingest_state", "PATCH"),
    (f"{JOBS}/ingest/<job_id>/batches", "bulk_ingest_upload", "PUT"),
    (f"{JOBS}/ingest/<job_id>/<kind>", "bulk_ingest_results", "GET"),
    (f"{JOBS}/query", "bulk_query_create", "POST"),
    (f"{JOBS}/query/<job_id>", "bulk_query_get", "GET"),
    (f"{JOBS}/query/<job_id>/results", "bulk_query_results", "GET"),
]
ORG_LIMITS = {
    "ConcurrentAsyncGetReportInstances": 200,
    "ConcurrentSyncReportRuns": 20,
    "DailyAsyncApexExecutions": 250000,
    "DailyDurableGenericStreamingApiEvents": 10000,
    "DailyDurableStreamingApiEvents": 10000,
    "DailyGenericStreamingApiEvents": 10000,
    "DailyStreamingApiEvents": 10000,
    "DailyWorkflowEmails": 390,
    "DataStorageMB": 1024,
    "DurableStreamingApiConcurrentClients": 20,
    "FileStorageMB": 10240,
    "HourlyAsyncReportRuns": 1200,
    "HourlyDashboardRefreshes": 200,
    "HourlyDashboardResults": 5000,
    "HourlyDashboardStatuses": 999999999,
    "HourlyODataCallout": 10000,
    "HourlySyncReportRuns": 500,
    "HourlyTimeBasedWorkflow": 50,
    "MassEmail": 10,
    "SingleEmail": 15,
    "StreamingApiConcurrentClients": 20,
}


@dataclass
class Credentials:
    username: str = "demo@leadsync.example"
    password: str = "demo-password"
    security_token: str = "demo-token"
    client_id: str = "leadsync-demo-client"
    client_secret: str = "demo-client-secret"
    # A session id an admin could paste into `session_id` auth.
    static_session: str = "00D5g000004Sandbx!AQsandboxsession"
    # The public key of the certificate uploaded to the connected app (PEM), for the OAuth
    # JWT bearer flow; None: that flow is refused, as in an app with no certificate.
    jwt_public_key: str | None = None


@dataclass
class SalesforceEmulator(LoginEndpoints, ReadEndpoints):
    store: Store = field(default_factory=Store)
    faults: FaultPlan = field(default_factory=FaultPlan)
    credentials: Credentials = field(default_factory=Credentials)
    daily_limit: int = 15000
    stats: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sessions: set[str] = {self.credentials.static_session}
        self.cursors: dict[str, list[dict[str, Any]]] = {}  # open query locators
        self.bulk = BulkJobs(self.store, lambda: self.faults, self._select)
        self.url_map = Map(
            [
                *(Rule(path, endpoint=name, methods=[method]) for path, name, method in REST),
                Rule("/__sandbox/records/<obj>", endpoint="sandbox_records", methods=["GET"]),
                Rule("/__sandbox/stats", endpoint="sandbox_stats", methods=["GET"]),
                Rule("/__sandbox/faults", endpoint="sandbox_faults", methods=["POST"]),
                Rule("/__sandbox/rep/<obj>/<rid>", endpoint="sandbox_rep", methods=["POST"]),
                Rule(
                    "/__sandbox/rep/Task/<rid>/complete",
                    endpoint="sandbox_rep_complete",
                    methods=["POST"],
                ),
            ]
        )

    # -- WSGI -----------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        # simple-salesforce asks for some resources with a trailing slash (`limits/`).
        if environ.get("PATH_INFO", "/") != "/":
            environ["PATH_INFO"] = environ["PATH_INFO"].rstrip("/")
        return routed(self.url_map, environ, start_response, self._dispatch, _refused)

    def _dispatch(self, endpoint: str, request: Request, args: Mapping[str, Any]) -> Response:
        internal = endpoint.startswith("sandbox_")
        if not internal:
            with self.lock:
                self.stats[endpoint] += 1
        if endpoint in ("login", "oauth_token") or internal:
            return getattr(self, endpoint)(request, **args)
        if not self._authorised(request):
            return rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        fault = self.faults.request_fault(endpoint)
        if fault is not None and fault.kind not in AFTER_THE_WORK:
            return fault_response(fault.kind)
        handler = getattr(self.bulk if endpoint.startswith("bulk_") else self, endpoint)
        response = handler(request, **args)
        response.headers["Sforce-Limit-Info"] = f"api-usage={self._api_used()}/{self.daily_limit}"
        return answered(fault, request, response, without_last_result)

    def _api_used(self) -> int:
        """API requests counted against the daily limit: logins are not."""
        return sum(v for k, v in self.stats.items() if k not in ("login", "oauth_token"))

    def _authorised(self, request: Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.sessions

    # -- logins ---------------------------------------------------------------

    # -- REST -----------------------------------------------------------------

    def limits(self, request: Request, version: str) -> Response:
        """The org's limits, every one Salesforce lists; the daily API requests and bulk
        jobs as this emulator counted them."""
        used = self._api_used()
        bulk = sum(v for k, v in self.stats.items() if k.startswith("bulk_"))
        body = {name: {"Max": top, "Remaining": top} for name, top in ORG_LIMITS.items()}
        body["DailyApiRequests"] = {
            "Max": self.daily_limit,
            "Remaining": max(self.daily_limit - used, 0),
        }
        body["DailyBulkApiRequests"] = {"Max": 15000, "Remaining": max(15000 - bulk, 0)}
        return json_response(body)

    def describe(self, request: Request, version: str, obj: str) -> Response:
        if obj not in OBJECTS:
            return not_supported(obj)
        return json_response(describe(obj, version))

    def collections_update(self, request: Request, version: str) -> Response:
        """PATCH /composite/sobjects: update up to 200 records by Id, each typed by its
        ``attributes``; per-record ``{id, success, errors}``."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            return rest_error(400, "JSON_PARSER_ERROR", "The request body must hold `records`.")
        if len(body["records"]) > MAX_COLLECTION:
            return rest_error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"Record limit reached. Cannot submit more than {MAX_COLLECTION} records "
                "in a single call",
            )
        results = []
        for record in body["records"]:
            obj = (record.get("attributes") or {}).get("type")
            values = {k: v for k, v in record.items() if k != "attributes"}
            try:
                if obj not in OBJECTS:
                    raise RecordError("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
                rid = self.store.update(obj, values, _auto_assign(request))
            except RecordError as err:
                results.append(
                    {"id": values.get("Id"), "success": False, "errors": [err.as_dict()]}
                )
            else:
                results.append({"id": rid, "success": True, "errors": []})
        self.store.save()
        return json_response(results)

    def collections_upsert(
        self, request: Request, version: str, obj: str, ext_field: str
    ) -> Response:
        if obj not in OBJECTS:
            return not_supported(obj)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            return rest_error(400, "JSON_PARSER_ERROR", "The request body must hold `records`.")
        records = body["records"]
        if len(records) > MAX_COLLECTION:
            return rest_error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"Record limit reached. Cannot submit more than "
                f"{MAX_COLLECTION} records in a single call",
            )
        fields = self.store.fields(obj)
        problem = self._request_problem(obj, ext_field, records, fields)
        if problem is not None:
            return problem
        all_or_none = bool(body.get("allOrNone"))
        before = copy.deepcopy(self.store.records[obj]) if all_or_none else None
        results = []
        for record in records:
            values = {k: v for k, v in record.items() if k != "attributes"}
            if self.faults.record_locked():
                results.append(
                    {
                        "success": False,
                        "errors": [
                            RecordError(
                                "UNABLE_TO_LOCK_ROW",
                                "unable to obtain exclusive access to this record or 1 records: "
                                + sf_id(OBJECTS[obj]["keyPrefix"], 999_999),
                            ).as_dict()
                        ],
                    }
                )
                continue
            try:
                rid, created = self.store.upsert(obj, ext_field, values, _auto_assign(request))
            except RecordError as err:
                results.append({"success": False, "errors": [err.as_dict()]})
            else:
                results.append({"id": rid, "success": True, "errors": [], "created": created})
        if before is not None and not all(r["success"] for r in results):
            results = self.store.roll_back(obj, before, results)
        self.store.save()
        return json_response(results)

    def _request_problem(
        self, obj: str, ext_field: str, records: list[Any], fields: dict[str, Any]
    ) -> Response | None:
        if ext_field not in fields or not fields[ext_field]["externalId"]:
            return rest_error(
                400,
                "INVALID_FIELD",
                f"Field name provided, {ext_field} is not an External ID or "
                f"indexed field for {obj}",
            )
        for record in records:
            rtype = (
                (record.get("attributes") or {}).get("type") if isinstance(record, dict) else None
            )
            if rtype != obj:
                return rest_error(
                    400,
                    "INVALID_TYPE",
                    f"Each record must carry attributes.type = {obj}, the type in the URI",
                )
            unknown = [k for k in record if k != "attributes" and k not in fields]
            if unknown:
                return rest_error(
                    400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {obj}"
                )
        return None

    def sobject_upsert(
        self, request: Request, version: str, obj: str, ext_field: str, value: str
    ) -> Response:
        if obj not in OBJECTS:
            return not_supported(obj)
        values = request.get_json(silent=True) or {}
        fields = self.store.fields(obj)
        unknown = [k for k in values if k not in fields]
        if unknown:
            return rest_error(
                400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {obj}"
            )
        try:
            rid, created = self.store.upsert(
                obj, ext_field, {**values, ext_field: value}, _auto_assign(request)
            )
        except RecordError as err:
            return json_response([err.as_dict("errorCode")], 400)
        self.store.save()
        return json_response(
            {"id": rid, "success": True, "errors": [], "created": created}, 201 if created else 200
        )

    # -- /__sandbox -----------------------------------------------------------

    def sandbox_records(self, request: Request, obj: str) -> Response:
        rows = list(self.store.records.get(obj, {}).values())
        if request.args.get("fields"):  # ?fields=Id,Subject: a light poll (the benchmarks)
            wanted = request.args["fields"].split(",")
            rows = [{f: row.get(f) for f in wanted} for row in rows]
        return json_response({"totalSize": len(rows), "records": rows})

    def sandbox_rep(self, request: Request, obj: str, rid: str) -> Response:
        """Act as a rep in Salesforce: change a record's fields (a Lead's Status or OwnerId),
        as a person would, without validation; its modification stamps move."""
        fields = request.get_json(silent=True)
        if not isinstance(fields, dict) or not fields:
            return json_response({"error": "send a JSON object of fields to set"}, 400)
        if rid not in self.store.records.get(obj, {}):
            return json_response({"error": f"no {obj} {rid}"}, 404)
        self.store.touch(obj, rid, fields)
        self.store.save()
        return json_response(self.store.records[obj][rid])

    def sandbox_rep_complete(self, request: Request, rid: str) -> Response:
        """Act as a rep: complete a follow-up task (the first touch leadsync reads back)."""
        if rid not in self.store.records.get("Task", {}):
            return json_response({"error": f"no Task {rid}"}, 404)
        self.store.touch("Task", rid, {"Status": "Completed", "IsClosed": True})
        self.store.save()
        return json_response(self.store.records["Task"][rid])

    def sandbox_stats(self, request: Request) -> Response:
        return json_response(
            {
                "total": sum(self.stats.values()),
                "by_endpoint": dict(self.stats),
                "faults_injected": dict(self.faults.injected),
            }
        )

    def sandbox_faults(self, request: Request) -> Response:
        spec = (request.get_json(silent=True) or {}).get("spec", "")
        try:
            self.faults = FaultPlan.parse(spec)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"spec": spec})


def _auto_assign(request: Request) -> str | None:
    return request.headers.get("Sforce-Auto-Assign")


def _refused(exc: HTTPException) -> Response:
    if isinstance(exc, NotFound):
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
    return rest_error(exc.code or 400, "METHOD_NOT_ALLOWED", str(exc))
