"""`leadsync report` against a ledger computed by hand: eight leads with known stage
times, SLA timers, touches and recycles, on SQLite and on PostgreSQL.

The period is November 2026. By hand (lead: stage entries, day of November at hour):
L1 A web spring: inquiry+lead+mql 2 09h, touched 2 11h (2 h, in its SLA), sal 3 09h,
   sql 5 09h.
L2 A web spring: inquiry+lead 2 10h, mql 4 10h, breached once, touched 5 10h (24 h),
   sal 6 10h.
L3 B csv: inquiry+lead+mql 9 12h, breached twice then recycled 12 12h ("not followed
   up"), back on 12 December.
L4 B csv: inquiry 10 08h.
L5 (no owner) web: inquiry+lead 20 October, mql 10 08h, rejected by sales 16 08h,
   disqualified 20 08h.
L6 A web: inquiry+lead 25 08h.
L7 A web: inquiry+lead+mql 1 October, sal 3 November 09h.
L8 B csv: mql 1 September, recycled 10 September, back on 15 November (overdue).
L9 B csv: mql 1 October, recycled 5 October, qualified again 20 November 08h (an MQL of
   November too, though its cohort is October's: conversions count a lead's first entry).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from leadsync.cli import main
from leadsync.ops.plan import build_plan
from leadsync.ops.report import build_report, build_scoring
from leadsync.rules.sla import BusinessHours
from leadsync.settings import PlanningSection, TargetSection
from leadsync.state import db
from leadsync.state.ledger import Period
from leadsync.state.models import Lead, SlaTimer, SourceRecord, StageHistory

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOVEMBER = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


# lead -> (owner, source, campaign, stage now, revisit_on, [(stage, time, reason)])
LEDGER = {
    1: ("A", "web", "spring", "sql", None,
        [("inquiry", at(11, 2, 9)), ("lead", at(11, 2, 9)), ("mql", at(11, 2, 9)),
         ("sal", at(11, 3, 9)), ("sql", at(11, 5, 9))]),
    2: ("A", "web", "spring", "sal", None,
        [("inquiry", at(11, 2, 10)), ("lead", at(11, 2, 10)), ("mql", at(11, 4, 10)),
         ("sal", at(11, 6, 10))]),
    3: ("B", "csv", None, "recycled", date(2026, 12, 12),
        [("inquiry", at(11, 9, 12)), ("lead", at(11, 9, 12)), ("mql", at(11, 9, 12)),
         ("recycled", at(11, 12, 12),
          "not followed up: no first touch by B within 4 h of business hours")]),
    4: ("B", "csv", None, "inquiry", None, [("inquiry", at(11, 10, 8))]),
    5: (None, "web", None, "disqualified", None,
        [("inquiry", at(10, 20, 8)), ("lead", at(10, 20, 8)), ("mql", at(11, 10, 8)),
         ("recycled", at(11, 16, 8), "rejected by sales: Status 'Unqualified' (No budget)"),
         ("disqualified", at(11, 20, 8))]),
    6: ("A", "web", None, "lead", None, [("inquiry", at(11, 25, 8)), ("lead", at(11, 25, 8))]),
    7: ("A", "web", None, "sal", None,
        [("inquiry", at(10, 1, 8)), ("lead", at(10, 1, 8)), ("mql", at(10, 1, 8)),
         ("sal", at(11, 3, 9))]),
    8: ("B", "csv", None, "recycled", date(2026, 11, 15),
        [("mql", at(9, 1, 8)), ("recycled", at(9, 10, 8), "rejected by sales: Status 'Later'")]),
    9: ("B", "csv", None, "mql", None,
        [("mql", at(10, 1, 8)), ("recycled", at(10, 5, 8), "rejected by sales: Status 'Later'"),
         ("mql", at(11, 20, 8), "re-qualified after recycling")]),
}  # fmt: skip
# lead -> (fit, behaviour): L1 converted at 80; L6, first seen in November too, outscores
# it at 90 without; L2 (accepted) and L3 tie at 60.
SCORES = {1: (50.0, 30.0), 2: (60.0, 0.0), 3: (40.0, 20.0), 4: (10.0, 0.0), 6: (90.0, 0.0)}
# lead -> (status, started, due, reassignments, touched)
TIMERS = {
    1: ("met", at(11, 2, 9), at(11, 2, 13), 0, at(11, 2, 11)),
    2: ("met", at(11, 4, 20), at(11, 5, 0), 1, at(11, 5, 10)),
    3: ("recycled", at(11, 10, 12), at(11, 10, 16), 2, None),
    5: ("open", at(11, 10, 8), at(11, 10, 12), 0, None),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    engine = db.make_engine(url)
    db.upgrade(engine)
    with db.session_factory(engine)() as session, session.begin():
        _write_ledger(session)
    engine.dispose()
    return url


def _write_ledger(session) -> None:
    for lead_id, (owner, source, campaign, stage, back, entries) in LEDGER.items():
        profile = {"campaign": campaign} if campaign else {}
        session.execute(
            insert(Lead),
            [
                {**Lead.blank(f"k{lead_id}", None, at(9, 1), owner), "id": lead_id,
                 "profile": profile, "stage": stage, "revisit_on": back,
                 "score_fit": SCORES.get(lead_id, (None, None))[0],
                 "score_behaviour": SCORES.get(lead_id, (None, None))[1]}
            ],
        )  # fmt: skip
        session.execute(
            insert(SourceRecord),
            [{"source": source, "external_id": f"r{lead_id}", "content_hash": "h",
              "lead_id": lead_id, "seen_at": at(9, 1)}],
        )  # fmt: skip
        session.execute(
            insert(StageHistory),
            [
                {"lead_id": lead_id, "stage": e[0], "at": e[1],
                 "reason": e[2] if len(e) > 2 else "by hand"}
                for e in entries
            ],
        )  # fmt: skip
    for lead_id, (status, started, due, reassigned, touched) in TIMERS.items():
        session.add(
            SlaTimer(
                lead_id=lead_id, owner=LEDGER[lead_id][0], task_key=f"task:{lead_id}",
                started_at=started, due_at=due, status=status, reassignments=reassigned,
                touched_at=touched, steps=[],
            )
        )  # fmt: skip


def report(url: str, period: Period = NOVEMBER, by: str | None = None) -> dict:
    engine = db.make_engine(url)
    try:
        return build_report(engine, NOW, period, by)
    finally:
        engine.dispose()


def test_the_funnel_counts_entries_and_converts_each_cohort(state_url: str) -> None:
    """Leads entering each stage in November, and of each stage's November cohort how many
    went on and in how many days (median and p90 interpolated), as counted by hand."""
    (row,) = report(state_url)["funnel"]
    assert row["entered"] == {
        "inquiry": 5, "lead": 4, "mql": 5, "sal": 3, "sql": 1, "recycled": 2, "disqualified": 1
    }  # fmt: skip
    c = row["conversion"]
    assert c["inquiry>lead"] == {
        "from": 5,
        "to": 4,
        "rate": 0.8,
        "median_days": 0.0,
        "p90_days": 0.0,
    }
    assert c["lead>mql"] == {"from": 4, "to": 3, "rate": 0.75, "median_days": 0.0, "p90_days": 1.6}
    assert c["mql>sal"] == {"from": 4, "to": 2, "rate": 0.5, "median_days": 1.5, "p90_days": 1.9}
    assert c["sal>sql"] == {"from": 3, "to": 1, "rate": 0.333, "median_days": 2.0, "p90_days": 2.0}
    assert c["mql>sql"] == {"from": 4, "to": 1, "rate": 0.25, "median_days": 3.0, "p90_days": 3.0}


def test_follow_up_owners_and_recycling(state_url: str) -> None:
    """November's MQLs: two touched (one within its SLA) after 2 and 24 hours, four breaches,
    three reassignments, one recycled unworked; per owner; recycling's reasons, what became
    of the leads and when the recycled come back."""
    built = report(state_url)
    (follow,) = built["follow_up"]
    assert follow == {
        "group": "all", "mqls": 4, "accepted": 2, "touched": 2, "touched_within_sla": 1,
        "sla_breaches": 4, "reassignments": 3, "recycled_not_followed_up": 1, "follow_up_rate": 0.5,
        "within_sla_rate": 0.25, "median_hours_to_first_touch": 13.0,
        "p90_hours_to_first_touch": 21.8, "median_business_hours_to_first_touch": None,
        "p90_business_hours_to_first_touch": None,
    }  # fmt: skip
    owners = {o["owner"]: o for o in built["owners"]}
    assert list(owners) == ["A", "B", "(none)"]
    assert owners["A"] == {
        "owner": "A", "mqls": 2, "open_mqls_now": 0, "accepted": 2, "acceptance_rate": 1.0,
        "follow_up_rate": 1.0, "median_hours_to_first_touch": 13.0,
        "median_business_hours_to_first_touch": None, "sla_breaches": 1, "name": None,
    }  # fmt: skip
    b = owners["B"]
    assert (b["mqls"], b["open_mqls_now"], b["accepted"], b["sla_breaches"]) == (1, 1, 0, 3)
    assert owners["B"]["median_hours_to_first_touch"] is None
    assert built["recycling"] == {
        "reasons": {"not followed up": 1, "rejected by sales: Status 'Unqualified' (No budget)": 1},
        "recycled": 2, "qualified_again": 0, "accepted": 0, "converted": 0, "disqualified": 1,
        "coming_back": {"overdue": 1, "in 7-13 days": 1},
    }  # fmt: skip


def test_time_to_first_touch_in_business_hours(state_url: str) -> None:
    """In Mon-Fri 09:00-18:00 (Berlin, an hour ahead of UTC in November), L1's 2 hours
    stay 2; L2's 24 hours, Wednesday 11:00 to Thursday 11:00 local, are 7 + 2 = 9."""
    hours = BusinessHours.parse("Mon-Fri 09:00-18:00", "Europe/Berlin")
    engine = db.make_engine(state_url)
    try:
        built = build_report(engine, NOW, NOVEMBER, hours=hours)
        by_owner = build_report(engine, NOW, NOVEMBER, by="owner", hours=hours)
    finally:
        engine.dispose()
    (follow,) = built["follow_up"]
    assert follow["median_business_hours_to_first_touch"] == 5.5
    assert follow["p90_business_hours_to_first_touch"] == 8.3
    assert follow["median_hours_to_first_touch"] == 13.0  # the calendar's, as before
    a = next(r for r in by_owner["follow_up"] if r["group"] == "A")
    assert a["median_business_hours_to_first_touch"] == 5.5


