"""Contacts per second read from the HubSpot emulator: leadsync beside Singer's tap-hubspot.

Both read the same 25,000 contacts (8 properties each) from one emulator, in
this run: leadsync's HubSpot source (search API, moving window, the mapped
properties only) and tap-hubspot (PyPI, in its own virtual environment, its
``BASE_URL`` pointed at the emulator; it lists every contact through
``GET /crm/v3/objects/contacts`` and filters by ``updatedAt`` itself). The
emulator's rate limits are off, so that each reads as fast as it can; the
requests each made are counted by the emulator.

    python bench/hubspot_read.py [--contacts 25000] [--tap-venv /tmp/tap-venv]

The tap's venv is made when missing (``python -m venv`` and ``pip install
tap-hubspot==4.5.0``); without network, the tap's half is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from peers import peer_python  # noqa: E402

from leadsync.connectors.hubspot import HubSpotSource  # noqa: E402
from leadsync.sandbox.hubspot import DEMO_TOKEN, HubSpotEmulator, RateLimits, Store  # noqa: E402
from leadsync.sandbox.server import running  # noqa: E402

PROPERTIES = ["email", "firstname", "lastname", "company", "jobtitle", "country", "phone", "city"]
T0 = 1_700_000_000_000
# A contact modified every second: 25,000 over seven hours. (Changes packed closer than
# the source's overlap_seconds are re-read, and skipped, by every next run: see README.)
SPACING_MS = 1000

# Runs inside the tap's venv: point it at the emulator, build a catalog selecting the
# contacts stream and PROPERTIES (the tap's own discovery code), then sync.
TAP_RUNNER = """
import json, sys
import tap_hubspot as tap
url, token, workdir, wanted = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
tap.BASE_URL = url
config = {"api_key": token, "start_date": "2000-01-01T00:00:00Z"}
tap.CONFIG.update(config)
stream = next(s for s in tap.STREAMS if s.tap_stream_id == "contacts")
schema, mdata = tap.load_discovered_schema(stream)
for entry in mdata:
    crumb = entry["breadcrumb"]
    chosen = not crumb or crumb[-1] in ["property_" + p for p in wanted] or crumb[-1] in (
        "id", "updatedAt", "createdAt", "archived")
    entry["metadata"]["selected"] = chosen
catalog = {"streams": [{"stream": "contacts", "tap_stream_id": "contacts",
                        "schema": schema, "metadata": mdata}]}
json.dump(catalog, open(workdir + "/catalog.json", "w"))
json.dump(config, open(workdir + "/config.json", "w"))
sys.argv = ["tap-hubspot", "--config", workdir + "/config.json",
            "--properties", workdir + "/catalog.json"]
import os
if os.path.exists(workdir + "/state.json"):
    sys.argv += ["--state", workdir + "/state.json"]
tap.main()
"""


def seed(store: Store, count: int) -> None:
    for i in range(count):
        store.put(
            "contacts",
            {
                "email": f"person{i}@example.com",
                "firstname": f"First{i}",
                "lastname": f"Last{i}",
                "company": f"Company {i % 500}",
                "jobtitle": ("VP Sales", "Engineer", "CTO", "Analyst")[i % 4],
                "country": ("US", "DE", "GB", "FR")[i % 4],
                "phone": f"+1555{i:07d}",
                "city": ("Boston", "Berlin", "London", "Paris")[i % 4],
            },
            modified_ms=T0 + i * SPACING_MS,
        )


def requests_made(app: HubSpotEmulator) -> int:
    return sum(app.stats.values())


def leadsync_source(url: str) -> HubSpotSource:
    source = HubSpotSource.from_options(
        "bench",
        {
            "sandbox_url": url,
            "auth": {"access_token": DEMO_TOKEN},
            "rate_limit_per_10s": 1_000_000,
            "search_per_second": 100_000,
            "activity_events": False,
        },
        key="sources.bench",
        path=ROOT / "bench" / "config.toml",
    )
    source.want(set(PROPERTIES))
    return source  # type: ignore[return-value]


def read_with_leadsync(
    source: HubSpotSource, app: HubSpotEmulator, cursor: dict | None
) -> tuple[int, float, int, dict | None]:
    before = requests_made(app)
    started = time.perf_counter()
    count = 0
    for page in source.read(cursor, 200):
        count += len(page.records)
        cursor = page.cursor
    return count, time.perf_counter() - started, requests_made(app) - before, cursor


def read_with_tap(
    python: Path, url: str, app: HubSpotEmulator, workdir: str
) -> tuple[int, float, int]:
    """One tap run; its last STATE message is kept in workdir for the next run."""
    before = requests_made(app)
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", TAP_RUNNER, url, DEMO_TOKEN, workdir, ",".join(PROPERTIES)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"tap-hubspot failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.splitlines()
    records = sum(1 for line in lines if line.startswith('{"type": "RECORD"'))
    states = [json.loads(line)["value"] for line in lines if line.startswith('{"type": "STATE"')]
    if states:
        Path(workdir, "state.json").write_text(json.dumps(states[-1]))
    return records, elapsed, requests_made(app) - before


def line(who: str, count: int, seconds: float, requests: int) -> str:
    rate = f"{count / seconds:,.0f}/s" if count else "-"
    return f"{who:<12} {count:>7,} contacts in {seconds:6.2f} s = {rate:>8}, {requests:>4} requests"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=25_000)
    parser.add_argument("--tap-venv", type=Path, default=Path("/tmp/tap-venv"))
    args = parser.parse_args()

    app = HubSpotEmulator(store=Store(), limits=RateLimits.parse("off"))
    seed(app.store, args.contacts)
    changed = 100
    with running(app) as url, tempfile.TemporaryDirectory() as workdir:
        source = leadsync_source(url)
        count, seconds, requests, cursor = read_with_leadsync(source, app, None)
        print("first read, every contact:")
        print(line("leadsync", count, seconds, requests))
        python = peer_python(args.tap_venv, "tap-hubspot==4.5.0", "tap_hubspot")
        if python is not None:
            tap_count, tap_seconds, tap_requests = read_with_tap(python, url, app, workdir)
            print(line("tap-hubspot", tap_count, tap_seconds, tap_requests) + " (incl. its start)")
            print(
                f"ratio: leadsync reads {(count / seconds) / (tap_count / tap_seconds):.2f}x "
                f"the contacts per second with {requests / tap_requests:.2f}x the requests"
            )
        later = T0 + args.contacts * SPACING_MS + 60_000
        for i in range(0, args.contacts, args.contacts // changed):
            app.store.touch("contacts", str(1001 + i), {"jobtitle": "Director"}, later + i)
        print(f"second read, after {changed} contacts changed:")
        count, seconds, requests, cursor = read_with_leadsync(source, app, cursor)
        print(line("leadsync", count, seconds, requests))
        if python is not None:
            tap_count, tap_seconds, tap_requests = read_with_tap(python, url, app, workdir)
            print(line("tap-hubspot", tap_count, tap_seconds, tap_requests) + " (incl. its start)")
        print(json.dumps({"emulator_requests": dict(app.stats)}))


if __name__ == "__main__":
    main()
