"""Where batch matching runs: DuckDB on this machine (the default) or Spark beyond it.

An engine holds tables, runs SQL in its dialect and hands results back as Arrow tables.
The pipeline (``allroads.batch.pipeline``) writes the same SQL for both; the engines differ
only in how a table is kept and in two function names (``allroads.batch.sql.Dialect``).
"""

from __future__ import annotations

from typing import Any, Protocol

import duckdb
import pyarrow as pa

from allroads.batch.sql import DUCKDB, Dialect


class Engine(Protocol):
    dialect: Dialect

    def load(self, name: str, table: pa.Table) -> None: ...

    def materialize(self, name: str, select: str) -> None: ...

    def fetch(self, select: str) -> pa.Table: ...

    def random_pairs(self, name: str, records: int, pairs: int, seed: int) -> None: ...

    def close(self) -> None: ...


class DuckDBEngine:
    """An in-process DuckDB database (in memory, spilling to a temporary directory)."""

    dialect = DUCKDB

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None,
                 temp_directory: str | None = None) -> None:
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        if temp_directory:
            config["temp_directory"] = temp_directory
        self.con = duckdb.connect(":memory:", config=config)

    def load(self, name: str, table: pa.Table) -> None:
        self.con.register("_incoming", table)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _incoming")
        self.con.unregister("_incoming")

    def materialize(self, name: str, select: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {select}")

    def fetch(self, select: str) -> pa.Table:
        return self.con.sql(select).to_arrow_table()

    def random_pairs(self, name: str, records: int, pairs: int, seed: int) -> None:
        self.con.execute(f"SELECT setseed({(seed % 1000) / 1000.0!r})")
        self.materialize(name, (
            f"SELECT CAST(floor(random() * {records}) AS BIGINT) AS l, "
            f"CAST(floor(random() * {records}) AS BIGINT) AS r FROM range({pairs})"))

    def close(self) -> None:
        self.con.close()
