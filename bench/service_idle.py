"""Benchmark: `leadsync run` with no work to do must idle (issue 12: under 1% of a core).

Starts the Salesforce emulator and the service as child processes, with a CSV source
synced every 30 s that has nothing new, a forms inbox nobody posts to, the sweep and
the re-score; lets it settle, then reads the service's CPU time (/proc/<pid>/stat)
over a window. Beside it, the baseline measured in the same run: a Python process
that only sleeps.

Usage: python3 bench/service_idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from leadsync.sandbox.salesforce import CRM_SECTION, login_env

CONFIG = (
    """
[sources.export]
type = "csv"
path = "leads.csv"
external_id = "id"
schedule = "30s"
[sources.export.fields]
email = { from = "email", required = true }
last_name = "last"

[sources.site]
type = "webhook"
secret = "${FORMS_SECRET}"
[sources.site.fields]
email = { from = "email", required = true }

[scoring]
[[scoring.rules]]
name = "form"
category = "behaviour"
when = 'event.type == "form_submit"'
points = 10

[lifecycle.mql]
total = 50

"""
    + CRM_SECTION
    + """[crm.fields]
Email = "email"
LastName = "last_name"
Company = { from = "last_name", transforms = [{ default = "[none]" }] }
"""
)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def runs(metrics: str) -> float:
    """Job runs so far, as the service's /metrics counts them."""
    text = requests.get(metrics, timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("leadsync_job_runs_total{")
    )


def share(pid: int, seconds: float) -> float:
    before, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leadsync-idle-bench-"))
    (work / "config.toml").write_text(CONFIG, encoding="utf-8")
    rows = "".join(f"{i},p{i}@x.example,Lee{i}\n" for i in range(1000))
    (work / "leads.csv").write_text("id,email,last\n" + rows, encoding="utf-8")
    sandbox_port, service_port = port(), port()
    env = {
        **os.environ,
        **login_env(f"http://127.0.0.1:{sandbox_port}"),
        "FORMS_SECRET": "idle-bench",
        "LEADSYNC_CONFIG": str(work / "config.toml"),
        "LEADSYNC_STATE_URL": f"sqlite:///{work / 'state.db'}",
    }
    cli = [sys.executable, "-m", "leadsync.cli", "--log-level", "warning"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    children = [
        subprocess.Popen([*cli, "sandbox", "serve", "--port", str(sandbox_port)], env=env, **quiet)
    ]  # type: ignore[call-overload]
    try:
        wait_for(f"http://127.0.0.1:{sandbox_port}/__sandbox/stats")
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        service = subprocess.Popen(
            [*cli, "run", "--listen", f"127.0.0.1:{service_port}"], env=env, **quiet
        )
        children.append(service)
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        children.append(sleeper)
        metrics = f"http://127.0.0.1:{service_port}/metrics"
        wait_for(metrics)
        # The first runs at start (1,000 leads written to the CRM) are work, not idling.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and runs(metrics) < 4:  # export, site, sweep, rescore
            time.sleep(0.5)
        time.sleep(2)
        print(f"# python3 bench/service_idle.py --seconds {args.seconds:g}")
        before = runs(metrics)
        idle = share(service.pid, args.seconds)
        done = runs(metrics) - before
        base = share(sleeper.pid, 5)
        print(
            f"leadsync run, idle, over {args.seconds:g} s ({done:g} scheduled runs of the "
            f"unchanged CSV source within): {idle:.2%} of one core"
        )
        print(f"a sleeping Python process (baseline): {base:.2%} of one core")
    finally:
        for child in reversed(children):
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=60)


if __name__ == "__main__":
    main()
