"""Events, stage history, and the last score and stage on each lead (issue 3)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leadsync.state.models
from leadsync.migrations import drop_columns, drop_tables

revision = "0002"
down_revision = "0001"


def upgrade() -> None:

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("at", leadsync.state.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_events_lead_id", "events", ["lead_id"])
    op.create_table(
        "stage_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("at", leadsync.state.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stage_history_lead_id", "stage_history", ["lead_id"])

    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score_fit", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("score_behaviour", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("stage", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_leads_stage"), ["stage"], unique=False)


def downgrade() -> None:
    drop_columns("leads", "stage", "score_behaviour", "score_fit", indexes=("ix_leads_stage",))
    drop_tables(
        ("stage_history", ("ix_stage_history_lead_id",)), ("events", ("ix_events_lead_id",))
    )
