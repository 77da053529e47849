"""Faults the CRM throws at a sync: retried to success, or dead-lettered alone with the reason."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from leadsync.sandbox.salesforce import ValidationRule
from leadsync.state import db
from leadsync.state.models import DeadLetter, OutboxOp
from tests.conftest import XEDUCATION_ROWS, Project, Sandbox


def _assert_each_lead_once(sandbox: Sandbox) -> None:
    records = sandbox.records()
    assert len(records) == XEDUCATION_ROWS
    assert len({r["LeadSync_Id__c"] for r in records}) == XEDUCATION_ROWS


@pytest.mark.parametrize(
    "spec",
    [
        "503:rate=0.3",
        "500:every=4",
        "lock_row:rate=0.05",
        "session_expired:requests=2;9",
        "503:rate=0.2,lock_row:rate=0.02",
    ],
)
def test_transient_faults_are_retried_to_success(xeducation: Project, sandbox: Sandbox, spec):
    """503s, 500s, row locks and expired sessions are retried until every lead is in, once."""
    sandbox.faults(spec)

    summary = xeducation.sync()

    assert summary.status == "ok", summary.error
    assert summary.created == XEDUCATION_ROWS
    assert summary.failed == 0
    assert sum(sandbox.stats()["faults_injected"].values()) > 0
    if not spec.startswith("session_expired"):
        assert summary.retried > 0
    _assert_each_lead_once(sandbox)


def test_timeouts_after_the_write_do_not_duplicate(xeducation: Project, sandbox: Sandbox):
    """A request saved by Salesforce but answered too late is sent again without a duplicate."""
    text = xeducation.config_path.read_text().replace(
        "timeout_seconds = 5", "timeout_seconds = 0.3"
    )
    xeducation.config_path.write_text(text)
    sandbox.faults("timeout:requests=3;10;11:delay=0.6:endpoint=collections_upsert")

    summary = xeducation.sync()

    assert summary.status == "ok", summary.error
    assert summary.retried >= 3
    assert summary.created == XEDUCATION_ROWS
    _assert_each_lead_once(sandbox)


def test_validation_rule_rejection_is_dead_lettered_alone(xeducation: Project, sandbox: Sandbox):
    """A record refused by a validation rule lands in dead letters; its batch-mates are written."""
    sandbox.app.store.validation_rules.append(
        ValidationRule("Lead", "LastName", "660728", "Lead Number 660728 is blocked by policy")
    )

    summary = xeducation.sync()

    assert summary.status == "partial"
    assert summary.exit_code == 2
    assert summary.failed == 1
    assert summary.created == XEDUCATION_ROWS - 1
    names = {r["LastName"] for r in sandbox.records()}
    assert "660728" not in names
    assert {"660737", "660727"} <= names  # the rows around it, in the same batch
    engine = db.make_engine(xeducation.state_url)
    with db.session_factory(engine)() as session:
        dead = session.scalars(select(DeadLetter)).all()
        assert [(d.code, d.message) for d in dead] == [
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Lead Number 660728 is blocked by policy")
        ]
        op = session.get(OutboxOp, dead[0].op_id)
        assert op.status == "dead"
        assert op.payload["LastName"] == "660728"


def test_row_locks_that_never_clear_end_in_dead_letters(xeducation: Project, sandbox: Sandbox):
    """A record that stays locked is dead-lettered after max_attempts, not retried forever."""
    text = xeducation.config_path.read_text() + "max_attempts = 3\n"
    xeducation.config_path.write_text(text)
    sandbox.faults("lock_row:rate=1")

    summary = xeducation.sync()

    assert summary.failed == XEDUCATION_ROWS
    assert summary.pending == 0
    assert sandbox.records() == []
    # Each record tried exactly 3 times, in full batches: the fewest requests that allows.
    assert sandbox.stats()["by_endpoint"]["collections_upsert"] == math.ceil(
        3 * XEDUCATION_ROWS / 200
    )
    engine = db.make_engine(xeducation.state_url)
    with db.session_factory(engine)() as session:
        messages = {d.message for d in session.scalars(select(DeadLetter))}
    assert len(messages) == 1
    assert messages.pop().endswith("(still failing after 3 attempts)")


def test_a_crm_that_stays_down_leaves_the_outbox_for_the_next_run(
    xeducation: Project, sandbox: Sandbox
):
    """When retries run out, the run fails, nothing is dead-lettered, and the next run delivers."""
    sandbox.faults("503:rate=1")

    down = xeducation.sync()

    assert down.status == "failed" and down.exit_code == 1
    assert "unavailable" in down.error
    assert down.pending == XEDUCATION_ROWS
    assert down.failed == 0

    sandbox.faults("")
    up = xeducation.sync()

    assert up.status == "ok"
    assert up.created == XEDUCATION_ROWS
    _assert_each_lead_once(sandbox)
