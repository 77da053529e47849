"""Scoring and lifecycle in the sync: events from a source, stages with reasons, CRM fields."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from leadsync.errors import ConfigError
from leadsync.state import db
from leadsync.state.models import Event, Lead, StageHistory
from tests.conftest import Project, Sandbox

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
HEADER = "Id,Email,First,Last,Company,Title,Form,At\n"
CONFIG = """
[sources.forms]
type = "csv"
path = "forms.csv"
external_id = "Id"

[sources.forms.fields]
email = { from = "Email", required = true }
first_name = "First"
last_name = "Last"
company = "Company"
title = "Title"

[sources.forms.event]
type = "form_submit"
at = "At"
attributes = { form = "Form" }

[scoring]
half_life_days = 30

[[scoring.rules]]
name = "senior title"
category = "fit"
when = 'title matches "(vp|head|chief|cto|ceo)"'
points = 30

[[scoring.rules]]
name = "demo request"
category = "behaviour"
when = 'event.type == "form_submit" and event.form == "demo"'
points = 40

[[scoring.rules]]
name = "any form"
category = "behaviour"
when = 'event.type == "form_submit"'
points = 10
cap = 20

[lifecycle]
lead_when = "exists(email)"
[lifecycle.mql]
total = 60

[crm]
type = "salesforce"
sandbox_url = "${SANDBOX_URL}"

[crm.auth]
username = "${SF_USERNAME}"
password = "${SF_PASSWORD}"
security_token = "${SF_SECURITY_TOKEN}"

[crm.fields]
Email = "email"
LastName = { from = "last_name", transforms = [{ default = "[not provided]" }] }
Company = { from = "company", transforms = [{ default = "[not provided]" }] }
Title = "title"
Lead_Score__c = "score"
Lifecycle_Stage__c = "stage"
MQL_Date__c = "mql_at"
"""

ROWS = (
    HEADER
    # 30 fit + 38.97 demo + 9.74 form (a day old): 78.72, an MQL
    + "1,ann@x.example,Ann,Lee,Acme,CTO,demo,2026-11-22T09:00:00Z\n"
    # 30 fit + 9.3 form: 39.3, a lead
    + "2,bo@x.example,Bo,Ek,Initech,Head of Data,ebook,2026-11-20T09:00:00Z\n"
    + "3,,Cy,Ng,Globex,VP,ebook,2026-11-20T09:00:00Z\n"  # no email: refused (required)
)


@pytest.fixture
def project(tmp_path: Path, sandbox: Sandbox) -> Project:
    (tmp_path / "forms.csv").write_text(ROWS, encoding="utf-8")
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    return Project(tmp_path, tmp_path / "config.toml")


def state(project: Project):
    return db.session_factory(db.make_engine(project.state_url))()


def test_a_hot_lead_enters_every_stage_to_mql_with_reasons(project: Project, sandbox: Sandbox):
    """The CTO who asked for a demo is an MQL; history shows inquiry, lead and MQL at once."""
    summary = project.sync(now=NOW)

    assert (summary.created, summary.mql, summary.quarantined) == (2, 1, 1)
    with state(project) as session:
        ann = session.scalars(select(Lead).where(Lead.email == "ann@x.example")).one()
        history = session.scalars(
            select(StageHistory).where(StageHistory.lead_id == ann.id).order_by(StageHistory.id)
        ).all()
        assert [h.stage for h in history] == ["inquiry", "lead", "mql"]
        assert len({h.at for h in history}) == 1
        assert history[1].reason == "meets the lead criteria: exists(email)"
        assert history[2].reason == "score 78.72 reached the MQL threshold (total >= 60)"
        assert (ann.stage, ann.score_fit) == ("mql", 30)
        (event,) = session.scalars(select(Event).where(Event.lead_id == ann.id)).all()
        assert (event.key, event.type, event.attributes) == (
            "forms:1",
            "form_submit",
            {"form": "demo"},
        )
    crm = {r["Email"]: r for r in sandbox.records()}
    assert crm["ann@x.example"]["Lifecycle_Stage__c"] == "mql"
    assert crm["ann@x.example"]["Lead_Score__c"] == 78.72
    assert crm["ann@x.example"]["MQL_Date__c"] == "2026-11-23T12:00:00Z"  # to the second
    assert crm["bo@x.example"]["Lifecycle_Stage__c"] == "lead"
    assert "MQL_Date__c" not in crm["bo@x.example"]


def test_a_second_run_decides_nothing_new(project: Project, sandbox: Sandbox):
    """Nothing new read: no stage entered, nothing written."""
    project.sync(now=NOW)
    again = project.sync(now=NOW)
    assert (again.read, again.mql, again.updated, again.api_calls) == (0, 0, 0, 0)


def test_a_new_submission_makes_a_lead_an_mql(project: Project, sandbox: Sandbox):
    """Bo's demo request adds behaviour points: Bo enters MQL, and only MQL."""
    project.sync(now=NOW)
    with (project.dir / "forms.csv").open("a", encoding="utf-8") as f:
        f.write("4,bo@x.example,Bo,Ek,Initech,Head of Data,demo,2026-11-23T10:00:00Z\n")

    summary = project.sync(now=NOW)

    assert (summary.read, summary.mql, summary.updated) == (1, 1, 1)
    with state(project) as session:
        bo = session.scalars(select(Lead).where(Lead.email == "bo@x.example")).one()
        stages = session.scalars(
            select(StageHistory.stage).where(StageHistory.lead_id == bo.id)
        ).all()
        assert stages == ["inquiry", "lead", "mql"]
        assert session.scalars(select(Event.key).where(Event.lead_id == bo.id)).all() == [
            "forms:2",
            "forms:4",
        ]
    crm = {r["Email"]: r for r in sandbox.records()}
    assert crm["bo@x.example"]["Lifecycle_Stage__c"] == "mql"


