"""The CRM's feedback and its quota (issue 5): when a recycled lead may come back, what sales
last set, and which ops are hand-offs (written first when the API quota runs low)."""

from __future__ import annotations

import sqlalchemy as sa

from leadsync.migrations import add_columns, drop_columns

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    add_columns("leads", sa.Column("revisit_on", sa.Date(), nullable=True))
    add_columns("crm_records", sa.Column("seen", sa.JSON(), nullable=True))
    add_columns(
        "outbox", sa.Column("handoff", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    drop_columns("outbox", "handoff")
    drop_columns("crm_records", "seen")
    drop_columns("leads", "revisit_on")
