"""A quarantined record an admin asks to try again is mapped anew, as the quarantine kept
it, by its source's next sync: it goes on as a lead when it maps now, and comes back to
the quarantine with today's reason when it still does not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from leadsync.state import db, quarantine
from leadsync.state.models import Lead, Quarantine
from tests.conftest import Project, Sandbox
from tests.sync.test_feedback import salesforce_project


def quarantined(project: Project) -> list[tuple[int, str, str, str]]:
    engine = db.make_engine(project.state_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Quarantine.id, Quarantine.record_ref, Quarantine.run_id, Quarantine.reason)
            ).all()
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def ask(project: Project, ids: list[int]) -> None:
    engine = db.make_engine(project.state_url)
    try:
        with db.session_factory(engine)() as session, session.begin():
            quarantine.ask_retry(session, ids)
    finally:
        engine.dispose()


def test_a_retried_record_goes_on_or_comes_back(sandbox: Sandbox, tmp_path: Path) -> None:
    """Row 9 (no email, which the map requires) is quarantined, tried again and quarantined
    anew by that run; a record kept whole that maps now (quarantined by a cause since
    fixed) becomes a lead in the CRM, and leaves the quarantine."""
    project = salesforce_project(tmp_path)
    csv = tmp_path / "leads.csv"
    csv.write_text(csv.read_text() + "9,,Nomail,VP,true\n", encoding="utf-8")
    first = project.sync()
    assert first.quarantined == 1
    ((old_id, ref, old_run, reason),) = quarantined(project)
    assert "email" in reason and old_run == first.run_id

    ask(project, [old_id])
    again = project.sync()
    # quarantined anew by the run that retried it (SQLite may give the new row the old id)
    ((_, new_ref, new_run, _),) = quarantined(project)
    assert (new_ref, new_run) == (ref, again.run_id)

    engine = db.make_engine(project.state_url)
    try:
        with db.session_factory(engine)() as session, session.begin():
            kept = {"id": "10", "email": "fixed@x.example", "last": "Fixed", "title": "VP",
                    "consent": "true"}  # fmt: skip
            session.add(
                Quarantine(run_id=first.run_id, source="forms", record_ref="row 11", field="title",
                           reason="a cause fixed since", raw=kept, created_at=datetime.now(UTC))
            )  # fmt: skip
            session.flush()
            fixed = session.scalar(select(Quarantine.id).where(Quarantine.record_ref == "row 11"))
            quarantine.ask_retry(session, [fixed])
    finally:
        engine.dispose()
    third = project.sync()
    assert third.created == 1 and third.quarantined == 0
    assert "fixed@x.example" in [r["Email"] for r in sandbox.records()]
    assert [r[1] for r in quarantined(project)] == [ref]  # row 9 still there, row 11 gone
    engine = db.make_engine(project.state_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Lead)) == 5
    finally:
        engine.dispose()
