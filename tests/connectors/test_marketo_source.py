"""The Marketo source against the emulator, through whole syncs into a Salesforce org that
already holds some of the people: incremental reads across token expiry, rate limits and
the daily quota, merges and deletes, activity types past ten, a Bulk Extract killed
mid-job and resumed. Each lead reaches the CRM once and each activity is stored once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from leadsync.sandbox.marketo.schema import (
    CLICK_EMAIL,
    FILL_OUT_FORM,
    INTERESTING_MOMENT,
    OPEN_EMAIL,
    SEND_EMAIL,
    TYPES,
    VISIT_WEBPAGE,
)
from leadsync.state import db
from leadsync.state.models import Event, Lead, SourceRecord
from tests.conftest import MarketoOrg, Project

READ_BY_DEFAULT = {FILL_OUT_FORM, VISIT_WEBPAGE, OPEN_EMAIL, CLICK_EMAIL, INTERESTING_MOMENT}
# The demo's config names one more: emails sent.
DEMO_TYPES = READ_BY_DEFAULT | {SEND_EMAIL}


def state(project: Project):
    engine = db.make_engine(project.state_url)
    return engine, db.session_factory(engine)()


def stored(project: Project) -> tuple[Counter, dict[str, int]]:
    """The events leadsync holds (by key, to see none twice) and each Marketo id's lead."""
    engine, session = state(project)
    try:
        keys = Counter(session.scalars(select(Event.key).where(Event.source == "marketo")))
        ids = dict(
            session.execute(
                select(SourceRecord.external_id, SourceRecord.lead_id).where(
                    SourceRecord.source == "marketo"
                )
            ).all()
        )
        return keys, {str(k): v for k, v in ids.items()}
    finally:
        session.close()
        engine.dispose()


def marketo_activities(org: MarketoOrg, types: set[int]) -> set[str]:
    """The keys leadsync should hold: each activity of these types of a lead that exists."""
    return {
        f"marketo:{a.id}"
        for a in org.store.log
        if a.type_id in types and org.store.owner(a) in org.store.leads
    }


def assert_each_once(org: MarketoOrg, project: Project, types: set[int] = DEMO_TYPES):
    keys, ids = stored(project)
    assert max(keys.values(), default=1) == 1
    assert set(keys) == marketo_activities(org, types)
    assert set(ids) == {str(i) for i in org.store.leads}
    ours = Counter(
        str(r.get("Email") or "").lower() for r in org.crm_leads() if r.get("LeadSync_Id__c")
    )
    assert ours and max(ours.values()) == 1, "a person reached the CRM twice"


def test_a_first_sync_then_an_incremental_one_reads_each_lead_and_activity_once(
    tmp_path: Path, marketo: MarketoOrg
):
    project = marketo.project(tmp_path)
    first = project.sync()
    assert first.error is None and first.read > 0
    assert_each_once(marketo, project)

    # In Marketo since: a new lead fills a form, an old one changes title and opens an email.
    at = "2026-11-23T11:00:00Z"
    new = marketo.do(
        op="create",
        at=at,
        fields={
            "email": "ada@newco.example",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "company": "NewCo",
            "title": "VP Engineering",
        },
    )["id"]
    marketo.do(op="act", lead=new, type=FILL_OUT_FORM, at=at, primary="Contact Sales")
    marketo.do(op="change", lead=1, at=at, fields={"title": "Chief Revenue Officer"})
    marketo.do(op="act", lead=1, type=OPEN_EMAIL, at=at, primary="Nurture 2")
    calls = marketo.stats()["requests"].get("leads", 0)
    second = project.sync()
    # Fields read twice: the new lead's, once its form named it, and both leads' changes
    # in one call. Lead 1's email open goes to its lead as it is: no call.
    assert marketo.stats()["requests"]["leads"] - calls == 2
    assert second.error is None
    # Each lead once a stream it is in: the new one's form and its creation, lead 1's
    # email open and its new title.
    assert second.read == 4
    assert_each_once(marketo, project)
    titles = {r.get("Email"): r.get("Title") for r in marketo.crm_leads()}
    assert titles["ada@newco.example"] == "VP Engineering"

    third = project.sync()
    assert third.read == 0 and third.planned_creates + third.planned_updates == 0


