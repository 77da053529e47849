"""Follow-up SLAs (issue 12): one timer per hand-off, with the steps of its ladder."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leadsync.migrations import drop_tables
from leadsync.state.models import UTCDateTime

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "sla_timers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lead_id", sa.Integer(), sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("task_key", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reassignments", sa.Integer(), nullable=False),
        sa.Column("touched_at", UTCDateTime()),
        sa.Column("steps", sa.JSON(), nullable=False),
    )
    op.create_index("ix_sla_timers_lead_id", "sla_timers", ["lead_id"])
    op.create_index("ix_sla_timers_open_due", "sla_timers", ["status", "due_at"])


def downgrade() -> None:
    drop_tables(("sla_timers", ("ix_sla_timers_lead_id", "ix_sla_timers_open_due")))
