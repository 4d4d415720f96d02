"""Statements run on the database driver itself, for the few on the hottest paths.

SQLAlchemy's per-statement work (a transaction object, the compiled-cache look-up, an
execution context, a result wrapper) costs several times what SQLite takes to run an
indexed look-up. A `DriverStatement` is a Core statement compiled once for the engine's
dialect: its SQL and the order of its parameters. It runs on a pooled connection's driver
cursor, and driver errors are raised as SQLAlchemy's, so callers handle them as any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler


class DriverStatement:
    """`stmt` compiled for `engine`'s dialect: run with `scalar(engine, params)`."""

    def __init__(self, stmt: sa.ClauseElement, engine: sa.Engine) -> None:
        compiled = cast(SQLCompiler, stmt.compile(dialect=engine.dialect))
        if compiled.positiontup is None and engine.dialect.positional:
            raise ValueError("a positional dialect compiled no parameter order")
        self.sql = compiled.string
        self._order = list(compiled.positiontup) if compiled.positiontup is not None else None
        self._error = engine.dialect.loaded_dbapi.Error

    def params(self, values: Mapping[str, Any]) -> Any:
        if self._order is None:
            return dict(values)
        return tuple(values[name] for name in self._order)

    def scalar(self, engine: sa.Engine, values: Mapping[str, Any]) -> Any:
        """The first column of the first row (None without one), read outside any
        transaction: for one statement, which sees one consistent state by itself."""
        params = self.params(values)
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(self.sql, params)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except self._error as exc:
            raise sa.exc.DBAPIError.instance(self.sql, params, exc, self._error) from exc
        finally:
            conn.close()
        return row[0] if row else None