def test_an_expired_token_is_renewed_and_the_read_goes_on(tmp_path: Path, marketo: MarketoOrg):
    project = marketo.project(tmp_path)
    marketo.faults("session_expired:requests=3;7")  # 602 on the 3rd and 7th reads
    summary = project.sync()
    assert summary.error is None
    assert marketo.marketo.faults.injected == {"session_expired": 2}
    assert_each_once(marketo, project)

    marketo.faults("")
    marketo.do(op="expire_tokens")  # every token handed out is expired now
    marketo.do(op="act", lead=2, type=VISIT_WEBPAGE, at="2026-11-23T11:30:00Z", primary="/pricing")
    again = project.sync()
    assert again.error is None and again.read == 1
    assert marketo.stats()["refused"].get("602", 0) >= 1
    assert_each_once(marketo, project)


def test_a_burst_of_606_waits_and_retries(tmp_path: Path, marketo: MarketoOrg):
    project = marketo.project(tmp_path)
    marketo.faults("429:requests=2;3;4")  # Marketo's 606, three in a row
    summary = project.sync()
    assert summary.error is None
    assert summary.retried >= 3 and summary.rate_limited >= 3
    assert_each_once(marketo, project)


def test_the_daily_quota_stops_the_run_and_says_when_it_resets(tmp_path: Path, marketo: MarketoOrg):
    project = marketo.project(tmp_path)
    marketo.faults("request_limit:requests=5")  # 607 on the 5th call
    stopped = project.sync()
    assert stopped.status == "failed"
    # The test clock is 2026-11-23 12:00 UTC: Marketo's day ends at midnight US Central.
    assert "daily API quota" in stopped.error and "2026-11-24 06:00 UTC" in stopped.error
    marketo.faults("")
    resumed = project.sync()
    assert resumed.error is None
    assert_each_once(marketo, project)


def test_a_lead_merged_between_two_reads_keeps_its_history_in_the_winner(
    tmp_path: Path, marketo: MarketoOrg
):
    project = marketo.project(tmp_path)
    winner = marketo.do(
        op="create",
        at="2026-11-23T10:00:00Z",
        fields={"email": "grace@hopper.example", "lastName": "Hopper"},
    )["id"]
    loser = marketo.do(
        op="create",
        at="2026-11-23T10:00:00Z",
        fields={"email": "g.hopper@navy.example", "lastName": "Hopper"},
    )["id"]
    marketo.do(op="act", lead=loser, type=FILL_OUT_FORM, at="2026-11-23T10:05:00Z", primary="Demo")
    marketo.do(op="act", lead=winner, type=OPEN_EMAIL, at="2026-11-23T10:06:00Z", primary="N1")
    project.sync()
    _, ids = stored(project)
    assert ids[str(loser)] != ids[str(winner)]  # two emails, two leads so far

    marketo.do(op="merge", winner=winner, losers=[loser], at="2026-11-23T11:00:00Z")
    summary = project.sync()
    assert summary.merged == 1
    _, ids = stored(project)
    assert str(loser) not in ids
    engine, session = state(project)
    try:
        events = session.scalars(select(Event).where(Event.lead_id == ids[str(winner)])).all()
        assert {e.type for e in events} == {"form_submit", "email_open"}
    finally:
        session.close()
        engine.dispose()
    assert_each_once(marketo, project)


def test_a_deleted_lead_is_forgotten_and_its_lead_kept(tmp_path: Path, marketo: MarketoOrg):
    project = marketo.project(tmp_path)
    project.sync()
    _, before = stored(project)
    marketo.do(op="delete", lead=3, at="2026-11-23T11:00:00Z")
    summary = project.sync()
    assert summary.deleted == 1
    _, after = stored(project)
    assert "3" not in after and set(before) - set(after) == {"3"}
    engine, session = state(project)
    try:
        assert session.get(Lead, before["3"]) is not None  # sales may be working it
    finally:
        session.close()
        engine.dispose()


