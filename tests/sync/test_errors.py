"""Dead letters, seen by reason and sent again once the cause is fixed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from leadsync.cli import main
from leadsync.sandbox.salesforce import ValidationRule
from tests.conftest import Project, Sandbox
from tests.sync.test_identity import HEADER, project


def cli(p: Project, *args: str):
    return CliRunner().invoke(
        main,
        ["--log-level", "error", "--config", str(p.config_path), "--state-url", p.state_url, *args],
    )


def test_a_refused_lead_is_sent_again_after_the_fix(tmp_path: Path, sandbox: Sandbox):
    """`errors` shows the refusal; after the fix, `errors retry` and a sync deliver the lead."""
    rows = HEADER + "1,ann@x.example,Ann,Lee,Acme,CTO,\n2,bo@x.example,Bo,Ek,Initech,VP,\n"
    p = project(tmp_path, {"forms": (rows, "Id")})
    rule = ValidationRule("Lead", "LastName", "Lee", "Lees need a phone number")
    sandbox.app.store.validation_rules.append(rule)
    assert p.sync().failed == 1

    listed = cli(p, "errors")
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION: 1" in listed.stdout
    assert "Lees need a phone number" in listed.stdout and "ann@x.example" in listed.stdout

    sandbox.app.store.validation_rules.remove(rule)  # the admin fixes the cause
    retried = cli(p, "errors", "retry", "--reason", "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert "1 lead(s) to plan again from the current mapping" in retried.stdout

    summary = p.sync()

    assert (summary.created, summary.failed) == (1, 0)
    assert sorted(r["Email"] for r in sandbox.records()) == ["ann@x.example", "bo@x.example"]
    assert "no dead letters" in cli(p, "errors").stdout


def test_a_stale_refusal_is_retired_not_sent(tmp_path: Path, sandbox: Sandbox):
    """A refused change that a newer one replaced is never sent again over the newer values."""
    p = project(tmp_path, {"forms": (HEADER + "1,ann@x.example,Ann,Lee,Acme,CTO,\n", "Id")})
    sandbox.app.store.validation_rules.append(
        ValidationRule("Lead", "Title", "CTO", "no CTOs this quarter")
    )
    assert p.sync().failed == 1
    (tmp_path / "forms.csv").write_text(HEADER + "1,ann@x.example,Ann,Lee,Acme,VP,\n")
    assert p.sync().created == 1  # the newer change goes through

    retried = cli(p, "errors", "retry")

    assert "1 lead(s) to plan again" in retried.stdout
    again = p.sync()  # planned anew: the CRM holds the newer values already
    assert (again.api_calls, again.replanned, again.updated) == (0, 1, 0)
    (lead,) = sandbox.records()
    assert lead["Title"] == "VP"


def test_a_fixed_mapping_is_what_retry_sends(tmp_path: Path, sandbox: Sandbox):
    """Leads refused for a value the mapping made: after the admin fixes the mapping,
    `errors retry` and a sync send the fixed value, not the refused one; `errors discard`
    drops what is left."""
    rows = HEADER + "1,ann@x.example,Ann,Lee,Acme,CTO,\n2,bo@x.example,Bo,Ek,Initech,VP,\n"
    p = project(tmp_path, {"forms": (rows, "Id")})
    text = p.config_path.read_text()
    status = (
        'Title = "title"\n'
        'Status = {{ from = "title", transforms = [{{ map = {{ "*" = "{}" }} }}] }}'
    )
    p.config_path.write_text(text.replace('Title = "title"', status.format("Hot")))
    assert p.sync().failed == 2  # "Hot" is no Lead Status

    p.config_path.write_text(text.replace('Title = "title"', status.format("Working - Contacted")))
    assert "2 lead(s) to plan again" in cli(p, "errors", "retry").stdout
    summary = p.sync()

    assert (summary.failed, summary.created) == (0, 2)
    assert {r["Status"] for r in sandbox.records()} == {"Working - Contacted"}
    sandbox.app.store.validation_rules.append(ValidationRule("Lead", "Title", "CEO", "no CEOs"))
    (tmp_path / "forms.csv").write_text(rows.replace(",CTO,", ",CEO,"))
    assert p.sync().failed == 1
    assert "1 dead letter(s) discarded" in cli(p, "errors", "discard").stdout
    assert "no dead letters" in cli(p, "errors").stdout
    assert p.sync().api_calls == 0


def test_a_map_change_that_alters_nothing_does_not_replan_a_refused_write(
    tmp_path: Path, sandbox: Sandbox
):
    """A refused lead, then a CRM map edit that changes no value of it: the next sync plans
    nothing twice (it crashed on the outbox's unique key) and the refusal stays listed."""
    rows = HEADER + "1,ann@x.example,Ann,Lee,Acme,CTO,\n"
    p = project(tmp_path, {"forms": (rows, "Id")})
    sandbox.app.store.validation_rules.append(ValidationRule("Lead", "Title", "CTO", "no"))
    assert p.sync().failed == 1
    text = p.config_path.read_text()
    p.config_path.write_text(text.replace('Title = "title"', 'Title = { from = "title" }'))

    again = p.sync()

    assert again.error is None and again.replanned == 1 and again.api_calls == 0
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION: 1" in cli(p, "errors").stdout
