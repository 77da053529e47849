"""Shared fixtures: an in-process Salesforce emulator, configs over real files, PostgreSQL."""

from __future__ import annotations

import csv
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from leadsync import clock
from leadsync import config as cfg
from leadsync.cli import main
from leadsync.demo.run import prepare
from leadsync.sandbox import postgres
from leadsync.sandbox.hubspot import DEMO_TOKEN, HubSpotEmulator, RateLimits
from leadsync.sandbox.hubspot import Store as HubSpotStore
from leadsync.sandbox.marketo import Limits as MarketoLimits
from leadsync.sandbox.marketo import MarketoEmulator
from leadsync.sandbox.marketo import Store as MarketoStore
from leadsync.sandbox.salesforce import Credentials, FaultPlan, SalesforceEmulator, Store
from leadsync.sandbox.server import Emulators, running
from leadsync.state import db
from leadsync.sync.pipeline import Run
from leadsync.sync.summary import RunSummary
from leadsync.sync.wiring import wire

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
XEDUCATION = ROOT.parent / "shared" / "data" / "xeducation_leads.csv"
XEDUCATION_ROWS = 9237
# The one clock's time in every test (leadsync.clock): no result depends on the day the
# suite runs. A test about another day sets LEADSYNC_NOW itself.
TEST_NOW = "2026-11-23T12:00:00Z"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The demo's `prepare` and `--now` write os.environ themselves: each test gets it back.
    saved = dict(os.environ)
    monkeypatch.setenv("LEADSYNC_NOW", TEST_NOW)
    yield TEST_NOW
    os.environ.clear()
    os.environ.update(saved)


@dataclass
class Sandbox:
    app: SalesforceEmulator
    url: str

    def records(self, obj: str = "Lead") -> list[dict]:
        return requests.get(f"{self.url}/__sandbox/records/{obj}", timeout=10).json()["records"]

    def stats(self) -> dict:
        return requests.get(f"{self.url}/__sandbox/stats", timeout=10).json()

    def faults(self, spec: str) -> None:
        self.app.faults = FaultPlan.parse(spec)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    app = SalesforceEmulator(store=Store())
    creds = Credentials()
    monkeypatch.setenv("SF_USERNAME", creds.username)
    monkeypatch.setenv("SF_PASSWORD", creds.password)
    monkeypatch.setenv("SF_SECURITY_TOKEN", creds.security_token)
    # The example config logs in by OAuth client credentials.
    monkeypatch.setenv("SF_CLIENT_ID", creds.client_id)
    monkeypatch.setenv("SF_CLIENT_SECRET", creds.client_secret)
    monkeypatch.setenv("SF_MY_DOMAIN", "leadsync-demo.my")
    with running(app) as url:
        monkeypatch.setenv("SANDBOX_URL", url)
        yield Sandbox(app, url)


@dataclass
class HubSpotSandbox:
    app: HubSpotEmulator
    url: str

    @property
    def store(self) -> HubSpotStore:
        return self.app.store

    def records(self, obj: str = "contacts") -> list[dict]:
        answer = requests.get(f"{self.url}/__sandbox/hubspot/records/{obj}", timeout=30)
        return answer.json()["results"]

    def stats(self) -> dict:
        return requests.get(f"{self.url}/__sandbox/hubspot/stats", timeout=10).json()

    def faults(self, spec: str) -> None:
        self.app.faults = FaultPlan.parse(spec)


@pytest.fixture
def hubspot(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotSandbox]:
    """The HubSpot emulator, its rate limits off unless a test sets them."""
    app = HubSpotEmulator(store=HubSpotStore(), limits=RateLimits.parse("off"))
    monkeypatch.setenv("HUBSPOT_TOKEN", DEMO_TOKEN)
    with running(app) as url:
        monkeypatch.setenv("HUBSPOT_URL", url)
        yield HubSpotSandbox(app, url)


def hubspot_options(url: str, **extra) -> dict:
    """Connector options for the emulator; pacing high, so tests about something else
    never wait for it."""
    return {
        "sandbox_url": url,
        "auth": {"access_token": DEMO_TOKEN},
        "rate_limit_per_10s": 100_000,
        "search_per_second": 10_000,
        **extra,
    }


@dataclass
class Project:
    """A config file, its data and a state db in a temporary folder."""

    dir: Path
    config_path: Path
    state_url_override: str | None = None

    @property
    def state_url(self) -> str:
        return self.state_url_override or f"sqlite:///{self.dir / 'state.db'}"

    def config(self) -> cfg.Config:
        return cfg.load(self.config_path, state_url=self.state_url)

    def sync(self, **kwargs) -> RunSummary:
        config = self.config()
        engine = db.make_engine(config.state_url)
        db.upgrade(engine)
        wiring = wire(config)
        try:
            return Run(wiring, engine, **kwargs).execute()
        finally:
            wiring.close()
            engine.dispose()


