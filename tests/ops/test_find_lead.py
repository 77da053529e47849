"""`explain` finds a lead by what an admin has at hand: a CRM record id, or a source's id
alone; an id two sources share is refused with each SOURCE:ID to pick from."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from leadsync.errors import ConfigError
from leadsync.ops.explain import find_lead
from leadsync.state import db
from leadsync.state.models import CrmRecord, Lead, SourceRecord

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def test_a_lead_by_crm_id_and_by_bare_source_id(tmp_path: Path) -> None:
    """00Q... finds the lead written there; "F-1" the one web_forms knows; "7", which both
    sources know for different people, names web_forms:7 and csv:7."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    db.upgrade(engine)
    with db.session_factory(engine)() as session:
        for i in (1, 2):
            session.execute(
                insert(Lead), [{**Lead.blank(f"k{i}", f"p{i}@x.example", NOW, None), "id": i}]
            )
        known = [("web_forms", "F-1", 1), ("web_forms", "7", 1), ("csv", "7", 2)]
        session.execute(
            insert(SourceRecord),
            [
                {"source": s, "external_id": x, "lead_id": i, "content_hash": "h", "seen_at": NOW}
                for s, x, i in known
            ],
        )
        crm_id = "00Q5g000000AbCdEAA"
        session.add(
            CrmRecord(lead_id=2, destination="crm", crm_id=crm_id, fields={}, synced_at=NOW)
        )
        session.flush()
        assert find_lead(session, crm_id).key == "k2"
        assert find_lead(session, "F-1").key == "k1"
        assert find_lead(session, "csv:7").key == "k2"
        with pytest.raises(ConfigError, match="give one of csv:7, web_forms:7"):
            find_lead(session, "7")
        assert find_lead(session, "nobody") is None
    engine.dispose()
