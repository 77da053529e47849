"""`leadsync demo`: the example config, the sample export, a Salesforce emulator, one sync.

Everything lives in one folder (``./leadsync-demo`` by default): the config the
demo wrote, the sample it read, the state db and the emulator's records, so
a second run finds the first one's state and writes nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path

from leadsync import config as cfg
from leadsync.sandbox.salesforce import Credentials, FaultPlan, SalesforceEmulator, Store
from leadsync.sandbox.server import running
from leadsync.state import db
from leadsync.sync.pipeline import Run
from leadsync.sync.summary import RunSummary
from leadsync.sync.wiring import wire

SAMPLE = "sample_leads.csv"


def example_text() -> str:
    return (resources.files("leadsync") / "config.example.toml").read_text(encoding="utf-8")


def sample_path() -> Path:
    return Path(str(resources.files("leadsync") / "demo" / SAMPLE))


def prepare(workdir: Path, sandbox_url: str) -> Path:
    """Write the demo's config (the example, pointed at the emulator) and sample into workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / SAMPLE).exists():
        shutil.copyfile(sample_path(), workdir / SAMPLE)
    text = example_text().replace(
        '# sandbox_url = "http://127.0.0.1:8765"', f'sandbox_url = "{sandbox_url}"'
    )
    path = workdir / "config.toml"
    path.write_text(text, encoding="utf-8")
    # The emulator's demo user; the example config reads these from the environment.
    creds = Credentials()
    os.environ["SF_USERNAME"] = creds.username
    os.environ["SF_PASSWORD"] = creds.password
    os.environ["SF_SECURITY_TOKEN"] = creds.security_token
    return path


@contextmanager
def emulator(workdir: Path, faults: str | None) -> Iterator[str]:
    store = Store(data_file=workdir / "sandbox-records.json")
    app = SalesforceEmulator(store=store, faults=FaultPlan.parse(faults))
    with running(app) as url:
        yield url


def run_demo(
    workdir: Path,
    *,
    sandbox_url: str | None = None,
    faults: str | None = None,
    on_push: Callable[[int, int], None] | None = None,
) -> RunSummary:
    ctx = nullcontext(sandbox_url) if sandbox_url else emulator(workdir, faults)
    with ctx as url:
        path = prepare(workdir, url)
        config = cfg.load(path, state_url=f"sqlite:///{(workdir / 'state.db').resolve()}")
        engine = db.make_engine(config.state_url)
        db.upgrade(engine)
        wiring = wire(config)
        try:
            return Run(wiring, engine, on_push=on_push).execute()
        finally:
            wiring.close()
            engine.dispose()
