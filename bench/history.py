"""Benchmark: requests to a CRM full of history, for a first sync, a sync with nothing new,
and a sync after the state db was lost (with and without `leadsync reconcile --adopt`).

The real X Education export (9,237 rows) and the same repeated to 100,000 leads, synced
into a Salesforce emulator already holding 5,000 Leads and Contacts (web-to-lead, by
hand, some with another leadsync's key), with scoring, MQL tasks, routing and the
read-back of what sales did. Each step's requests are counted by the emulator, by
endpoint; each step checks that every lead is in the CRM once.

The read-back of what sales did reaches back `changes_overlap_seconds` (300 by
default; --overlap here, so that the run is short) before the previous read began: the
sync after a backfill reads the backfill's own writes once, the next ones do not.

Usage: python3 bench/history.py [--leads 9237 100000] [--overlap 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from click.testing import CliRunner  # noqa: E402
from pipeline import CONFIG, REAL, repeat_file, use_emulator_login  # noqa: E402

from leadsync import config as cfg  # noqa: E402
from leadsync import log  # noqa: E402
from leadsync.cli import main as cli  # noqa: E402
from leadsync.sandbox.salesforce import SalesforceEmulator, Store  # noqa: E402
from leadsync.sandbox.salesforce.seed import seed_org  # noqa: E402
from leadsync.sandbox.server import running  # noqa: E402
from leadsync.state import db  # noqa: E402
from leadsync.sync.pipeline import Run  # noqa: E402
from leadsync.sync.wiring import wire  # noqa: E402

RULES = """
[scoring]
[[scoring.rules]]
name = "engaged"
category = "fit"
when = "total_visits >= 5"
points = 60

[lifecycle.mql]
total = 50

[tasks]
subject = "Follow up: lead $lead_number"

[routing]
fallback_owner = "0055g00000000DskAA"

[[routing.rules]]
name = "everyone"
when = "exists(lead_number)"
pool = "inbound"

[routing.pools.inbound]
members = [{ owner = "0055g00000000AnnAA" }, { owner = "0055g00000000BoxAA" }]

[feedback]
status_field = "Status"
accepted = ["Working - Contacted"]
"""


def project(work: Path, data: Path, overlap: float) -> Path:
    shutil.copy2(data, work / "xeducation_leads.csv")
    text = CONFIG.read_text(encoding="utf-8").replace(
        "timeout_seconds = 5", f"timeout_seconds = 30\nchanges_overlap_seconds = {overlap}"
    )
    text = text.replace("[crm.fields]", '[crm.fields]\nOwnerId = "owner"', 1)
    (work / "config.toml").write_text(RULES + text, encoding="utf-8")
    return work / "config.toml"


def sync(path: Path, state: str, app: SalesforceEmulator) -> tuple[Counter[str], object, float]:
    """One `leadsync sync`, in process: its requests by endpoint, summary and seconds."""
    before = Counter(app.stats)
    config = cfg.load(path, state_url=state)
    engine = db.make_engine(config.state_url)
    db.upgrade(engine)
    wiring = wire(config)
    start = time.perf_counter()
    try:
        summary = Run(wiring, engine).execute()
    finally:
        wiring.close()
        engine.dispose()
    assert summary.error is None and summary.failed == 0, summary
    return Counter(app.stats) - before, summary, time.perf_counter() - start


def adopt(path: Path, state: str, app: SalesforceEmulator) -> Counter[str]:
    before = Counter(app.stats)
    args = ["--log-level", "error", "--config", str(path), "--state-url", state]
    CliRunner().invoke(cli, [*args, "db", "upgrade"], catch_exceptions=False)
    result = CliRunner().invoke(cli, [*args, "reconcile", "--adopt"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Counter(app.stats) - before


def each_lead_once(app: SalesforceEmulator, leads: int) -> None:
    keyed = [r for r in app.store.records["Lead"].values() if r.get("LeadSync_Id__c")]
    numbers = Counter(r["LastName"] for r in keyed if r.get("Lead_Origin__c"))
    assert sum(numbers.values()) == leads and max(numbers.values()) == 1, "a lead twice"


def run(leads: int, overlap: float) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="leadsync-history-"))
    lines = []
    try:
        data = work / "data.csv"
        if leads == 9237:
            shutil.copy2(REAL, data)
        else:
            repeat_file(data, leads)
        path = project(work, data, overlap)
        state = f"sqlite:///{work / 'state.db'}"
        app = SalesforceEmulator(store=Store())
        seed_org(app.store, [], leads=3000, contacts=2000)
        with running(app) as url:
            os.environ["SANDBOX_URL"] = url
            steps: list[tuple[str, Counter[str], str]] = []
            first, s, t = sync(path, state, app)
            steps.append(
                (
                    "first sync",
                    first,
                    f"{s.created:,} created, {s.tasks_created:,} tasks, {t:.1f} s",
                )
            )
            each_lead_once(app, leads)
            time.sleep(overlap + 1)
            noop, s, t = sync(path, state, app)
            steps.append(("next sync (reads its writes)", noop, f"{t:.1f} s"))
            time.sleep(overlap + 1)
            quiet, s, t = sync(path, state, app)
            steps.append(("no-op sync", quiet, f"{t:.1f} s"))
            tasks = len(app.store.records["Task"])
            (work / "state.db").unlink()
            lost, s, t = sync(path, state, app)
            each_lead_once(app, leads)
            assert len(app.store.records["Task"]) == tasks, "a task twice"
            steps.append(
                (
                    "lost state db",
                    lost,
                    f"{s.created} created, {s.adopted:,} adopted, "
                    f"{s.tasks_created} new tasks, {t:.1f} s",
                )
            )
            (work / "state.db").unlink()
            adopted = adopt(path, state, app)
            steps.append(("reconcile --adopt", adopted, "rebuilds the state db from the CRM"))
            after, s, t = sync(path, state, app)
            each_lead_once(app, leads)
            steps.append(
                (
                    "sync after --adopt",
                    after,
                    f"{s.updated:,} updated, {s.tasks_created} new tasks, {t:.1f} s",
                )
            )
        for name, counts, note in steps:
            detail = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
            lines.append(f"  {name:<30} {sum(counts.values()):>6,} requests ({detail}); {note}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[9237, 100_000])
    parser.add_argument("--overlap", type=float, default=5.0)
    args = parser.parse_args()
    log.configure("warning", json=True)
    use_emulator_login()
    print(f"$ python3 bench/history.py --leads {' '.join(map(str, args.leads))}")
    for leads in args.leads:
        print(f"{leads:,} leads into an org holding 5,000 Leads and Contacts:")
        print(*run(leads, args.overlap), sep="\n")


if __name__ == "__main__":
    main()
