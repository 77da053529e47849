"""Marketo's Bulk Extract, emulated: export jobs of leads or activities, created, enqueued,
processed (a step each time their status is asked), their CSV file served.

Marketo's rules kept: a filter's date range spans at most 31 days; at most 2 jobs
process at once and 10 wait in the queue (1029 beyond); the bytes exported a day are
capped (1029 "Export daily quota exceeded"). A job's file is what the database held
when the job was processed.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leadsync.sandbox.marketo.store import Store, stamp

MAX_RANGE = timedelta(days=31)
MAX_QUEUED = 10
ACTIVITY_COLUMNS = [
    "marketoGUID",
    "leadId",
    "activityDate",
    "activityTypeId",
    "campaignId",
    "primaryAttributeValueId",
    "primaryAttributeValue",
    "attributes",
]


class ExportError(Exception):
    """Refused as Marketo refuses it: ``code`` and ``message`` of its error body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Job:
    id: str
    kind: str  # "leads" or "activities"
    fields: list[str]
    filter: dict[str, Any]
    created: datetime
    status: str = "Created"
    queued: datetime | None = None
    finished: datetime | None = None
    file: bytes = b""
    records: int = 0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "exportId": self.id,
            "format": "CSV",
            "status": self.status,
            "createdAt": stamp(self.created),
        }
        if self.queued:
            out["queuedAt"] = stamp(self.queued)
        if self.status in ("Processing", "Completed"):
            out["startedAt"] = stamp(self.queued or self.created)
        if self.status == "Completed" and self.finished:
            out["finishedAt"] = stamp(self.finished)
            out["numberOfRecords"] = self.records
            out["fileSize"] = len(self.file)
        return out


@dataclass
class Exports:
    store: Store
    daily_bytes: int = 500 * 1024 * 1024
    used_bytes: int = 0
    jobs: dict[str, Job] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, kind: str, body: Mapping[str, Any], now: datetime) -> Job:
        filters = dict(body.get("filter") or {})
        ranged = [k for k in ("createdAt", "updatedAt") if k in filters]
        if not ranged:
            raise ExportError("1003", "A createdAt or updatedAt filter is required")
        for key in ranged:
            start, end = _range(filters[key])
            if end - start > MAX_RANGE:
                raise ExportError("1003", f"{key} date range exceeds 31 days")
        fields = list(body.get("fields") or [])
        if kind == "leads" and not fields:
            raise ExportError("1003", "fields is required")
        job = Job(str(uuid.uuid4()), kind, fields or ACTIVITY_COLUMNS, filters, now)
        with self.lock:
            self.jobs[job.id] = job
        return job

    def enqueue(self, job_id: str, now: datetime) -> Job:
        with self.lock:
            job = self._job(job_id)
            if self.used_bytes >= self.daily_bytes:
                quota = self.daily_bytes // (1024 * 1024)
                raise ExportError("1029", f"Export daily quota {quota}MB exceeded")
            waiting = sum(1 for j in self.jobs.values() if j.status in ("Queued", "Processing"))
            if waiting >= MAX_QUEUED:
                raise ExportError("1029", f"Too many jobs ({MAX_QUEUED}) in queue")
            if job.status != "Created":
                raise ExportError("1029", f"Export {job_id} already enqueued")
            job.status, job.queued = "Queued", now
            return job

    def status(self, job_id: str, now: datetime) -> Job:
        """The job, a step further on: Queued, then Processing, then Completed."""
        with self.lock:
            job = self._job(job_id)
            if job.status == "Queued":
                job.status = "Processing"
            elif job.status == "Processing":
                job.file, job.records = self._file(job)
                job.status, job.finished = "Completed", now
                self.used_bytes += len(job.file)
            return job

    def file(self, job_id: str) -> bytes:
        with self.lock:
            job = self._job(job_id)
            if job.status != "Completed":
                raise ExportError("1029", f"Export {job_id} is {job.status}, not Completed")
            return job.file

    def cancel(self, job_id: str) -> Job:
        with self.lock:
            job = self._job(job_id)
            if job.status in ("Created", "Queued", "Processing"):
                job.status = "Cancelled"
            return job

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise ExportError("1003", f"Export Id {job_id} not found")
        return job

    def _file(self, job: Job) -> tuple[bytes, int]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(job.fields)
        rows = 0
        if job.kind == "leads":
            column = "createdAt" if "createdAt" in job.filter else "updatedAt"
            start, end = _range(job.filter[column])
            for lead in self.store.leads_where(column, start, end):
                writer.writerow([_cell(lead.get(f)) for f in job.fields])
                rows += 1
        else:
            start, end = _range(job.filter["createdAt"])
            types = frozenset(int(t) for t in job.filter.get("activityTypeIds") or [])
            for activity in self.store.activities_between(start, end, types):
                view = self.store.view(activity)
                attributes = {a["name"]: a["value"] for a in view["attributes"]}
                view["attributes"] = json.dumps(attributes)
                writer.writerow([_cell(view.get(c)) for c in job.fields])
                rows += 1
        return out.getvalue().encode("utf-8"), rows


def _range(spec: Mapping[str, Any]) -> tuple[datetime, datetime]:
    try:
        return _when(spec["startAt"]), _when(spec["endAt"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError("1003", f"Invalid date range: {exc}") from None


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return stamp(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
