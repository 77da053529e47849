"""An admin changes a mapping: the next sync carries the change to every lead it touches."""

from __future__ import annotations

import csv
import math

import pytest

from tests.conftest import Project, Sandbox

ROWS = 1000


def _truncate(project: Project) -> dict[str, dict[str, str]]:
    path = project.dir / "xeducation_leads.csv"
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [row for _, row in zip(range(ROWS), reader, strict=False)]
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return {row[1]: dict(zip(header, row, strict=True)) for row in rows}


def _edit(project: Project, old: str, new: str) -> None:
    text = project.config_path.read_text()
    assert old in text
    project.config_path.write_text(text.replace(old, new))


def test_a_new_crm_field_reaches_every_lead_once(xeducation: Project, sandbox: Sandbox):
    """Mapping one more Salesforce field updates exactly the leads that have a value for it."""
    rows = _truncate(xeducation)
    xeducation.sync()
    _edit(xeducation, 'City = "city"', 'City = "city"\nDescription = "last_activity"')
    with_activity = sum(1 for r in rows.values() if r["Last Activity"])

    preview = xeducation.sync(dry_run=True)
    assert preview.planned_updates == with_activity
    assert preview.changes[0]["fields"]["Description"]["before"] is None
    assert not any("Description" in r for r in sandbox.records())

    summary = xeducation.sync()

    assert (summary.read, summary.replanned, summary.updated) == (0, ROWS, with_activity)
    # a login, one look at /limits (the daily quota, before pushing), the updates
    assert summary.api_calls == 1 + 1 + math.ceil(with_activity / 200)
    by_number = {r["LastName"]: r for r in sandbox.records()}
    for number, row in rows.items():
        assert by_number[number].get("Description") == (row["Last Activity"] or None)
    again = xeducation.sync()
    assert (again.replanned, again.updated, again.api_calls) == (0, 0, 0)


def test_a_fixed_transform_rescues_quarantined_rows(xeducation: Project, sandbox: Sandbox):
    """A record quarantined for a value the map did not know is synced once the map knows it."""
    _truncate(xeducation)
    path = xeducation.dir / "xeducation_leads.csv"
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    text[3] = text[3].replace(",No,No,", ",Maybe,No,", 1)
    path.write_text("".join(text), encoding="utf-8")
    first = xeducation.sync()
    assert (first.quarantined, first.created) == (1, ROWS - 1)

    _edit(
        xeducation,
        'email_opt_out = { from = "Do Not Email", transforms = ["boolean"] }',
        'email_opt_out = { from = "Do Not Email", transforms = '
        '[{ boolean = { true = ["Yes", "Maybe"], false = ["No"] } }] }',
    )
    second = xeducation.sync()

    assert (second.read, second.quarantined, second.created, second.updated) == (ROWS, 0, 1, 0)
    assert len(sandbox.records()) == ROWS
    rescued = [r for r in sandbox.records() if r["HasOptedOutOfEmail"]]
    assert len(rescued) >= 1


def test_a_remap_cut_short_goes_on_remapping(xeducation: Project, sandbox: Sandbox):
    """A remap that dies after its first page still re-maps the rest of the file when resumed."""
    _truncate(xeducation)
    _edit(xeducation, "[sync]\n", "[sync]\nchunk_size = 100\n")
    xeducation.sync()
    _edit(
        xeducation,
        'Last_Activity__c = "last_activity"',
        'Last_Activity__c = "last_activity"\nDescription = "lead_origin"',
    )
    _edit(
        xeducation,
        'lead_origin = "Lead Origin"',
        'lead_origin = { from = "Lead Origin", transforms = ["upper"] }',
    )

    from leadsync.sync import pipeline

    original = pipeline.Run._page
    pages = 0

    def dies_after_one_page(self, *args, **kwargs):
        nonlocal pages
        pages += 1
        if pages == 2:
            raise KeyboardInterrupt  # the process is stopped mid-remap
        return original(self, *args, **kwargs)

    pipeline.Run._page = dies_after_one_page
    try:
        with pytest.raises(KeyboardInterrupt):
            xeducation.sync(push=False)
    finally:
        pipeline.Run._page = original

    resumed = xeducation.sync()

    assert resumed.read == ROWS - 100
    origins = {r.get("Lead_Origin__c") for r in sandbox.records()}
    assert origins == {o.upper() for o in origins}  # every lead re-mapped, none left as it was
    assert all(r["Description"] == r["Lead_Origin__c"] for r in sandbox.records())
