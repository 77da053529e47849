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
    assert "1 op(s) back in the outbox for the next sync" in retried.stdout

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

    assert "0 op(s) back in the outbox" in retried.stdout and "1 retired" in retried.stdout
    assert p.sync().api_calls == 0
    (lead,) = sandbox.records()
    assert lead["Title"] == "VP"
