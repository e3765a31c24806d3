"""A statement's rows as the DBAPI cursor returns them, a part at a time: no Row objects.

For the readers of hundreds of thousands of rows (the whole-year History CSV,
``phonelocker events --json``): SQLAlchemy compiles and binds the statement (its
dialect, placeholders, bind processors); the rows are then fetched straight from the
DBAPI cursor, as tuples, instead of through the result's Row objects and per-row
processing. That is right only where none of the selected columns has a result
processor for the dialect (SQLite's ``DateTime`` has one: it parses the stored text;
read ``type_coerce(column, String)`` instead to get the text); where one has, the
result's own partitions are used, so the values are always what SQLAlchemy returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, Select


def processed_columns(statement: Select, dialect) -> list[str]:
    """The names of ``statement``'s selected columns whose type converts the DBAPI's
    values on ``dialect`` (empty: the DBAPI's tuples are the result's rows)."""
    return [
        column.name or str(column)
        for column in statement.selected_columns
        if column.type.dialect_impl(dialect).result_processor(dialect, None) is not None
    ]


def plain_parts(connection: Connection, statement: Select, size: int,
                parameters: Mapping[str, Any] | None = None) -> Iterator[list]:
    """The rows of ``statement`` run on ``connection`` (with the values of its
    bound parameters in ``parameters``), ``size`` at a time, as tuples (lists of them);
    the statement's cursor is closed when the parts end or are abandoned."""
    result = connection.execute(statement, parameters)
    try:
        if processed_columns(statement, connection.dialect):
            yield from result.partitions(size)
            return
        fetch = result.cursor.fetchmany
        while rows := fetch(size):
            yield rows
    finally:
        result.close()
