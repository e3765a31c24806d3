"""Statements compiled once for the engine's dialect and run on a raw DBAPI cursor.

The tap path is the one place where SQLAlchemy's per-execution work (cache
keys, execution contexts, result objects) costs more than the database: it
runs while a pupil stands at the locker. A :class:`Prepared` statement keeps
what matters from SQLAlchemy, done once: the SQL rendered for the dialect
(placeholders, quoting), and the types' own bind and result processors (so a
``DateTime`` is stored exactly as the ORM stores it, and read back as a
``datetime``). Everything else stays on the ORM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect, TextClause
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine


class Prepared:
    """A ``text()`` statement ready to execute on a DBAPI cursor of one dialect."""

    def __init__(
        self,
        statement: TextClause,
        dialect: Dialect,
        *,
        binds: Mapping[str, TypeEngine] | None = None,
        columns: Mapping[str, TypeEngine] | None = None,
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self._order = tuple(compiled.positiontup) if compiled.positional else None
        self._binds = {
            name: processor
            for name, type_ in (binds or {}).items()
            if (processor := type_.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        self.columns = tuple(columns or ())
        self._results = tuple(
            type_.dialect_impl(dialect).result_processor(dialect, None)
            for type_ in (columns or {}).values()
        )

    def parameters(self, values: Mapping[str, Any]) -> tuple | dict:
        converted = dict(values)
        for name, processor in self._binds.items():
            if converted.get(name) is not None:
                converted[name] = processor(converted[name])
        if self._order is not None:
            return tuple(converted[name] for name in self._order)
        return converted

    def execute(self, cursor, values: Mapping[str, Any]):
        cursor.execute(self.sql, self.parameters(values))
        return cursor

    def first(self, cursor, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row as a dict of named, type-converted columns (or None)."""
        row = self.execute(cursor, values).fetchone()
        if row is None:
            return None
        return {
            name: processor(value) if processor is not None and value is not None else value
            for name, processor, value in zip(self.columns, self._results, row, strict=True)
        }


def prepare_rows(
    statement: TextClause, binds: Mapping[str, TypeEngine], dialect: Dialect,
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple | dict]:
    """Each row's DBAPI parameters for ``statement``, converted as :class:`Prepared` does.

    Done before a bulk writer takes the write lock, so that only the database's
    own work is done while holding it (see :func:`run_many`).
    """
    prepared = Prepared(statement, dialect, binds=binds)
    return [prepared.parameters(row) for row in rows]


def run_many(
    session: Session, statement: TextClause, binds: Mapping[str, TypeEngine],
    rows: Sequence[Any],
) -> None:
    """Run ``statement`` once per row of ``rows`` (one DBAPI executemany) in ``session``'s
    transaction. ``rows`` are mappings of values, or the output of :func:`prepare_rows`.

    For bulk writes that must be short: SQLAlchemy's own executemany spends
    several times the database's time per row on parameter processing.
    """
    connection = session.connection()
    prepared = Prepared(statement, connection.dialect, binds=binds)
    if rows and isinstance(rows[0], Mapping):
        rows = [prepared.parameters(row) for row in rows]
    connection.exec_driver_sql(prepared.sql, rows)
