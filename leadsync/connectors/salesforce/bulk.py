"""Bulk API 2.0: ingest jobs (upserts) for backfills, query jobs for wide reads.

One ingest job takes up to 150 MB of CSV and costs five or six requests whatever its
size (create, upload, close, a poll or more, then the result files the job's counts say
hold rows: the successful ones, and the failed ones only when a record failed);
sObject Collections cost one request per 200 records. A backfill of 100,000 leads is
then a dozen requests instead of 500.

Every request goes through simple-salesforce (its session, so counting, timeouts and the
sandbox apply, its login, and ``call_salesforce``, which raises its own exceptions for
``classify``). The job's steps are driven here rather than by simple-salesforce's
all-in-one ``bulk2.<obj>.upsert``, because that one answers a failed step by aborting
the job, so that a 503 on the sixth of seven requests would send every record again:
here each step is retried alone, a lost answer to "close" is checked against the job's
state, and waiting for the job has a deadline.

In the CSV an empty cell leaves the field as it is, so a value leadsync empties is sent
as ``#N/A``. Results come in no particular order, each row with the CSV that was sent;
they are matched to the records by the external id. A record no result names (the job
failed or was aborted part-way) has failed, and may be sent again.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from leadsync.connectors.base import RecordResult, missing_result
from leadsync.connectors.http import classified
from leadsync.connectors.salesforce.errors import RETRIABLE_RECORD_CODES, classify
from leadsync.errors import AuthenticationError, LeadsyncError, RetriableError
from leadsync.retry import RetryPolicy, may_pass_later

if TYPE_CHECKING:
    import requests
    from simple_salesforce import Salesforce

EMPTY = "#N/A"
# Each step of a job: five tries, backing off from 0.2 s to 5 s (or as Salesforce asks).
STEPS = RetryPolicy(attempts=5, initial_seconds=0.2, max_seconds=5.0)
PAGE_RECORDS = 50_000
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # Salesforce's limit for one job's CSV
JSON, CSV = "application/json", "text/csv"
T = TypeVar("T")


def _not_counted(_error: BaseException, _attempt: int) -> None:
    return None


@dataclass
class BulkApi:
    """The Bulk API 2.0 jobs of one org, through a logged-in simple-salesforce client."""

    client: Salesforce
    poll_seconds: float
    deadline_seconds: float
    on_retry: Callable[[BaseException, int], None] = _not_counted

    # -- ingest ---------------------------------------------------------------

    def upsert(
        self,
        obj: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        operation: str = "upsert",
        assignment_rule: str | None = None,
        before_upload: Callable[[], None] | None = None,
    ) -> list[RecordResult]:
        """Upsert ``records`` by ``external_id_field`` in one ingest job (or, with
        operation "update", update them by their ``Id``); one result per record, in order.
        A job runs no assignment rule unless ``assignment_rule`` names one.

        ``before_upload`` is called once the job exists and before any record is sent
        (the create's answer has told the org's API quota by then); what it raises
        aborts the job and is raised here."""
        if not records:
            return []
        data = _csv(records)
        if len(data.encode("utf-8")) > MAX_UPLOAD_BYTES and len(records) > 1:
            # A job takes 100 MB of CSV at most (long descriptions add up): two jobs.
            half = len(records) // 2
            again = partial(
                self.upsert,
                obj,
                external_id_field,
                operation=operation,
                assignment_rule=assignment_rule,
                before_upload=before_upload,
            )
            return [*again(records[:half]), *again(records[half:])]
        spec: dict[str, Any] = {
            "object": obj,
            "operation": operation,
            "contentType": "CSV",
            "lineEnding": "LF",
        }
        if operation == "upsert":
            spec["externalIdFieldName"] = external_id_field
        if assignment_rule:
            spec["assignmentRuleId"] = assignment_rule
        job = self._step("create", lambda: self._json("POST", "ingest", spec))["id"]
        try:
            if before_upload is not None:
                before_upload()
            # Not retried on its own: an upload whose answer was lost cannot be told from
            # one that never arrived, and a job takes one upload. A new job is safe instead.
            with classified(classify):
                self._call("PUT", f"ingest/{job}/batches", data=data, content_type=CSV)
        except Exception:
            self._abort(job)
            raise
        self._close(job)
        info = self._wait(f"ingest/{job}")
        match = "Id" if operation == "update" else external_id_field
        results: list[RecordResult | None] = [None] * len(records)
        where: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            where.setdefault(_cell(record.get(match)), []).append(i)
        for kind, read in _result_files(info):
            text = self._step(kind, partial(self._call, "GET", f"ingest/{job}/{kind}"))
            rows = csv.reader(io.StringIO(_utf8(text)))
            # Rows as lists, each column found once by the header: a result file holds
            # every column sent, and a dict a row cost a tenth of the push's own time.
            at = {name: i for i, name in enumerate(next(rows, []))}
            key_at = at.get(match)
            for row in rows:
                if row:
                    key = row[key_at] if key_at is not None else ""
                    _place(results, where, key, read(_Cells(row, at)))
        return [r or missing_result("Salesforce's Bulk API") for r in results]

    def update(
        self,
        obj: str,
        records: Sequence[Mapping[str, Any]],
        *,
        assignment_rule: str | None = None,
        before_upload: Callable[[], None] | None = None,
    ) -> list[RecordResult]:
        """Update ``records`` by their ``Id`` in one ingest job; one result per record."""
        return self.upsert(
            obj,
            "Id",
            records,
            operation="update",
            assignment_rule=assignment_rule,
            before_upload=before_upload,
        )

    def _close(self, job: str) -> None:
        """Mark the upload complete. When the answer is lost, the job's state says whether
        the close took: only a job still Open is closed again."""

        def close() -> None:
            try:
                with classified(classify):
                    self._json("PATCH", f"ingest/{job}", {"state": "UploadComplete"})
            except LeadsyncError as error:
                if not may_pass_later(error):
                    raise
                if self._state(job) == "Open":
                    raise  # sent again by the policy
                # The close took; only its answer was lost: asked again, as the job's state.
                self.on_retry(error, 1)

        STEPS.call(close, on_retry=self.on_retry)

    def _state(self, job: str) -> str:
        return str(self._step("state", lambda: self._json("GET", f"ingest/{job}"))["state"])

    def _abort(self, job: str) -> None:
        try:
            self._json("PATCH", f"ingest/{job}", {"state": "Aborted"})
        except Exception:  # best effort: an open job expires by itself
            return

    def _wait(self, path: str) -> dict[str, Any]:
        """Poll the job until it is done, until the deadline."""
        deadline = time.monotonic() + self.deadline_seconds
        while True:
            info = self._step("state", lambda: self._json("GET", path))
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                return info
            if time.monotonic() + self.poll_seconds > deadline:
                raise RetriableError(
                    f"the Bulk API job {path} was still {info['state']} after "
                    f"{self.deadline_seconds:.0f}s; its records stay in the outbox",
                    code="BULK_JOB_TIMEOUT",
                )
            time.sleep(self.poll_seconds)

    # -- query ----------------------------------------------------------------

    def query(self, soql: str) -> Iterator[dict[str, str]]:
        """The rows of a query job, 50,000 a request; every value is text ("" for null)."""
        job = self._step(
            "create", lambda: self._json("POST", "query", {"operation": "query", "query": soql})
        )["id"]
        info = self._wait(f"query/{job}")
        if info["state"] != "JobComplete":
            raise RetriableError(
                f"the Bulk API query {job} ended {info['state']}: {info.get('errorMessage', '')}",
                code="BULK_QUERY_FAILED",
            )
        locator = ""
        while True:
            params = {"maxRecords": PAGE_RECORDS} | ({"locator": locator} if locator else {})
            page = self._step(
                "results",
                partial(self._call, "GET", f"query/{job}/results", params=params),
            )
            yield from csv.DictReader(io.StringIO(_utf8(page)))
            locator = page.headers.get("Sforce-Locator", "null")
            if locator in ("", "null"):
                return

    # -- requests -------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        data: str | None = None,
        params: Mapping[str, Any] | None = None,
        content_type: str = JSON,
    ) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {self.client.session_id}",
            "Content-Type": content_type,
            "Accept": CSV if path.endswith(("Results", "results")) else JSON,
        }
        from simple_salesforce.util import call_salesforce  # with the client, when used

        return call_salesforce(
            self.client.bulk2_url + path,
            method,
            self.client.session,
            headers,
            data=data.encode("utf-8") if data is not None else None,
            params=params,
        )

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        answer = self._call(method, path, data=json.dumps(body) if body is not None else None)
        return answer.json()

    def _step(self, name: str, call: Callable[[], T]) -> T:
        """One step of a job, retried alone (a few times, backing off) while what failed
        may pass later; an expired session is renewed through the client first."""

        def step() -> T:
            with classified(classify):
                return call()

        return STEPS.call(step, retriable=self._worth_again, on_retry=self._before_again)

    @staticmethod
    def _worth_again(error: BaseException) -> bool:
        return may_pass_later(error) or _expired(error)

    def _before_again(self, error: BaseException, attempt: int) -> None:
        self.on_retry(error, attempt)
        if _expired(error):
            self.client.limits()  # the client logs in again when its session expired


def _result_files(info: Mapping[str, Any]) -> list[tuple[str, Callable[..., RecordResult]]]:
    """The result files worth a request: a file the job's counts say is empty is not read
    (most jobs fail no record). A job that ended early, or counts not given, read both."""
    files: list[tuple[str, Callable[..., RecordResult]]] = [
        ("successfulResults", _succeeded),
        ("failedResults", _failed),
    ]
    processed, failed = info.get("numberRecordsProcessed"), info.get("numberRecordsFailed")
    if info.get("state") != "JobComplete" or not isinstance(processed, int):
        return files
    if not isinstance(failed, int):
        return files
    return [f for f in files if (processed - failed if f[0] == "successfulResults" else failed)]


def _expired(error: BaseException) -> bool:
    return isinstance(error, AuthenticationError) and (
        error.details.get("code") == "INVALID_SESSION_ID"
    )


def _utf8(response: requests.Response) -> str:
    """A result CSV's text. Salesforce writes UTF-8 and says `text/csv` without a charset,
    which requests would read as Latin-1 (García as GarcÃ­a)."""
    return response.content.decode("utf-8-sig")


def _csv(records: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(name for record in records for name in record))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    # A job holds 10,000 records of dozens of fields: text, the common value, is taken as
    # it is, without a call per cell.
    writer.writerows(
        [v if type(v) is str and v else _cell(v) for v in (record.get(c, _ABSENT) for c in columns)]
        for record in records
    )
    return out.getvalue()


_ABSENT = object()  # a field this record does not carry: an empty cell, left as it is


def _cell(value: Any) -> str:
    if value is _ABSENT:
        return ""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _place(
    results: list[RecordResult | None],
    where: Mapping[str, list[int]],
    key: str,
    result: RecordResult,
) -> None:
    """The result goes to the first record with this key that has none yet."""
    for i in where.get(key, ()):
        if results[i] is None:
            results[i] = result
            return


class _Cells:
    """A result row's cells by column name, as the header placed them."""

    __slots__ = ("_at", "_row")

    def __init__(self, row: list[str], at: Mapping[str, int]) -> None:
        self._row, self._at = row, at

    def get(self, name: str) -> str | None:
        i = self._at.get(name)
        return self._row[i] if i is not None and i < len(self._row) else None


def _succeeded(row: _Cells) -> RecordResult:
    return RecordResult(
        ok=True, crm_id=row.get("sf__Id") or None, created=row.get("sf__Created") == "true"
    )


def _failed(row: _Cells) -> RecordResult:
    """``sf__Error`` is ``CODE:message:fields --``; the message may hold colons itself."""
    error = row.get("sf__Error") or ""
    code, _, rest = error.partition(":")
    message, _, fields = rest.rpartition(":")
    if not message:  # no fields part
        message, fields = rest, ""
    names = tuple(f for f in fields.replace("--", "").strip().split(",") if f)
    return RecordResult(
        ok=False,
        code=code or "UNKNOWN",
        message=message.strip(),
        fields=names,
        retriable=code in RETRIABLE_RECORD_CODES,
    )
