"""Benchmark: the real export repeated to 100,000 leads, through leadsync and through a naive loop.

Prints, with the command that made them:

- leads per second through map, resolve and plan (pull into the outbox, no push),
  as a ratio against the baseline of merely parsing the same file with csv.DictReader;
- peak resident memory of the process;
- requests per 1,000 leads pushed to the emulator by leadsync (sObject
  Collections), against a naive loop calling ``sf.Lead.upsert`` once per lead,
  both in this run, with their throughput ratio.

Usage: python3 bench/pipeline.py [--leads 100000] [--naive 3000]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leadsync import config as cfg  # noqa: E402
from leadsync import log  # noqa: E402
from leadsync.connectors.calls import CallCounter  # noqa: E402
from leadsync.connectors.salesforce.client import build_client  # noqa: E402
from leadsync.connectors.salesforce.config import SalesforceConfig  # noqa: E402
from leadsync.sandbox.salesforce import Credentials, SalesforceEmulator, Store  # noqa: E402
from leadsync.sandbox.server import running  # noqa: E402
from leadsync.state import db  # noqa: E402
from leadsync.sync.pipeline import Run  # noqa: E402
from leadsync.sync.wiring import wire  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "xeducation_leads.csv"
CONFIG = ROOT / "tests" / "fixtures" / "xeducation.toml"


def use_emulator_login() -> None:
    """The emulator's demo login, where the benchmarks' config reads it (the environment)."""
    creds = Credentials()
    os.environ.update(
        SF_USERNAME=creds.username,
        SF_PASSWORD=creds.password,
        SF_SECURITY_TOKEN=creds.security_token,
    )


def repeat_file(target: Path, leads: int) -> None:
    """The real rows, repeated with a copy number on the ids until there are `leads` of them."""
    with REAL.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    with target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i in range(leads):
            row = list(rows[i % len(rows)])
            copy = i // len(rows)
            if copy:
                row[0] = f"{row[0]}-{copy}"
                row[1] = f"{row[1]}{copy:03d}"
            writer.writerow(row)


def parse_baseline(path: Path) -> float:
    start = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as f:
        for _ in csv.DictReader(f):
            pass
    return time.perf_counter() - start


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emulator_client(url: str, counter: CallCounter) -> Any:
    """simple-salesforce logged in to the emulator at ``url`` (its demo login), as a
    script of the admin's own would be."""
    creds = Credentials()
    auth = {
        "username": creds.username,
        "password": creds.password,
        "security_token": creds.security_token,
    }
    config = SalesforceConfig.model_validate({"sandbox_url": url, "auth": auth})
    return build_client(config, counter)


def requests_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The requests an emulator served between two of its counts, by endpoint."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def naive_loop(url: str, leads: list[dict], ext: str) -> tuple[float, int]:
    """What a hand-written script does: one upsert request per lead."""
    counter = CallCounter()
    sf = emulator_client(url, counter)
    start = time.perf_counter()
    for lead in leads:
        fields = {k: v for k, v in lead.items() if k != ext}
        sf.Lead.upsert(f"{ext}/{lead[ext]}", fields)
    return time.perf_counter() - start, counter.total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument(
        "--naive", type=int, default=3_000, help="leads pushed one request each by the naive loop"
    )
    args = parser.parse_args()
    log.configure("warning", json=True)
    work = Path(tempfile.mkdtemp(prefix="leadsync-bench-"))
    try:
        run(work, args.leads, args.naive)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, leads: int, naive: int) -> None:
    data = work / "xeducation_leads.csv"
    repeat_file(data, leads)
    # Collections, whatever the size: bench/backfill.py compares them with Bulk API 2.0.
    text = CONFIG.read_text(encoding="utf-8")
    (work / "config.toml").write_text(
        text.replace("[crm.auth]", "bulk_threshold = 0\n[crm.auth]"), encoding="utf-8"
    )
    use_emulator_login()
    app = SalesforceEmulator(store=Store())
    rss_before = peak_rss_mib()
    with running(app) as url:
        os.environ["SANDBOX_URL"] = url
        config = cfg.load(work / "config.toml", state_url=f"sqlite:///{work / 'state.db'}")
        engine = db.make_engine(config.state_url)
        db.upgrade(engine)

        baseline = parse_baseline(data)
        wiring = wire(config)
        start = time.perf_counter()
        planned = Run(wiring, engine, push=False).execute()
        pull_s = time.perf_counter() - start
        rss_after_pull = peak_rss_mib()

        start = time.perf_counter()
        pushed = Run(wiring, engine).execute()
        push_s = time.perf_counter() - start
        batched_requests = wiring.destination.calls.total
        wiring.close()

        sample = [
            {
                **{
                    f: v
                    for f, v in r.items()
                    if f
                    not in (
                        "Id",
                        "CreatedDate",
                        "LastModifiedDate",
                        "SystemModstamp",
                        "IsConverted",
                        "OwnerId",
                        "Status",
                    )
                },
                "LeadSync_Id__c": f"naive-{i}",
            }
            for i, r in enumerate(list(app.store.records["Lead"].values())[:naive])
        ]
        naive_s, naive_requests = naive_loop(url, sample, "LeadSync_Id__c")

    assert planned.planned_creates == leads, planned
    assert pushed.created == leads, pushed
    per_k_batched = batched_requests / leads * 1000
    per_k_naive = naive_requests / naive * 1000
    batched_rate = leads / push_s
    naive_rate = naive / naive_s
    print(f"$ python3 bench/pipeline.py --leads {leads} --naive {naive}")
    print(f"leads: {leads:,} (the real export of {REAL.name}, repeated)")
    print(
        f"map + resolve + plan: {pull_s:.1f} s, {leads / pull_s:,.0f} leads/s; "
        f"{pull_s / baseline:.1f}x the time csv.DictReader takes just to parse the file "
        f"({baseline:.2f} s)"
    )
    print(
        f"peak RSS: {rss_after_pull:,.0f} MiB after map+resolve+plan "
        f"(process was at {rss_before:,.0f} MiB before; the emulator shares this process)"
    )
    print(
        f"push, leadsync (sObject Collections of 200): {batched_requests:,} requests = "
        f"{per_k_batched:.2f} per 1,000 leads; {batched_rate:,.0f} leads/s"
    )
    print(
        f"push, naive loop (sf.Lead.upsert per lead, {naive:,} leads): {naive_requests:,} "
        f"requests = {per_k_naive:.1f} per 1,000 leads; {naive_rate:,.0f} leads/s"
    )
    print(
        f"ratio: {per_k_naive / per_k_batched:.0f}x fewer requests, "
        f"{batched_rate / naive_rate:.1f}x the throughput of the naive loop"
    )


if __name__ == "__main__":
    main()
