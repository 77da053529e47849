"""What sales did in the CRM moves the lead: accepted, qualified, rejected, recycled, reassigned,
followed up. Against the Salesforce and the HubSpot emulators, through whole syncs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from leadsync.state import db
from leadsync.state.models import Event, Lead, StageHistory
from tests.conftest import HubSpotSandbox, Project, Sandbox

REP = "0055g00000000AnnAA"
OTHER_REP = "0055g00000000BoxAA"

SALESFORCE = f"""
[sources.forms]
type = "csv"
path = "leads.csv"
external_id = "id"

[sources.forms.fields]
email = {{ from = "email", required = true }}
last_name = "last"
title = "title"
marketing_consent = {{ from = "consent", transforms = ["boolean"] }}

[scoring]
[[scoring.rules]]
name = "vp"
category = "fit"
when = 'title == "VP"'
points = 100

[lifecycle.mql]
total = 50

[tasks]
subject = "Follow up: $last_name"
due_in_hours = 24

[nurture]
campaign_id = "7015g000000NurtAAA"
when = "marketing_consent"
stages = ["lead", "recycled"]

[routing]
fallback_owner = "{REP}"
keep_existing_owner = false

[feedback]
status_field = "Status"
accepted = ["Working - Contacted"]
qualified = ["Closed - Converted"]
rejected = ["Closed - Not Converted"]
reason_field = "Rejection_Reason__c"
recycle_date_field = "Recycle_Date__c"
recycle_days = 30

[crm]
type = "salesforce"
sandbox_url = "${{SANDBOX_URL}}"
[crm.auth]
username = "${{SF_USERNAME}}"
password = "${{SF_PASSWORD}}"
security_token = "${{SF_SECURITY_TOKEN}}"
[crm.fields]
Email = "email"
LastName = "last_name"
Company = {{ from = "title", transforms = [{{ default = "[none]" }}] }}
Title = "title"
OwnerId = "owner"
Lifecycle_Stage__c = "stage"
"""


def salesforce_project(tmp_path: Path) -> Project:
    rows = "".join(f"{i},p{i}@x.example,Lee{i},VP,true\n" for i in range(4))
    (tmp_path / "leads.csv").write_text("id,email,last,title,consent\n" + rows, encoding="utf-8")
    (tmp_path / "config.toml").write_text(SALESFORCE, encoding="utf-8")
    return Project(tmp_path, tmp_path / "config.toml")


def lead_record(sandbox: Sandbox, email: str) -> dict:
    return next(r for r in sandbox.app.store.records["Lead"].values() if r["Email"] == email)


def history(project: Project, email: str) -> list[tuple[str, str]]:
    engine = db.make_engine(project.state_url)
    with engine.connect() as conn:
        lead_id = conn.scalar(select(Lead.id).where(Lead.email == email))
        rows = conn.execute(
            select(StageHistory.stage, StageHistory.reason)
            .where(StageHistory.lead_id == lead_id)
            .order_by(StageHistory.id)
        ).all()
    engine.dispose()
    return [(r.stage, r.reason) for r in rows]


def test_sales_moves_leads_through_the_funnel_in_salesforce(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    project = salesforce_project(tmp_path)
    first = project.sync()
    assert (first.created, first.mql, first.tasks_created) == (4, 4, 4)
    store = sandbox.app.store
    accepted, rejected, reassigned, converted = (
        lead_record(sandbox, f"p{i}@x.example") for i in range(4)
    )
    store.touch("Lead", accepted["Id"], {"Status": "Working - Contacted"})
    store.touch(
        "Lead",
        rejected["Id"],
        {
            "Status": "Closed - Not Converted",
            "Rejection_Reason__c": "no budget this year",
            "Recycle_Date__c": "2031-01-15",
        },
    )
    store.touch("Lead", reassigned["Id"], {"OwnerId": OTHER_REP})
    store.touch(
        "Lead", converted["Id"], {"IsConverted": True, "ConvertedContactId": "0035g0000000001AAA"}
    )
    task = next(t for t in store.records["Task"].values() if t["WhoId"] == accepted["Id"])
    store.touch("Task", task["Id"], {"Status": "Completed", "IsClosed": True})

    second = project.sync()
    assert second.error is None
    assert (second.sales_stage_changes, second.sales_owner_changes, second.tasks_completed) == (
        3,
        1,
        1,
    )
    assert history(project, "p0@x.example")[-1] == (
        "sal",
        "sales set Status to 'Working - Contacted' in the CRM",
    )
    assert history(project, "p1@x.example")[-1] == (
        "recycled",
        "rejected by sales: Status 'Closed - Not Converted' (no budget this year)",
    )
    assert history(project, "p3@x.example")[-1] == (
        "sql",
        "converted in the CRM (contact 0035g0000000001AAA)",
    )
    # the stage leadsync mirrors into the CRM follows sales; the owner sales chose stays
    assert lead_record(sandbox, "p0@x.example")["Lifecycle_Stage__c"] == "sal"
    assert lead_record(sandbox, "p1@x.example")["Lifecycle_Stage__c"] == "recycled"
    assert lead_record(sandbox, "p2@x.example")["OwnerId"] == OTHER_REP
    # the rejected lead may be emailed: it rejoins nurture
    members = store.records["CampaignMember"].values()
    assert [m["LeadId"] for m in members] == [rejected["Id"]]

    third = project.sync()
    assert (third.sales_stage_changes, third.sales_owner_changes, third.tasks_completed) == (
        0,
        0,
        0,
    )
    assert (third.updated, third.mql, third.tasks_created) == (0, 0, 0)

    engine = db.make_engine(project.state_url)
    with engine.connect() as conn:
        revisit = conn.scalar(select(Lead.revisit_on).where(Lead.email == "p1@x.example"))
        done = conn.execute(
            select(Event.type, Event.source).where(Event.type == "task_completed")
        ).all()
    engine.dispose()
    assert str(revisit) == "2031-01-15"
    assert [tuple(d) for d in done] == [("task_completed", "crm")]


def recycled_until(tmp_path: Path, sandbox: Sandbox, day: str) -> tuple[Project, dict]:
    """A synced project whose lead p1 sales rejected until ``day`` (read back once)."""
    project = salesforce_project(tmp_path)
    project.sync()
    rejected = lead_record(sandbox, "p1@x.example")
    sandbox.app.store.touch(
        "Lead", rejected["Id"], {"Status": "Closed - Not Converted", "Recycle_Date__c": day}
    )
    project.sync()
    return project, rejected


def test_a_recycled_lead_comes_back_on_the_day_sales_chose(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Rejected until 2031-01-15: syncs before that day leave it recycled; the first sync on
    that day qualifies it again (its score is still an MQL's) with a new follow-up task."""
    project, rejected = recycled_until(tmp_path, sandbox, "2031-01-15")
    before = project.sync(now=datetime(2031, 1, 14, 12, tzinfo=UTC))
    assert before.mql == 0
    on_the_day = project.sync(now=datetime(2031, 1, 15, 8, tzinfo=UTC))
    assert (on_the_day.mql, on_the_day.tasks_created) == (1, 1)
    assert history(project, "p1@x.example")[-1][0] == "mql"
    assert history(project, "p1@x.example")[-1][1].startswith("re-qualified after recycling")
    tasks = [t for t in sandbox.app.store.records["Task"].values() if t["WhoId"] == rejected["Id"]]
    assert len(tasks) == 2
    later = project.sync(now=datetime(2031, 1, 16, 8, tzinfo=UTC))
    assert later.mql == 0


