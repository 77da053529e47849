"""Owners by name, not raw ids: a sync that routes learns the CRM users' names from the
answer it already asks for (no request more), and `report`, `explain` and `preview`
name people."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from leadsync.cli import main
from leadsync.state import db, owners
from tests.conftest import Sandbox
from tests.sync.test_feedback import salesforce_project

ANN = "0055g00000000AnnAA"  # "Ann Rep" in the emulator's users


def test_outputs_name_the_owner(sandbox: Sandbox, tmp_path: Path) -> None:
    """After a sync routing to Ann, the report's owners, `report --by owner`, `explain`
    and `preview` say "Ann Rep"; the ids stay in the JSON for machines."""
    project = salesforce_project(tmp_path)
    summary = project.sync()
    assert summary.tasks_by_owner == {ANN: 4}
    engine = db.make_engine(project.state_url)
    try:
        with db.session_factory(engine)() as session:
            assert owners.known(session)[ANN] == "Ann Rep"
    finally:
        engine.dispose()

    base = ["--config", str(project.config_path), "--state-url", project.state_url]
    run = CliRunner().invoke
    report = json.loads(run(main, [*base, "report", "--format", "json"]).output)
    assert report["owners"][0] == {**report["owners"][0], "owner": ANN, "name": "Ann Rep"}
    by_owner = run(main, [*base, "report", "--by", "owner"]).output
    assert "Ann Rep" in by_owner and ANN not in by_owner
    explained = run(main, [*base, "explain", "p0@x.example"]).output
    assert f"owner: Ann Rep ({ANN})" in explained
    previewed = run(main, [*base, "preview", str(project.config_path)]).output
    assert "Ann Rep" in previewed
