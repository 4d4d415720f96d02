"""Engines for the two databases: SQLite (embedded default, WAL) and PostgreSQL."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event

BUSY_TIMEOUT_MS = 30_000  # how long a statement waits for a lock another connection holds

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA mmap_size=268435456",
)


def json_text(value: Any) -> str:
    """JSON text as every JSON column stores it (the engine's serializer, and the bulk
    writes'): orjson, several times faster than json.dumps on identify's hot path; json for
    what orjson refuses, such as integers beyond 64 bits or keys that are not strings."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def json_as_read(value: Any) -> Any:
    """What SQLite reads back from a JSON column written with `json_text`: it keeps the
    text as written, so decoding that text gives it (PostgreSQL's JSONB reorders keys)."""
    return json.loads(json_text(value))


def make_engine(url: str, *, pool_size: int = 8) -> sa.Engine:
    """An engine for `url`. On SQLite, writes begin with BEGIN IMMEDIATE (one writer at a time)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
            json_serializer=json_text,
        )
        _sqlite_events(engine)
        return engine
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                              json_serializer=json_text)
    _ping_idle_connections(engine)
    return engine


# A pooled connection idle for longer than this is pinged before use (a server restart or an
# idle timeout may have closed it). One used more recently is not: pinging on every
# checkout (pool_pre_ping) costs a round trip, two or three per identify. A connection that
# dies while in use raises an OperationalError (API: 503, "retry"), and SQLAlchemy then
# drops every pooled connection opened before it, so the retry gets a fresh one.
IDLE_PING_SECONDS = 10.0


def _ping_idle_connections(engine: sa.Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["allroads_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("allroads_idle_since")
        if since is None or time.monotonic() - since <= IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool replaces the connection and checks out again (up to three times).
            raise sa.exc.DisconnectionError(f"idle connection is gone: {exc}") from exc
        if not alive:
            raise sa.exc.DisconnectionError("idle connection is gone")


def _sqlite_events(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cur.execute(pragma)
        cur.close()

    error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # On the driver: SQLAlchemy's statement machinery would cost more than the BEGIN.
        # Its errors are raised as SQLAlchemy's (a locked database is an OperationalError).
        sql = "BEGIN IMMEDIATE" if conn.get_execution_options().get("allroads_write") \
            else "BEGIN"
        try:
            conn.connection.driver_connection.execute(sql).close()  # type: ignore[union-attr]
        except error as exc:
            raise sa.exc.DBAPIError.instance(sql, (), exc, error) from exc
