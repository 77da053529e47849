"""The state db's Alembic environment (``env.py``) and versions, and the steps the
versions share: columns added or dropped in one batch (SQLite alters a table by
copying it), tables dropped with their indexes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def add_columns(table: str, *columns: sa.Column) -> None:
    with op.batch_alter_table(table) as batch_op:
        for column in columns:
            batch_op.add_column(column)


def drop_columns(table: str, *names: str, indexes: tuple[str, ...] = ()) -> None:
    with op.batch_alter_table(table) as batch_op:
        for index in indexes:
            batch_op.drop_index(index)
        for name in names:
            batch_op.drop_column(name)


def drop_tables(*tables: tuple[str, tuple[str, ...]]) -> None:
    """Each (table, its indexes), dropped in the order given (dependants first)."""
    for table, indexes in tables:
        if indexes:
            with op.batch_alter_table(table) as batch_op:
                for index in indexes:
                    batch_op.drop_index(index)
        op.drop_table(table)
