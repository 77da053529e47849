"""Follow-up SLAs through whole syncs against the Salesforce emulator, with the clock
given to each run (no sleeping for hours): a breach reassigns once with a new task and
a task for the manager, a touch before the deadline stops the ladder, and after the last
reassignment the lead is recycled as "not followed up"."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from sqlalchemy import select

from leadsync.cli import main
from leadsync.state import db
from leadsync.state.models import SlaTimer, StageHistory
from tests.conftest import HubSpotSandbox, Project, Sandbox
from tests.sync.test_feedback import OTHER_REP, REP, SALESFORCE

MANAGER = "0055g00000000CyxAA"
BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_1730 = datetime(2026, 11, 27, 17, 30, tzinfo=BERLIN)
MONDAY_1230 = datetime(2026, 11, 30, 12, 30, tzinfo=BERLIN)

SLA = f"""
[[routing.rules]]
name = "inbound"
when = "exists(email)"
pool = "inbound"

[routing.pools.inbound]
members = [{{ owner = "{REP}" }}, {{ owner = "{OTHER_REP}" }}]

[sla]
first_touch = "4h"
business_hours = "Mon-Fri 09:00-18:00"
timezone = "Europe/Berlin"
max_reassignments = 1
manager = "{MANAGER}"
"""


def sla_project(tmp_path: Path) -> Project:
    (tmp_path / "leads.csv").write_text(
        "id,email,last,title,consent\n1,ada@x.example,Byron,VP,true\n", encoding="utf-8"
    )
    text = SALESFORCE.replace(
        "keep_existing_owner = false\n", "keep_existing_owner = false\n" + SLA
    )
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return Project(tmp_path, tmp_path / "config.toml")


def timer(project: Project) -> SlaTimer:
    engine = db.make_engine(project.state_url)
    with db.session_factory(engine)() as session:
        found = session.scalars(select(SlaTimer)).all()
    engine.dispose()
    assert len(found) == 1
    return found[0]


def tasks(sandbox: Sandbox) -> list[tuple[str, str]]:
    return sorted((t["OwnerId"], t["Subject"]) for t in sandbox.records("Task"))


def test_a_breach_reassigns_once_however_often_the_sweep_runs(sandbox: Sandbox, tmp_path: Path):
    project = sla_project(tmp_path)
    project.sync(now=FRIDAY_1730)
    assert tasks(sandbox) == [(REP, "Follow up: Byron")]
    first = timer(project)
    assert first.due_at == MONDAY_1230  # Friday's last 30 minutes, then Monday from 09:00

    project.sync(now=MONDAY_1230 - timedelta(minutes=1))  # not due yet
    assert len(sandbox.records("Task")) == 1

    breach = MONDAY_1230 + timedelta(minutes=1)
    for minute in range(20):  # twenty sweeps after the breach: one reassignment
        summary = project.sync(now=breach + timedelta(minutes=minute))
        assert summary.error is None
    assert tasks(sandbox) == [  # by owner id: Ann (REP), Bo (OTHER_REP), Cy (MANAGER)
        (REP, f"[Reassigned to {OTHER_REP}] Follow up: Byron"),
        (OTHER_REP, "Reassigned: Follow up: Byron"),
        (MANAGER, "SLA breach: Follow up: Byron"),
    ]
    # the old task is set aside in the CRM, not completed (which would count as a touch)
    old_task = next(t for t in sandbox.records("Task") if t["OwnerId"] == REP)
    assert (old_task["Status"], old_task["IsClosed"]) == ("Deferred", False)
    [lead] = sandbox.records("Lead")
    assert lead["OwnerId"] == OTHER_REP
    reassigned = timer(project)
    assert (reassigned.status, reassigned.reassignments, reassigned.owner) == ("open", 1, OTHER_REP)
    assert reassigned.due_at == datetime(2026, 11, 30, 16, 31, tzinfo=BERLIN)
    assert [s["action"] for s in reassigned.steps] == ["reassigned"]
    assert "no first touch by " + REP in reassigned.steps[0]["reason"]
    reassigned_task = next(t for t in sandbox.records("Task") if t["OwnerId"] == OTHER_REP)
    assert "Reassigned to you from " + REP in reassigned_task["Description"]

    # the new owner does not touch it either: after max_reassignments, recycled
    project.sync(now=datetime(2026, 11, 30, 16, 32, tzinfo=BERLIN))
    [lead] = sandbox.records("Lead")
    assert lead["Lifecycle_Stage__c"] == "recycled"
    recycled = timer(project)
    assert recycled.status == "recycled"
    engine = db.make_engine(project.state_url)
    with db.session_factory(engine)() as session:
        last = session.scalars(select(StageHistory).order_by(StageHistory.id.desc())).first()
    engine.dispose()
    assert last is not None and last.stage == "recycled"
    assert last.reason.startswith("not followed up: no first touch by " + OTHER_REP)
    assert len(sandbox.records("Task")) == 3  # recycling makes no task

    # `leadsync explain` and `leadsync status` say what happened and why
    common = ["--config", str(project.config_path), "--state-url", project.state_url]
    runner = CliRunner()
    explained = runner.invoke(main, [*common, "explain", "ada@x.example"]).stdout
    assert "follow-up SLA" in explained
    # the people by name (the emulator's users), the recorded reason as it was written
    assert f"reassigned (Ann Rep -> Bo Rep): no first touch by {REP}" in explained
    assert "recycled: not followed up" in explained
    status = json.loads(runner.invoke(main, [*common, "status", "--json"]).stdout)
    assert status["sla"]["open"] == 0
    assert [(b["status"], b["reassignments"]) for b in status["sla"]["breached"]] == [
        ("recycled", 1)
    ]


def test_a_completed_task_before_the_deadline_stops_the_ladder(sandbox: Sandbox, tmp_path: Path):
    project = sla_project(tmp_path)
    project.sync(now=FRIDAY_1730)
    [task] = sandbox.records("Task")
    sandbox.app.store.touch("Task", task["Id"], {"Status": "Completed", "IsClosed": True})
    project.sync(now=MONDAY_1230 - timedelta(hours=1))  # feedback reads the touch
    met = timer(project)
    assert met.status == "met" and met.steps[-1]["action"] == "met"
    project.sync(now=MONDAY_1230 + timedelta(hours=2))
    assert tasks(sandbox) == [(REP, "Follow up: Byron")]
    assert sandbox.records("Lead")[0]["OwnerId"] == REP


def test_sales_moving_the_status_on_is_a_touch(sandbox: Sandbox, tmp_path: Path):
    project = sla_project(tmp_path)
    project.sync(now=FRIDAY_1730)
    [lead] = sandbox.records("Lead")
    sandbox.app.store.touch("Lead", lead["Id"], {"Status": "Working - Contacted"})
    project.sync(now=MONDAY_1230 + timedelta(hours=1))
    assert timer(project).status == "met"
    assert len(sandbox.records("Task")) == 1


def test_the_hubspot_ladder_sets_the_old_task_aside(hubspot: HubSpotSandbox, tmp_path: Path):
    """The same ladder into HubSpot: the lead to the pool's next owner with a new task; the
    old task DEFERRED with a subject saying where it went (HubSpot's batch update by id)."""
    from tests.sync.test_hubspot_sync import project as hubspot_project

    project = hubspot_project(tmp_path, 1)
    text = project.config_path.read_text().replace(
        'owner = "bo.rep@leadsync.example"\n',
        'pool = "inbound"\n[routing.pools.inbound]\nmembers = [{ owner = "ann.rep@leadsync.'
        'example" }, { owner = "bo.rep@leadsync.example" }]\n'
        '[sla]\nfirst_touch = "4h"\ntimezone = "Europe/Berlin"\n',
    )
    project.config_path.write_text(text)
    project.sync(now=FRIDAY_1730)
    [first] = hubspot.records("tasks")
    project.sync(now=MONDAY_1230 + timedelta(minutes=1))
    tasks = {t["id"]: t["properties"] for t in hubspot.records("tasks")}
    assert len(tasks) == 2
    old = tasks[first["id"]]
    assert old["hs_task_status"] == "DEFERRED"
    assert old["hs_task_subject"].startswith("[Reassigned to bo.rep@leadsync.example] ")
    [new] = [t for i, t in tasks.items() if i != first["id"]]
    assert (new["hs_task_status"], new["hubspot_owner_id"]) == ("NOT_STARTED", "71000003")
    [contact] = hubspot.records()
    assert contact["properties"]["hubspot_owner_id"] == "71000003"
