"""`leadsync demo --serve`: the CRM emulator and `leadsync run` in this process, a few
sample form submissions posted to the forms inbox, and how long each took to become a
follow-up task in the emulator. The service then keeps running until Ctrl-C, so that a
newcomer can post forms of their own and look at /metrics."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from leadsync import clock
from leadsync import config as cfg
from leadsync.connectors.webhook.formats import sign_generic
from leadsync.demo.run import emulator, prepare
from leadsync.service.process import Service
from leadsync.state import db
from leadsync.sync.wiring import wire

DEMO_SECRET = "leadsync-demo-forms-secret"
FORMS_SOURCE = """

# Added by `leadsync demo --serve`: the forms inbox at POST /forms/site.
[sources.site]
type = "webhook"
secret = "${FORMS_SECRET}"

[sources.site.fields]
email = { from = "email", transforms = ["email"], required = true }
first_name = "first_name"
last_name = "last_name"
company = "company"
title = "title"
employees = "employees"
country = { from = "country", transforms = [{ country = { unknown = "empty" } }] }

[sources.site.event]
type = "form_submit"
"""
SAMPLE_FORMS = [
    {"email": "ada.lovelace@engines.example", "first_name": "Ada", "last_name": "Lovelace",
     "company": "Analytical Engines", "title": "VP Engineering", "employees": "450",
     "country": "GB"},
    {"email": "grace@cobol.example", "first_name": "Grace", "last_name": "Hopper",
     "company": "Compilers Inc", "title": "CTO", "employees": "1200", "country": "US"},
    {"email": "alan@bletchley.example", "first_name": "Alan", "last_name": "Turing",
     "company": "Bletchley Labs", "title": "Head of Research", "employees": "300",
     "country": "GB"},
]  # fmt: skip
TASK_WAIT_SECONDS = 30


def serve_demo(workdir: Path, crm: str, listen: str, echo: Callable[[str], None]) -> int:
    """Run the demo service until a signal; its exit code."""
    workdir.mkdir(parents=True, exist_ok=True)
    with emulator(workdir, None, crm) as url:
        path = prepare(workdir, url, crm)
        path.write_text(path.read_text(encoding="utf-8") + FORMS_SOURCE, encoding="utf-8")
        os.environ["FORMS_SECRET"] = DEMO_SECRET
        config = cfg.load(path, state_url=f"sqlite:///{(workdir / 'state.db').resolve()}")
        engine = db.make_engine(config.state_url)
        db.upgrade(engine)
        service = Service(wire(config), engine, listen)
        host, port = service.address
        base = f"http://{host}:{port}"
        poster = threading.Thread(
            target=_post_samples, args=(base, url, crm, echo), name="demo-forms", daemon=True
        )
        poster.start()
        try:
            return service.serve()
        finally:
            engine.dispose()


def _post_samples(base: str, emulator_url: str, crm: str, echo: Callable[[str], None]) -> None:
    if not _wait_ready(base):
        echo("the service did not become ready within 30 s; see its log")
        return
    echo(f"leadsync run is listening on {base} (forms: POST {base}/forms/site)")
    for form in SAMPLE_FORMS:
        body = json.dumps(form).encode()
        headers = {
            "Content-Type": "application/json",
            # signed at the one clock's time, as the listener checks it
            "X-Leadsync-Signature": sign_generic(DEMO_SECRET, body, int(clock.now().timestamp())),
        }
        posted = time.monotonic()
        answer = requests.post(f"{base}/forms/site", data=body, headers=headers, timeout=10)
        who = f"{form['first_name']} {form['last_name']} ({form['title']}, {form['company']})"
        if answer.status_code >= 300:
            echo(f"  {who}: {answer.status_code} {answer.text}")
            continue
        task = _wait_for_task(emulator_url, crm, form["last_name"])
        took = time.monotonic() - posted
        if task is None:
            echo(f"  {who}: {answer.status_code}, no task after {TASK_WAIT_SECONDS} s")
        else:
            echo(f"  {who}: a follow-up task for {task} {took:.2f} s after the form was sent")
    echo(f"try: curl -s {base}/metrics | grep leadsync_form_to_crm; Ctrl-C stops the service")


def _wait_ready(base: str) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=1).ok:
                return True
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    return False


def _wait_for_task(emulator_url: str, crm: str, last_name: str) -> str | None:
    """The owner of the follow-up task naming ``last_name``, once the emulator holds it."""
    deadline = time.monotonic() + TASK_WAIT_SECONDS
    while time.monotonic() < deadline:
        for subject, owner in _tasks(emulator_url, crm):
            if last_name in subject:
                return owner
        time.sleep(0.05)
    return None


def _tasks(emulator_url: str, crm: str) -> list[tuple[str, Any]]:
    if crm == "hubspot":
        rows = requests.get(f"{emulator_url}/__sandbox/hubspot/records/tasks", timeout=10)
        return [
            (t["properties"].get("hs_task_subject", ""), t["properties"].get("hubspot_owner_id"))
            for t in rows.json()["results"]
        ]
    rows = requests.get(f"{emulator_url}/__sandbox/records/Task?fields=Subject,OwnerId", timeout=10)
    return [(t["Subject"] or "", t["OwnerId"]) for t in rows.json()["records"]]
