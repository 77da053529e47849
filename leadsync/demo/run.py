"""`leadsync demo`: the example config, the sample export, a CRM emulator, one sync.

Everything lives in one folder (``./leadsync-demo`` by default): the config the
demo wrote, the sample it read, the state db and the emulator's records, so
a second run finds the first one's state and writes nothing.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import Any

from leadsync import clock
from leadsync import config as cfg
from leadsync.demo.sample import aged
from leadsync.sandbox.faults import FaultPlan
from leadsync.sandbox.hubspot import DEMO_TOKEN, HubSpotEmulator
from leadsync.sandbox.hubspot import Store as HubSpotStore
from leadsync.sandbox.marketo import CLIENT_ID as MARKETO_CLIENT_ID
from leadsync.sandbox.marketo import CLIENT_SECRET as MARKETO_CLIENT_SECRET
from leadsync.sandbox.marketo import MarketoEmulator
from leadsync.sandbox.marketo import Store as MarketoStore
from leadsync.sandbox.marketo.seed import seed as seed_marketo
from leadsync.sandbox.salesforce import Credentials, SalesforceEmulator, Store
from leadsync.sandbox.server import Emulators, running
from leadsync.state import db
from leadsync.sync.pipeline import Run
from leadsync.sync.summary import RunSummary
from leadsync.sync.wiring import wire

SAMPLE = "sample_leads.csv"
RECORDS = "sandbox-records.json"


def example_text(crm: str = "salesforce") -> str:
    name = "config.example.toml" if crm == "salesforce" else f"config.{crm}.example.toml"
    return (resources.files("leadsync") / name).read_text(encoding="utf-8")


def sample_path() -> Path:
    return Path(str(resources.files("leadsync") / "demo" / SAMPLE))


def write_sample(target: Path) -> None:
    """Copy the bundled sample to target, its times moved so that it ages from today:
    the demo decides the same whatever day it runs on."""
    text = sample_path().read_text(encoding="utf-8")
    target.write_text(aged(text, clock.now().date()), encoding="utf-8", newline="")


def prepare(workdir: Path, sandbox_url: str, crm: str = "salesforce", source: str = "csv") -> Path:
    """Write the demo's config (the example, pointed at the emulator) and sample into workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / SAMPLE).exists():
        write_sample(workdir / SAMPLE)
    text = example_text(crm).replace(
        '# sandbox_url = "http://127.0.0.1:8765"', f'sandbox_url = "{sandbox_url}"'
    )
    if source == "marketo":
        text = with_marketo_source(text, sandbox_url)
    path = workdir / "config.toml"
    path.write_text(text, encoding="utf-8")
    # The emulators' demo credentials; the example configs read them from the environment.
    creds = Credentials()
    os.environ["SF_CLIENT_ID"] = creds.client_id
    os.environ["SF_CLIENT_SECRET"] = creds.client_secret
    os.environ["SF_MY_DOMAIN"] = "leadsync-demo.my"
    os.environ["SF_USERNAME"] = creds.username
    os.environ["SF_PASSWORD"] = creds.password
    os.environ["SF_SECURITY_TOKEN"] = creds.security_token
    os.environ["HUBSPOT_TOKEN"] = DEMO_TOKEN
    os.environ["MARKETO_CLIENT_ID"] = MARKETO_CLIENT_ID
    os.environ["MARKETO_CLIENT_SECRET"] = MARKETO_CLIENT_SECRET
    return path


def with_marketo_source(text: str, sandbox_url: str) -> str:
    """The example config with Marketo (the emulator's) in place of the CSV source."""
    start = text.index("[sources.web_forms]")
    end = text.index("# ----", start)
    marketo = (resources.files("leadsync") / "demo" / "marketo_source.toml").read_text("utf-8")
    marketo = marketo.replace("http://127.0.0.1:8765", sandbox_url)
    return text[:start] + marketo + text[end:]


def marketo_emulator(faults: FaultPlan | None = None) -> MarketoEmulator:
    """A Marketo instance holding the sample's people and their history up to now."""
    store = MarketoStore()
    with sample_path().open(encoding="utf-8", newline="") as f:
        seed_marketo(store, csv.DictReader(f), clock.now())
    return MarketoEmulator(store=store, faults=faults or FaultPlan())


@contextmanager
def emulator(
    workdir: Path, faults: str | None, crm: str = "salesforce", source: str = "csv"
) -> Iterator[str]:
    plan = FaultPlan.parse(faults)
    app: Any
    if crm == "hubspot":
        app = HubSpotEmulator(store=HubSpotStore(data_file=workdir / RECORDS), faults=plan)
    else:
        app = SalesforceEmulator(store=Store(data_file=workdir / RECORDS), faults=plan)
    if source == "marketo":
        app = Emulators(app, marketo_emulator())
    with running(app) as url:
        yield url


def run_demo(
    workdir: Path,
    *,
    crm: str = "salesforce",
    source: str = "csv",
    sandbox_url: str | None = None,
    faults: str | None = None,
    progress: Any = None,
) -> RunSummary:
    """The demo's one sync; ``progress`` (cli.render.Progress) watches it on a terminal."""
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = nullcontext(sandbox_url) if sandbox_url else emulator(workdir, faults, crm, source)
    with ctx as url:
        path = prepare(workdir, url, crm, source)
        config = cfg.load(path, state_url=f"sqlite:///{(workdir / 'state.db').resolve()}")
        engine = db.make_engine(config.state_url)
        db.upgrade(engine)
        wiring = wire(config)
        try:
            watch = {"on_push": progress.push, "on_read": progress.read} if progress else {}
            return Run(wiring, engine, **watch).execute()
        finally:
            wiring.close()
            engine.dispose()
