"""What differs between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from allroads.store.driver import DriverStatements


class Dialect:
    """SQLite: one writer at a time (BEGIN IMMEDIATE), so locks inside a write are free."""

    name = "sqlite"
    # Reads come from a local file and never wait for a writer (WAL): quick enough to run
    # on an event loop instead of handing them to a thread.
    local_reads = True
    # The hot statements run on the driver (driver.py); None: through SQLAlchemy.
    driver: DriverStatements | None = None

    def lock_keys(self, conn: sa.Connection, keys: Iterable[str]) -> None:
        """Serialize writers that touch the same identifier values (no-op: writes are serial)."""

    def lock_rows(self, conn: sa.Connection, table: sa.Table, ids: Iterable[int]) -> None:
        """Lock these rows until the transaction ends (no-op: writes are serial)."""

    def like(self, column: sa.ColumnElement[str], pattern: str) -> sa.ColumnElement[bool]:
        return column.like(pattern)

    def insert_ignore(self, table: sa.Table) -> Any:
        """INSERT that does nothing when a unique key already exists."""
        return sqlite_insert(table).on_conflict_do_nothing()


class PostgresDialect(Dialect):
    """PostgreSQL: concurrent writers, so identifier values take advisory locks."""

    name = "postgresql"
    local_reads = False  # a network round trip: run it off the event loop

    def lock_keys(self, conn: sa.Connection, keys: Iterable[str]) -> None:
        # One statement for all the keys, taken in ascending order (as every writer does,
        # so two writers never wait for each other in a cycle).
        ids = sorted({_key_hash(k) for k in keys})
        if len(ids) == 1:
            conn.execute(_LOCK_ONE, {"k": ids[0]})
        elif ids:
            conn.execute(_LOCK_MANY, {"keys": ids})

    def lock_rows(self, conn: sa.Connection, table: sa.Table, ids: Iterable[int]) -> None:
        wanted = sorted(set(ids))
        if wanted:
            conn.execute(
                sa.select(table.c.id).where(table.c.id.in_(wanted)).order_by(table.c.id)
                .with_for_update()
            ).all()

    def like(self, column: sa.ColumnElement[str], pattern: str) -> sa.ColumnElement[bool]:
        return column.ilike(pattern)

    def insert_ignore(self, table: sa.Table) -> Any:
        return pg_insert(table).on_conflict_do_nothing()


_LOCK_ONE = sa.text("SELECT pg_advisory_xact_lock(:k)")
# The sorted subquery is not flattened into the outer query (it has an ORDER BY), so the
# locks are taken row by row in its order.
_LOCK_MANY = sa.text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                     "(SELECT k FROM unnest(CAST(:keys AS bigint[])) AS u(k) ORDER BY k) AS s")


def _key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def dialect_for(engine: sa.Engine) -> Dialect:
    if engine.dialect.name == "postgresql":
        return PostgresDialect()
    dialect = Dialect()
    dialect.driver = DriverStatements(engine.dialect)
    return dialect
