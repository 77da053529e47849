"""The config's schedules as APScheduler triggers, and the jobs a config asks for."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from click.testing import CliRunner

from leadsync.cli import main
from leadsync.errors import ConfigError
from leadsync.service.process import service_jobs
from leadsync.service.schedule import trigger
from leadsync.sync.wiring import wire
from tests.conftest import Project, Sandbox
from tests.service.service_config import FORMS_SECRET, service_config


def test_intervals_and_cron_lines():
    every = trigger("5m", "k")
    assert isinstance(every, IntervalTrigger) and every.interval.total_seconds() == 300
    assert trigger("30s", "k").interval.total_seconds() == 30  # type: ignore[attr-defined]
    nightly = trigger("30 2 * * *", "k")
    assert isinstance(nightly, CronTrigger)
    after = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert nightly.get_next_fire_time(None, after) == datetime(2026, 11, 24, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize("spec", ["every 5 minutes", "0s", "61 * * * *", "5 x"])
def test_a_bad_schedule_names_its_key(spec: str):
    with pytest.raises(ConfigError, match=r"sources\.a\.schedule: "):
        trigger(spec, "sources.a.schedule")


def test_the_jobs_a_config_asks_for(sandbox: Sandbox, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FORMS_SECRET", FORMS_SECRET)
    (tmp_path / "leads.csv").write_text("id,email,last,title\n", encoding="utf-8")
    (tmp_path / "config.toml").write_text(service_config("10m"), encoding="utf-8")
    wiring = wire(Project(tmp_path, tmp_path / "config.toml").config())
    jobs = {j.name: j for j in service_jobs(wiring)}
    assert set(jobs) == {"sync:site", "sync:export", "sweep", "rescore"}
    assert jobs["sync:site"].trigger is None  # woken by submissions only
    assert jobs["sync:export"].schedule == "10m" and jobs["rescore"].rescore
    (tmp_path / "config.toml").write_text(service_config("soon"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.export\.schedule: 'soon' is not a schedule"):
        service_jobs(wire(Project(tmp_path, tmp_path / "config.toml").config()))


def test_check_names_a_schedule_run_could_not_follow(sandbox: Sandbox, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FORMS_SECRET", FORMS_SECRET)
    (tmp_path / "leads.csv").write_text("id,email,last,title\n", encoding="utf-8")
    text = service_config("every 5 minutes").replace(
        "[service]\n", '[service]\nreconcile_schedule = "30 25 * * *"\n'
    )
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    common = [
        "--config",
        str(tmp_path / "config.toml"),
        "--state-url",
        f"sqlite:///{tmp_path}/s.db",
    ]
    result = CliRunner().invoke(main, [*common, "check", "--offline"])
    assert result.exit_code == 1
    assert "sources.export.schedule: 'every 5 minutes' is not a schedule" in result.output
    assert "service.reconcile_schedule: '30 25 * * *' is not a schedule" in result.output
    assert "2 problem(s) found" in result.output