def test_a_lower_threshold_re_decides_every_lead(project: Project, sandbox: Sandbox):
    """Changing the MQL threshold re-plans every lead: Bo becomes an MQL without new data."""
    project.sync(now=NOW)
    text = project.config_path.read_text().replace("total = 60", "total = 5")
    project.config_path.write_text(text)

    summary = project.sync(now=NOW)

    assert (summary.read, summary.replanned, summary.mql, summary.updated) == (0, 2, 1, 1)


def test_rule_mistakes_name_the_key_and_column(project: Project):
    """A typo in a scoring rule or a lifecycle condition is reported with its key and column."""
    text = project.config_path.read_text()
    text = text.replace('event.form == "demo"', 'event.form == "demo" and titel')
    text = text.replace('lead_when = "exists(email)"', 'lead_when = "exists(emial)"')
    project.config_path.write_text(text)
    with pytest.raises(ConfigError) as err:
        project.sync(now=NOW)
    problems = "\n".join(err.value.problems)
    assert "scoring.rules[1]: demo request: when: column 58: unknown field 'titel'" in problems
    assert "lifecycle.lead_when: column 8: exists() takes a lead field" in problems


def test_explain_says_why_in_words(project: Project, sandbox: Sandbox, monkeypatch):
    """`leadsync explain EMAIL` shows the score point by point, the stages and the CRM write."""
    from click.testing import CliRunner

    from leadsync.cli import main

    project.sync(now=NOW)
    monkeypatch.delenv("SF_PASSWORD")  # explain never talks to the CRM: no secrets needed
    runner = CliRunner()
    args = [
        "--log-level",
        "error",
        "--config",
        str(project.config_path),
        "--state-url",
        project.state_url,
        "explain",
    ]

    result = runner.invoke(main, [*args, "ann@x.example"])

    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "stage: mql" in text and "known as: forms:1" in text
    assert "+30.00  fit        senior title" in text
    assert "behaviour  demo request  from form_submit at 2026-11-22T09:00:00Z" in text
    assert "mql          score 78.72 reached the MQL threshold (total >= 60)" in text
    assert "Lifecycle_Stage__c='mql'" in text
    assert "upsert done" in text
    by_source_id = runner.invoke(main, [*args, "forms:2"])
    assert "<bo@x.example>" in by_source_id.stdout
    assert "<bo@x.example>" in runner.invoke(main, [*args, "2"]).stdout  # the source's id alone
    crm_id = next(r["Id"] for r in sandbox.records() if r["Email"] == "bo@x.example")
    assert "<bo@x.example>" in runner.invoke(main, [*args, crm_id]).stdout  # the CRM's id
    missing = runner.invoke(main, [*args, "nobody@x.example"])
    assert missing.exit_code == 1 and "no lead matches 'nobody@x.example'" in missing.stderr


