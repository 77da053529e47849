"""New leads of a page are written in one statement, each lead object given its row's id
(SQLite: ids leadsync gives, after the largest the table holds; PostgreSQL: its sequence's,
read back in the order sent), and joined to the session so that a change is written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import configure_mappers

from leadsync.state import db, repo
from leadsync.state.models import Lead

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_database")


def test_new_leads_get_the_ids_of_their_rows(state_url: str) -> None:
    engine = db.make_engine(state_url)
    try:
        _check_new_leads(engine, sqlite=state_url.startswith("sqlite"))
    finally:
        engine.dispose()


def _check_new_leads(engine: Engine, *, sqlite: bool) -> None:
    db.upgrade(engine)
    factory = db.session_factory(engine)
    with factory() as session, session.begin():
        repo.save_leads(session, [repo.unsaved_lead("k-old", None, NOW)])
        # a lead deleted from the middle, and one with a high id written by hand
        session.execute(
            text(
                "INSERT INTO leads (id, key, profile, profile_times, created_at, updated_at) "
                "VALUES (40, 'k-high', '{}', '{}', :t, :t)"
            ),
            {"t": NOW.replace(tzinfo=None)},
        )
    with factory() as session, session.begin():
        new = [repo.unsaved_lead(f"k{i}", f"p{i}@example.com", NOW) for i in range(3)]
        repo.save_leads(session, new)
        new[1].stage = "mql"  # the lead is the session's: a change is written
    with factory() as session:
        rows = dict(session.execute(select(Lead.key, Lead.id)).all())
        stages = dict(session.execute(select(Lead.key, Lead.stage)).all())
        unrouted = session.scalar(text("SELECT count(*) FROM leads WHERE route IS NULL"))
    assert [rows[f"k{i}"] for i in range(3)] == [lead.id for lead in new]
    assert len(rows) == 5 and 40 not in [lead.id for lead in new]
    if sqlite:
        assert [lead.id for lead in new] == [41, 42, 43]
    assert stages["k1"] == "mql" and stages["k0"] is None
    assert unrouted == 5  # no route yet: SQL's NULL, not the JSON text "null"


AWKWARD = ["tab\there", "line\nbreak\r\n", "back\\slash", "\\N", "", "quote \"'", "naïve 日本 🙂"]


def test_rows_of_any_text_are_written_as_given(state_url: str) -> None:
    """A page's rows reach PostgreSQL by COPY, whose text format has its own escapes (tab,
    newline, backslash, ``\\N`` for null): a value that looks like one is written as
    given, a null as null, a time as its UTC instant, on both dialects alike."""
    engine = db.make_engine(state_url)
    try:
        db.upgrade(engine)
        factory = db.session_factory(engine)
        configure_mappers()  # a lead made outside the ORM's constructor, changed before any query
        leads = []
        for i, value in enumerate(AWKWARD):
            lead = repo.unsaved_lead(value or "empty", None if i % 2 else value, NOW)
            lead.profile = {"note": value, "n": i, "nested": [value, None, 1.5]}
            lead.stage = value[:20] or None
            lead.created_at = NOW.astimezone(timezone(timedelta(hours=-5)))
            lead.revisit_on = date(2026, 12, i + 1)
            leads.append(lead)
        with factory() as session, session.begin():
            repo.save_leads(session, leads)
        with factory() as session:
            rows = {r.key: r for r in session.scalars(select(Lead))}
    finally:
        engine.dispose()
    assert len(rows) == len(AWKWARD)
    for i, value in enumerate(AWKWARD):
        row = rows[value or "empty"]
        assert row.profile == {"note": value, "n": i, "nested": [value, None, 1.5]}
        assert row.email == (None if i % 2 else value)
        assert row.stage == (value[:20] or None)
        assert row.created_at == NOW and row.created_at.tzinfo == UTC
        assert row.revisit_on == date(2026, 12, i + 1)
