"""Benchmark: a first sync of many leads, against its floor, in one run.

The real export repeated to ``--leads`` rows (``bench/pipeline.py``'s file), then:

1. **floor**: the CPU time of what no state db can save: the CSV source parsing and
   hashing the rows, the pure field mapping, the rules, and the planning functions
   (desired CRM values, the upsert payload and its key) of every lead;
2. **map + resolve + plan**: one ``Run(push=False)`` in this process, its CPU time as a
   ratio of the floor, and its rate over the first and the last 10% of pages (flat or
   not); bytes written by this process meanwhile (``write_bytes`` of /proc/self/io)
   per lead;
3. **first sync with the push**: ``leadsync sync`` in a child process into the
   Salesforce emulator served by another (Bulk API 2.0 above the threshold): its
   peak RSS (the child's own, from ``wait4``), wall time and requests;
4. **no-op syncs**: the same file again, then the file in another row order: wall
   time and requests;
5. **start-up**: ``leadsync --help`` against ``python -c pass``.

Usage: python3 bench/scale.py [--leads 100000] [--postgres URL]
       [--only floor,pipeline,sync,startup]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pipeline import CONFIG, repeat_file, use_emulator_login  # noqa: E402
from written import io_written, server_written  # noqa: E402

from leadsync import clock, log  # noqa: E402
from leadsync import config as cfg  # noqa: E402
from leadsync.rules.decide import decide  # noqa: E402
from leadsync.sandbox import postgres  # noqa: E402
from leadsync.state import db  # noqa: E402
from leadsync.sync.pipeline import Run, fewer_gc_passes  # noqa: E402
from leadsync.sync.plan import op_key, upsert_payload  # noqa: E402
from leadsync.sync.resolve import lead_key  # noqa: E402
from leadsync.sync.wiring import Wiring, wire  # noqa: E402

SECTIONS = ("floor", "pipeline", "sync", "startup")


def floor(wiring: Wiring, now: Any) -> tuple[float, int]:
    """CPU seconds of the pure work, and the leads it planned."""
    ((name, (source, smap)),) = wiring.sources.items()
    start = time.process_time()
    with fewer_gc_passes():  # as a run has it: the same work, the same collector
        planned = _floor_pages(wiring, name, source, smap, now)
    return time.process_time() - start, planned


def _floor_pages(wiring: Wiring, name: str, source: Any, smap: Any, now: Any) -> int:
    crm_map, dest, rules = wiring.crm_map, wiring.destination, wiring.rules
    planned = 0
    for page in source.read(None, wiring.config.settings.sync.chunk_size):
        for rec in page.records:
            profile = smap.apply(rec.data, [])
            key = lead_key(name, rec.external_id, profile.get("email"))
            fields = {}
            if rules.any:
                fields = decide(rules, profile, [], [], now).fields
            payload = upsert_payload(
                external_id_field=dest.external_id_field,
                lead_key=key,
                desired=crm_map.desired({**profile, **fields}),
                last=None,
                direction=crm_map.direction,
            )
            if payload is not None:
                op_key(dest.name, planned, payload, "new")
                planned += 1
    return planned


def pipeline(wiring: Wiring, engine: Any, leads: int) -> dict[str, Any]:
    """CPU time of a first `Run(push=False)`, its rate over the first and the last tenth
    of its pages, and the bytes it wrote. A page's CPU time runs from the commit before
    it to its own, as the run reports it (`on_read`): the source reads a page ahead in a
    thread of its own, so its reading is timed as the process's, beside the page before."""
    ((source, _),) = wiring.sources.values()
    marks: list[tuple[float, int]] = []
    read = source.read

    def read_marked(*args: Any, **kwargs: Any) -> Iterator[Any]:
        marks.append((time.process_time(), 0))  # the run's set-up before is no page's
        return read(*args, **kwargs)

    source.read = read_marked  # type: ignore[method-assign]

    def written() -> tuple[int, int | None]:
        return (io_written(), None) if engine.dialect.name == "sqlite" else server_written(engine)

    before, cpu = written(), time.process_time()
    summary = Run(
        wiring,
        engine,
        push=False,
        on_read=lambda _, count: marks.append((time.process_time(), count)),
    ).execute()
    cpu, after = time.process_time() - cpu, written()
    assert summary.error is None and summary.planned_creates == leads, summary
    # Each page's CPU time and records (a file whose rows fill the last page ends with an
    # empty one: not a page's rate).
    pages = [(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(marks) if b[1] > a[1]]
    tenth = max(1, len(pages) // 10)

    def rate(part: list[tuple[float, int]]) -> float:
        return sum(n for _, n in part) / sum(t for t, _ in part)

    return {
        "cpu": cpu,
        "first": rate(pages[:tenth]),
        "last": rate(pages[-tenth:]),
        "bytes_per_lead": (after[0] - before[0]) / leads,
        "kernel_per_lead": (
            None if after[1] is None or before[1] is None else (after[1] - before[1]) / leads
        ),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_emulator(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadsync.cli", "sandbox", "serve", "--port", str(port)],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/__sandbox/stats", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the emulator did not answer within 30 s")


def cli_sync(work: Path, env: dict[str, str]) -> dict[str, Any]:
    """`leadsync sync --json` in a child: its summary, wall time and peak RSS (MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadsync.cli", "--config", "config.toml", "sync", "--json"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    summary = json.loads(out)
    assert os.waitstatus_to_exitcode(status) == 0, summary
    return {**summary, "wall": wall, "rss_mib": usage.ru_maxrss / 1024}


def reorder(path: Path, seed: int = 7) -> None:
    """The same rows in another order (header first), as a re-export might give them."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    body = lines[1:]
    random.Random(seed).shuffle(body)
    path.write_text(lines[0] + "".join(body), encoding="utf-8")


def syncs(work: Path, data: Path, state_url: str, leads: int) -> list[str]:
    folder = work / "cli"
    folder.mkdir()
    shutil.copy2(data, folder / data.name)
    shutil.copy2(work / "config.toml", folder / "config.toml")
    emulator, url = serve_emulator(folder)
    env = {**as_installed(), "SANDBOX_URL": url, "LEADSYNC_STATE_URL": state_url}
    try:
        subprocess.run(
            [sys.executable, "-m", "leadsync.cli", "db", "upgrade"],
            cwd=folder,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        first = cli_sync(folder, env)
        # Each no-op several times, its median reported (the machine is shared): the same
        # file five times, then three exports of the same rows, each in another order.
        again = [cli_sync(folder, env) for _ in range(5)]
        reordered = []
        for seed in range(3):
            reorder(folder / data.name, seed)
            reordered.append(cli_sync(folder, env))
    finally:
        emulator.terminate()
        emulator.wait(10)
    assert first["created"] == leads, first
    for run in again + reordered:
        assert run["created"] == run["updated"] == run["api_calls"] == 0, run
    return [
        f"first sync (Bulk API 2.0 push): {first['wall']:.1f} s wall, peak RSS "
        f"{first['rss_mib']:,.0f} MiB, {first['api_calls']} requests",
        f"no-op sync, same file: {walls(again)}, 0 requests",
        f"no-op sync, rows reordered: {walls(reordered)}, 0 requests",
    ]


def walls(runs: list[dict[str, Any]]) -> str:
    """The runs' median wall time, and their range."""
    times = sorted(run["wall"] for run in runs)
    spread = f"{times[0]:.2f}-{times[-1]:.2f}"
    return f"{statistics.median(times):.2f} s (median of {len(times)}; {spread})"


def as_installed() -> dict[str, str]:
    """The environment for the timed children, with Python's bytecode cache as `pip
    install .` leaves it: a workplace that sets PYTHONDONTWRITEBYTECODE (this one does)
    would have every start compile leadsync's modules anew, which no installed copy
    does (0.05-0.1 s a start here)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def startup() -> str:
    def median_wall(args: list[str]) -> float:
        times = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=as_installed())
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    bare = median_wall([sys.executable, "-c", "pass"])
    help_s = median_wall([sys.executable, "-m", "leadsync.cli", "--help"])
    return f"leadsync --help: {help_s:.3f} s (python -c pass: {bare:.3f} s)"


def state_url_for(server: str | None, work: Path, name: str) -> str:
    """A fresh state db: a SQLite file, or a new database on the PostgreSQL server given."""
    if server is None:
        return f"sqlite:///{work / f'{name}.db'}"
    from sqlalchemy import create_engine, text

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def server(given: str | None) -> Iterator[str | None]:
    if given != "local":
        yield given
        return
    bindir = postgres.binaries()
    if bindir is None:
        raise SystemExit("no PostgreSQL binaries here (apt-get install postgresql)")
    with postgres.throwaway_server(bindir) as url:
        yield url


def arguments(description: str, leads: int) -> argparse.ArgumentParser:
    """The options every state-db benchmark takes: how many leads, and which server."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--leads", type=int, default=leads)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server to hold the state dbs, or `local` for a throwaway one "
        "from the local binaries, as the tests start it (default: SQLite files)",
    )
    return parser


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], 100_000)
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections to run")
    args = parser.parse_args()
    only = set(args.only.split(","))
    log.configure("warning", json=True)
    work = Path(tempfile.mkdtemp(prefix="leadsync-scale-", dir=ROOT.parent))
    state = "postgresql" if args.postgres else "sqlite"
    lines = [f"$ python3 bench/scale.py --leads {args.leads} --only {args.only} ({state})"]
    try:
        with server(args.postgres) as url:
            lines += run(work, args.leads, url, only)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))


