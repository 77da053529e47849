"""One bad value is that record's problem alone: the rest of the batch goes on, and the
source's history cannot freeze or reverse a lead."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from click.testing import CliRunner

from leadsync.cli import main
from tests.conftest import Project, Sandbox, cli_sync
from tests.sync.test_identity import CONFIG, CRM

HEADER = "Id,Email,First,Last,Company,Title,At,Revenue\n"
REVENUE_SOURCE = CONFIG + 'annual_revenue = "Revenue"\n'
REVENUE_CRM = CRM + 'AnnualRevenue = "annual_revenue"\n'


def project(tmp_path: Path, rows: str, *, ext: str | None = "Id") -> Project:
    text = REVENUE_SOURCE.format(
        name="forms", file="forms.csv", ext=f'external_id = "{ext}"' if ext else ""
    )
    (tmp_path / "forms.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "config.toml").write_text(text + REVENUE_CRM, encoding="utf-8")
    return Project(tmp_path, tmp_path / "config.toml")


def rows(n: int, revenue: str = "1000") -> str:
    return HEADER + "".join(
        f"{i},p{i}@x.example,P,L{i},Acme,CTO,2026-11-01T00:00:00Z,{revenue}\n" for i in range(n)
    )


def test_a_non_finite_number_is_quarantined_and_the_rest_arrive(tmp_path: Path, sandbox: Sandbox):
    """NaN and inf in a numeric column: that value is left out of those rows, each named
    by line and field; every lead arrives, and the next sync runs clean. Marked strict,
    the two rows are quarantined instead and the other 298 arrive."""
    text = rows(300).replace(",1000\n", ",NaN\n", 1)
    text = text.replace(
        "p7@x.example,P,L7,Acme,CTO,2026-11-01T00:00:00Z,1000",
        "p7@x.example,P,L7,Acme,CTO,2026-11-01T00:00:00Z,inf",
    )
    p = project(tmp_path, text)

    first = cli_sync(p)

    assert (first.status, first.created, first.warnings) == ("ok", 300, 2)
    refs = sorted((q["record"], q["field"]) for q in first.problems)
    assert refs == [
        ("line 2", "annual_revenue (from 'Revenue')"),
        ("line 9", "annual_revenue (from 'Revenue')"),
    ]
    assert all("finite number" in q["reason"] for q in first.problems)
    assert len(sandbox.records()) == 300
    assert not any(
        r.get("AnnualRevenue") for r in sandbox.records() if r["LastName"] in ("L0", "L7")
    )
    again = cli_sync(p)
    assert again.status == "ok" and again.api_calls == 0

    strict = tmp_path / "strict"
    strict.mkdir()
    sandbox.app.store.records["Lead"].clear()
    sandbox.app.store._indexes.clear()
    q = project(strict, text)
    q.config_path.write_text(
        q.config_path.read_text().replace(
            'annual_revenue = "Revenue"',
            'annual_revenue = { from = "Revenue", invalid = "quarantine" }',
        )
    )
    refused = cli_sync(q)
    assert (refused.status, refused.created, refused.quarantined) == ("partial", 298, 2)


def test_a_last_line_still_being_written_waits_for_its_end(tmp_path: Path, sandbox: Sandbox):
    """A file read while its last line is cut mid-field: that line waits; once the rest is
    appended, the lead arrives whole and nothing is quarantined."""
    whole = rows(3)
    cut = len(whole) - 12
    p = project(tmp_path, whole[:cut])  # the last row's timestamp and revenue half-written

    first = cli_sync(p)
    assert (first.read, first.quarantined, first.created) == (2, 0, 2)
    with (tmp_path / "forms.csv").open("a", encoding="utf-8") as f:
        f.write(whole[cut:])
    second = cli_sync(p)

    assert (second.read, second.quarantined, second.created) == (1, 0, 1)
    assert sorted(r["Email"] for r in sandbox.records()) == [f"p{i}@x.example" for i in range(3)]


def test_a_finished_file_without_a_last_newline_is_read_whole(tmp_path: Path, sandbox: Sandbox):
    """An export that ends without a newline and was written a while ago is complete."""
    p = project(tmp_path, rows(3).rstrip("\n"))
    old = time.time() - 3600
    os.utime(tmp_path / "forms.csv", (old, old))

    assert cli_sync(p).created == 3


def test_the_later_row_wins_on_every_re_read(tmp_path: Path, sandbox: Sandbox):
    """The same person twice in one export (under one id, or one email), no update time
    mapped: the later row's title stays after any unrelated edit to the file, whether the
    two rows share a page or not."""
    text = (
        HEADER + "1,ann@x.example,Ann,Lee,Acme,Analyst,,\n"
        "2,bo@x.example,Bo,Ek,Initech,CTO,,\n"
        "3,ann@x.example,Ann,Lee,Acme,Director,,\n"
    )
    for ext, chunk in (("Id", 1000), (None, 1000), ("Id", 1), (None, 1)):
        folder = tmp_path / f"{ext or 'by-email'}-{chunk}"
        folder.mkdir()
        rows = text.replace("3,ann", "1,ann") if ext else text
        p = project(folder, rows, ext=ext)
        config = p.config_path.read_text().replace("source_updated_at = ", "# ")
        p.config_path.write_text(config + f"\n[sync]\nchunk_size = {chunk}\n")
        cli_sync(p)
        (folder / "forms.csv").write_text(rows.replace("Initech,CTO", "Initech,CEO"))
        cli_sync(p)
        titles = {r["Email"]: r["Title"] for r in sandbox.records()}
        assert titles["ann@x.example"] == "Director", (ext, chunk)


def test_a_future_time_is_taken_as_now_and_said(tmp_path: Path, sandbox: Sandbox):
    """A row updated in 2099 does not freeze the lead: its time is taken as now, the run
    says so, and a later export still updates the lead."""
    text = HEADER + "1,ann@x.example,Ann,Lee,Acme,Analyst,2099-01-01T00:00:00Z,\n"
    p = project(tmp_path, text)
    first = cli_sync(p)
    (problem,) = first.problems
    assert problem["field"] == "source_updated_at" and "in the future" in problem["reason"]

    later = HEADER + "2,ann@x.example,Ann,Lee,Acme,Director,2026-11-23T12:00:00Z,\n"
    (tmp_path / "forms.csv").write_text(later)
    cli_sync(p)

    (lead,) = sandbox.records()
    assert lead["Title"] == "Director"


def test_two_columns_of_one_name_are_refused_by_check_and_sync(tmp_path: Path, sandbox: Sandbox):
    """Two `Email` columns: `check` and `sync` both refuse, naming the column and both
    positions; nothing is written."""
    text = "Id,Email,First,Last,Company,Title,At,Email\n1,a@x.example,A,B,C,D,,b@x.example\n"
    p = project(tmp_path, text + "\n")
    args = ["--config", str(p.config_path), "--state-url", p.state_url]

    checked = CliRunner().invoke(main, [*args, "check", "--offline"])
    assert checked.exit_code == 1
    assert "names 'Email' twice (columns 2 and 8)" in checked.stdout

    synced = cli_sync(p)
    assert synced.status == "failed" and "names 'Email' twice" in synced.error
    assert sandbox.records() == []


def test_a_bad_optional_phone_does_not_withhold_the_lead(tmp_path: Path, sandbox: Sandbox):
    """`n/a` against null_values ["N/A"] is empty, `0049 30 1234567` is German, `555-1234`
    is left out with a warning naming row and field: all three leads arrive."""
    header = "Id,Email,First,Last,Company,Title,At,Phone\n"
    text = header + (
        "1,a@x.example,A,A,Acme,CTO,,n/a\n"
        "2,b@x.example,B,B,Acme,CTO,,0049 30 1234567\n"
        "3,c@x.example,C,C,Acme,CTO,,555-1234\n"
    )
    p = project(tmp_path, text)
    config = p.config_path.read_text().replace(
        'annual_revenue = "Revenue"',
        'phone = { from = "Phone", transforms = [{ phone = "US" }] }',
    )
    config = config.replace('external_id = "Id"', 'external_id = "Id"\nnull_values = ["", "N/A"]')
    config = config.replace('AnnualRevenue = "annual_revenue"', 'Phone = "phone"')
    p.config_path.write_text(config)

    summary = cli_sync(p)

    assert (summary.status, summary.created, summary.quarantined, summary.warnings) == (
        "ok",
        3,
        0,
        1,
    )
    (problem,) = summary.problems
    assert (problem["record"], problem["field"]) == ("line 4", "phone (from 'Phone')")
    assert "'555-1234' is not a valid phone number" in problem["reason"]
    phones = {r["Email"]: r.get("Phone") for r in sandbox.records()}
    assert phones == {"a@x.example": None, "b@x.example": "+49301234567", "c@x.example": None}


def test_an_op_planned_with_nan_by_an_older_release_is_dead_lettered_alone(
    tmp_path: Path, sandbox: Sandbox
):
    """Releases before orjson wrote a NaN into an op's payload as the bare word (the
    standard library's JSON), which a strict reader refuses. Such an op, still pending
    after an upgrade, is dead-lettered alone, naming its field; the other leads arrive."""
    p = project(tmp_path, rows(3))
    assert p.sync(push=False).error is None
    state = sqlite3.connect(tmp_path / "state.db")
    with state:
        lead_id, payload = state.execute(
            "SELECT lead_id, payload FROM outbox WHERE kind = 'upsert' ORDER BY id LIMIT 1"
        ).fetchone()
        old = json.dumps(json.loads(payload) | {"AnnualRevenue": float("nan")})
        assert "NaN" in old
        state.execute("UPDATE outbox SET payload = ? WHERE lead_id = ?", (old, lead_id))
    state.close()

    summary = cli_sync(p)

    assert summary.status == "partial" and summary.failed == 1
    assert sorted(r["LastName"] for r in sandbox.records()) == ["L1", "L2"]
    result = CliRunner().invoke(main, ["--config", str(p.config_path), "errors"])
    assert "INVALID_NUMBER" in result.output and "AnnualRevenue" in result.output
