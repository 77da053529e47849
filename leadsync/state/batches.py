"""How a page's keys and rows reach the state db at once, whatever the dialect.

Each lookup takes a whole page's keys as one parameter (``one_of``: a JSON array on
SQLite, an array on PostgreSQL), so a page of 5,000 records costs a handful of queries,
not thousands; a page's new rows go in by one statement (``insert_rows``: SQLite's
executemany, PostgreSQL's COPY).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")
# Keys a lookup sends at once (one parameter): a page's worth. 500 a query cost
# PostgreSQL's first sync of 100,000 leads 44 s against 27 s in round trips.
_SLICE = 5000


def slices(values: Iterable[T]) -> Iterator[list[T]]:
    items = list(dict.fromkeys(values))
    for i in range(0, len(items), _SLICE):
        yield items[i : i + _SLICE]


def one_of(session: Session, column: Any, values: list[Any]) -> ColumnElement[bool]:
    """``column`` is one of ``values``, as one parameter, so that the statement's text is
    the same for every slice: SQLAlchemy compiles it once (an ``IN`` of 500 literals was
    coerced and rendered anew each time, a fifth of a no-op sync) and the driver parses
    it once. SQLite: ``IN (SELECT value FROM json_each(:json))``, the JSON array of the
    values, each probed in the index. PostgreSQL: ``= ANY(:array)``, a parameter of the
    column's array type, which the planner sees whole; its value goes as the array's
    text (``array_text``), which the server reads as that type. Given as a set it cannot
    count (``jsonb_array_elements_text``, a hundred rows to the planner), or as a text
    parameter the statement converts, it joined a page's 5,000 leads against every
    pending op of a first load, tens of millions of comparisons a page."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        literal = array_text(values)
        if literal is None:
            return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        return column == any_(bindparam(None, literal, type_=_ArrayText(column.type)))
    listed = func.json_each(bindparam(None, orjson.dumps(values).decode(), type_=String))
    return cast(
        "ColumnElement[bool]",
        column.in_(select(literal_column("value")).select_from(listed).scalar_subquery()),
    )


def array_text(values: Sequence[Any]) -> str | None:
    """PostgreSQL's text of an array of these strings or integers, made at once; None for
    other values. psycopg's list dumper, written in Python, took 2 us a value: a reordered
    no-op of 100,000 leads spent 0.2 s of its 1.7 on CPU in it. The server reads the text
    into the same array the list would have been (the statement casts it), so the
    planner counts the same elements."""
    if all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    if not all(type(v) is str for v in values):
        return None
    joined = '","'.join(values)
    if "\\" in joined or '"' in joined:  # a value needs its escapes: each one escaped
        joined = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + joined + '"}' if values else "{}"


class _ArrayText(TypeDecorator[Any]):
    """An array parameter given as its text (`array_text`): rendered with the array's
    cast, passed to the driver as it is (the array type would take it for a list)."""

    impl = String
    cache_ok = True

    def __init__(self, item: Any) -> None:
        super().__init__()
        from sqlalchemy.dialects.postgresql import ARRAY

        self.item = item  # part of the statement cache's key, as the array's own type
        self.impl = ARRAY(item)  # type: ignore[assignment]

    def bind_processor(self, dialect: Dialect) -> None:
        return None


def in_slices(
    session: Session, values: Iterable[Any], query: Callable[[list[Any]], Select[Any]]
) -> Iterator[Any]:
    """Rows of ``query(part)`` for each slice of ``values``: one query per 5,000 keys."""
    for part in slices(values):
        yield from session.scalars(query(part))


def keyed(
    session: Session, column: InstrumentedAttribute[Any], values: Iterable[Any], *where: Any
) -> dict[Any, Any]:
    """The rows whose ``column`` is one of ``values`` (and ``where`` holds), by that
    column's value: one query per 5,000 values."""
    model = column.class_
    rows = in_slices(
        session, values, lambda part: select(model).where(*where, one_of(session, column, part))
    )
    return {getattr(row, column.key): row for row in rows}


def insert_rows(session: Session, into: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows (all with the same two or more columns) inserted at once, each value bound by
    its column's type as SQLAlchemy binds it, without its per-row assembly of parameters:
    for a first sync's million leads, record versions and ops, that assembly was a tenth
    of the work (bench/scale.py). SQLite takes them by one executemany; PostgreSQL by
    COPY, which fills a heap page with rows under one WAL record (an INSERT writes one a
    row, with its headers: a first load of 100,000 leads wrote a fifth of its WAL so)."""
    if not rows:
        return
    conn = session.connection()
    columns = tuple(rows[0])
    statement, processed = _insert_of(into, columns, conn.dialect)
    take = itemgetter(*columns)  # a row's values in the columns' order
    values = []
    for row in rows:
        value = list(take(row))
        for i, process in processed:
            value[i] = process(value[i])
        values.append(tuple(value))
    if conn.dialect.name == "postgresql":
        # The session's own connection: the rows are in its transaction, as an INSERT's.
        dbapi = conn.connection.dbapi_connection
        with dbapi.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for each in values:
                copy.write_row(each)
    else:
        conn.exec_driver_sql(statement, values)


@functools.cache
def _insert_of(
    into: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[str, list[tuple[int, Callable[[Any], Any]]]]:
    """The statement that takes the rows (PostgreSQL's COPY, else an INSERT with
    positional parameters), and the columns whose type processes a value before the
    driver takes it (JSON, times), with the processor: made once per table, columns and
    dialect."""
    quote = dialect.identifier_preparer.quote
    listed = ", ".join(quote(c) for c in columns)
    if dialect.name == "postgresql":
        statement = f"COPY {quote(into.name)} ({listed}) FROM STDIN"
    else:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        statement = (
            f"INSERT INTO {quote(into.name)} ({listed}) VALUES ({', '.join([mark] * len(columns))})"
        )
    processors = [into.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    return statement, [(i, p) for i, p in enumerate(processors) if p is not None]
