"""Benchmark: `leadsync report` over a million leads' history (issue 14: under 10 s and
300 MiB, aggregated in the database).

Writes a state db (SQLite, or PostgreSQL with --postgres URL) holding --leads leads
with a year of history: every lead an inquiry, 90% leads, 12% MQLs (each with a
follow-up SLA timer, two in three touched, some breached and reassigned), a third of
the MQLs accepted, a third of those converted, 3% recycled (by sales or for want of a
touch) and 1% disqualified; four sources, twenty campaigns, twelve owners. Then runs
`leadsync report` in a child process for each `--by`, and `report scoring`, and reports
wall time and peak RSS (the child's own, from ``wait4``), beside the floor measured in
the same run:
one plain pass over the stage history (``SELECT stage, count(*) ... GROUP BY stage``)
and `leadsync --help` (the start-up every command pays).

Usage: python3 bench/report.py [--leads 1000000] [--db PATH] [--postgres URL]
A db at --db that already holds the leads is used as it is (the build takes minutes).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from leadsync.state import db  # noqa: E402
from leadsync.state.models import Lead, SlaTimer, SourceRecord, StageHistory, table  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
START = NOW - timedelta(days=365)
SOURCES = ("web_forms", "hubspot", "csv_events", "webinars")
OWNERS = [f"0055g0000000{i:04d}AA" for i in range(12)]
CHUNK = 20_000


def build(url: str, leads: int, seed: int = 14) -> None:
    """The history of ``leads`` leads, written by plain executemany in chunks."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    rng = random.Random(seed)
    with engine.begin() as conn:
        for first in range(1, leads + 1, CHUNK):
            rows = [_lead(rng, i) for i in range(first, min(first + CHUNK, leads + 1))]
            conn.execute(insert(table(Lead)), [r[0] for r in rows])
            conn.execute(insert(table(SourceRecord)), [r[1] for r in rows])
            conn.execute(insert(table(StageHistory)), [h for r in rows for h in r[2]])
            timers = [r[3] for r in rows if r[3]]
            if timers:
                conn.execute(insert(table(SlaTimer)), timers)
    engine.dispose()


def _lead(rng: random.Random, i: int) -> tuple[dict, dict, list[dict], dict | None]:
    seen = START + timedelta(seconds=rng.randrange(365 * 86400))
    owner = rng.choice(OWNERS) if rng.random() < 0.6 else None
    history = [("inquiry", seen, "first seen")]
    t = seen
    stage, timer, back = "inquiry", None, None
    if rng.random() < 0.9:
        history.append(("lead", t, "meets the lead criteria"))
        stage = "lead"
        if rng.random() < 0.133:
            t += timedelta(hours=rng.expovariate(1 / 72))
            history.append(("mql", t, "score reached the MQL threshold"))
            stage = "mql"
            timer, touched = _timer(rng, i, owner, t)
            if touched is not None and rng.random() < 0.4:
                t = touched + timedelta(hours=rng.expovariate(1 / 24))
                history.append(("sal", t, "sales set Status to 'Working'"))
                stage = "sal"
                if rng.random() < 0.35:
                    t += timedelta(days=rng.expovariate(1 / 9))
                    history.append(("sql", t, "converted in the CRM"))
                    stage = "sql"
            elif timer["status"] == "recycled" or rng.random() < 0.15:
                t += timedelta(days=rng.expovariate(1 / 5))
                why = "not followed up: no first touch" if timer["status"] == "recycled" else (
                    f"rejected by sales: Status 'Unqualified' ({rng.choice(['budget', 'timing'])})"
                )  # fmt: skip
                history.append(("recycled", t, why))
                stage, back = "recycled", (t + timedelta(days=90)).date()
        elif rng.random() < 0.01:
            history.append(("disqualified", t, "disqualified: competitor"))
            stage = "disqualified"
    lead = {
        **Lead.blank(f"key-{i:08d}", None, seen, owner),
        "id": i,
        "profile": {"campaign": f"campaign-{rng.randrange(20):02d}"},
        "stage": stage,
        "revisit_on": back,
        "score_fit": rng.choice((0.0, 10.0, 25.0, 40.0)),
        "score_behaviour": float(rng.randrange(60)),
    }
    record = {
        "source": rng.choice(SOURCES),
        "external_id": f"r-{i}",
        "content_hash": "0" * 64,
        "lead_id": i,
        "seen_at": seen,
    }
    rows = [{"lead_id": i, "stage": s, "at": at, "reason": why} for s, at, why in history]
    return lead, record, rows, timer


def _timer(
    rng: random.Random, i: int, owner: str | None, start: datetime
) -> tuple[dict, datetime | None]:
    breaches = 0 if rng.random() < 0.7 else rng.choice((1, 1, 2))
    touched = start + timedelta(hours=rng.expovariate(1 / 10)) if rng.random() < 0.67 else None
    status = "met" if touched else ("recycled" if breaches == 2 else "open")
    timer = {
        "lead_id": i, "owner": owner, "task_key": f"task:{i}", "started_at": start,
        "due_at": start + timedelta(hours=4), "status": status, "reassignments": breaches,
        "touched_at": touched, "steps": [],
    }  # fmt: skip
    return timer, touched


def leads_in(url: str) -> int:
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(table(Lead))) or 0
    finally:
        engine.dispose()


def floor_s(url: str) -> float:
    """One plain pass over the stage history, grouped: what any report must at least read."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            started = time.perf_counter()
            conn.execute(text("SELECT stage, count(*) FROM stage_history GROUP BY stage")).all()
            return time.perf_counter() - started
    finally:
        engine.dispose()


def child(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MiB) of ``leadsync ARGS`` in its own process."""
    env = {**os.environ, "LEADSYNC_NOW": NOW.isoformat()}
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "leadsync", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"leadsync {' '.join(args)} failed: {err.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/leadsync-report-bench.db"))
    parser.add_argument("--postgres", metavar="URL", help="a database URL to build into")
    args = parser.parse_args()
    url = args.postgres or f"sqlite:///{args.db}"
    if leads_in(url) != args.leads:
        if args.postgres is None:
            args.db.unlink(missing_ok=True)
        started = time.perf_counter()
        build(url, args.leads)
        print(f"built {args.leads:,} leads' history in {time.perf_counter() - started:.0f} s")
    floor = floor_s(url)
    help_wall, _, _ = child(["--help"])
    print(
        f"floor: one grouped pass over the stage history {floor:.2f} s; start-up {help_wall:.2f} s"
    )
    print(f"{'report':<24}{'wall s':>8}{'x floor':>9}{'peak MiB':>10}")
    runs = [("whole", ["report"])]
    runs += [
        (f"--by {by}", ["report", "--by", by]) for by in ("owner", "week", "source", "campaign")
    ]
    runs.append(("scoring", ["report", "scoring"]))
    for name, argv in runs:
        wall, rss, _ = child(["--state-url", url, *argv, "--format", "json"])
        print(f"{name:<24}{wall:>8.2f}{wall / floor:>9.1f}{rss:>10.0f}")


if __name__ == "__main__":
    main()
