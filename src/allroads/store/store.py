"""The Store: the one object that talks to the database. Everything else is handed it.

    store = Store("sqlite:///allroads.db")
    store.migrate()
    with store.write() as tx:      # one transaction; SQLite: BEGIN IMMEDIATE, one writer
        tx.create_tenant(...)
    with store.read() as tx:
        tx.profile(...)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from allroads.domain.errors import StoreError
from allroads.store.bulk import BulkQueries
from allroads.store.checkpoint import Checkpointer
from allroads.store.dialect import dialect_for
from allroads.store.engine import make_engine
from allroads.store.entities import UNCHANGED_RECORD, EntityQueries
from allroads.store.identifiers import IdentifierQueries
from allroads.store.imports import ImportQueries
from allroads.store.links import LinkQueries
from allroads.store.match_keys import MatchKeyQueries
from allroads.store.matching import MatchQueries
from allroads.store.profiles import ProfileQueries
from allroads.store.records import RecordQueries
from allroads.store.references import ReferenceQueries
from allroads.store.requests import RequestQueries
from allroads.store.tenants import TenantQueries


class Tx(TenantQueries, EntityQueries, RecordQueries, IdentifierQueries, LinkQueries,
         ProfileQueries, RequestQueries, ImportQueries, BulkQueries, ReferenceQueries,
         MatchQueries, MatchKeyQueries):
    """One database transaction with every query the layers above may run."""


# See Store.write(bulk=True): 16,000 pages of 4 KiB, a WAL of up to 64 MiB between checkpoints.
BULK_CHECKPOINT_PAGES = 16_000
DEFAULT_CHECKPOINT_PAGES = 1000  # SQLite's own
_AUTOCHECKPOINT = "allroads_wal_autocheckpoint"  # a connection's setting, in its info


def _pragma(conn: sa.Connection, setting: str) -> None:
    """A connection setting, on the driver (outside any transaction SQLAlchemy tracks)."""
    conn.connection.driver_connection.execute(f"PRAGMA {setting}").close()  # type: ignore[union-attr]


class Store:
    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        try:
            self.engine = make_engine(url, pool_size=pool_size)
        except (sa.exc.ArgumentError, ModuleNotFoundError, sa.exc.NoSuchModuleError) as exc:
            raise StoreError(f"unsupported database URL {url!r}: {exc}",
                             hint="use sqlite:///path.db or "
                             "postgresql+psycopg://user:pass@host/db") from exc
        self.dialect = dialect_for(self.engine)
        self.safe_url = sa.make_url(url).render_as_string(hide_password=True)
        driver = self.dialect.driver
        self._unchanged = driver.get(UNCHANGED_RECORD) if driver is not None else None
        # SQLite allows one writer; queue writers here instead of spinning on SQLITE_BUSY.
        self._write_lock: threading.Lock | None = (
            threading.Lock() if self.dialect.name == "sqlite" else None)
        # SQLite: the write connections' wal_autocheckpoint (0 while a Checkpointer runs).
        self._autocheckpoint = DEFAULT_CHECKPOINT_PAGES
        self.checkpointer: Checkpointer | None = None

    def start_checkpointer(self, **options: Any) -> None:
        """SQLite: copy the WAL back into the database in a thread of its own instead of
        in the commit that takes it past 1,000 pages (see store/checkpoint.py; `options`
        are Checkpointer's), until `stop_checkpointer`. What a server does; nothing
        elsewhere."""
        if self.dialect.name != "sqlite" or self.checkpointer is not None:
            return
        self.checkpointer = Checkpointer(self.engine.raw_connection, **options)
        self._autocheckpoint = 0

    def stop_checkpointer(self) -> None:
        if self.checkpointer is not None:
            self._autocheckpoint = DEFAULT_CHECKPOINT_PAGES
            self.checkpointer.stop()
            self.checkpointer = None

    @property
    def backend(self) -> str:
        return self.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest migration (safe to run on every start)."""
        cfg = Config(str(resources.files("allroads.store") / "alembic.ini"))
        cfg.set_main_option("script_location",
                            str(resources.files("allroads.store") / "migrations"))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"cannot migrate the database at {self.safe_url}: {exc.orig}",
                             hint="check ALLROADS_DATABASE_URL and that the server is up"
                             ) from exc

    def check_migrated(self) -> None:
        try:
            with self.engine.connect() as conn:
                migrated = sa.inspect(conn).has_table("alembic_version")
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"cannot reach the database at {self.safe_url}: {exc.orig}",
                             hint="check ALLROADS_DATABASE_URL and that the server is up"
                             ) from exc
        if not migrated:
            raise StoreError(f"the database at {self.safe_url} has no Allroads schema",
                             hint="run `allroads db upgrade`")

    @contextmanager
    def write(self, *, bulk: bool = False) -> Iterator[Tx]:
        """A write transaction. `bulk`: one of many large ones in a row (an import's commit
        batches): on SQLite the WAL is checkpointed every BULK_CHECKPOINT_PAGES pages instead
        of SQLite's 1,000 while it lasts, so the index pages every batch touches are copied
        back to the database file once per several batches, not after each one."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with _unavailable_as_store_error(self.safe_url), \
                    self.engine.connect().execution_options(allroads_write=True) as conn:
                checkpoint = bulk and self.dialect.name == "sqlite" and self._autocheckpoint
                if checkpoint:
                    _pragma(conn, f"wal_autocheckpoint={BULK_CHECKPOINT_PAGES}")
                elif lock is not None and conn.info.get(_AUTOCHECKPOINT) != self._autocheckpoint:
                    _pragma(conn, f"wal_autocheckpoint={self._autocheckpoint}")
                    conn.info[_AUTOCHECKPOINT] = self._autocheckpoint
                try:
                    with conn.begin():
                        yield Tx(conn, self.dialect)
                finally:
                    if checkpoint:
                        _pragma(conn, f"wal_autocheckpoint={self._autocheckpoint}")
                        conn.info[_AUTOCHECKPOINT] = self._autocheckpoint
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with _unavailable_as_store_error(self.safe_url), self.engine.connect() as conn, \
                conn.begin():
            yield Tx(conn, self.dialect)

    def entity_of_unchanged_record(self, tenant_id: int, entity_type: str, source: str,
                                   source_key: str, content_hash: str) -> str | None:
        """`Tx.entity_of_unchanged_record` in one statement of its own, no transaction:
        identify's common case. SQLite: on the driver (a local read, it never waits for the
        writer); PostgreSQL: a read transaction (its cost is the round trip)."""
        if self._unchanged is None:
            with self.read() as tx:
                return tx.entity_of_unchanged_record(tenant_id, entity_type, source,
                                                     source_key, content_hash)
        values = {"tenant_id": tenant_id, "entity_type": entity_type, "source": source,
                  "source_key": source_key, "content_hash": content_hash}
        with _unavailable_as_store_error(self.safe_url):
            found = self._unchanged.scalar(self.engine, values)
        return str(found) if found is not None else None

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def _unavailable_as_store_error(url: str) -> Iterator[None]:
    """A database that is down or unreachable is a StoreError (API 503), not a crash."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise StoreError(f"the database at {url} is unavailable: {exc.orig}",
                         hint="check that the database server is up and reachable; "
                         "retry the request") from exc
