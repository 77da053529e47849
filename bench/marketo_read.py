"""Reading a Marketo instance: leadsync beside Singer's tap-marketo, on one emulator.

The emulator runs in a process of its own, holding ``--leads`` leads and ``--activities``
activities (forms, visits, email opens and clicks, interesting moments, sends) over the
last 60 days; its limits are off, so each reader goes as fast as it can, and it counts
the requests each made. In one run:

1. leadsync's first read, its backfill through Bulk Extract (``backfill_from``: leads,
   then activities, in 31-day jobs) and on incrementally by paging tokens;
2. tap-marketo's first sync (PyPI, 2.9.4, in its own virtual environment, its URLs
   pointed at the emulator): leads and the same five activity types, each by Bulk
   Extract (its own 30-day jobs, one stream a type);
3. 1,000 leads change a field, then both read again from where they stopped.

leadsync reads as the pipeline would have it: a page of activities names leads by id,
and only the ids it has not seen are read whole (``Source.complete``). Nothing is
written to a state db or a CRM: this measures the read. The tap's records go to a file
(its JSON output is part of its work).

    python bench/marketo_read.py [--leads 100000] [--activities 1000000]

The tap's venv is ``bench/.peers-marketo`` (made on first use, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from peers import peer_python  # noqa: E402

from leadsync.connectors.marketo import MarketoSource  # noqa: E402
from leadsync.sandbox.marketo import CLIENT_ID, CLIENT_SECRET  # noqa: E402

T = TypeVar("T")
TAP_VENV = ROOT / "bench" / ".peers-marketo"
TYPES = {
    1: "visit_webpage",
    2: "fill_out_form",
    10: "open_email",
    11: "click_email",
    46: "interesting_moment",
}
FIELDS = ["email", "firstName", "lastName", "company", "title", "country"]
DAYS = 60

# Runs inside the tap's venv: its URLs at the emulator, then tap_marketo.main().
TAP_RUNNER = """
import sys
import tap_marketo.client as client
base = sys.argv[1]
client.Client.get_url = lambda self, url: base + "/" + url
sys.argv = ["tap-marketo", *sys.argv[2:]]
import tap_marketo
tap_marketo.main()
"""


# -- the emulator, in its own process ------------------------------------------------


def serve(port: int, leads: int, activities: int) -> None:
    from leadsync.sandbox.marketo import Limits, MarketoEmulator, Store
    from leadsync.sandbox.marketo.schema import FIELDS as MARKETO_FIELDS
    from leadsync.sandbox.marketo.schema import NEW_LEAD
    from leadsync.sandbox.marketo.store import Activity
    from leadsync.sandbox.server import serve as serve_forever

    rng = random.Random(5)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    span = int((now - start).total_seconds()) - 3600
    store = Store()
    born = sorted(rng.randrange(span) for _ in range(leads))
    planned: list[tuple[int, int, int]] = []
    for i, second in enumerate(born, start=1):
        at = start + timedelta(seconds=second)
        store.leads[i] = {
            "email": f"person{i}@example.com",
            "firstName": f"First{i}",
            "lastName": f"Last{i}",
            "company": f"Company {i % 500}",
            "title": ("VP Sales", "Engineer", "CTO")[i % 3],
            "country": ("US", "DE", "GB", "FR")[i % 4],
            "createdAt": at,
            "updatedAt": at,
        }
        planned.append((second, i, NEW_LEAD))
    kinds = [1, 1, 1, 2, 10, 10, 10, 11, 11, 46, 6, 6]  # sends are read by neither
    for _ in range(activities):
        lead = rng.randint(1, leads)
        after = born[lead - 1]
        planned.append((rng.randint(after, span), lead, rng.choice(kinds)))
    planned.sort()
    for n, (second, lead, kind) in enumerate(planned, start=1):
        at = start + timedelta(seconds=second)
        changes = ()
        if kind == NEW_LEAD:
            changes = tuple((f, store.leads[lead][f], None) for f in FIELDS)
        attributes = (("Webpage URL", "/pricing"),) if kind == 1 else ()
        primary = (n % 97, "Asset") if kind != NEW_LEAD else (None, None)
        store.log.append(Activity(n, lead, at, kind, *primary, attributes, changes))
        store._seconds.append(at.timestamp())
    store.next_lead = leads + 1
    assert all(f in MARKETO_FIELDS for f in FIELDS)
    app = MarketoEmulator(store=store, limits=Limits.parse("off"))
    print("ready", flush=True)
    serve_forever(app, "127.0.0.1", port)


def stats(url: str) -> dict[str, int]:
    return requests.get(f"{url}/__sandbox/marketo/stats", timeout=30).json()["requests"]


def served(url: str, read: Callable[[], T]) -> tuple[T, int, dict[str, int]]:
    """``read()``'s answer, with the requests the emulator served meanwhile: how many, and
    how many of each endpoint."""
    before = stats(url)
    answer = read()
    after = stats(url)
    return answer, counted(before, after), _by_name(before, after)


def counted(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(after.values()) - sum(before.values())


# -- leadsync ------------------------------------------------------------------------


def leadsync_source(url: str, backfill_from: str | None) -> MarketoSource:
    options = {
        "base_url": url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "rate_limit_per_20s": 10_000_000,
        "export_poll_seconds": 0.05,
    }
    if backfill_from:
        options["backfill_from"] = backfill_from
    source = MarketoSource.from_options(
        "bench", options, key="sources.bench", path=ROOT / "bench" / "config.toml"
    )
    source.want(set(FIELDS))
    return source  # type: ignore[return-value]


def read_with_leadsync(
    source: MarketoSource, cursor: dict | None, known: set[str]
) -> tuple[int, int, float, dict | None]:
    """Records and events read, seconds, the last cursor. ``known``: the ids a state db
    holds (partial records of other ids are made whole, as ingest has them)."""
    started = time.perf_counter()
    records = events = 0
    for page in source.read(cursor, 300):
        unknown = [r for r in page.records if r.partial and r.external_id not in known]
        whole = [r for r in page.records if not r.partial]
        if unknown:
            whole += source.complete(unknown)
        known.update(str(r.external_id) for r in whole)
        records += len(page.records)
        events += sum(len(r.events) for r in page.records)
        cursor = page.cursor
    return records, events, time.perf_counter() - started, cursor


# -- tap-marketo ---------------------------------------------------------------------


def tap_catalog(python: Path, url: str, workdir: Path) -> None:
    config = {
        "endpoint": "https://123-ABC-456.mktorest.com/rest",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "start_date": (datetime.now(UTC) - timedelta(days=DAYS + 1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "poll_interval": 0.05,
        "max_daily_calls": 10_000_000,
    }
    (workdir / "config.json").write_text(json.dumps(config))
    found = subprocess.run(
        [
            str(python),
            "-c",
            TAP_RUNNER,
            url,
            "--config",
            str(workdir / "config.json"),
            "--discover",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    catalog = json.loads(found.stdout)
    wanted = {"leads"} | {f"activities_{name}" for name in TYPES.values()}
    for stream in catalog["streams"]:
        chosen = stream["tap_stream_id"] in wanted
        for entry in stream["metadata"]:
            crumb = entry["breadcrumb"]
            if not crumb:
                entry["metadata"]["selected"] = chosen
            elif stream["tap_stream_id"] == "leads":
                name = crumb[-1]
                entry["metadata"]["selected"] = name in FIELDS or name in ("id", "updatedAt")
            else:
                entry["metadata"]["selected"] = chosen
    (workdir / "catalog.json").write_text(json.dumps(catalog))


def read_with_tap(python: Path, url: str, workdir: Path) -> tuple[dict[str, int], float]:
    """One tap sync: its records by stream, its seconds; its last state kept for the next."""
    args = ["--config", str(workdir / "config.json"), "--properties", str(workdir / "catalog.json")]
    if (workdir / "state.json").exists():
        args += ["--state", str(workdir / "state.json")]
    started = time.perf_counter()
    with (workdir / "out.jsonl").open("w") as out:
        done = subprocess.run(
            [str(python), "-c", TAP_RUNNER, url, *args],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=7200,
        )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"tap-marketo failed:\n{done.stderr[-3000:]}")
    records: dict[str, int] = {}
    state = None
    with (workdir / "out.jsonl").open() as f:
        for raw in f:
            if raw.startswith('{"type": "RECORD"') or raw.startswith('{"type":"RECORD"'):
                stream = json.loads(raw)["stream"]
                records[stream] = records.get(stream, 0) + 1
            elif '"type": "STATE"' in raw[:20] or '"type":"STATE"' in raw[:20]:
                state = json.loads(raw)["value"]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
    return records, elapsed


# -- the run -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.leads, args.activities)
        return

    url = f"http://127.0.0.1:{args.port}"
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--port",
            str(args.port),
            "--leads",
            str(args.leads),
            "--activities",
            str(args.activities),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        backfill_from = (datetime.now(UTC) - timedelta(days=DAYS + 1)).date().isoformat()
        print(f"{args.leads:,} leads, {args.activities:,} activities over {DAYS} days")

        source, known = leadsync_source(url, backfill_from), set[str]()
        (records, events, seconds, cursor), ours, by = served(
            url, lambda: read_with_leadsync(source, None, known)
        )
        print(
            f"leadsync first read: {records:,} records, {events:,} events in {seconds:.1f} s, "
            f"{ours:,} requests {by}"
        )
        (records2, events2, seconds2, _), rest, by = served(
            url, lambda: read_with_leadsync(leadsync_source(url, None), None, set())
        )
        print(
            f"leadsync first read without a backfill (paging tokens only): {records2:,} "
            f"records, {events2:,} events in {seconds2:.1f} s, {rest:,} requests {by}"
        )

        python = peer_python(TAP_VENV, "tap-marketo==2.9.4", "tap_marketo")
        workdir = Path(tempfile.mkdtemp(prefix="tap-marketo-"))
        if python is not None:
            tap_catalog(python, url, workdir)
            (tap_records, tap_seconds), theirs, by = served(
                url, lambda: read_with_tap(python, url, workdir)
            )
            print(
                f"tap-marketo first sync: {sum(tap_records.values()):,} records {tap_records} "
                f"in {tap_seconds:.1f} s (its start included), {theirs:,} requests {by}"
            )
            print(
                f"first read: leadsync {seconds / tap_seconds:.2f}x the tap's time, "
                f"{ours / theirs:.2f}x its requests"
            )

        rng = random.Random(9)
        for lead in rng.sample(range(1, args.leads + 1), args.changes):
            change = {"op": "change", "lead": lead, "fields": {"title": "Director"}}
            requests.post(f"{url}/__sandbox/marketo/do", timeout=30, json=change)
        print(f"after {args.changes:,} leads changed a field:")
        (records, _, seconds, cursor), ours, by = served(
            url, lambda: read_with_leadsync(source, cursor, known)
        )
        print(
            f"leadsync incremental read: {records:,} records in {seconds:.2f} s, {ours:,} "
            f"requests {by}"
        )
        if python is not None:
            (tap_records, tap_seconds), theirs, by = served(
                url, lambda: read_with_tap(python, url, workdir)
            )
            print(
                f"tap-marketo incremental sync: {sum(tap_records.values()):,} records "
                f"{tap_records} in {tap_seconds:.1f} s (its start included), {theirs:,} "
                f"requests {by}"
            )
            print(
                f"incremental: leadsync {seconds / tap_seconds:.2f}x the tap's time, "
                f"{ours / max(theirs, 1):.2f}x its requests"
            )
    finally:
        child.terminate()
        child.wait(timeout=30)


def _by_name(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}


if __name__ == "__main__":
    os.environ.setdefault("LEADSYNC_LOG_LEVEL", "warning")
    main()