ROUTING = """
[routing]
fallback_owner = "0055g0000000001AAA"

[[routing.rules]]
name = "executives"
when = 'title matches "(cto|ceo)"'
owner = "0055g00000000CyxAA"

[[routing.rules]]
name = "inbound"
when = "exists(email)"
pool = "inbound"

[routing.pools.inbound]
members = [{ owner = "0055g00000000AnnAA", weight = 2 }, { owner = "0055g00000000BoxAA" }]
"""


@pytest.fixture
def routed(project: Project) -> Project:
    text = project.config_path.read_text().replace(
        'MQL_Date__c = "mql_at"', 'MQL_Date__c = "mql_at"\nOwnerId = "owner"'
    )
    project.config_path.write_text(text + ROUTING)
    return project


def test_an_mql_is_routed_by_the_first_matching_rule(routed: Project, sandbox: Sandbox):
    """The CTO entering MQL goes to the executives' owner; a plain lead is not routed."""
    summary = routed.sync(now=NOW)

    assert (summary.mql, summary.owners_assigned) == (1, 1)
    crm = {r["Email"]: r for r in sandbox.records()}
    assert crm["ann@x.example"]["OwnerId"] == "0055g00000000CyxAA"
    assert (
        crm["bo@x.example"]["OwnerId"] != "0055g00000000CyxAA"
    )  # the CRM's default owner: not routed
    with state(routed) as session:
        ann = session.scalars(select(Lead).where(Lead.email == "ann@x.example")).one()
        assert ann.owner == "0055g00000000CyxAA"
        assert ann.route["reason"] == "rule 'executives': owner 0055g00000000CyxAA"


def test_pool_turns_go_on_across_runs(routed: Project, sandbox: Sandbox):
    """MQLs in three separate runs take the pool's turns 2:1 in order: Ann, Bo, Ann."""
    routed.sync(now=NOW)
    owners = []
    for n in range(3):
        with (routed.dir / "forms.csv").open("a", encoding="utf-8") as f:
            f.write(f"{10 + n},p{n}@x.example,P,{n},Co,Head of Ops,demo,2026-11-23T10:00:00Z\n")
        summary = routed.sync(now=NOW)  # a new Run: the turn is read back from the state db
        assert (summary.mql, summary.owners_assigned) == (1, 1)
        crm = {r["Email"]: r for r in sandbox.records()}
        owners.append(crm[f"p{n}@x.example"]["OwnerId"])
    assert owners == ["0055g00000000AnnAA", "0055g00000000BoxAA", "0055g00000000AnnAA"]


def test_a_rule_naming_a_missing_pool_is_a_config_error(routed: Project):
    """A routing rule pointing at a pool that does not exist is named with its key."""
    text = routed.config_path.read_text().replace('pool = "inbound"', 'pool = "inbnd"')
    routed.config_path.write_text(text)
    with pytest.raises(
        ConfigError,
        match=r"routing.rules\[1\].pool: no pool 'inbnd' in "
        r"\[routing.pools\] \(pools: inbound\)",
    ):
        routed.sync(now=NOW)


TASKS = """
[tasks]
subject = "Follow up: $first_name $last_name ($company), score $score"
due_in_hours = 24
high_priority_score = 75
"""


@pytest.fixture
def tasked(routed: Project) -> Project:
    routed.config_path.write_text(routed.config_path.read_text() + TASKS)
    return routed


