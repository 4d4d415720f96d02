"""Statements run on the database driver itself, for the few on the hottest paths.

SQLAlchemy's per-statement work (the compiled-cache look-up, an execution context, a result
wrapper, events) costs several times what SQLite takes to run an indexed look-up or a
one-row insert, and identify runs about ten of them per new person. A `DriverStatement`
is a Core statement compiled once for a dialect: its SQL, the order of its parameters, and
SQLAlchemy's own converters for each parameter and result column (the same ones
`Connection.execute` would apply, so the values stored and read are exactly the same).
It runs on the driver connection, inside the caller's transaction; driver errors are
raised as SQLAlchemy's, so callers handle them as any other.

Used on SQLite only (`Dialect.driver_statements`): there, with one local writer, this
overhead is most of the time. PostgreSQL keeps SQLAlchemy's execution, whose handling of
lost connections (invalidate, reconnect) the API relies on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.sql.compiler import SQLCompiler

Converter = Callable[[Any], Any] | None
_UNSET = object()


class DriverStatement:
    """`stmt` compiled for `dialect` (with `column_keys`: an INSERT or UPDATE of just those
    columns). Only for positional drivers (SQLite's qmark)."""

    def __init__(self, stmt: sa.ClauseElement, dialect: sa.Dialect,
                 column_keys: Sequence[str] | None = None) -> None:
        compiled = cast(SQLCompiler, stmt.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None))
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name}: driver statements need a positional paramstyle")
        self.stmt = stmt  # DriverStatements keys its cache by id(stmt): keep it alive
        self.sql = compiled.string
        self._names = list(compiled.positiontup)
        binds = compiled.binds
        self._expanding = {n for n in self._names if binds[n].expanding}
        self._bind: list[tuple[str, Converter]] = [
            (n, _bind_converter(binds[n].type, dialect)) for n in self._names]
        columns = list(getattr(stmt, "selected_columns", None) or ())
        returning = getattr(stmt, "_returning", None) or ()
        self._results: list[Converter] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None)
            for c in (columns or list(returning))]
        self._convert_results = any(self._results)
        self._sql_for: dict[tuple[int, ...], str] = {}
        self._error = dialect.loaded_dbapi.Error

    # Parameters -------------------------------------------------------------------------
    def _params(self, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
        params: list[Any] = []
        lengths: list[int] = []
        for name, convert in self._bind:
            value = values[name]
            if name in self._expanding:
                items = list(value)
                lengths.append(len(items))
                params.extend(convert(v) if convert else v for v in items)
            else:
                params.append(convert(value) if convert else value)
        return (self._expanded(tuple(lengths)) if lengths else self.sql), params

    def _expanded(self, lengths: tuple[int, ...]) -> str:
        sql = self._sql_for.get(lengths)
        if sql is None:
            sql = self.sql
            for name, n in zip([n for n in self._names if n in self._expanding], lengths,
                               strict=True):
                if n == 0:
                    raise ValueError(f"empty list for {name!r}")
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * n), 1)
            self._sql_for[lengths] = sql
        return sql

    def _row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if not self._convert_results:
            return tuple(row)
        return tuple(c(v) if c else v for c, v in zip(self._results, row, strict=True))

    # Running ----------------------------------------------------------------------------
    def rows(self, conn: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, converted (SELECT, or INSERT ... RETURNING)."""
        sql, params = self._params(values)
        try:
            cursor = conn.execute(sql, params)
            try:
                return [self._row(r) for r in cursor.fetchall()]
            finally:
                cursor.close()
        except self._error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, self._error) from exc

    def first(self, conn: Any, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = self.rows(conn, values)
        return rows[0] if rows else None

    def run(self, conn: Any, values: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        sql, params = self._params(values)
        try:
            cursor = conn.execute(sql, params)
            count = int(cursor.rowcount)
            cursor.close()
            return count
        except self._error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, self._error) from exc

    def run_many(self, conn: Any, rows: Iterable[Mapping[str, Any]]) -> None:
        """The statement once per row of values (executemany); no expanding parameters.
        A time that is the very object of the row before (the time of a changelog's
        rows, say) is converted once (immutable: the same object, the same text)."""
        binds = self._bind
        last: list[Any] = [_UNSET] * len(binds)
        converted: list[Any] = [None] * len(binds)
        params = []
        for values in rows:
            row = []
            for i, (name, convert) in enumerate(binds):
                value = values[name]
                if convert is None:
                    row.append(value)
                elif value is last[i] and isinstance(value, dt.datetime):
                    row.append(converted[i])
                else:
                    last[i], converted[i] = value, convert(value)
                    row.append(converted[i])
            params.append(row)
        try:
            conn.executemany(self.sql, params).close()
        except self._error as exc:
            raise sa.exc.DBAPIError.instance(self.sql, params, exc, self._error) from exc

    def scalar(self, engine: sa.Engine, values: Mapping[str, Any]) -> Any:
        """The first column of the first row (None without one), read outside any
        transaction: for one statement, which sees one consistent state by itself. On the
        engine's kept reader connection when this thread owns it, else on a pooled one."""
        kept = _kept_reader(engine)
        conn = kept.connection()
        if conn is not None:
            try:
                row = self.first(conn.driver_connection, values)
            except BaseException:
                kept.drop()
                raise
            return row[0] if row else None
        conn = engine.raw_connection()
        try:
            row = self.first(conn.driver_connection, values)
        finally:
            conn.close()
        return row[0] if row else None


def _bind_converter(type_: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Converter:
    convert = type_.dialect_impl(dialect).bind_processor(dialect)
    try:
        is_time = issubclass(type_.python_type, dt.datetime)
    except NotImplementedError:
        is_time = False
    return _last_value_kept(convert) if convert is not None and is_time else convert


def _last_value_kept(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, remembering its last answer: the rows a unit of work writes share one
    time (`Unit.now`), converted once instead of once per column."""
    last: list[tuple[Any, Any]] = [(object(), None)]

    def convert_kept(value: Any) -> Any:
        seen, out = last[0]
        if seen is value:
            return out
        out = convert(value)
        last[0] = (value, out)  # one tuple, replaced whole: safe across threads
        return out

    return convert_kept


class KeptReader:
    """One pooled connection kept checked out for the first thread that reads with
    `DriverStatement.scalar` (in the server: the event loop, which answers identify's
    common case with one such read): a pool checkout and check-in cost several times the
    indexed look-up itself. Any other thread checks a connection out as usual, so at most
    one connection of the pool is kept. Given back when a statement on it fails (the next
    read takes a fresh one) and when the engine is disposed (`Store.close`).

    Safe on SQLite only: its connections hold no transaction between statements (the
    driver's autocommit mode; `BEGIN` is emitted explicitly), so a kept idle connection
    pins no snapshot of the WAL."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = weakref.ref(engine)  # kept readers are looked up by engine, weakly
        self._owner: int | None = None
        self._conn: Any = None
        self._lock = threading.Lock()

    def connection(self) -> Any:
        """The kept connection if this thread owns it (taking ownership when nobody does),
        else None."""
        me = threading.get_ident()
        owner = self._owner
        if owner == me and self._conn is not None:
            return self._conn
        if owner is not None and owner != me:
            return None
        with self._lock:
            if self._owner not in (None, me):
                return None
            if self._conn is None:
                engine = self._engine()
                if engine is None:
                    return None
                self._conn = engine.raw_connection()
            self._owner = me
            return self._conn

    def drop(self) -> None:
        """Give the connection back: invalidated (a statement on it failed, or the engine
        is disposed: closed rather than pooled)."""
        with self._lock:
            conn, self._conn, self._owner = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already closed with its pool
                conn.invalidate()


_kept_readers: weakref.WeakKeyDictionary[sa.Engine, KeptReader] = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()


def _kept_reader(engine: sa.Engine) -> KeptReader:
    kept = _kept_readers.get(engine)
    if kept is None:
        with _kept_lock:
            kept = _kept_readers.get(engine)
            if kept is None:
                kept = _kept_readers[engine] = KeptReader(engine)
                event.listen(engine, "engine_disposed", lambda _engine: kept.drop())
    return kept


class DriverStatements:
    """The `DriverStatement`s of one dialect, compiled on first use."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect
        self._compiled: dict[tuple[int, tuple[str, ...] | None], DriverStatement] = {}

    def get(self, stmt: sa.ClauseElement, column_keys: Sequence[str] | None = None
            ) -> DriverStatement:
        key = (id(stmt), tuple(column_keys) if column_keys is not None else None)
        found = self._compiled.get(key)
        if found is None:
            found = DriverStatement(stmt, self.dialect, column_keys)
            self._compiled[key] = found
        return found
