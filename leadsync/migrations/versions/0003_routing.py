"""The owner of each lead and the routing decision that chose them (issue 3).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:39:04.044272
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("route", sa.JSON(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("route")
        batch_op.drop_column("owner")
