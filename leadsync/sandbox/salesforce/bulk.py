"""Bulk API 2.0 in the emulator: ingest jobs (upsert) and query jobs, as simple-salesforce
drives them.

Ingest: ``POST /jobs/ingest`` opens a job, ``PUT /jobs/ingest/<id>/batches`` uploads its
CSV (201, no body), ``PATCH /jobs/ingest/<id>`` with ``UploadComplete`` closes it (the
emulator then processes it at once), ``GET /jobs/ingest/<id>`` answers the job info, and
``successfulResults``, ``failedResults`` and ``unprocessedrecords`` answer CSV: each row
the original one, after ``sf__Id`` and ``sf__Created`` or ``sf__Error``
(``CODE:message:fields --``). An empty cell leaves a field as it is; ``#N/A`` empties it.

Query: ``POST /jobs/query`` with a SOQL query, ``GET /jobs/query/<id>``, and
``GET /jobs/query/<id>/results?maxRecords=&locator=`` answering CSV pages with the
``Sforce-Locator`` and ``Sforce-NumberOfRecords`` headers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from leadsync.mapping.lead import as_text
from leadsync.sandbox.faults import FaultPlan
from leadsync.sandbox.salesforce.schema import OBJECTS
from leadsync.sandbox.salesforce.store import RecordError, Store, sf_id

# Salesforce refuses an upload above 150 MB (base64 of 100 MB of CSV); the emulator keeps it.
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
NUMBER_TYPES = ("double", "currency", "percent", "int")
LOCKED = "unable to obtain exclusive access to this record"


@dataclass
class Job:
    id: str
    operation: str
    object: str
    external_id: str | None
    version: str
    query: str | None = None
    state: str = "Open"
    upload: bytearray = field(default_factory=bytearray)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # a query's answer
    created: str = field(default_factory=lambda: _now())
    # Bulk jobs run no assignment rule unless the job names one.
    assignment_rule_id: str | None = None

    def info(self) -> dict[str, Any]:
        kind = "query" if self.query is not None else "ingest"
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": sf_id("005", 1),
            "createdDate": self.created,
            "systemModstamp": _now(),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "jobType": "V2Query" if kind == "query" else "V2Ingest",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if kind == "ingest":
            body |= {
                "externalIdFieldName": self.external_id,
                "contentUrl": f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
                "numberRecordsProcessed": len(self.successful) + len(self.failed),
                "numberRecordsFailed": len(self.failed),
                "retries": 0,
                "totalProcessingTime": 0,
            }
        else:
            body |= {"numberRecordsProcessed": len(self.rows), "retries": 0}
        return body


@dataclass
class BulkJobs:
    """The jobs of one emulated org. ``query_rows`` runs a SOQL query on the store
    (the emulator's own query engine) and answers the records or an error response."""

    store: Store
    faults: Callable[[], FaultPlan]
    query_rows: Callable[[str], tuple[str, list[str], list[dict[str, Any]]] | Response]
    jobs: dict[str, Job] = field(default_factory=dict)
    counter: int = 0

    def _new_id(self) -> str:
        self.counter += 1
        return sf_id("750", self.counter)

    def _job(self, job_id: str, kind: str) -> Job | Response:
        job = self.jobs.get(job_id)
        if job is None or (job.query is not None) != (kind == "query"):
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    # -- ingest ---------------------------------------------------------------

    def bulk_ingest_create(self, request: Request, version: str) -> Response:
        body = request.get_json(silent=True) or {}
        obj, operation = body.get("object"), body.get("operation")
        if operation not in ("insert", "upsert", "update"):
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if obj not in OBJECTS:
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid object: {obj}")
        ext = body.get("externalIdFieldName")
        fields = self.store.fields(obj)
        if operation == "upsert" and (ext not in fields or not fields[ext]["externalId"]):
            return _error(
                400,
                "INVALIDJOB",
                f"InvalidJob : Field name provided, {ext} is not an External ID or "
                f"indexed field for {obj}",
            )
        job = Job(self._new_id(), operation, obj, ext, version)
        job.assignment_rule_id = body.get("assignmentRuleId")
        self.jobs[job.id] = job
        return _json(job.info())

    def bulk_ingest_upload(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(job_id, "ingest")
        if isinstance(job, Response):
            return job
        if job.state != "Open":
            return _error(
                409, "INVALIDJOBSTATE", f"Job {job_id} is not Open: its state is {job.state}"
            )
        data = request.get_data()
        if job.upload or len(data) > MAX_UPLOAD_BYTES:
            # One upload per job in Bulk API 2.0.
            return _error(400, "INVALIDBATCH", "Only one upload is allowed per job")
        job.upload.extend(data)
        return Response(b"", 201)

    def bulk_ingest_state(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(job_id, "ingest")
        if isinstance(job, Response):
            return job
        state = (request.get_json(silent=True) or {}).get("state")
        if state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
            job.state = "Aborted"
            return _json(job.info())
        if state != "UploadComplete" or job.state != "Open":
            return _error(
                400, "INVALIDJOBSTATE", f"Cannot move job {job_id} from {job.state} to {state}"
            )
        job.state = "UploadComplete"
        self._process(job)
        return _json(job.info() | {"state": "UploadComplete"})

    def _process(self, job: Job) -> None:
        reader = csv.reader(io.StringIO(job.upload.decode("utf-8")))
        job.header = next(reader, [])
        fields = self.store.fields(job.object)
        unknown = [name for name in job.header if name not in fields]
        if unknown:
            job.state = "Failed"
            job.unprocessed = list(reader)
            return
        faults = self.faults()
        for row in reader:
            values = {
                name: _cell(fields[name], cell)
                for name, cell in zip(job.header, row, strict=False)
                if cell != ""
            }
            if faults.record_locked():
                job.failed.append(["", f"UNABLE_TO_LOCK_ROW:{LOCKED}: --", *row])
                continue
            assign = job.assignment_rule_id or "FALSE"
            try:
                if job.operation == "update":
                    rid, created = self.store.update(job.object, values, assign), False
                else:
                    rid, created = self.store.upsert(
                        job.object, str(job.external_id), values, assign
                    )
            except RecordError as err:
                job.failed.append(["", f"{err.code}:{err.message}:{','.join(err.fields)} --", *row])
            else:
                job.successful.append([rid, "true" if created else "false", *row])
        self.store.save()
        job.state = "JobComplete"

    def bulk_ingest_get(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(job_id, "ingest")
        return job if isinstance(job, Response) else _json(job.info())

    def bulk_ingest_results(
        self, request: Request, version: str, job_id: str, kind: str
    ) -> Response:
        job = self._job(job_id, "ingest")
        if isinstance(job, Response):
            return job
        if kind == "successfulResults":
            return _csv(["sf__Id", "sf__Created", *job.header], job.successful)
        if kind == "failedResults":
            return _csv(["sf__Id", "sf__Error", *job.header], job.failed)
        if kind == "unprocessedrecords":
            return _csv(job.header, job.unprocessed)
        return _error(404, "NOT_FOUND", "The requested resource does not exist")

    # -- query ----------------------------------------------------------------

    def bulk_query_create(self, request: Request, version: str) -> Response:
        body = request.get_json(silent=True) or {}
        if body.get("operation") not in ("query", "queryAll"):
            return _error(
                400, "INVALIDJOB", f"InvalidJob : Invalid operation: {body.get('operation')}"
            )
        answer = self.query_rows(str(body.get("query") or ""))
        if isinstance(answer, Response):
            return answer
        obj, columns, rows = answer
        job = Job(self._new_id(), body["operation"], obj, None, version, query=body["query"])
        job.header, job.rows, job.state = columns, rows, "JobComplete"
        self.jobs[job.id] = job
        return _json(job.info() | {"state": "UploadComplete"})

    def bulk_query_get(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(job_id, "query")
        return job if isinstance(job, Response) else _json(job.info())

    def bulk_query_results(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(job_id, "query")
        if isinstance(job, Response):
            return job
        size = int(request.args.get("maxRecords") or 50_000)
        start = int(request.args.get("locator") or 0)
        page = job.rows[start : start + size]
        end = start + len(page)
        response = _csv(
            job.header, [[as_text(row.get(name)) for name in job.header] for row in page]
        )
        response.headers["Sforce-Locator"] = str(end) if end < len(job.rows) else "null"
        response.headers["Sforce-NumberOfRecords"] = str(len(page))
        return response


def _cell(spec: dict[str, Any], cell: str) -> Any:
    """A CSV cell as the field's type: ``#N/A`` empties the field."""
    if cell == "#N/A":
        return None
    if spec["type"] == "boolean":
        return cell.lower() in ("true", "1")
    if spec["type"] in NUMBER_TYPES:
        try:
            return float(cell)
        except ValueError:
            return cell  # refused by the store's own type check, as Salesforce would
    return cell


def _csv(header: list[str], rows: list[list[str]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(rows)
    response = Response(out.getvalue().encode("utf-8"), 200)
    # As Salesforce sends it: UTF-8, with no charset named.
    response.headers["Content-Type"] = "text/csv"
    return response


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json;charset=UTF-8")


def _error(status: int, code: str, message: str) -> Response:
    return _json([{"errorCode": code, "message": message}], status)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
