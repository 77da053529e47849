"""The CRM's feedback (issue 5): when a recycled lead may come back, and what sales last set.

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


def downgrade() -> None:
    with op.batch_alter_table("crm_records", schema=None) as batch_op:
        batch_op.drop_column("seen")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("revisit_on")