def test_twelve_activity_types_take_two_calls_a_page(tmp_path: Path, marketo: MarketoOrg):
    names = [
        "Click Link",
        "Send Email",
        "Email Delivered",
        "Unsubscribe Email",
        "Change Score",
        "Add to List",
    ]
    project = marketo.project(tmp_path, activity_types=repr(names).replace("'", '"'))
    summary = project.sync()
    assert summary.error is None
    requests = marketo.stats()["requests"]
    # 5 default types, merges and 6 named: 12 type ids, so two streams of activities.
    assert requests["activities"] >= 2
    types = {i for i, t in TYPES.items() if t["name"] in names} | READ_BY_DEFAULT
    assert_each_once(marketo, project, types)


def test_an_interesting_moment_reaches_the_reps_task(tmp_path: Path, marketo: MarketoOrg):
    project = marketo.project(tmp_path)
    who = marketo.do(
        op="create",
        at="2026-11-23T09:00:00Z",
        fields={
            "email": "cto@bigco.example",
            "firstName": "Kim",
            "lastName": "Lee",
            "title": "CTO",
            "numberOfEmployees": 5000,
            "country": "US",
            "company": "BigCo",
        },
    )["id"]
    for minute in (1, 2):
        marketo.do(
            op="act",
            lead=who,
            type=FILL_OUT_FORM,
            at=f"2026-11-23T09:0{minute}:00Z",
            primary="Contact Sales",
        )
    marketo.do(
        op="act",
        lead=who,
        type=INTERESTING_MOMENT,
        at="2026-11-23T09:03:00Z",
        attributes={"Type": "Milestone", "Description": "Asked for a demo of routing"},
    )
    project.sync()
    tasks = requests_json(marketo, "Task")
    (task,) = [t for t in tasks if "Kim Lee" in (t.get("Subject") or "")]
    assert "Interesting moments:" in task["Description"]
    assert "Asked for a demo of routing (Milestone)" in task["Description"]


def test_bulk_extract_killed_mid_job_resumes_with_the_same_job(tmp_path: Path, marketo: MarketoOrg):
    # From Sep 1 to the test's now (Nov 23): three 31-day windows, of leads then activities.
    project = marketo.project(tmp_path, chunk_size=4, backfill_from='"2026-09-01"')
    reads: list[int] = []

    def die_after_two_pages_of_rows(source: str, read: int) -> None:
        if not reads or read > reads[-1]:
            reads.append(read)
        if len(reads) == 3:
            raise KeyboardInterrupt  # the process dies; its second page of rows is committed

    with pytest.raises(KeyboardInterrupt):
        project.sync(on_read=die_after_two_pages_of_rows)
    assert marketo.stats()["requests"]["export_create"] == 1  # killed inside the first job
    summary = project.sync()
    assert summary.error is None
    requests = marketo.stats()["requests"]
    assert requests["export_create"] == 6  # the killed job was read on, not made again
    assert_each_once(marketo, project)


def requests_json(org: MarketoOrg, obj: str) -> list[dict]:
    import requests

    return requests.get(f"{org.url}/__sandbox/records/{obj}", timeout=10).json()["records"]


def test_the_days_export_quota_stops_a_backfill_until_it_resets(
    tmp_path: Path, marketo: MarketoOrg
):
    marketo.marketo.exports.daily_bytes = 1  # the first job's file uses the day's quota up
    project = marketo.project(tmp_path, backfill_from='"2026-09-01"')
    stopped = project.sync()
    assert stopped.status == "failed"
    assert "Bulk Extract quota" in stopped.error and "2026-11-24 06:00 UTC" in stopped.error
    marketo.marketo.exports.daily_bytes = 10**9  # a new day
    resumed = project.sync()
    assert resumed.error is None
    # The job made before the stop was enqueued once the quota reset, not made again.
    assert marketo.stats()["requests"]["export_create"] == 6
    assert_each_once(marketo, project)
