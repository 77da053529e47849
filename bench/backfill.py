"""Benchmark: a 100,000-lead backfill pushed to the Salesforce emulator through sObject
Collections and through Bulk API 2.0, both in this run.

The real export repeated to ``--leads`` rows (as in ``bench/pipeline.py``) is mapped,
merged and planned once per way, into a fresh emulator and state db; then the push is
timed and its requests counted by the emulator, by endpoint.

Usage: python3 bench/backfill.py [--leads 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pipeline import (  # noqa: E402
    CONFIG,
    REAL,
    repeat_file,
    requests_between,
    use_emulator_login,
)

from leadsync import config as cfg  # noqa: E402
from leadsync import log  # noqa: E402
from leadsync.ops.reconcile import owned_fields, reconcile  # noqa: E402
from leadsync.sandbox.salesforce import SalesforceEmulator, Store  # noqa: E402
from leadsync.sandbox.server import running  # noqa: E402
from leadsync.state import db  # noqa: E402
from leadsync.sync.pipeline import Run  # noqa: E402
from leadsync.sync.wiring import wire  # noqa: E402

WAYS = {"collections": "bulk_threshold = 0", "bulk": "bulk_threshold = 10000"}
RECONCILED: list[str] = []


def push(work: Path, data: Path, way: str) -> tuple[float, dict[str, int], int]:
    """Plan the backfill, then push it: (push seconds, requests by endpoint, leads created)."""
    folder = work / way
    folder.mkdir()
    shutil.copy2(data, folder / data.name)
    text = CONFIG.read_text(encoding="utf-8").replace("[crm.auth]", f"{WAYS[way]}\n[crm.auth]")
    (folder / "config.toml").write_text(text, encoding="utf-8")
    app = SalesforceEmulator(store=Store())
    with running(app) as url:
        os.environ["SANDBOX_URL"] = url
        config = cfg.load(folder / "config.toml", state_url=f"sqlite:///{folder / 'state.db'}")
        engine = db.make_engine(config.state_url)
        db.upgrade(engine)
        wiring = wire(config)
        Run(wiring, engine, push=False).execute()
        before = dict(app.stats)
        start = time.perf_counter()
        pushed = Run(wiring, engine).execute()
        seconds = time.perf_counter() - start
        wiring.close()
        requests = requests_between(before, app.stats)
        if way == "bulk":
            RECONCILED.append(reconcile_all(config, engine, app))
        engine.dispose()
    assert pushed.error is None and pushed.failed == 0, pushed
    assert pushed.bulk == (way == "bulk"), pushed
    return seconds, requests, pushed.created


def reconcile_all(config: cfg.Config, engine, app: SalesforceEmulator) -> str:
    """`leadsync reconcile` over the whole backfill: its requests and time."""
    wiring = wire(config)
    dest = wiring.destination
    owned = owned_fields(wiring.crm_map.direction, dest.external_id_field, set())
    before = sum(app.stats.values())
    start = time.perf_counter()
    report = reconcile(db.session_factory(engine), dest, owned, repair=False, run_id="bench")
    seconds = time.perf_counter() - start
    wiring.close()
    assert report.in_sync == report.checked, report
    return (
        f"reconcile    {report.checked:,} leads checked in {seconds:6.1f} s, all in step, "
        f"{sum(app.stats.values()) - before} requests (login, and one Bulk API query)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args()
    log.configure("warning", json=True)
    use_emulator_login()
    work = Path(tempfile.mkdtemp(prefix="leadsync-backfill-"))
    try:
        data = work / REAL.name
        repeat_file(data, args.leads)
        figures = {way: push(work, data, way) for way in WAYS}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"$ python3 bench/backfill.py --leads {args.leads}")
    print(f"leads: {args.leads:,} (the real export of {REAL.name}, repeated), into the emulator")
    for way, (seconds, requests, created) in figures.items():
        total = sum(requests.values())
        detail = ", ".join(f"{k} {v:,}" for k, v in sorted(requests.items()))
        print(
            f"{way:<12} {created:,} created in {seconds:6.1f} s = {created / seconds:8,.0f}/s, "
            f"{total:,} requests ({detail})"
        )
    (c_s, c_req, _), (b_s, b_req, _) = figures["collections"], figures["bulk"]
    print(
        f"ratio: Bulk API 2.0 sends {sum(c_req.values()) / sum(b_req.values()):.0f}x fewer "
        f"requests, in {b_s / c_s:.2f}x the push time of collections"
    )
    print(*RECONCILED, sep="\n")


if __name__ == "__main__":
    main()