def test_rows_by_week_source_and_campaign(state_url: str) -> None:
    """--by puts each lead (for week: each entry) in its group: the Monday of the week it
    entered the stage a figure starts from, its source, its campaign."""
    weeks = {r["group"]: r for r in report(state_url, by="week")["funnel"]}
    assert {w: r["entered"]["inquiry"] for w, r in weeks.items()} == {
        "2026-11-02": 2, "2026-11-09": 2, "2026-11-23": 1, "2026-11-16": 0,
    }  # fmt: skip
    assert weeks["2026-11-16"]["entered"]["mql"] == 1  # L9, qualified again
    assert weeks["2026-11-02"]["conversion"]["mql>sal"]["to"] == 2
    assert weeks["2026-11-09"]["conversion"]["mql>sal"] == {
        "from": 2, "to": 0, "rate": 0.0, "median_days": None, "p90_days": None
    }  # fmt: skip
    sources = {
        r["group"]: r["conversion"]["mql>sal"] for r in report(state_url, by="source")["funnel"]
    }
    assert (sources["web"]["from"], sources["web"]["to"], sources["csv"]["from"]) == (3, 2, 1)
    campaigns = [r["group"] for r in report(state_url, by="campaign")["funnel"]]
    assert campaigns == ["spring", "(none)"]