def test_an_mql_gets_one_follow_up_task_with_the_insight(tasked: Project, sandbox: Sandbox):
    """The rep's task names the lead, is due within the SLA, and says why the lead is hot."""
    summary = tasked.sync(now=NOW)

    assert (summary.mql, summary.tasks_planned, summary.tasks_created) == (1, 1, 1)
    (task,) = sandbox.records("Task")
    ann = {r["Email"]: r for r in sandbox.records()}["ann@x.example"]
    assert task["WhoId"] == ann["Id"]
    assert task["OwnerId"] == "0055g00000000CyxAA"
    assert task["Subject"] == "Follow up: Ann Lee (Acme), score 79"
    assert (task["ActivityDate"], task["Priority"], task["Status"]) == (
        "2026-11-24",
        "High",
        "Not Started",
    )
    assert (task["ReminderDateTime"], task["IsReminderSet"]) == ("2026-11-24T12:00:00Z", True)
    assert task["LeadSync_Key__c"] == f"task:{ann['LeadSync_Id__c']}:mql:2026-11-23T12:00:00+00:00"
    description = task["Description"]
    assert description.startswith(
        "Why now: score 78.72 reached the MQL threshold (total >= 60).\n"
        "Score 78.72: fit 30, behaviour 48.72.\nWhat counts most:\n"
        "  +38.97  demo request (form_submit, 2026-11-22)\n  +30  senior title\n"
    )
    assert "Latest activity:\n  2026-11-22 09:00  form_submit (form=demo)" in description


def test_twenty_syncs_make_one_task(tasked: Project, sandbox: Sandbox):
    """However often the sync runs over the same data, the MQL has one task."""
    for _ in range(20):
        tasked.sync(now=NOW)
    assert len(sandbox.records("Task")) == 1


def test_requalifying_after_recycling_makes_a_new_task(tasked: Project, sandbox: Sandbox):
    """A lead that sales recycled and that qualifies again gets a new task for the new entry."""
    tasked.sync(now=NOW)
    with state(tasked) as session:
        ann = session.scalars(select(Lead).where(Lead.email == "ann@x.example")).one()
        session.add(StageHistory(lead_id=ann.id, stage="recycled", at=NOW, reason="sales: later"))
        ann.stage = "recycled"
        session.commit()
    with (tasked.dir / "forms.csv").open("a", encoding="utf-8") as f:
        f.write("5,ann@x.example,Ann,Lee,Acme,CTO,webinar,2026-11-24T08:00:00Z\n")

    later = datetime(2026, 11, 24, 9, tzinfo=UTC)
    summary = tasked.sync(now=later)

    assert (summary.mql, summary.tasks_created) == (1, 1)
    keys = sorted(t["LeadSync_Key__c"] for t in sandbox.records("Task"))
    assert [k.rsplit(":mql:", 1)[1] for k in keys] == [
        "2026-11-23T12:00:00+00:00",
        "2026-11-24T09:00:00+00:00",
    ]


def test_a_task_answered_too_late_is_not_made_twice(tasked: Project, sandbox: Sandbox):
    """The task request is saved but answered after the timeout: sent again, still one task."""
    text = tasked.config_path.read_text().replace(
        'sandbox_url = "${SANDBOX_URL}"', 'sandbox_url = "${SANDBOX_URL}"\ntimeout_seconds = 0.3'
    )
    tasked.config_path.write_text(text + "\n[sync]\nbackoff_initial_seconds = 0.01\n")
    sandbox.faults("timeout:requests=2:delay=0.6:endpoint=collections_upsert")  # the task batch

    summary = tasked.sync(now=NOW)

    assert summary.error is None and summary.retried >= 1
    assert len(sandbox.records("Task")) == 1


def test_a_task_for_a_lead_the_crm_refused_says_so(tasked: Project, sandbox: Sandbox):
    """When the lead itself is refused, its task is dead-lettered with that reason, not lost."""
    from leadsync.sandbox.salesforce import ValidationRule
    from leadsync.state.models import DeadLetter

    sandbox.app.store.validation_rules.append(
        ValidationRule("Lead", "LastName", "Lee", "no Lees today")
    )

    summary = tasked.sync(now=NOW)

    assert summary.failed == 2 and summary.tasks_created == 0
    with state(tasked) as session:
        codes = sorted(d.code for d in session.scalars(select(DeadLetter)))
    assert codes == ["FIELD_CUSTOM_VALIDATION_EXCEPTION", "LEAD_NOT_IN_CRM"]


