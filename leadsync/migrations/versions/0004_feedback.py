"""The CRM's feedback and its quota (issue 5): when a recycled lead may come back, what sales
last set, and which ops are hand-offs (written first when the API quota runs low).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revisit_on", sa.Date(), nullable=True))
    with op.batch_alter_table("crm_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seen", sa.JSON(), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("handoff", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("handoff")
    with op.batch_alter_table("crm_records", schema=None) as batch_op:
        batch_op.drop_column("seen")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("revisit_on")
