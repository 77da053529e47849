"""Mistakes and broken surroundings end a command with one line that says what to do:
no traceback, no secret, and nothing left behind."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from leadsync.cli import main


def run(*args: str, cwd: Path | None = None):
    return CliRunner().invoke(main, ["--log-level", "error", *args])


@pytest.fixture
def upgraded(tmp_path: Path) -> Path:
    db = tmp_path / "state.db"
    assert run("--state-url", f"sqlite:///{db}", "db", "upgrade").exit_code == 0
    return db


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.stderr.strip()


def test_an_unknown_revision_lists_the_known_ones(tmp_path: Path, upgraded: Path):
    """`db upgrade --revision bogus` names the revisions there are."""
    text = one_line_error(
        run("--state-url", f"sqlite:///{upgraded}", "db", "upgrade", "--revision", "bogus")
    )
    assert "cannot upgrade to revision 'bogus'" in text and "known: 0001, 0002" in text


def test_a_damaged_state_db_says_how_to_recover(tmp_path: Path, upgraded: Path):
    """A state db cut to half its size: `status` says it is damaged and how to rebuild."""
    conn = sqlite3.connect(upgraded)  # a state db with some history in it
    with conn:
        conn.executemany(
            "INSERT INTO quarantine (run_id, source, record_ref, field, reason, raw, created_at)"
            " VALUES ('r', 's', ?, 'f', ?, '{}', '2026-11-23')",
            [(f"line {i}", "x" * 200) for i in range(3000)],
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = upgraded.read_bytes()
    upgraded.write_bytes(data[: len(data) // 2])
    text = one_line_error(run("--state-url", f"sqlite:///{upgraded}", "status"))
    assert "the state database is damaged" in text and "reconcile --adopt" in text


def test_postgres_down_is_named_and_its_password_is_not(tmp_path: Path):
    """A PostgreSQL that does not answer: one line, the password masked."""
    url = "postgresql://leadsync:s3cret-pw@127.0.0.1:1/leads"
    text = one_line_error(run("--state-url", url, "status"))
    assert "cannot reach the state database" in text and "is the server up?" in text
    assert "s3cret-pw" not in text


def test_an_unusable_state_url_is_echoed_without_its_password():
    """A URL with an unknown driver is quoted back with *** for its password."""
    text = one_line_error(run("--state-url", "postgresql+nodriver://u:s3cret-pw@h/x", "status"))
    assert "postgresql+nodriver://u:***@h/x" in text and "s3cret-pw" not in text


def test_a_config_that_is_not_utf8_or_a_folder(tmp_path: Path):
    """A Latin-1 config and a folder given as --config: each says what is wrong."""
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[state]\nurl = "sqlite:///caf\xe9.db"\n')
    assert "not UTF-8 text (byte 0xe9" in one_line_error(run("--config", str(bad), "status"))
    assert "is a folder" in one_line_error(run("--config", str(tmp_path), "status"))


def test_commands_leave_no_empty_state_db_behind(tmp_path: Path, monkeypatch):
    """`--config missing.toml db upgrade` and `status` on a missing SQLite file refuse and
    create nothing."""
    monkeypatch.chdir(tmp_path)
    text = one_line_error(run("--config", "missing.toml", "db", "upgrade"))
    assert "missing.toml: no such file" in text
    text = one_line_error(run("--state-url", f"sqlite:///{tmp_path / 'none.db'}", "status"))
    assert "no state database at" in text and "leadsync db upgrade" in text
    assert list(tmp_path.iterdir()) == []


def test_json_sync_prints_the_error_object_on_a_bad_config(tmp_path: Path):
    """`sync --json` that cannot start still prints one JSON object a scheduler can read."""
    config = tmp_path / "config.toml"
    config.write_text("[crm]\ntype = 'nosuch'\n")
    result = run("--config", str(config), "sync", "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["status"] == "failed" and "sources: required key is missing" in body["error"]


def test_sync_refuses_what_check_refuses(tmp_path: Path, sandbox):
    """A wrong delimiter, a missing column, no [crm.fields]: `sync` stops before reading a
    row, with check's lines, instead of quarantining the whole export."""
    from tests.conftest import cli_sync
    from tests.sync.test_bad_input import project, rows

    p = project(tmp_path, rows(3).replace(",", ";"))
    p.config_path.write_text(p.config_path.read_text().replace('external_id = "Id"', ""))
    first = cli_sync(p)
    assert first.status == "failed" and "column 'Email' is not in the file's header" in first.error

    (tmp_path / "forms.csv").write_text(rows(3))
    text = p.config_path.read_text()
    p.config_path.write_text(text[: text.index("[crm.fields]")])
    second = cli_sync(p)
    assert second.status == "failed" and "crm.fields: no CRM field is mapped" in second.error
    assert sandbox.records() == []