def test_an_empty_period_reports_nothing_and_leaves_the_db_as_it_was(state_url: str) -> None:
    """A period with no entries gives empty sections and rates of None, not zeros; asking
    twice gives the same answer (the report's temporary table does not stay behind)."""
    empty = report(state_url, Period(datetime(2027, 1, 1, tzinfo=UTC), None))
    assert empty["funnel"] == [] and empty["follow_up"] == [] and empty["owners"] == []
    assert empty["recycling"]["recycled"] == 0 and empty["recycling"]["reasons"] == {}
    engine = db.make_engine(state_url)  # one pool: the same connection, asked twice
    try:
        assert build_report(engine, NOW, NOVEMBER) == build_report(engine, NOW, NOVEMBER)
    finally:
        engine.dispose()


def test_the_command_writes_each_format(state_url: str, tmp_path: Path) -> None:
    """`leadsync report` prints tables, writes JSON and CSV files, and refuses a date it
    cannot read with the option named."""
    runner = CliRunner()
    env = {"LEADSYNC_NOW": NOW.isoformat()}
    base = ["--state-url", state_url, "report", "--since", "2026-11-01", "--until", "2026-12-01"]
    text = runner.invoke(main, base, env=env)
    assert text.exit_code == 0, text.output
    assert re.search(r"\n  all +mql > sal +4 +2 +50\.0% +1\.5 +1\.9\n", text.output), text.output
    assert text.output.startswith("Lead funnel, 2026-11-01 to 2026-12-01 (as of 2026-12-01 09:00")
    out = tmp_path / "report.json"
    assert (
        runner.invoke(main, [*base, "--format", "json", "--out", str(out)], env=env).exit_code == 0
    )
    assert json.loads(out.read_text())["funnel"][0]["entered"]["mql"] == 5
    rows = runner.invoke(main, [*base, "--by", "owner", "--format", "csv"], env=env).output
    assert "conversion,A,mql>sal rate,1.0\n" in rows
    bad = runner.invoke(main, ["--state-url", state_url, "report", "--since", "last week"])
    assert bad.exit_code == 1 and "--since 'last week' is not a date" in bad.output


