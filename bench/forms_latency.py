"""Benchmark: speed to lead. Signed form submissions posted into `leadsync run`, timed
from the POST to the follow-up Task visible in the Salesforce emulator.

The emulator (`leadsync sandbox serve`) and the service (`leadsync run`) run as child
processes, as they would in production; this process posts at a fixed rate for a
while at each rate and polls the emulator's Tasks (every 50 ms, subjects only).
Every submission is a VP, so each becomes a qualified lead with a task. Prints p50,
p95, p99 and the maximum per rate, requests to the CRM per submission, and checks
that every submission became exactly one Lead and one Task (nothing lost, nothing
twice). The anchors beside it: HubSpot's Salesforce sync checks every 15 minutes,
Marketo's every 5.

Usage: python3 bench/forms_latency.py [--rates 1,10,50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from leadsync.sandbox.salesforce import CRM_SECTION, login_env

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-forms-secret"
CONFIG = (
    """
[sources.site]
type = "webhook"
secret = "${FORMS_SECRET}"
[sources.site.fields]
email = { from = "email", transforms = ["email"], required = true }
last_name = "last_name"
title = "title"
company = "company"
[sources.site.event]
type = "form_submit"

[scoring]
[[scoring.rules]]
name = "vp"
category = "fit"
when = 'title == "VP"'
points = 100
[lifecycle.mql]
total = 50
[tasks]
subject = "Follow up: $last_name"
due_in_hours = 4
[routing]
fallback_owner = "0055g00000000AnnAA"

"""
    + CRM_SECTION
    + """[crm.fields]
Email = "email"
LastName = "last_name"
Company = { from = "company", transforms = [{ default = "[none]" }] }
Title = "title"
OwnerId = "owner"
"""
)


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "leadsync.cli", "--log-level", "warning", *args]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer within {seconds}s")


def signed(fields: dict) -> tuple[bytes, dict]:
    body = json.dumps(fields).encode()
    at = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Leadsync-Signature": f"t={at},v1={digest}"}


class Watcher(threading.Thread):
    """Polls the emulator's Tasks; remembers when each subject was first seen."""

    def __init__(self, emulator: str) -> None:
        super().__init__(daemon=True)
        self.emulator = emulator
        self.seen: dict[str, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        url = f"{self.emulator}/__sandbox/records/Task?fields=Subject"
        while not self.halt.is_set():
            rows = requests.get(url, timeout=30).json()["records"]
            now = time.monotonic()
            for row in rows:
                self.seen.setdefault(row["Subject"], now)
            self.halt.wait(0.05)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def crm_requests(emulator: str) -> int:
    return requests.get(f"{emulator}/__sandbox/stats", timeout=10).json()["total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    work = Path(tempfile.mkdtemp(prefix="leadsync-forms-bench-"))
    (work / "config.toml").write_text(CONFIG, encoding="utf-8")
    sandbox_port, service_port = port(), port()
    emulator = f"http://127.0.0.1:{sandbox_port}"
    service = f"http://127.0.0.1:{service_port}"
    env = {
        **os.environ,
        **login_env(emulator),
        "FORMS_SECRET": SECRET,
        "LEADSYNC_CONFIG": str(work / "config.toml"),
        "LEADSYNC_STATE_URL": f"sqlite:///{work / 'state.db'}",
    }
    env.pop("LEADSYNC_NOW", None)  # the wall clock: signatures are checked against it
    children = [subprocess.Popen(cli("sandbox", "serve", "--port", str(sandbox_port)), env=env)]
    try:
        wait_for(f"{emulator}/__sandbox/stats")
        subprocess.run(cli("db", "upgrade"), env=env, check=True, capture_output=True)
        log = (work / "run.log").open("wb")
        children.append(
            subprocess.Popen(
                cli("run", "--listen", f"127.0.0.1:{service_port}"),
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        wait_for(f"{service}/healthz")
        time.sleep(1.0)  # the jobs' first runs at start (the CRM login) are not the forms'
        watcher = Watcher(emulator)
        watcher.start()
        print(f"# python3 bench/forms_latency.py --rates {args.rates} --seconds {args.seconds:g}")
        print(f"# {os.cpu_count()} cores; emulator, service and this poster share them")
        print(
            f"{'rate/s':>7} {'sent':>6} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} {'max s':>7} "
            f"{'req/sub':>8} {'leads':>6} {'tasks':>6}"
        )
        for rate in rates:
            report_rate(rate, args.seconds, service, emulator, watcher)
        watcher.halt.set()
    finally:
        for child in reversed(children):
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=60)


def report_rate(rate: float, seconds: float, service: str, emulator: str, watcher: Watcher) -> None:
    count = int(rate * seconds)
    tag = f"r{rate:g}"
    before = crm_requests(emulator)
    posted: dict[str, float] = {}
    session = requests.Session()
    start = time.monotonic()
    for i in range(count):
        due = start + i / rate
        time.sleep(max(0.0, due - time.monotonic()))
        name = f"{tag}-{i}"
        body, headers = signed(
            {"email": f"{name}@bench.example", "last_name": name, "title": "VP", "company": "B"}
        )
        posted[f"Follow up: {name}"] = time.monotonic()
        answer = session.post(f"{service}/forms/site", data=body, headers=headers, timeout=30)
        if answer.status_code != 202:
            raise SystemExit(f"submission {name}: {answer.status_code} {answer.text}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(s not in watcher.seen for s in posted):
        time.sleep(0.1)
    lost = [s for s in posted if s not in watcher.seen]
    latencies = [watcher.seen[s] - t for s, t in posted.items() if s in watcher.seen]
    used = crm_requests(emulator) - before
    leads = requests.get(f"{emulator}/__sandbox/records/Lead?fields=LastName", timeout=30).json()
    tasks = requests.get(f"{emulator}/__sandbox/records/Task?fields=Subject", timeout=30).json()
    lead_names = [r["LastName"] for r in leads["records"] if r["LastName"].startswith(tag + "-")]
    task_subjects = [r["Subject"] for r in tasks["records"] if r["Subject"] in posted]
    print(
        f"{rate:>7g} {count:>6} {statistics.median(latencies):>7.2f} "
        f"{percentile(latencies, 0.95):>7.2f} {percentile(latencies, 0.99):>7.2f} "
        f"{max(latencies):>7.2f} {used / count:>8.2f} {len(lead_names):>6} {len(task_subjects):>6}"
        + (f"  LOST {len(lost)}" if lost else "")
        + (
            "  TWICE"
            if len(set(lead_names)) != len(lead_names)
            or len(set(task_subjects)) != len(task_subjects)
            else ""
        )
    )


if __name__ == "__main__":
    main()
