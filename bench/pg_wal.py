"""Benchmark: where a first load's bytes go on PostgreSQL, record type by record type.

A first load of ``--leads`` leads without its push (``bench/scale.py``'s file and
config) into a fresh database, then what the server wrote for it, per lead:

- by the server's count (``written.server_written``, as ``scale.py`` gives it) and by
  the kernel's;
- its WAL, by record type, from ``pg_waldump --stats=record`` over the load's WAL (the
  server keeps it: ``wal_keep_size`` is raised for the run);
- the data pages written, by who wrote them (``pg_stat_bgwriter``: the checkpointer,
  the background writer, the backends; a backend's count includes each page it added
  to a table, written as zeros first);
- what is left: each filled table's rows and indexes.

It reads the server's WAL files, so it needs the server on this machine and the right
to read its data directory (as ``--postgres local`` gives it).

Usage: python3 bench/pg_wal.py [--leads 100000] [--postgres URL|local]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pipeline import CONFIG, repeat_file, use_emulator_login  # noqa: E402
from scale import arguments, server, state_url_for  # noqa: E402
from written import server_written  # noqa: E402

from leadsync import config as cfg  # noqa: E402
from leadsync import log  # noqa: E402
from leadsync.sandbox import postgres  # noqa: E402
from leadsync.state import db  # noqa: E402
from leadsync.sync.pipeline import Run  # noqa: E402
from leadsync.sync.wiring import wire  # noqa: E402

FILLED = ("leads", "source_records", "outbox")
WRITERS = ("buffers_checkpoint", "buffers_clean", "buffers_backend")


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 100_000).parse_args()
    args.postgres = args.postgres or "local"
    log.configure("warning", json=True)
    use_emulator_login()
    os.environ.setdefault("SANDBOX_URL", "http://127.0.0.1:9")  # no push: never asked
    work = Path(tempfile.mkdtemp(prefix="leadsync-pgwal-", dir=ROOT.parent))
    try:
        with server(args.postgres) as url:
            lines = measured(work, args.leads, str(url))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join([f"$ python3 bench/pg_wal.py --leads {args.leads}", *lines]))


def measured(work: Path, leads: int, url: str) -> list[str]:
    from sqlalchemy import text

    data = work / "xeducation_leads.csv"
    repeat_file(data, leads)
    (work / "config.toml").write_text(CONFIG.read_text())
    state = state_url_for(url, work, "pg_wal")
    wiring = wire(cfg.load(work / "config.toml", state_url=state))
    engine = db.make_engine(state)
    db.upgrade(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER SYSTEM SET wal_keep_size = '64GB'"))
        conn.execute(text("SELECT pg_reload_conf()"))
        wal_dir = Path(conn.execute(text("SHOW data_directory")).scalar()) / "pg_wal"

    def position() -> tuple[str, tuple[int, ...]]:
        with engine.connect() as conn:
            lsn = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar()
            pages = conn.execute(text(f"SELECT {', '.join(WRITERS)} FROM pg_stat_bgwriter"))
            return str(lsn), tuple(pages.one())

    before = server_written(engine)
    start, pages_before = position()
    wall = time.perf_counter()
    summary = Run(wiring, engine, push=False).execute()
    wall = time.perf_counter() - wall
    after = server_written(engine)
    end, pages_after = position()
    assert summary.error is None and summary.planned_creates == leads, summary

    def each(n: float) -> str:
        return f"{n / leads:,.0f}"

    kernel = "" if after[1] is None or before[1] is None else each(after[1] - before[1])
    lines = [
        f"leads: {leads:,}; first load {wall:.1f} s wall",
        f"bytes a lead: {each(after[0] - before[0])} by the server's count, "
        f"{kernel or '(not readable)'} by the kernel's",
        "pages written, bytes a lead: "
        + ", ".join(
            f"{writer.removeprefix('buffers_')} {each((b - a) * 8192)}"
            for writer, a, b in zip(WRITERS, pages_before, pages_after, strict=True)
        ),
        "WAL by record type, bytes a lead (records a lead):",
        *wal_by_type(wal_dir, start, end, leads),
        "left at the end, bytes a lead (rows / indexes):",
    ]
    with engine.connect() as conn:
        for name in FILLED:
            rows, indexes = conn.execute(
                text("SELECT pg_relation_size(:t), pg_indexes_size(:t)"), {"t": name}
            ).one()
            lines.append(f"  {name}: {each(rows)} / {each(indexes)}")
    engine.dispose()
    wiring.close()
    return lines


def wal_by_type(wal_dir: Path, start: str, end: str, leads: int) -> list[str]:
    """``pg_waldump``'s record statistics over [start, end), the larger types first."""
    bindir = postgres.binaries()
    if bindir is None:
        return ["  (no pg_waldump here)"]
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    dump = [str(bindir / "pg_waldump"), "-p", str(wal_dir), "-s", start, "-e", end]
    out = subprocess.run(
        [*as_owner, *dump, "--stats=record"], capture_output=True, text=True, check=True
    ).stdout
    # "Heap2/MULTI_INSERT+INIT  14202 ( 1.94)  100907768 ( 63.24)  0 ( 0.00)  100907768 (...)"
    # (type, records, record bytes, full-page image bytes, the two together)
    row = re.compile(r"^(\S+/\S+)\s+(\d+)" + r"\s+\(\s*[\d.]+\)\s+(\d+)" * 3)
    types = sorted(
        ((int(m[5]), int(m[2]), m[1]) for m in map(row.match, out.splitlines()) if m),
        reverse=True,
    )
    shown = [t for t in types if t[0] >= leads]  # a byte a lead or more
    lines = [f"  {name}: {size / leads:,.0f} ({count / leads:.2f})" for size, count, name in shown]
    rest = sum(size for size, _, _ in types) - sum(size for size, _, _ in shown)
    return [*lines, f"  the rest: {rest / leads:,.0f}"]


if __name__ == "__main__":
    main()
