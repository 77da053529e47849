"""CRM records leadsync took over (issue 10): a Lead or Contact the org already had for the
person, found by email or by its duplicate rule, keyed by leadsync from then on. Their
follow-up tasks are checked against the open tasks another state db may have left there."""

from __future__ import annotations

import sqlalchemy as sa

from leadsync.migrations import add_columns, drop_columns

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    add_columns(
        "crm_records", sa.Column("adopted", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    drop_columns("crm_records", "adopted")
