"""A source's id for a lead lives in its record's version row (issue 13).

``lead_identities`` held (source, external id) -> lead, and ``source_records`` held
(source, external id) -> content hash and lead: the same key twice, so every new lead
cost two inserts into two random-order B-trees. The identities move into
``source_records`` (an identity with no version yet gets an empty hash: its record is
mapped again on its next read), which gains an index by lead for `leadsync explain`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_index("ix_source_records_lead_id", "source_records", ["lead_id"])
    op.execute(
        "INSERT INTO source_records (source, external_id, content_hash, lead_id, seen_at) "
        "SELECT i.source, i.external_id, '', i.lead_id, CURRENT_TIMESTAMP "
        "FROM lead_identities i WHERE NOT EXISTS (SELECT 1 FROM source_records r "
        "WHERE r.source = i.source AND r.external_id = i.external_id)"
    )
    op.execute(
        "UPDATE source_records SET lead_id = (SELECT i.lead_id FROM lead_identities i "
        "WHERE i.source = source_records.source AND i.external_id = source_records.external_id) "
        "WHERE lead_id IS NULL"
    )
    op.drop_index("ix_lead_identities_lead_id", table_name="lead_identities")
    op.drop_table("lead_identities")


def downgrade() -> None:
    op.create_table(
        "lead_identities",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.PrimaryKeyConstraint("source", "external_id"),
    )
    op.create_index("ix_lead_identities_lead_id", "lead_identities", ["lead_id"])
    # Records known by email only were never identities.
    op.execute(
        "INSERT INTO lead_identities (source, external_id, lead_id) "
        "SELECT source, external_id, lead_id FROM source_records "
        "WHERE lead_id IS NOT NULL AND external_id NOT LIKE 'email:%'"
    )
    op.drop_index("ix_source_records_lead_id", table_name="source_records")
