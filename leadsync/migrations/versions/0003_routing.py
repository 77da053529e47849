"""The owner of each lead and the routing decision that chose them (issue 3)."""

from __future__ import annotations

import sqlalchemy as sa

from leadsync.migrations import add_columns, drop_columns

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    add_columns(
        "leads",
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("route", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    drop_columns("leads", "route", "owner")