def test_scoring_against_outcomes(state_url: str) -> None:
    """The leads first seen in November (L1, L2, L3, L4, L6): against SQL, the one converted
    lead (80) outscores three of the four others (AUC 0.75); against SAL or further, L1 and
    L2 (60) beat L3 (60, a tie: half), L4 and, for L1 only, not L6: 3.5 of 6 pairs."""
    engine = db.make_engine(state_url)
    try:
        sql = build_scoring(engine, NOW, NOVEMBER)
        sal = build_scoring(engine, NOW, NOVEMBER, outcome="sal", band=50)
    finally:
        engine.dispose()
    assert (sql["leads"], sql["reached"], sql["rate"], sql["auc"]) == (5, 1, 0.2, 0.75)
    assert sql["mqls"] == {"leads": 3, "reached": 1, "rate": 0.333}
    assert sql["other_leads"] == {"leads": 2, "reached": 0, "rate": 0.0}
    assert [(b["from"], b["leads"], b["reached"]) for b in sql["bands"]] == [
        (10, 1, 0), (60, 2, 0), (80, 1, 1), (90, 1, 0)
    ]  # fmt: skip
    assert sql["months"] == [
        {"month": "2026-11", "leads": 5, "reached": 1, "rate": 0.2, "auc": 0.75}
    ]
    assert (sal["reached"], sal["auc"]) == (2, 0.5833)
    assert [(b["from"], b["to"], b["leads"], b["reached"]) for b in sal["bands"]] == [
        (0, 50, 1, 0), (50, 100, 4, 2)
    ]  # fmt: skip


