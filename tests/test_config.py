"""Loading config.toml: environment, key paths, secrets kept out of logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from leadsync import config as cfg
from leadsync import log
from leadsync.errors import ConfigError
from leadsync.sync.wiring import wire

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_and_wires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The documented example is a valid config once its variables are set."""
    for var in ("SF_CLIENT_ID", "SF_CLIENT_SECRET"):
        monkeypatch.setenv(var, "x")
    monkeypatch.setenv("SF_MY_DOMAIN", "acme.my")
    path = write(tmp_path, EXAMPLE.read_text())
    wiring = wire(cfg.load(path))
    assert wiring.destination.config.auth.method == "client_credentials"  # OAuth by default
    assert set(wiring.sources) == {"web_forms"}
    assert wiring.destination.external_id_field == "LeadSync_Id__c"


def test_unset_variable_names_key_and_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An unset ${VAR} is reported with the key that uses it."""
    monkeypatch.delenv("SF_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("SF_CLIENT_ID", "u")
    monkeypatch.setenv("SF_MY_DOMAIN", "acme.my")
    path = write(tmp_path, EXAMPLE.read_text())
    with pytest.raises(ConfigError) as err:
        cfg.load(path)
    assert err.value.problems == [
        f"{path}: crm.auth.client_secret: environment variable SF_CLIENT_SECRET is not set "
        "(export SF_CLIENT_SECRET=... before running leadsync)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[crm\n", "TOML syntax error"),
        (
            "[sources.a]\ntype='csv'\n[crm]\ntype='salesforce'\n[sync]\nchunk_sise=5\n",
            "sync.chunk_sise: unknown key (allowed: api_reserve_share, backoff_initial_seconds",
        ),
        ("[crm]\ntype='salesforce'\n", "sources: required key is missing"),
        (
            "[sources.a]\ntype='csv'\n[crm]\ntype='salesforce'\n[sync]\nmax_attempts=0\n",
            "sync.max_attempts: Input should be greater than or equal to 1 (got 0)",
        ),
    ],
)
def test_config_problems_name_the_key(tmp_path: Path, text: str, expected: str):
    """Syntax errors, unknown keys, missing keys and bad values each name where they are."""
    with pytest.raises(ConfigError) as err:
        cfg.load(write(tmp_path, text))
    assert expected in str(err.value)


def test_unknown_connector_lists_the_known_ones(tmp_path: Path):
    """A source type nobody registered is an error that lists the registered ones."""
    path = write(
        tmp_path,
        "[sources.a]\ntype='eloqua'\npath='x'\n[crm]\ntype='salesforce'\n"
        "[crm.auth]\nsession_id='s'\ninstance_url='https://x.my.salesforce.com'\n",
    )
    with pytest.raises(
        ConfigError,
        match=r"unknown connector type 'eloqua' "
        r"\(known: csv, hubspot, marketo, salesforce, webhook\)",
    ):
        wire(cfg.load(path))


def test_secrets_never_reach_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A secret from the environment is masked wherever it would appear in a log line."""
    monkeypatch.setenv("SF_CLIENT_ID", "x")
    monkeypatch.setenv("SF_MY_DOMAIN", "acme.my")
    monkeypatch.setenv("SF_CLIENT_SECRET", "hunter2-very-secret")
    log.configure("info", json=True)
    wire(cfg.load(write(tmp_path, EXAMPLE.read_text())))  # hands its secrets to the log
    structlog.get_logger("t").error(
        "crm.login.failed", error="login with hunter2-very-secret refused", email="ann@x.example"
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["error"] == "login with *** refused"
    assert line["email"] == "<redacted>"
    log.configure("info", json=True, secrets=["hunter2-very-secret"])  # built with them
    structlog.get_logger("t").error("crm.login.failed", error="hunter2-very-secret")
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"] == "***"


def test_a_url_password_never_reaches_a_log_line(capsys: pytest.CaptureFixture[str]):
    """A state-db URL in any log value has its password masked, secret list or not."""
    log.configure("info", json=True)
    structlog.get_logger("t").warning(
        "state.unreachable", url="postgresql://leadsync:pg-s3cret@db.internal/leads"
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["url"] == "postgresql://leadsync:***@db.internal/leads"
