"""The outbox read in its drain order from its index (issue 13).

A push takes each kind's pending ops fresh first, retried after, oldest first within
each: `ORDER BY attempts, id`. `ix_outbox_drain` held (destination, status, kind, id),
so each batch read every pending op of its kind and sorted them to keep 10,000: a
backlog of 100,000 sorted 100,000 rows with their payloads (84 ms on PostgreSQL,
spilling to disk) for each of its ten batches, and a million a million for each of a
hundred. With `attempts` before `id` the index gives the batch in order and the read
stops at its end. A first load cut short may have left the index missing (it is built
after the rows): it is dropped only if there.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    _rebuild(["destination", "status", "kind", "attempts", "id"])


def downgrade() -> None:
    _rebuild(["destination", "status", "kind", "id"])


def _rebuild(columns: list[str]) -> None:
    op.execute("DROP INDEX IF EXISTS ix_outbox_drain")
    op.create_index("ix_outbox_drain", "outbox", columns)