def test_scoring_has_no_auc_without_both_outcomes(state_url: str) -> None:
    """A period whose leads all failed (or all reached) the outcome has no AUC, not 0.5,
    and the command says so with a dash."""
    env = {"LEADSYNC_NOW": NOW.isoformat()}
    args = ["--state-url", state_url, "report", "scoring", "--since", "2026-11-10"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "2 leads, 0 reached SQL (0.0%)" in result.output
    assert "ROC AUC of the score: - " in result.output
    rows = CliRunner().invoke(main, [*args, "--format", "csv"], env=env).output
    assert "scoring,all,auc,\n" in rows and "band,10 to 20,leads,1\n" in rows


PLANNING = PlanningSection(
    targets=[
        TargetSection(period="2026-12", mql=6, sql=2),
        TargetSection(period="2026-Q4", mql=9),
        TargetSection(period="2026-11", segment="owner:A", mql=2, sql=2),
    ]
)


def test_the_plan_against_targets_and_the_reverse_funnel(state_url: str) -> None:
    """December, 9 hours in: nothing yet; at November's rates (inquiry to MQL 0.8 x 0.75,
    MQL to SQL 0.25) 6 MQLs take 10 inquiries and 2 SQLs 8 MQLs, 14 inquiries. The fourth
    quarter: 6 MQLs in 66.7% of it, on pace for 9; the third quarter had no inquiries to
    give a rate. Owner A's November: 2 of 2 MQLs, 1 of 2 SQLs; October's MQL-to-SQL rate
    of 0 needs no number of MQLs (None, not infinity)."""
    engine = db.make_engine(state_url)
    try:
        plan = build_plan(engine, NOW, PLANNING)
    finally:
        engine.dispose()
    q4, nov_a, dec = plan["targets"]
    assert (dec["period"], dec["elapsed"]) == ("2026-12", round(9 / (31 * 24), 3))
    assert dec["rates"] == {"from": "2026-11", "inquiry_to_mql": 0.6, "mql_to_sql": 0.25}
    assert (q4["rates"]["from"], nov_a["rates"]["from"]) == ("2026-Q3", "2026-10")
    assert dec["mql"] == {
        "target": 6, "actual": 0, "projected": 0, "on_pace": False, "remaining": 6,
        "inquiries_needed": 10,
    }  # fmt: skip
    assert (dec["sql"]["mqls_needed"], dec["sql"]["inquiries_needed"]) == (8, 14)
    assert (q4["elapsed"], q4["mql"]["actual"], q4["mql"]["projected"]) == (0.667, 6, 9)
    assert (q4["mql"]["on_pace"], q4["mql"]["remaining"], q4["mql"]["inquiries_needed"]) == (
        True, 3, None
    )  # fmt: skip
    assert q4["rates"]["inquiry_to_mql"] is None
    assert nov_a["segment"] == "owner:A" and nov_a["elapsed"] == 1.0
    assert (nov_a["mql"]["actual"], nov_a["mql"]["on_pace"]) == (2, True)
    assert nov_a["sql"] == {
        "target": 2, "actual": 1, "projected": 1, "on_pace": False, "remaining": 1,
        "mqls_needed": None, "inquiries_needed": None,
    }  # fmt: skip
    assert nov_a["rates"]["mql_to_sql"] == 0.0


def test_the_plan_command_reads_the_config(state_url: str, tmp_path: Path) -> None:
    """`leadsync report plan` takes its targets from the config's [planning] and says so
    when there are none."""
    config = tmp_path / "config.toml"
    fixture = Path(__file__).parents[1] / "fixtures" / "xeducation.toml"
    config.write_text(fixture.read_text())
    args = ["--config", str(config), "--state-url", state_url, "report", "plan"]
    env = {"LEADSYNC_NOW": NOW.isoformat()}
    missing = CliRunner().invoke(main, args, env=env)
    assert missing.exit_code == 1 and "has no [planning] targets" in missing.output
    config.write_text(
        config.read_text() + '\n[[planning.targets]]\nperiod = "2026-12"\nmql = 6\nsql = 2\n'
    )
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert re.search(r"\n  MQL +6 +0 +0 +behind +6 +- +10\n", result.output), result.output
    assert re.search(r"\n  SQL +2 +0 +0 +behind +2 +8 +14\n", result.output)
    rows = CliRunner().invoke(main, [*args, "--format", "csv"], env=env).output
    assert "2026-12,all,sql mqls_needed,8\n" in rows


def test_the_command_counts_business_hours_of_the_configs_sla(
    state_url: str, tmp_path: Path
) -> None:
    """With a config whose [sla] has business hours, `leadsync report` gives the time to
    first touch in them beside the calendar's; a wrong time zone there is named."""
    config = tmp_path / "config.toml"
    fixture = Path(__file__).parents[1] / "fixtures" / "xeducation.toml"
    sla = '\n[sla]\nbusiness_hours = "Mon-Fri 09:00-18:00"\ntimezone = "Europe/Berlin"\n'
    config.write_text(fixture.read_text() + sla)
    args = ["--config", str(config), "--state-url", state_url, "report", "--since", "2026-11-01"]
    env = {"LEADSYNC_NOW": NOW.isoformat()}
    result = CliRunner().invoke(main, [*args, "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    (follow,) = json.loads(result.output)["follow_up"]
    assert follow["median_hours_to_first_touch"] == 13.0
    assert follow["median_business_hours_to_first_touch"] == 5.5
    config.write_text(fixture.read_text() + sla.replace("Europe/Berlin", "Europe/Bern"))
    wrong = CliRunner().invoke(main, args, env=env)
    assert wrong.exit_code == 1 and "Europe/Bern" in wrong.output


def test_the_html_report_is_one_page_with_its_charts(state_url: str, tmp_path: Path) -> None:
    """`report --format html` writes one self-contained page (no script, no request out):
    the funnel, MQL to SAL by week, first touch by owner, the plan and the calibration,
    each chart followed by the table of its numbers."""
    config = tmp_path / "config.toml"
    fixture = Path(__file__).parents[1] / "fixtures" / "xeducation.toml"
    config.write_text(fixture.read_text() + '\n[[planning.targets]]\nperiod = "2026-12"\nmql = 6\n')
    page = tmp_path / "report.html"
    args = ["--config", str(config), "--state-url", state_url, "report", "--format", "html"]
    period = ["--since", "2026-11-01", "--until", "2026-12-01", "--out", str(page)]
    result = CliRunner().invoke(main, [*args, *period], env={"LEADSYNC_NOW": NOW.isoformat()})
    assert result.exit_code == 0, result.output
    html = page.read_text()
    titles = re.findall(r"<h2>([^<]+)</h2>", html)
    assert titles == [
        "Funnel: leads entering each stage",
        "MQL to SAL by week (the week of the MQL)",
        "Time to first touch: median hours, by owner",
        "Plan against actual",
        "Score calibration: the outcome's rate by score band",
    ]
    assert html.count("<svg") == 5 and "<script" not in html and "http" not in html
    assert "<td>mql to sal</td><td>4</td><td>2</td><td>50.0%</td><td>1.5</td>" in html
    assert "<td>2026-11-09</td><td>2</td><td>0</td><td>0.0%</td>" in html
    assert "<td>MQL</td><td>6</td><td>0</td>" in html  # December's plan, nothing yet


def test_a_report_leaves_no_table_on_any_pooled_connection(state_url: str) -> None:
    """With two idle connections in the pool (the admin pages' threads leave them so), a
    report's temporary table is dropped on the connection that made it: the next reports,
    whichever connection they get, make theirs anew."""
    engine = db.make_engine(state_url)
    try:
        first, second = engine.connect(), engine.connect()
        first.close()
        second.close()
        built = [build_report(engine, NOW, NOVEMBER) for _ in range(4)]
        assert all(b["funnel"] == built[0]["funnel"] for b in built)
    finally:
        engine.dispose()
