"""Content hashes of 128 bits (issue 13).

A record version's content hash is now SHA-256's first 32 hex characters
(``connectors.base.HASH_CHARS``): it only tells one version of a record from the next.
The versions stored before keep their first 32 characters, so a record that has not
changed is still known unchanged; on PostgreSQL the covering index that lookups read
takes the shorter values with the rows. The column keeps its width.

Going down leaves the hashes short: the older code then sees every record as changed
once, reads it again and plans nothing new for it.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.execute(
        "UPDATE source_records SET content_hash = substr(content_hash, 1, 32) "
        "WHERE length(content_hash) > 32"
    )


def downgrade() -> None:
    """Nothing to undo: the cut characters are gone (see above)."""
