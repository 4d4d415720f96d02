"""The base of a store transaction: a connection and the dialect, and how the hot
statements run (on SQLite, on the driver: see driver.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from allroads.store.dialect import Dialect


class TxBase:
    def __init__(self, conn: sa.Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self._dbapi: Any = None

    def _insert(self, table: sa.Table, **values: object) -> int:
        return int(self.conn.execute(table.insert().values(**values).returning(table.c.id))
                   .scalar_one())

    # The hot statements: module-level Core statements with bind parameters, run on the
    # driver where the dialect says so (SQLite), else by SQLAlchemy. Rows are plain tuples.
    def _driver_conn(self) -> Any:
        if self._dbapi is None:
            self._dbapi = self.conn.connection.driver_connection
        return self._dbapi

    def _rows(self, stmt: sa.ClauseElement, values: Mapping[str, Any]
              ) -> Sequence[Sequence[Any]]:
        driver = self.dialect.driver
        if driver is None:
            return self.conn.execute(stmt, values).all()  # type: ignore[call-overload,no-any-return]
        return driver.get(stmt, _keys(stmt, values)).rows(self._driver_conn(), values)

    def _first(self, stmt: sa.ClauseElement, values: Mapping[str, Any]
               ) -> Sequence[Any] | None:
        driver = self.dialect.driver
        if driver is None:
            return self.conn.execute(stmt, values).first()  # type: ignore[call-overload,no-any-return]
        return driver.get(stmt, _keys(stmt, values)).first(self._driver_conn(), values)

    def _run(self, stmt: sa.ClauseElement, values: Mapping[str, Any]) -> int:
        """A statement without rows; how many rows it changed."""
        driver = self.dialect.driver
        if driver is None:
            return int(self.conn.execute(stmt, values).rowcount)  # type: ignore[call-overload]
        return driver.get(stmt, _keys(stmt, values)).run(self._driver_conn(), values)

    def _run_many(self, stmt: sa.ClauseElement, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per row (every row with the same keys)."""
        if not rows:
            return
        driver = self.dialect.driver
        if driver is None:
            self.conn.execute(stmt, list(rows))  # type: ignore[call-overload]
            return
        driver.get(stmt, _keys(stmt, rows[0])).run_many(self._driver_conn(), rows)


def _keys(stmt: sa.ClauseElement, values: Mapping[str, Any]) -> tuple[str, ...] | None:
    """An INSERT's columns are the keys given (as SQLAlchemy compiles it); others: None."""
    return tuple(values) if getattr(stmt, "is_insert", False) else None
