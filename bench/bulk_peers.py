"""Benchmark: a Bulk API 2.0 push by leadsync against two peers, in one run, each into
its own Salesforce emulator served by its own process.

The real export repeated to ``--leads`` rows is mapped and planned by leadsync; then
a run pushes it: its push stage is timed (as the peers' times start at their rows) and
the whole run around it too (its no-op read of the source, its own record), and its
requests are counted by the emulator, by endpoint. The same
rows, already mapped (the payloads leadsync planned), are then upserted into a fresh
emulator by each peer: simple-salesforce's ``sf.bulk2.Lead.upsert`` (the helper a
hand-written script would call) and drt-core's ``salesforce_bulk`` destination (a
reverse-ETL tool, run in a virtualenv of its own that the script makes on first use,
``bench/.peers``; left out when it cannot be installed). leadsync reads
every record's result back (a refused lead is dead-lettered alone, with its code and
field); the peers count them, and drt-core reads the failed rows only.

Usage: python3 bench/bulk_peers.py [--leads 9237] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from peers import peer_python  # noqa: E402
from pipeline import (  # noqa: E402
    CONFIG,
    emulator_client,
    repeat_file,
    requests_between,
    use_emulator_login,
)
from scale import serve_emulator  # noqa: E402

from leadsync import config as cfg  # noqa: E402
from leadsync import log  # noqa: E402
from leadsync.connectors.calls import CallCounter  # noqa: E402
from leadsync.sandbox.salesforce.app import Credentials  # noqa: E402
from leadsync.state import db  # noqa: E402
from leadsync.state.models import OutboxOp  # noqa: E402
from leadsync.sync.pipeline import Run  # noqa: E402
from leadsync.sync.wiring import wire  # noqa: E402


def served(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/__sandbox/stats", timeout=10) as answer:
        return json.load(answer)["by_endpoint"]


class TimedRun(Run):
    """A run that times its push stage (``push_seconds``) apart from the whole of it: the
    peers' times start at their rows, so the push is set against them; the run around it
    (its no-op read of the source, its own record) is given beside."""

    push_seconds = 0.0

    def _push(self) -> None:
        start = time.perf_counter()
        try:
            super()._push()
        finally:
            self.push_seconds = time.perf_counter() - start


def leadsync_push(
    work: Path, url: str
) -> tuple[float, float, dict[str, int], list[dict[str, Any]]]:
    """Plan, then push through Bulk API 2.0: (seconds of the push stage, seconds of the
    whole run, requests, the payloads pushed)."""
    text = CONFIG.read_text(encoding="utf-8").replace(
        "[crm.auth]", "bulk_threshold = 1000\nbulk_poll_seconds = 0.2\n[crm.auth]"
    )
    (work / "config.toml").write_text(text, encoding="utf-8")
    os.environ["SANDBOX_URL"] = url
    config = cfg.load(work / "config.toml", state_url=f"sqlite:///{work / 'state.db'}")
    engine = db.make_engine(config.state_url)
    db.upgrade(engine)
    wiring = wire(config)
    Run(wiring, engine, push=False).execute()
    with db.session_factory(engine)() as session:
        payloads = [dict(op.payload) for op in session.query(OutboxOp).order_by(OutboxOp.id)]
    import simple_salesforce  # noqa: F401  # imported on first use; every peer's imports are untimed

    before = served(url)
    start = time.perf_counter()
    run = TimedRun(wiring, engine)
    summary = run.execute()
    seconds = time.perf_counter() - start
    wiring.close()
    engine.dispose()
    assert summary.bulk and summary.created == len(payloads), summary
    return run.push_seconds, seconds, requests_between(before, served(url)), payloads


def bulk2_push(work: Path, url: str, payloads: list[dict[str, Any]]) -> tuple[float, dict]:
    """The same records through simple-salesforce's bulk2 helper: (seconds, requests)."""
    columns = sorted({k for p in payloads for k in p})
    path = work / "leads.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(payloads)
    before = served(url)
    start = time.perf_counter()
    sf = emulator_client(url, CallCounter())  # its login counts, as leadsync's does
    results = sf.bulk2.Lead.upsert(str(path), external_id_field="LeadSync_Id__c", wait=1)
    seconds = time.perf_counter() - start
    done = sum(int(r.get("numberRecordsProcessed", 0)) for r in results)
    assert done == len(payloads), results
    return seconds, requests_between(before, served(url))