def run(work: Path, leads: int, server: str | None, only: set[str]) -> list[str]:
    data = work / "xeducation_leads.csv"
    repeat_file(data, leads)
    (work / "config.toml").write_text(CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    use_emulator_login()
    os.environ.setdefault("SANDBOX_URL", "http://127.0.0.1:9")  # not called before the push
    lines = [f"leads: {leads:,}"]
    if "floor" in only or "pipeline" in only:
        config = cfg.load(work / "config.toml", state_url=state_url_for(server, work, "scale_run"))
        wiring = wire(config)
        floor_s, planned = floor(wiring, clock.now())
        assert planned == leads, planned
        lines.append(f"floor (parse, map, rules, plan; no db): {floor_s:.2f} CPU-s")
        if "pipeline" in only:
            engine = db.make_engine(config.state_url)
            db.upgrade(engine)
            p = pipeline(wiring, engine, leads)
            engine.dispose()
            lines.append(
                f"map + resolve + plan: {p['cpu']:.2f} CPU-s = {p['cpu'] / floor_s:.2f}x "
                f"the floor; {leads / p['cpu']:,.0f} leads per CPU-s; first 10% of pages "
                f"{p['first']:,.0f}/CPU-s, last 10% {p['last']:,.0f}/CPU-s "
                f"(last/first {p['last'] / p['first']:.2f})"
            )
            if p["kernel_per_lead"] is None:
                lines.append(f"state db bytes written: {p['bytes_per_lead']:,.0f} per lead")
            else:
                lines.append(
                    f"state db bytes written: {p['bytes_per_lead']:,.0f} per lead (WAL and "
                    f"pages, by the server's count); {p['kernel_per_lead']:,.0f} by the "
                    "kernel's count of the server's processes"
                )
        wiring.close()
    if "sync" in only:
        lines += syncs(work, data, state_url_for(server, work, "scale_sync"), leads)
    if "startup" in only:
        lines.append(startup())
    return lines


if __name__ == "__main__":
    main()
