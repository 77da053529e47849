"""Benchmark: a push's reads of a large backlog, with no CRM in the way.

A first load of ``--leads`` leads without its push (``bench/scale.py``'s file) leaves
that many upserts pending; they are then drained as the push drains them, a batch of
10,000 at a time: ``outbox.next_batch``, each op marked done (``Outcomes``), a commit.
Each batch is timed, its read apart, so that a read which grows with the backlog
(a sort of every pending op of its kind, as before migration 0011) shows as the
first batches' reads against the last ones'.

Usage: python3 bench/drain.py [--leads 300000] [--postgres URL|local]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pipeline import CONFIG, repeat_file, use_emulator_login  # noqa: E402
from scale import arguments, server, state_url_for  # noqa: E402

from leadsync import config as cfg  # noqa: E402
from leadsync import log  # noqa: E402
from leadsync.state import db, outbox  # noqa: E402
from leadsync.sync.pipeline import Run  # noqa: E402
from leadsync.sync.wiring import wire  # noqa: E402

BATCH = 10_000  # a Bulk API job's records, as the push reads them


def drained(engine: object) -> list[tuple[float, float]]:
    """(read, whole batch) seconds of each batch until the outbox is empty."""
    factory = db.session_factory(engine)
    times = []
    while True:
        start = time.perf_counter()
        with factory() as session:
            ops = outbox.next_batch(session, "crm", "upsert", BATCH)
            if not ops:
                return times
            read = time.perf_counter() - start
            outcomes = outbox.Outcomes()
            for op in ops:
                outcomes.done(op)
            outcomes.write(session)
            session.commit()
        times.append((read, time.perf_counter() - start))


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 300_000).parse_args()
    log.configure("warning", json=True)
    use_emulator_login()
    os.environ.setdefault("SANDBOX_URL", "http://127.0.0.1:9")  # no request is sent
    work = Path(tempfile.mkdtemp(prefix="leadsync-drain-", dir=ROOT.parent))
    try:
        repeat_file(work / "xeducation_leads.csv", args.leads)
        (work / "config.toml").write_text(CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
        with server(args.postgres) as url:
            config = cfg.load(work / "config.toml", state_url=state_url_for(url, work, "drain"))
            engine = db.make_engine(config.state_url)
            db.upgrade(engine)
            wiring = wire(config)
            Run(wiring, engine, push=False).execute()
            wiring.close()
            start = time.perf_counter()
            times = drained(engine)
            total = time.perf_counter() - start
            engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    state = "postgresql" if args.postgres else "sqlite"
    reads = [read * 1000 for read, _ in times]
    print(f"$ python3 bench/drain.py --leads {args.leads} ({state})")
    print(
        f"{len(times)} batches of {BATCH:,} drained in {total:.1f} s; a batch's read: "
        f"first three {statistics.mean(reads[:3]):.0f} ms, last three "
        f"{statistics.mean(reads[-3:]):.0f} ms, median {statistics.median(reads):.0f} ms"
    )


if __name__ == "__main__":
    main()
