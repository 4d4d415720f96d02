"""The base of a store transaction: a connection and the dialect."""

from __future__ import annotations

import sqlalchemy as sa

from allroads.store.dialect import Dialect


class TxBase:
    def __init__(self, conn: sa.Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    def _insert(self, table: sa.Table, **values: object) -> int:
        return int(self.conn.execute(table.insert().values(**values).returning(table.c.id))
                   .scalar_one())
