"""A Marketo backfill through Bulk Extract: the leads created since ``backfill_from``, then
their activities, in export jobs of at most 31 days each (Marketo's limit), read as
pages like any other.

Each job is created, enqueued, polled until its file is ready, and its file read a page
at a time. The cursor after each page holds the job's id and the rows read, so a run
killed mid-job goes on with the same job (a file stays for days) from the next row; a
job Marketo no longer knows, or that failed, is made again. A full export queue waits;
the day's export quota used up stops the run, which goes on from the same place once
the quota resets. When both kinds are done, the read goes on incrementally from the
time the backfill began.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from leadsync import clock
from leadsync.connectors.base import Page
from leadsync.errors import ConnectorError, RequestRejected

if TYPE_CHECKING:
    from leadsync.connectors.marketo.source import MarketoSource

WINDOW = timedelta(days=31)  # Marketo refuses a longer date range
KINDS = ("leads", "activities")


class Backfill:
    def __init__(self, source: MarketoSource, state: Mapping[str, Any], size: int) -> None:
        self.source = source
        self.api = source.api
        self.size = size
        self.state = dict(state)
        start = _time(self.state["from"])
        self.state.setdefault("until", clock.now().isoformat())
        self.state.setdefault("kind", "leads")
        self.state.setdefault("window", start.isoformat())

    def position(self) -> dict[str, Any]:
        return {"backfill": dict(self.state)}

    def pages(self) -> Generator[Page, None, dict[str, Any]]:
        """Each page of every job, in order; returns the cursor the incremental read starts
        from (the backfill's start time, no tokens yet)."""
        s = self.state
        until = _time(s["until"])
        while True:
            start = _time(s["window"])
            if start >= until:
                if s["kind"] == KINDS[-1]:
                    return {"since": s["until"], "tokens": {}}
                s.update(
                    kind=KINDS[KINDS.index(s["kind"]) + 1], window=_time(s["from"]).isoformat()
                )
                s.pop("export", None)
                s.pop("row", None)
                continue
            end = min(start + WINDOW, until)
            if not s.get("export"):
                s["export"], s["row"] = self._create(s["kind"], start, end), 0
                yield Page([], self.position())  # committed: a run killed now finds the job
            if not self._ready(s["kind"], s["export"]):
                s.pop("export")  # failed, cancelled or forgotten: made again
                continue
            yield from self._file_pages(s["kind"], s["export"])
            s.update(window=end.isoformat(), row=0)
            s.pop("export")

    # -- one job ------------------------------------------------------------------

    def _create(self, kind: str, start: datetime, end: datetime) -> str:
        span = {"startAt": _stamp(start), "endAt": _stamp(end)}
        body: dict[str, Any] = {"format": "CSV", "filter": {"createdAt": span}}
        if kind == "leads":
            body["fields"] = ["id", *self.source.read_fields()]
        else:
            body["filter"]["activityTypeIds"] = sorted(self.source.event_types())
        answer = self.api.post(f"export_create_{kind}", f"/bulk/v1/{kind}/export/create.json", body)
        return str(answer["result"][0]["exportId"])

    def _ready(self, kind: str, export: str) -> bool:
        """Enqueue the job if it is not yet, and wait for its file: True when Completed,
        False when Marketo no longer has it or it failed."""
        base = f"/bulk/v1/{kind}/export/{export}"
        config = self.source.config
        deadline = time.monotonic() + config.export_timeout_seconds
        while time.monotonic() < deadline:
            try:
                status = self.api.get(f"export_status_{kind}", f"{base}/status.json", {})
            except RequestRejected:
                return False
            state = status["result"][0]["status"]
            if state == "Completed":
                return True
            if state in ("Failed", "Cancelled"):
                return False
            if state == "Created":
                self.api.post(f"export_enqueue_{kind}", f"{base}/enqueue.json")
                continue
            time.sleep(config.export_poll_seconds)
        raise ConnectorError(
            f"Marketo's {kind} export {export} was not ready within "
            f"{config.export_timeout_seconds:g}s; the next run goes on waiting for it"
        )

    def _file_pages(self, kind: str, export: str) -> Iterator[Page]:
        chunks = self.api.file(f"export_file_{kind}", f"/bulk/v1/{kind}/export/{export}/file.json")
        rows = csv.DictReader(_lines(chunks))
        skip = int(self.state.get("row") or 0)
        batch: list[dict[str, str]] = []
        for i, row in enumerate(rows):
            if i < skip:
                continue
            batch.append(row)
            if len(batch) == self.size:
                yield self._page(kind, batch)
                batch = []
        if batch:
            yield self._page(kind, batch)

    def _page(self, kind: str, rows: list[dict[str, str]]) -> Page:
        if kind == "leads":
            types = self.source.fields()
            leads = [{k: _value(types.get(k, "string"), v) for k, v in row.items()} for row in rows]
            page = Page([self.source.record(lead, []) for lead in leads], {})
        else:
            page = self.source.page_of([_activity(row) for row in rows], with_events=True)
        self.state["row"] = int(self.state.get("row") or 0) + len(rows)
        return Page(page.records, self.position(), page.deleted, page.merged)


def _activity(row: Mapping[str, str]) -> dict[str, Any]:
    """A row of an activities export in the REST API's shape."""
    raw = row.get("attributes")
    attributes = json.loads(raw) if raw not in (None, "", "null") else {}
    out: dict[str, Any] = {
        "marketoGUID": row["marketoGUID"],
        "leadId": int(row["leadId"]),
        "activityDate": row["activityDate"],
        "activityTypeId": int(row["activityTypeId"]),
        "attributes": [{"name": k, "value": v} for k, v in attributes.items()],
    }
    if row.get("primaryAttributeValue") not in (None, "", "null"):
        out["primaryAttributeValue"] = row["primaryAttributeValue"]
    return out


def _value(kind: str, text: str | None) -> Any:
    """A cell of a leads export as the REST API would give it: ``null`` is no value."""
    if text in (None, "", "null"):
        return None
    if kind == "integer":
        return int(text) if text.lstrip("-").isdigit() else text
    if kind in ("float", "currency"):
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean":
        return text.lower() == "true"
    return text


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The file's lines, decoded, from blocks that may split a line (or a character)."""
    held = b""
    for chunk in chunks:
        held += chunk
        *whole, held = held.split(b"\n")
        for line in whole:
            yield line.decode("utf-8") + "\n"
    if held:
        yield held.decode("utf-8")


def _time(text: str) -> datetime:
    """A cursor's time or day (midnight), in UTC."""
    if "T" not in text:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
