"""`leadsync run` (issue 12): the scheduled jobs' last and next runs, and the forms inbox
(each accepted submission, committed before the listener answers)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leadsync.migrations import drop_tables
from leadsync.state.models import UTCDateTime

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("schedule", sa.String(120), nullable=False),
        sa.Column("next_run_at", UTCDateTime()),
        sa.Column("last_started_at", UTCDateTime()),
        sa.Column("last_finished_at", UTCDateTime()),
        sa.Column("last_result", sa.String(12)),
        sa.Column("last_duration_s", sa.Float()),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_success_at", UTCDateTime()),
        sa.Column("failures_in_row", sa.Integer(), nullable=False),
    )
    op.create_table(
        "inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime()),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
    )
    op.create_index("ux_inbox_source_key", "inbox", ["source", "key"], unique=True)


def downgrade() -> None:
    drop_tables(("inbox", ("ux_inbox_source_key",)), ("jobs", ()))
