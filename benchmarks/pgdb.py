"""Fresh PostgreSQL databases for the benchmarks."""

from __future__ import annotations

import sqlalchemy as sa

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"


def fresh_pg_database(server_url: str, name: str, template: str | None = None) -> str:
    """Drop and create database `name` (a copy of `template`, if given) on the server of
    `server_url`; its URL."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    admin.dispose()
    return database_url(server_url, name)


def pg_exists(server_url: str, name: str) -> bool:
    """Whether database `name` exists on the server of `server_url`."""
    engine = sa.create_engine(server_url)
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                             {"n": name}).first()
    engine.dispose()
    return found is not None


def database_url(server_url: str, name: str) -> str:
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def server_settings(url: str) -> dict[str, str]:
    """The PostgreSQL settings that change what a benchmark measures."""
    engine = sa.create_engine(url)
    out: dict[str, str] = {}
    with engine.connect() as conn:
        out["version"] = str(conn.exec_driver_sql("SHOW server_version").scalar())
        for name in ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers",
                     "max_connections"):
            out[name] = str(conn.exec_driver_sql(f"SHOW {name}").scalar())
    engine.dispose()
    return out