# drt-core lives in a virtualenv of its own, made on first use: its dependencies (rich,
# typer, httpx) must not enter leadsync's, where they would slow every start-up.
PEERS = ROOT / "bench" / ".peers"
DRT = "drt-core==1.2.1"
DRT_RUN = """
import json, os, sys, time
from drt.config.destinations_saas import SalesforceBulkDestinationConfig
from drt.config.sync_options import SyncOptions
from drt.destinations.salesforce_bulk import SalesforceBulkDestination
url, rows = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
config = SalesforceBulkDestinationConfig(
    type="salesforce_bulk", instance_url=url, object_name="Lead",
    external_id_field="LeadSync_Id__c", poll_interval_seconds=1,
    client_id_env="DRT_SF_CLIENT_ID", client_secret_env="DRT_SF_CLIENT_SECRET",
    username_env="DRT_SF_USERNAME", password_env="DRT_SF_PASSWORD",
)
options = SyncOptions()
start = time.perf_counter()
destination = SalesforceBulkDestination()
destination.stage(rows, config, options)
result = destination.finalize(config, options)
print(json.dumps({"seconds": time.perf_counter() - start, "success": result.success,
                  "failed": result.failed}))
"""


def drt_push(work: Path, url: str, payloads: list[dict[str, Any]]) -> tuple[float, dict] | None:
    """The same records through drt-core's Bulk API 2.0 destination, in its own process
    (timed there, from staging the rows to the job's end): (seconds, requests), or None
    when drt-core cannot be installed."""
    python = peer_python(PEERS, DRT, "drt")
    if python is None:
        return None
    creds = Credentials()
    env = os.environ | {
        "DRT_SF_CLIENT_ID": creds.client_id,
        "DRT_SF_CLIENT_SECRET": creds.client_secret,
        "DRT_SF_USERNAME": creds.username,
        "DRT_SF_PASSWORD": creds.password + creds.security_token,
    }
    rows = work / "drt_rows.json"
    rows.write_text(json.dumps(payloads), encoding="utf-8")
    before = served(url)
    answer = subprocess.run(
        [str(python), "-c", DRT_RUN, url, str(rows)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    assert (result["success"], result["failed"]) == (len(payloads), 0), result
    return result["seconds"], requests_between(before, served(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=9_237)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the three pushes this many times, each into fresh emulators: the machine is "
        "shared, so the ratio is given for each round and as their median",
    )
    args = parser.parse_args()
    log.configure("warning", json=True)
    use_emulator_login()
    n = args.leads
    print(f"$ python3 bench/bulk_peers.py --leads {n} --rounds {args.rounds}")
    ratios, whole = [], []
    for _ in range(args.rounds):
        runs, run_s = one_round(n)
        fastest = min(runs[1:], key=lambda run: run[1])
        ratios.append(runs[0][1] / fastest[1])
        whole.append(run_s / fastest[1])
    for name, seconds, requests in runs:
        total = sum(requests.values())
        print(
            f"{name}: {total} requests = {total / n * 1000:.2f} per 1,000 leads; "
            f"{n / seconds:,.0f} leads/s; {dict(sorted(requests.items()))}"
        )
    each = ", ".join(f"{r:.2f}x" for r in ratios)
    print(
        f"leadsync's push against the fastest peer ({fastest[0]}): "
        f"{statistics.median(ratios):.2f}x, the median of {each}"
    )
    each = ", ".join(f"{r:.2f}x" for r in whole)
    print(
        "leadsync's whole run (the push, its no-op read of the source, its own record) "
        f"against it: {statistics.median(whole):.2f}x, the median of {each}"
    )


def one_round(n: int) -> tuple[list[tuple[str, float, dict[str, int]]], float]:
    """One push each, into an emulator of its own: (name, seconds, requests), leadsync's
    push stage first; and the seconds of leadsync's whole run around its push."""
    work = Path(tempfile.mkdtemp(prefix="leadsync-peers-", dir=ROOT.parent))
    emulators = []
    try:
        repeat_file(work / "xeducation_leads.csv", n)
        ours, url = serve_emulator(work)
        emulators.append(ours)
        ours_s, run_s, ours_req, payloads = leadsync_push(work, url)
        theirs, url = serve_emulator(work)
        emulators.append(theirs)
        peer_s, peer_req = bulk2_push(work, url, payloads)
        drt, url = serve_emulator(work)
        emulators.append(drt)
        drt_run = drt_push(work, url, payloads)
    finally:
        for proc in emulators:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    runs = [
        ("leadsync (bulk jobs, per-record results)", ours_s, ours_req),
        ("simple-salesforce bulk2.Lead.upsert", peer_s, peer_req),
    ]
    if drt_run is None:
        print(f"drt-core: could not be installed in {PEERS}; left out")
    else:
        runs.append(("drt-core salesforce_bulk", *drt_run))
    return runs, run_s


if __name__ == "__main__":
    main()
