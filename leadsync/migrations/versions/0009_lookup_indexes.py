"""The lookup indexes named, so that a first load can build them after its rows (issue 13).

`leads.key` was unique by a constraint and `source_records` keyed by (source,
external_id): both indexes SQLite makes for a constraint and never lets go. They take
keys in random order, and on a first load of a million leads each commit dirtied a page
of each per lead. Now they are named unique indexes (`ux_leads_key`,
`ux_source_records`), which `state/firstload.py` drops and builds again around a first
load; `source_records` gains an id (on SQLite its rowid) as its primary key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leadsync.state.models

revision = "0009"
down_revision = "0008"

KEYED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}  # to name SQLite's unnamed constraint


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("leads", recreate="always", naming_convention=KEYED) as b:
            b.drop_constraint("uq_leads_key", type_="unique")
    else:
        op.drop_constraint("leads_key_key", "leads", type_="unique")
    op.create_index("ux_leads_key", "leads", ["key"], unique=True)
    _rebuild_records(keyed=False)
    op.create_index("ux_source_records", "source_records", ["source", "external_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_source_records", table_name="source_records")
    _rebuild_records(keyed=True)
    op.drop_index("ux_leads_key", table_name="leads")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("leads", recreate="always") as b:
            b.create_unique_constraint("uq_leads_key", ["key"])
    else:
        op.create_unique_constraint("leads_key_key", "leads", ["key"])


def _rebuild_records(*, keyed: bool) -> None:
    """source_records copied into a table of the shape asked, which then takes its name."""
    _records_table("source_records_new", keyed=keyed)
    columns = "source, external_id, content_hash, lead_id, seen_at"
    op.execute(f"INSERT INTO source_records_new ({columns}) SELECT {columns} FROM source_records")
    op.drop_index("ix_source_records_lead_id", table_name="source_records")
    op.drop_table("source_records")
    op.rename_table("source_records_new", "source_records")
    op.create_index("ix_source_records_lead_id", "source_records", ["lead_id"])


def _records_table(name: str, *, keyed: bool) -> None:
    """source_records as 0008 had it (keyed by source and id), or with an id of its own."""
    ids = [] if keyed else [sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"))]
    op.create_table(
        name,
        *ids,
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", leadsync.state.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.PrimaryKeyConstraint(*(["source", "external_id"] if keyed else ["id"])),
    )