def test_preview_shows_what_a_lower_threshold_would_do(tasked: Project, sandbox: Sandbox):
    """`leadsync preview` replays the stored leads with other rules and writes nothing."""
    import json
    import re

    from click.testing import CliRunner

    from leadsync.cli import main

    tasked.sync(now=NOW)
    candidate = tasked.dir / "candidate.toml"
    candidate.write_text(tasked.config_path.read_text().replace("total = 60", "total = 30"))
    before = (sandbox.stats()["total"], (tasked.dir / "state.db").read_bytes())
    args = [
        "--log-level",
        "error",
        "--config",
        str(tasked.config_path),
        "--state-url",
        tasked.state_url,
        "preview",
    ]

    result = CliRunner().invoke(main, [*args, str(candidate), "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mql"] == {"current": 1, "candidate": 2}
    assert report["tasks_that_would_be_created"] == 1
    assert report["owner_load"] == {
        "current": {"0055g00000000CyxAA": 1},
        "candidate": {"0055g00000000CyxAA": 1, "0055g00000000AnnAA": 1},
    }
    (change,) = report["changes"]  # the preview runs at the fixed clock (conftest)
    assert (change["lead"], change["from"], change["to"]) == ("bo@x.example", "lead", "mql")
    assert re.fullmatch(
        r"score 39\.\d+ reached the MQL threshold \(total >= 30\)", change["reason"]
    )
    assert (sandbox.stats()["total"], (tasked.dir / "state.db").read_bytes()) == before
    text = CliRunner().invoke(main, [*args, str(candidate)]).stdout
    assert "  mql                  1          2       +1" in text


NURTURE = """
[nurture]
campaign_id = "7015g000000NurtAAA"
when = "not email_opt_out"
"""


@pytest.fixture
def nurtured(tasked: Project) -> Project:
    tasked.config_path.write_text(tasked.config_path.read_text() + NURTURE)
    return tasked


def test_leads_not_ready_join_nurture_and_leave_it_on_mql(nurtured: Project, sandbox: Sandbox):
    """Bo (a lead) joins the campaign, Ann (straight to MQL) never does; Bo leaves on MQL."""
    first = nurtured.sync(now=NOW)

    assert (first.nurture_added, first.nurture_left) == (1, 0)
    leads = {r["Email"]: r["Id"] for r in sandbox.records()}
    (member,) = sandbox.records("CampaignMember")
    assert (member["LeadId"], member["CampaignId"], member["Status"]) == (
        leads["bo@x.example"],
        "7015g000000NurtAAA",
        "Sent",
    )

    with (nurtured.dir / "forms.csv").open("a", encoding="utf-8") as f:
        f.write("4,bo@x.example,Bo,Ek,Initech,Head of Data,demo,2026-11-23T10:00:00Z\n")
    second = nurtured.sync(now=NOW)

    assert (second.mql, second.nurture_added, second.nurture_left) == (1, 0, 1)
    (member,) = sandbox.records("CampaignMember")
    assert member["Status"] == "Responded"
    for _ in range(3):
        again = nurtured.sync(now=NOW)
        assert (again.nurture_added, again.nurture_left, again.api_calls) == (0, 0, 0)
    assert len(sandbox.records("CampaignMember")) == 1


def test_a_lead_who_may_not_be_emailed_is_not_nurtured(nurtured: Project, sandbox: Sandbox):
    """Consent comes first: a lead outside the nurture condition never joins."""
    text = nurtured.config_path.read_text().replace(
        'when = "not email_opt_out"', """when = 'email matches "@nowhere"'"""
    )
    nurtured.config_path.write_text(text)
    summary = nurtured.sync(now=NOW)
    assert summary.nurture_added == 0
    assert sandbox.records("CampaignMember") == []


def test_a_rule_that_lands_on_someone_who_left_falls_back(routed: Project, sandbox: Sandbox):
    """Routing to an inactive user gives the lead to the fallback owner, saying why."""
    text = routed.config_path.read_text().replace(
        'owner = "0055g00000000CyxAA"',
        'owner = "0055g00000000DeeAA"',  # Dee left the company
    )
    routed.config_path.write_text(text)

    summary = routed.sync(now=NOW)

    assert summary.failed == 0 and summary.owners_assigned == 1
    ann = {r["Email"]: r for r in sandbox.records()}["ann@x.example"]
    assert ann["OwnerId"] == "0055g0000000001AAA"  # the fallback owner
    with state(routed) as session:
        lead = session.scalars(select(Lead).where(Lead.email == "ann@x.example")).one()
        assert lead.route["reason"] == (
            "rule 'executives': owner 0055g00000000DeeAA, who is not an active user or queue: "
            "the fallback owner"
        )
    # users and queues once per run; contacts and leads by email once per page that routes;
    # contacts and leads with the new leads' emails once per batch of new leads
    assert sandbox.stats()["by_endpoint"]["query"] == 6


def test_a_person_the_crm_already_owns_keeps_their_owner(routed: Project, sandbox: Sandbox):
    """Ann is a Contact of Bo's already: Ann's MQL goes to Bo, whatever the rules say."""
    sandbox.app.store.upsert(
        "Contact",
        "LeadSync_Key__c",
        {
            "LeadSync_Key__c": "existing-ann",
            "LastName": "Lee",
            "Email": "ann@x.example",
            "OwnerId": "0055g00000000BoxAA",
        },
    )

    routed.sync(now=NOW)

    # Ann is that Contact (attached, not a duplicate Lead), and keeps her owner.
    assert "ann@x.example" not in {r["Email"] for r in sandbox.records()}
    ann = {r["Email"]: r for r in sandbox.records("Contact")}["ann@x.example"]
    assert ann["OwnerId"] == "0055g00000000BoxAA"
    with state(routed) as session:
        lead = session.scalars(select(Lead).where(Lead.email == "ann@x.example")).one()
        assert lead.route["reason"] == (
            "kept: this person already belongs to 0055g00000000BoxAA in the CRM"
        )


def test_keeping_existing_owners_can_be_turned_off(routed: Project, sandbox: Sandbox):
    """With keep_existing_owner = false the rules decide, and nobody is asked."""
    sandbox.app.store.upsert(
        "Contact",
        "LeadSync_Key__c",
        {
            "LeadSync_Key__c": "existing-ann",
            "LastName": "Lee",
            "Email": "ann@x.example",
            "OwnerId": "0055g00000000BoxAA",
        },
    )
    text = routed.config_path.read_text().replace(
        'fallback_owner = "0055g0000000001AAA"',
        'fallback_owner = "0055g0000000001AAA"\nkeep_existing_owner = false',
    )
    routed.config_path.write_text(text)

    routed.sync(now=NOW)

    ann = {r["Email"]: r for r in sandbox.records("Contact")}["ann@x.example"]
    assert ann["OwnerId"] == "0055g00000000CyxAA"  # the executives' rule
    # users and queues, and (not for routing) contacts and leads with the new leads' emails
    assert sandbox.stats()["by_endpoint"]["query"] == 4


def test_preview_never_shows_a_demotion_a_sync_would_not_make(tasked: Project, sandbox: Sandbox):
    """A stricter threshold in the candidate: the MQL stays an MQL in the preview, as it
    would in a sync (stages never move back), so no change is listed."""
    import json

    from click.testing import CliRunner

    from leadsync.cli import main

    tasked.sync(now=NOW)
    candidate = tasked.dir / "stricter.toml"
    candidate.write_text(tasked.config_path.read_text().replace("total = 60", "total = 95"))
    args = ["--config", str(tasked.config_path), "--state-url", tasked.state_url, "preview"]

    report = json.loads(CliRunner().invoke(main, [*args, str(candidate), "--json"]).stdout)

    assert report["mql"] == {"current": 1, "candidate": 1}
    assert report["changes"] == []
