"""`allroads serve`."""

from __future__ import annotations

from allroads.cli import runtime, server
from allroads.cli.options import HostOpt, PortOpt, WorkersOpt
from allroads.cli.render import console


def serve(host: HostOpt = None, port: PortOpt = None, workers: WorkersOpt = None) -> None:
    """Serve the REST API, its docs and the web console.

    The database is ALLROADS_DATABASE_URL (default: sqlite:///allroads.db in the current
    directory); it is created or migrated to the newest schema on start.

    Example:

        allroads serve --host 0.0.0.0 --port 8000

        ALLROADS_DATABASE_URL=postgresql+psycopg://allroads:secret@db/allroads allroads serve

        ALLROADS_DATABASE_URL=postgresql+psycopg://allroads:secret@db/allroads \\
            allroads serve --workers 2
    """
    config = runtime.settings(host=host, port=port, workers=workers)
    store = runtime.open_store(config, migrate=True)
    console.print(f"Database: {store.backend} at {store.safe_url} (schema up to date)")
    store.close()
    server.run(config)
