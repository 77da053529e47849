"""The CRM's daily API quota: leadsync leaves a share to other integrations and, when its own
runs low, writes hand-offs (a lead qualified, its owner, its task) before bulk updates."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from leadsync.cli import main
from tests.conftest import Project, Sandbox
from tests.sync.test_feedback import SALESFORCE

LEADS = 300


def write_leads(tmp_path: Path, vps: set[int], suffix: str = "") -> None:
    rows = "".join(
        f"{i},p{i}@x.example,Lee{i}{suffix},{'VP' if i in vps else 'Engineer'},false\n"
        for i in range(LEADS)
    )
    (tmp_path / "leads.csv").write_text("id,email,last,title,consent\n" + rows, encoding="utf-8")


def test_a_low_quota_writes_handoffs_and_holds_bulk_updates(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    write_leads(tmp_path, vps=set(range(0, LEADS, 10)))
    (tmp_path / "config.toml").write_text(SALESFORCE, encoding="utf-8")
    project = Project(tmp_path, tmp_path / "config.toml")
    first = project.sync()
    assert (first.created, first.mql, first.quota) == (LEADS, 30, None)

    # Every lead changes (bulk updates), and ten engineers become VPs: MQLs to hand off.
    promoted = set(range(5, 105, 10))
    write_leads(tmp_path, vps=set(range(0, LEADS, 10)) | promoted, suffix="-renamed")
    # Other integrations have used most of the org's 15,000 requests today: 3,500 are
    # left, inside the 5% slice above the 20% leadsync keeps for them.
    sandbox.app.stats["other_integrations"] = 15_000 - 3_500 - sandbox.app._api_used()
    second = project.sync()
    assert second.error is None and second.mql == 10
    assert second.tasks_created == 10
    assert second.updated == 10  # the promoted leads' stage and owner, nothing else
    assert second.pending == LEADS - 10
    assert second.quota is not None
    assert "only hand-offs are written" in second.quota
    assert f"{LEADS - 10} bulk updates wait" in second.quota
    assert (second.status, second.exit_code) == ("partial", 2)  # not all done: a scheduler sees it
    promoted_records = [
        r for r in sandbox.app.store.records["Lead"].values() if r["Lifecycle_Stage__c"] == "mql"
    ]
    assert len(promoted_records) == 40
    renamed = [r for r in sandbox.app.store.records["Lead"].values() if "renamed" in r["LastName"]]
    assert len(renamed) == 10  # the hand-offs carried the new name along; the rest wait

    runner = CliRunner()
    env = {"LEADSYNC_STATE_URL": project.state_url, "LEADSYNC_CONFIG": str(project.config_path)}
    status = runner.invoke(main, ["status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    latest = json.loads(status.stdout)["runs"][0]
    assert "daily API quota is low" in latest["held_back"]
    text = runner.invoke(main, ["status"], env=env).stdout
    assert "why: the CRM's daily API quota is low" in text

    # At the share kept for others, nothing more is written.
    sandbox.app.stats["other_integrations"] += 1_000
    third = project.sync()
    assert (third.updated, third.pending) == (0, LEADS - 10)
    assert third.quota is not None and "nothing more is written" in third.quota

    # The quota resets: the bulk updates go.
    sandbox.app.stats["other_integrations"] = 0
    fourth = project.sync()
    assert (fourth.updated, fourth.pending, fourth.quota) == (LEADS - 10, 0, None)
    assert fourth.status == "ok"
