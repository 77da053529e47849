"""The real X Education export (9,237 leads) through a sync, sales converting in the CRM
the leads the file says converted, and the report's MQL conversion checked against an
independent join of the CRM's records to the file's `Converted` column."""

from __future__ import annotations

import csv
import json
import re
import tomllib

from click.testing import CliRunner

from bench.scoring_auc import roc_auc
from leadsync import clock
from leadsync.cli import main
from leadsync.ops.report import build_report, build_scoring
from leadsync.state import db
from leadsync.state.ledger import Period
from tests.conftest import ROOT, XEDUCATION_ROWS, Project, Sandbox

DECISIONS = """
[crm.fields.Lifecycle_Stage__c]
from = "stage"

[crm.fields.Lead_Score__c]
from = "score"

[lifecycle.mql]
total = 25

[feedback]
status_field = "Status"
accepted = ["Working - Contacted"]
qualified = ["Closed - Converted"]
rejected = ["Closed - Not Converted"]
"""


def test_mql_conversion_equals_the_join_of_the_crm_to_the_file(
    xeducation: Project, sandbox: Sandbox
) -> None:
    """The report's MQL -> SQL rate is the share of the CRM's MQL Leads whose row in the file
    says `Converted` = 1, once sales converted exactly those Leads in the CRM; `report
    scoring`'s AUC is the one bench/scoring_auc.py's rank formula gives for the scores in
    the CRM against that column."""
    scoring = (ROOT / "bench" / "xeducation_scoring.toml").read_text()
    config = xeducation.config_path
    config.write_text(config.read_text() + DECISIONS + scoring)
    first = xeducation.sync()
    assert first.status == "ok" and first.created == XEDUCATION_ROWS

    with (xeducation.dir / "xeducation_leads.csv").open(newline="", encoding="utf-8") as f:
        converted = {row["Lead Number"]: row["Converted"] == "1" for row in csv.DictReader(f)}
    leads = sandbox.records()
    # The independent side: the CRM's own records (the stage leadsync wrote there, the
    # lead number in LastName) joined to the file.
    mqls = [r["LastName"] for r in leads if r.get("Lifecycle_Stage__c") == "mql"]
    expected = sum(converted[n] for n in mqls) / len(mqls)
    auc = roc_auc([r["Lead_Score__c"] for r in leads], [converted[r["LastName"]] for r in leads])
    store = sandbox.app.store
    for record in leads:
        if converted[record["LastName"]]:
            store.convert(record["Id"])

    second = xeducation.sync()
    assert second.status == "ok", second.error

    engine = db.make_engine(xeducation.state_url)
    try:
        built = build_report(engine, clock.now(), Period())
        scoring = build_scoring(engine, clock.now(), Period())
    finally:
        engine.dispose()
    (row,) = built["funnel"]
    step = row["conversion"]["mql>sql"]
    assert 100 < step["from"] == len(mqls) < XEDUCATION_ROWS
    assert step["to"] / step["from"] == expected
    assert round(expected, 3) == step["rate"]
    assert scoring["leads"] == XEDUCATION_ROWS
    assert scoring["auc"] == round(auc, 4) and 0.7 < auc < 0.9

    # The scorecard suggested from the same history beats the hand-written fit rules on
    # the leads it did not see.
    suggested = xeducation.dir / "suggested.toml"
    args = ["--config", str(config), "--state-url", xeducation.state_url]
    result = CliRunner().invoke(main, [*args, "suggest", "scoring", "--out", str(suggested)])
    assert result.exit_code == 0, result.output
    said = re.search(
        r"held-out ROC AUC ([0-9.]+) \(the config's \[scoring\]: ([0-9.]+)\)", result.output
    )
    assert said is not None, result.output
    assert float(said[1]) >= 0.88 and float(said[1]) > float(said[2])
    rules = tomllib.loads(suggested.read_text())["scoring"]["rules"]
    assert len(rules) > 10 and not any("lead_number" in r["when"] for r in rules)

    # The backtest: the rules in force, replayed from scratch, make the MQLs the history
    # recorded; the suggestion (at the same threshold) is judged against the same outcomes.
    candidate = xeducation.dir / "candidate.toml"
    base = config.read_text()
    candidate.write_text(base[: base.index("\n[scoring]\n") + 1] + suggested.read_text())
    result = CliRunner().invoke(
        main, [*args, "preview", str(candidate), "--backtest", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    backtest = json.loads(result.output)
    assert (backtest["leads"], backtest["converted"]) == (XEDUCATION_ROWS, sum(converted.values()))
    recorded, current, tried = backtest["recorded"], backtest["current"], backtest["candidate"]
    assert recorded == current and recorded["mqls"] == len(mqls)
    assert recorded["precision_converted"] == round(expected, 3)
    assert tried["converted"] == round(tried["precision_converted"] * tried["mqls"])
    assert tried["recall_converted"] == round(tried["converted"] / backtest["converted"], 3)
