"""`allroads db upgrade`."""

from __future__ import annotations

import typer

from allroads.cli import runtime
from allroads.cli.render import console

app = typer.Typer(no_args_is_help=True, help="""Manage the database schema.

    The database is ALLROADS_DATABASE_URL: SQLite (default) or PostgreSQL.

    Example:

        allroads db upgrade
    """)


@app.command("upgrade")
def upgrade() -> None:
    """Create the database or upgrade its schema to the newest migration.

    Uses ALLROADS_DATABASE_URL (default: sqlite:///allroads.db). Safe to run any number of
    times; `allroads serve` runs it on start too.

    Example:

        allroads db upgrade

        ALLROADS_DATABASE_URL=postgresql+psycopg://app:secret@db/allroads allroads db upgrade
    """
    store = runtime.open_store(runtime.settings(), migrate=True)
    try:
        console.print(f"Database schema is up to date: {store.backend} at {store.safe_url}",
                      soft_wrap=True)
    finally:
        store.close()
