"""Behaviour scores decay in the CRM without any new activity: the re-score run writes a
lead's score only when it moved by at least `rescore_min_change`, and never takes a lead
out of MQL (clock given to each run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from leadsync.sandbox.salesforce import CRM_SECTION
from tests.conftest import Project, Sandbox

CONFIG = (
    """
[sources.forms]
type = "csv"
path = "leads.csv"
external_id = "id"

[sources.forms.fields]
email = { from = "email", required = true }
last_name = "last"

[sources.forms.event]
type = "form_submit"
at = "at"

[scoring]
half_life_days = 7
rescore_min_change = 5
[[scoring.rules]]
name = "form"
category = "behaviour"
when = 'event.type == "form_submit"'
points = 60

[lifecycle.mql]
total = 50

"""
    + CRM_SECTION
    + """[crm.fields]
Email = "email"
LastName = "last_name"
Company = { from = "last_name", transforms = [{ default = "[none]" }] }
Lead_Score__c = "score"
Lifecycle_Stage__c = "stage"
"""
)
SUBMITTED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def lead(sandbox: Sandbox) -> dict:
    [record] = sandbox.records("Lead")
    return record


def test_decayed_scores_are_written_when_they_moved_enough(sandbox: Sandbox, tmp_path: Path):
    (tmp_path / "leads.csv").write_text(
        "id,email,last,at\n1,ada@x.example,Byron,2026-11-23T12:00:00Z\n", encoding="utf-8"
    )
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    project = Project(tmp_path, tmp_path / "config.toml")
    project.sync(now=SUBMITTED)
    assert (lead(sandbox)["Lead_Score__c"], lead(sandbox)["Lifecycle_Stage__c"]) == (60, "mql")

    # a plain sync with nothing new writes nothing, however old the score
    assert project.sync(now=SUBMITTED + timedelta(days=1)).updated == 0

    # one day on: 60 * 0.5 ** (1/7) = 54.34, moved 5.66: written
    day = project.sync(now=SUBMITTED + timedelta(days=1), rescore=True)
    assert (day.rescored, day.updated) == (1, 1)
    assert lead(sandbox)["Lead_Score__c"] == round(60 * 0.5 ** (1 / 7), 2) == 54.34

    # an hour later it moved 0.2: not written (the API is not churned)
    hour = project.sync(now=SUBMITTED + timedelta(days=1, hours=1), rescore=True)
    assert (hour.rescored, hour.updated, hour.api_calls) == (0, 0, 0)

    # a month on: 3.08, below the MQL threshold; the score is written, the stage stays
    month = project.sync(now=SUBMITTED + timedelta(days=30), rescore=True)
    assert month.rescored == 1
    assert lead(sandbox)["Lead_Score__c"] == round(60 * 0.5 ** (30 / 7), 2) == 3.08
    assert lead(sandbox)["Lifecycle_Stage__c"] == "mql"