def cli_sync(project: Project, *args: str) -> SimpleNamespace:
    """`leadsync db upgrade` then `leadsync sync --json` through the command line (in
    process): the summary as the scheduler reads it, its keys as attributes."""
    common = ["--log-json", "--log-level", "error", "--config", str(project.config_path)]
    common += ["--state-url", project.state_url]
    runner = CliRunner()
    runner.invoke(main, [*common, "db", "upgrade"], catch_exceptions=False)
    result = runner.invoke(main, [*common, "sync", "--json", *args], catch_exceptions=False)
    summary = json.loads(result.stdout)
    assert result.exit_code == {"ok": 0, "partial": 2, "failed": 1}[summary["status"]]
    return SimpleNamespace(**summary)


@pytest.fixture
def xeducation(tmp_path: Path, sandbox: Sandbox) -> Project:
    """The real X Education export, configured for the emulator."""
    if not XEDUCATION.exists():
        pytest.fail(f"the real data file is missing: {XEDUCATION}")
    # copy2 keeps the export's own time: a file written long ago, not one being written.
    shutil.copy2(XEDUCATION, tmp_path / "xeducation_leads.csv")
    shutil.copyfile(FIXTURES / "xeducation.toml", tmp_path / "config.toml")
    return Project(tmp_path, tmp_path / "config.toml")


# -- PostgreSQL ---------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """$LEADSYNC_TEST_POSTGRES_URL, or a throwaway server started here from the local binaries.

    Skipped when neither exists, unless LEADSYNC_REQUIRE_POSTGRES=1 (as in CI).
    """
    if os.environ.get("LEADSYNC_TEST_POSTGRES_URL"):
        yield os.environ["LEADSYNC_TEST_POSTGRES_URL"]
        return
    bindir = postgres.binaries()
    if bindir is None:
        if os.environ.get("LEADSYNC_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL binaries not found and LEADSYNC_REQUIRE_POSTGRES=1")
        pytest.skip("no PostgreSQL binaries (apt-get install postgresql)")
    with postgres.throwaway_server(bindir) as url:
        yield url


@pytest.fixture
def pg_database(postgres_url: str):
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    name = f"leadsync_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


# -- Marketo ------------------------------------------------------------------


@dataclass
class MarketoOrg:
    """A Marketo instance seeded from the sample (people with weeks of history) beside a
    Salesforce org that already holds some of them, behind one URL."""

    marketo: MarketoEmulator
    salesforce: SalesforceEmulator
    url: str

    @property
    def store(self) -> MarketoStore:
        return self.marketo.store

    def stats(self) -> dict:
        return requests.get(f"{self.url}/__sandbox/marketo/stats", timeout=10).json()

    def do(self, **op) -> dict:
        answer = requests.post(f"{self.url}/__sandbox/marketo/do", json=op, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def faults(self, spec: str) -> None:
        self.marketo.faults = FaultPlan.parse(spec)

    def crm_leads(self) -> list[dict]:
        return requests.get(f"{self.url}/__sandbox/records/Lead", timeout=10).json()["records"]

    def project(self, tmp_path: Path, chunk_size: int = 5000, **options: str) -> Project:
        """The example config with Marketo as its source, pacing and waits short."""
        path = prepare(tmp_path, self.url, source="marketo")
        extra = {
            "rate_limit_per_20s": "100000",
            "rate_limit_wait_seconds": "0.05",
            "export_poll_seconds": "0.01",
            **options,
        }
        lines = "".join(f"{k} = {v}\n" for k, v in extra.items())
        text = path.read_text(encoding="utf-8")
        for key in extra:  # an option given here replaces the demo's
            text = "".join(
                line for line in text.splitlines(keepends=True) if not line.startswith(f"{key} = ")
            )
        text = text.replace("chunk_size = 5000 ", f"chunk_size = {chunk_size} ")
        path.write_text(text.replace('type = "marketo"\n', 'type = "marketo"\n' + lines), "utf-8")
        return Project(tmp_path, path)


MARKETO_PEOPLE = 40


@pytest.fixture
def marketo(monkeypatch: pytest.MonkeyPatch) -> Iterator[MarketoOrg]:
    from leadsync.demo.run import sample_path
    from leadsync.sandbox.marketo.seed import seed as seed_marketo
    from leadsync.sandbox.salesforce.seed import seed_org

    with sample_path().open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:MARKETO_PEOPLE]
    store = MarketoStore()
    seed_marketo(store, rows, clock.now())
    app = MarketoEmulator(store=store, limits=MarketoLimits.parse("off"))
    salesforce = SalesforceEmulator(store=Store())
    emails = [r["Email"].strip().lower() for r in rows]
    seed_org(salesforce.store, emails, leads=30, contacts=10, known_share=0.2)
    creds = Credentials()
    for name, value in {
        "SF_CLIENT_ID": creds.client_id,
        "SF_CLIENT_SECRET": creds.client_secret,
        "SF_MY_DOMAIN": "leadsync-demo.my",
        "MARKETO_CLIENT_ID": app.client_id,
        "MARKETO_CLIENT_SECRET": app.client_secret,
    }.items():
        monkeypatch.setenv(name, value)
    with running(Emulators(salesforce, app)) as url:
        yield MarketoOrg(app, salesforce, url)