def test_sales_statuses_are_read_back_from_hubspot(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    from tests.sync.test_hubspot_sync import project as hubspot_project

    project = hubspot_project(tmp_path, 3)
    text = project.config_path.read_text().replace(
        "[crm]",
        '[feedback]\nstatus_field = "hs_lead_status"\naccepted = ["IN_PROGRESS"]\n'
        'rejected = ["UNQUALIFIED"]\n\n[crm]',
    )
    project.config_path.write_text(text)
    assert project.sync().mql == 3
    contacts = {c["properties"]["email"]: c["id"] for c in hubspot.records()}
    later = int((datetime.now(UTC) + timedelta(seconds=5)).timestamp() * 1000)
    hubspot.store.touch(
        "contacts", contacts["p0@x.example"], {"hs_lead_status": "IN_PROGRESS"}, later
    )
    hubspot.store.touch(
        "contacts", contacts["p1@x.example"], {"hubspot_owner_id": "71000002"}, later + 1
    )
    second = project.sync()
    assert (second.sales_stage_changes, second.sales_owner_changes) == (1, 1)
    assert history(project, "p0@x.example")[-1][0] == "sal"
    # the owner written by email (bo.rep) is not the one sales chose (ann.rep, by id)
    assert project.sync().updated == 0
    owners = {
        c["properties"]["email"]: c["properties"]["hubspot_owner_id"] for c in hubspot.records()
    }
    assert owners["p1@x.example"] == "71000002"


def test_feedback_read_again_changes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    """The same changes read again (the cursor lost, or the overlap re-reading them) move
    no lead a second time: a stage moves when sales changes the status, not when it is read."""
    project = salesforce_project(tmp_path)
    project.sync()
    accepted = lead_record(sandbox, "p0@x.example")
    sandbox.app.store.touch("Lead", accepted["Id"], {"Status": "Working - Contacted"})
    assert project.sync().sales_stage_changes == 1
    from leadsync.state.models import Cursor

    engine = db.make_engine(project.state_url)
    with engine.begin() as conn:
        conn.execute(Cursor.__table__.delete().where(Cursor.source.like("feedback:%")))
    engine.dispose()
    again = project.sync()
    assert (again.sales_stage_changes, again.updated, again.tasks_created) == (0, 0, 0)
    assert [s for s, _ in history(project, "p0@x.example")] == ["inquiry", "lead", "mql", "sal"]


def test_a_lead_converted_mid_stream_is_followed_to_its_contact(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Sales converts a lead; its next change goes to the Contact (the fields a Contact has),
    never failing with CANNOT_UPDATE_CONVERTED_LEAD; the lead is SQL, with the reason."""
    project = salesforce_project(tmp_path)
    project.sync()
    store = sandbox.app.store
    lead = lead_record(sandbox, "p0@x.example")
    contact_id = store.convert(lead["Id"])
    csv = tmp_path / "leads.csv"
    csv.write_text(csv.read_text().replace("0,p0@x.example,Lee0,VP", "0,p0@x.example,Lee0,CTO"))
    summary = project.sync()
    assert summary.error is None and summary.failed == 0
    assert (summary.updated, summary.sales_stage_changes) == (1, 1)
    contact = store.records["Contact"][contact_id]
    assert (contact["Title"], contact["Lifecycle_Stage__c"]) == ("CTO", "sql")
    assert lead_record(sandbox, "p0@x.example")["Title"] == "VP"  # the lead stays as it was
    assert history(project, "p0@x.example")[-1] == (
        "sql",
        f"converted in the CRM (contact {contact_id})",
    )
    again = project.sync()
    assert (again.updated, again.failed) == (0, 0)


def test_a_new_lead_whose_email_a_contact_has_is_attached_to_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """p1 is already a Contact: leadsync updates that Contact (the fields a Contact has)
    instead of creating a duplicate Lead, its task names the Contact, and later changes go
    to the Contact too. With attach_to_contacts = false, a Lead is made as before."""
    store = sandbox.app.store
    store.records["Contact"]["0035g0000000777AAA"] = {
        "Id": "0035g0000000777AAA",
        "LastName": "Existing",
        "Email": "p1@x.example",
        "OwnerId": REP,
        "SystemModstamp": "2026-01-01T00:00:00.000+0000",
    }
    project = salesforce_project(tmp_path)
    first = project.sync()
    assert (first.created, first.adopted, first.failed) == (3, 1, 0)
    assert "p1@x.example" not in {r["Email"] for r in store.records["Lead"].values()}
    contact = store.records["Contact"]["0035g0000000777AAA"]
    assert (contact["LastName"], contact["Title"]) == ("Lee1", "VP")
    (task,) = [t for t in store.records["Task"].values() if t["WhoId"] == contact["Id"]]
    assert task["Subject"] == "Follow up: Lee1"
    csv = tmp_path / "leads.csv"
    csv.write_text(csv.read_text().replace("1,p1@x.example,Lee1,VP", "1,p1@x.example,Lee1,CTO"))
    second = project.sync()
    assert (second.updated, second.created, second.failed) == (1, 0, 0)
    assert contact["Title"] == "CTO" and len(store.records["Lead"]) == 3

    other = tmp_path / "off"
    other.mkdir()
    off = salesforce_project(other)
    off.config_path.write_text(
        off.config_path.read_text().replace("[crm.auth]", "attach_to_contacts = false\n[crm.auth]")
    )
    off.state_url_override = f"sqlite:///{other / 'state.db'}"
    store.records["Lead"].clear()
    store._indexes.clear()
    assert off.sync().created == 4
    assert "p1@x.example" in {r["Email"] for r in store.records["Lead"].values()}


def test_fill_if_empty_is_judged_on_the_crms_own_value(sandbox: Sandbox, tmp_path: Path) -> None:
    """Title is fill-if-empty. p2 came without one; a rep typed one in Salesforce: a title
    the source sends later does not overwrite it. p3 came without one and nobody typed
    one: the source's title fills it."""
    project = salesforce_project(tmp_path)
    text = project.config_path.read_text().replace(
        'Title = "title"', 'Title = { from = "title", direction = "fill_if_empty" }'
    )
    project.config_path.write_text(text)
    csv = tmp_path / "leads.csv"
    rows = csv.read_text()
    csv.write_text(
        rows.replace("2,p2@x.example,Lee2,VP", "2,p2@x.example,Lee2,").replace(
            "3,p3@x.example,Lee3,VP", "3,p3@x.example,Lee3,"
        )
    )
    project.sync()
    typed = lead_record(sandbox, "p2@x.example")
    assert typed.get("Title") is None
    sandbox.app.store.touch("Lead", typed["Id"], {"Title": "Chief Buyer"})
    csv.write_text(rows)  # the source now sends VP for everyone
    project.sync()
    assert lead_record(sandbox, "p2@x.example")["Title"] == "Chief Buyer"
    assert lead_record(sandbox, "p3@x.example")["Title"] == "VP"


def test_an_attached_contact_keeps_what_sales_owns(sandbox: Sandbox, tmp_path: Path) -> None:
    """LastName is sales' (direction crm) and Title fill-if-empty. p1's Contact has both:
    attaching the new lead writes neither. p2's Contact has no title: it is filled."""
    store = sandbox.app.store
    for n, (cid, title) in enumerate((("0035g0000000701AAA", "CEO"), ("0035g0000000702AAA", None))):
        store.records["Contact"][cid] = {
            "Id": cid,
            "LastName": f"Known{n + 1}",
            "Email": f"p{n + 1}@x.example",
            "Title": title,
            "OwnerId": REP,
            "SystemModstamp": "2026-01-01T00:00:00.000+0000",
        }
    project = salesforce_project(tmp_path)
    text = (
        project.config_path.read_text()
        .replace('LastName = "last_name"', 'LastName = { from = "last_name", direction = "crm" }')
        .replace('Title = "title"', 'Title = { from = "title", direction = "fill_if_empty" }')
    )
    project.config_path.write_text(text)
    summary = project.sync()
    assert (summary.created, summary.adopted, summary.failed) == (2, 2, 0)
    one, two = (store.records["Contact"][c] for c in ("0035g0000000701AAA", "0035g0000000702AAA"))
    assert (one["LastName"], one["Title"]) == ("Known1", "CEO")
    assert (two["LastName"], two["Title"]) == ("Known2", "VP")
    # Leads leadsync makes itself get every field, as before.
    assert lead_record(sandbox, "p3@x.example")["LastName"] == "Lee3"


def test_a_lead_routed_to_a_queue_gets_its_task_assigned_to_the_fallback(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A queue may own a Lead but not a Task: the lead goes to the queue, its follow-up
    task to the fallback owner, and nothing is dead-lettered."""
    queue = "00G5g00000000InbAA"
    project = salesforce_project(tmp_path)
    text = project.config_path.read_text().replace(
        "keep_existing_owner = false\n",
        "keep_existing_owner = false\n[[routing.rules]]\n"
        f'name = "inbound"\nwhen = "exists(email)"\nowner = "{queue}"\n',
    )
    project.config_path.write_text(text)
    summary = project.sync()
    assert (summary.created, summary.tasks_created, summary.failed) == (4, 4, 0)
    assert {r["OwnerId"] for r in sandbox.app.store.records["Lead"].values()} == {queue}
    assert {t["OwnerId"] for t in sandbox.app.store.records["Task"].values()} == {REP}


def test_an_owner_sales_gives_an_attached_contact_is_kept(sandbox: Sandbox, tmp_path: Path) -> None:
    """p1 was attached to an existing Contact. Sales gives that Contact to another rep: the
    next sync reads it (Contacts carry no key of leadsync's: found by id), the lead's owner
    follows, and a later change to the lead does not write the old owner back."""
    store = sandbox.app.store
    cid = "0035g0000000777AAA"
    store.records["Contact"][cid] = {
        "Id": cid,
        "LastName": "Existing",
        "Email": "p1@x.example",
        "OwnerId": REP,
        "SystemModstamp": "2026-01-01T00:00:00.000+0000",
    }
    project = salesforce_project(tmp_path)
    first = project.sync()
    assert (first.created, first.adopted) == (3, 1)
    store.touch("Contact", cid, {"OwnerId": OTHER_REP})
    second = project.sync()
    assert second.sales_owner_changes == 1
    csv = tmp_path / "leads.csv"
    csv.write_text(csv.read_text().replace("1,p1@x.example,Lee1,VP", "1,p1@x.example,Lee1,CTO"))
    third = project.sync()
    assert third.updated == 1
    contact = store.records["Contact"][cid]
    assert (contact["Title"], contact["OwnerId"]) == ("CTO", OTHER_REP)


def test_explain_shows_a_recycled_leads_come_back_date(sandbox: Sandbox, tmp_path: Path) -> None:
    """`explain` of a lead sales recycled until 2031-01-15 says when it comes back, and not
    that the next run would re-enter MQL."""
    from click.testing import CliRunner

    from leadsync.cli import main

    project, _ = recycled_until(tmp_path, sandbox, "2031-01-15")
    args = ["--config", str(project.config_path), "--state-url", project.state_url]

    text = CliRunner().invoke(main, [*args, "explain", "p1@x.example"]).stdout

    assert "comes back on 2031-01-15 (the date sales chose)" in text
    assert "the next run would enter" not in text
