"""Whole syncs into and out of HubSpot: paced below the limit, 429s waited out, demo."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from leadsync.cli import main
from leadsync.sandbox.hubspot import HubSpotEmulator, RateLimits
from leadsync.sandbox.hubspot import Store as HubSpotStore
from leadsync.sandbox.server import running
from leadsync.state import db
from leadsync.state import owners as owners_state
from tests.conftest import HubSpotSandbox, Project, Sandbox

CONFIG = """
[sources.forms]
type = "csv"
path = "leads.csv"
external_id = "id"

[sources.forms.fields]
email = {{ from = "email", required = true }}
first_name = "first"
last_name = "last"
title = "title"

[scoring]
[[scoring.rules]]
name = "vp"
category = "fit"
when = 'title == "VP"'
points = 100

[lifecycle.mql]
total = 50

[tasks]
subject = "Follow up: $first_name $last_name"
due_in_hours = 24

[routing]
fallback_owner = "lee.admin@leadsync.example"
keep_existing_owner = false
[[routing.rules]]
name = "everyone"
when = "exists(email)"
owner = "bo.rep@leadsync.example"

[crm]
type = "hubspot"
sandbox_url = "${{HUBSPOT_URL}}"
rate_limit_per_10s = {limit}
search_per_second = {searches}
[crm.auth]
access_token = "${{HUBSPOT_TOKEN}}"
[crm.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
jobtitle = "title"
hubspot_owner_id = "owner"
leadsync_score = "score"
[crm.fields.lifecyclestage]
from = "stage"
transforms = [{{ map = {{ mql = "marketingqualifiedlead", "*" = "lead" }} }}]

[sync]
chunk_size = 1000
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.2
"""


def project(tmp_path: Path, leads: int, *, limit: int = 100_000, searches: int = 10_000) -> Project:
    rows = "".join(f"{i},p{i}@x.example,P{i},Lee,VP\n" for i in range(leads))
    (tmp_path / "leads.csv").write_text("id,email,first,last,title\n" + rows, encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(limit=limit, searches=searches), encoding="utf-8")
    return Project(tmp_path, path)


def assert_each_lead_once(hubspot: HubSpotSandbox, leads: int) -> None:
    contacts = hubspot.records()
    ids = Counter(c["properties"]["leadsync_id"] for c in contacts)
    assert len(contacts) == leads and set(ids.values()) == {1}
    tasks = hubspot.records("tasks")
    keys = Counter(t["properties"]["leadsync_key"] for t in tasks)
    assert len(tasks) == leads and set(keys.values()) == {1}
    # every task is on its own contact
    assert sorted(t["associations"]["contacts"][0] for t in tasks) == sorted(
        c["id"] for c in contacts
    )


def test_10000_leads_paced_below_the_limit(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """At a portal limit of 100 requests per 10 s, leadsync paces itself (90 in any 10 s):
    HubSpot never answers 429, and the requests are ceil(10,000 / 100) for contacts plus
    the same for tasks, within 5%."""
    hubspot.app.limits = RateLimits(per_10s=100, search_per_second=4, daily=0)
    summary = project(tmp_path, 10_000, limit=100, searches=4).sync()
    assert summary.error is None
    assert (summary.created, summary.tasks_created, summary.failed) == (10_000, 10_000, 0)
    assert summary.retried == 0
    stats = hubspot.stats()
    assert stats["rate_limited"] == {}
    assert 100 <= stats["requests"]["batch_upsert"] <= 105
    assert 100 <= stats["requests"]["batch_create"] <= 105
    assert_each_lead_once(hubspot, 10_000)


def test_a_burst_of_429s_is_waited_out(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """Four 429s in a row (HubSpot's body, policyName TEN_SECONDLY_ROLLING, Retry-After):
    each waited out as told and retried; every lead and every task in HubSpot exactly
    once; the retries counted in the summary."""
    hubspot.faults("429:requests=4;5;6;7:retry_after=0.3")
    summary = project(tmp_path, 2_000).sync()
    assert summary.error is None and summary.failed == 0
    assert (summary.created, summary.tasks_created) == (2_000, 2_000)
    assert summary.retried == 4
    assert hubspot.stats()["faults"] == {"429": 4}
    assert_each_lead_once(hubspot, 2_000)


def test_a_second_sync_writes_nothing_and_a_change_writes_one(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    proj = project(tmp_path, 300)
    assert proj.sync().created == 300
    again = proj.sync()
    assert (again.read, again.api_calls) == (0, 0)
    csv = tmp_path / "leads.csv"
    csv.write_text(csv.read_text().replace("7,p7@x.example,P7,Lee,VP", "7,p7@x.example,P7,Lee,CTO"))
    changed = proj.sync()
    assert (changed.updated, changed.created) == (1, 0)
    (p7,) = [c for c in hubspot.records() if c["properties"]["email"] == "p7@x.example"]
    assert p7["properties"]["jobtitle"] == "CTO"
    # no longer an MQL by score, but HubSpot keeps the stage it reached
    assert p7["properties"]["lifecyclestage"] == "marketingqualifiedlead"


def test_demo_into_hubspot_twice(tmp_path: Path) -> None:
    """`leadsync demo --crm hubspot --json`: the Salesforce demo's keys and decisions; the
    second run writes nothing."""
    runner = CliRunner()

    def demo(*args: str) -> dict:
        result = runner.invoke(main, ["--log-level", "error", "demo", "--json", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    hubspot_dir = str(tmp_path / "hs")
    one = demo("--crm", "hubspot", "--dir", hubspot_dir)
    salesforce = demo("--dir", str(tmp_path / "sf"))
    assert one.keys() == salesforce.keys()
    same = ("read", "created", "mql", "owners_assigned", "tasks_created", "nurture_added")
    assert {k: one[k] for k in same} == {k: salesforce[k] for k in same}
    # what sales did (contacts and tasks: a search each), properties, ceil(481 / 100)
    # upserts, owners active and archived, contacts by email (100 a search, for 481 leads:
    # 5), one task batch, ceil(256 / 100) list changes
    assert one["api_calls"] == 2 + 1 + 5 + 2 + 5 + 1 + 3, json.dumps(one)
    second = demo("--crm", "hubspot", "--dir", hubspot_dir)
    writes = ("read", "created", "updated", "tasks_created", "nurture_added")
    assert {k: second[k] for k in writes} == dict.fromkeys(writes, 0)
    # Only the read-back of what leadsync just wrote, which sales has not touched: the 481
    # contacts (pages of 200, more when a batch's contacts share a millisecond) and the
    # 52 tasks (1).
    assert 4 <= second["api_calls"] <= 7 and second["sales_stage_changes"] == 0
    held = json.loads((tmp_path / "hs" / "sandbox-records.json").read_text())
    assert len(held["objects"]["contacts"]) == one["created"]
    assert len(held["objects"]["tasks"]) == one["tasks_created"]
    owners = Counter(t["properties"]["hubspot_owner_id"] for t in held["objects"]["tasks"].values())
    assert owners == {"71000004": 30, "71000002": 15, "71000003": 7}


HUBSPOT_SOURCE = """
[sources.hubspot_marketing]
type = "hubspot"
sandbox_url = "${{HUBSPOT_URL}}"
auth = {{ access_token = "${{HUBSPOT_TOKEN}}" }}
rate_limit_per_10s = 100000
search_per_second = 10000

[sources.hubspot_marketing.fields]
email = {{ from = "email", transforms = ["lower"], required = true }}
last_name = "lastname"
title = "jobtitle"

[scoring]
half_life_days = 30
[[scoring.rules]]
name = "asked for a demo"
category = "behaviour"
when = 'event.type == "form_submit" and event.form == "Demo request"'
points = 70

[lifecycle.mql]
total = 60

[crm]
type = "salesforce"
sandbox_url = "${{SANDBOX_URL}}"
[crm.auth]
username = "${{SF_USERNAME}}"
password = "${{SF_PASSWORD}}"
security_token = "${{SF_SECURITY_TOKEN}}"
[crm.fields]
Email = "email"
LastName = {{ from = "last_name", transforms = [{{ default = "[not provided]" }}] }}
Company = {{ from = "title", transforms = [{{ default = "[not provided]" }}] }}
Lifecycle_Stage__c = "stage"
"""


def test_hubspot_marketing_to_salesforce_with_activity(
    hubspot: HubSpotSandbox, sandbox: Sandbox, tmp_path: Path
) -> None:
    """Contacts read from a HubSpot portal become Salesforce leads; a recent demo-request
    form submission (a HubSpot activity property) scores as behaviour and makes an MQL."""
    from datetime import UTC, datetime, timedelta

    recent = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for i in range(5):
        props = {"email": f"H{i}@x.example", "lastname": f"Ho {i}"}
        if i == 0:
            props |= {
                "recent_conversion_date": recent,
                "recent_conversion_event_name": "Demo request",
            }
        hubspot.store.put("contacts", props)
    path = tmp_path / "config.toml"
    path.write_text(HUBSPOT_SOURCE.format(), encoding="utf-8")
    proj = Project(tmp_path, path)
    summary = proj.sync()
    assert (summary.read, summary.created, summary.mql) == (5, 5, 1)
    stages = {r["Email"]: r.get("Lifecycle_Stage__c") for r in sandbox.records()}
    assert stages["h0@x.example"] == "mql" and stages["h1@x.example"] == "lead"
    again = proj.sync()
    assert again.read == 0


def test_a_rule_landing_on_an_archived_owner_gives_the_fallback(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    """Dee was archived in HubSpot: the owners API says so, and her leads go to the fallback
    owner (by email, resolved to the owner id), with no write refused."""
    proj = project(tmp_path, 20)
    text = proj.config_path.read_text().replace(
        "bo.rep@leadsync.example", "dee.gone@leadsync.example"
    )
    proj.config_path.write_text(text)
    summary = proj.sync()
    assert (summary.created, summary.owners_assigned, summary.failed) == (20, 20, 0)
    owners = {c["properties"]["hubspot_owner_id"] for c in hubspot.records()}
    assert owners == {"71000001"}  # lee.admin, the fallback
    # The portal's owners are kept by name, by id and by email (routing names either).
    engine = db.make_engine(proj.state_url)
    try:
        with db.session_factory(engine)() as session:
            names = owners_state.known(session)
    finally:
        engine.dispose()
    assert names["71000001"] == names["lee.admin@leadsync.example"] == "Lee Admin"
    assert names["71000005"] == "Dee Gone"  # archived, still named (she owned leads once)


def test_a_lost_state_db_twins_no_hubspot_contact_or_task(tmp_path: Path) -> None:
    """The HubSpot demo, its state db deleted, run again: the same contacts are found under
    the keys their people derive to, and each MQL's open task stands: no second one."""
    runner = CliRunner()
    folder = str(tmp_path / "hs")

    def demo() -> dict:
        result = runner.invoke(
            main, ["--log-level", "error", "demo", "--json", "--crm", "hubspot", "--dir", folder]
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    first = demo()
    (tmp_path / "hs" / "state.db").unlink()

    again = demo()

    assert (again["created"], again["adopted"], again["tasks_created"]) == (0, first["created"], 0)
    held = json.loads((tmp_path / "hs" / "sandbox-records.json").read_text())
    assert len(held["objects"]["contacts"]) == first["created"]
    assert len(held["objects"]["tasks"]) == first["tasks_created"]


def test_reconcile_adopt_rebuilds_a_hubspot_state_db(tmp_path: Path) -> None:
    """After a lost state db, `reconcile --adopt` takes the portal's keyed contacts back
    with the stages their tasks record; the demo run again writes nothing."""
    runner = CliRunner()
    folder = tmp_path / "hs"
    args = ["--log-level", "error"]

    def demo() -> dict:
        result = runner.invoke(
            main, [*args, "demo", "--json", "--crm", "hubspot", "--dir", str(folder)]
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    first = demo()
    (folder / "state.db").unlink()
    with running(
        HubSpotEmulator(store=HubSpotStore(data_file=folder / "sandbox-records.json"))
    ) as url:
        config = folder / "config.toml"
        text = config.read_text()
        config.write_text(re.sub(r'sandbox_url = "[^"]*"', f'sandbox_url = "{url}"', text))
        common = [*args, "--config", str(config)]
        assert runner.invoke(main, [*common, "db", "upgrade"]).exit_code == 0
        adopted = runner.invoke(main, [*common, "reconcile", "--adopt", "--json"])
    assert adopted.exit_code == 0, adopted.output
    body = json.loads(adopted.stdout)["adopted"]
    assert (body["leads"], body["stages"]) == (first["created"], first["tasks_created"])

    again = demo()

    assert (again["created"], again["adopted"], again["tasks_created"], again["mql"]) == (
        0,
        0,
        0,
        0,
    )
