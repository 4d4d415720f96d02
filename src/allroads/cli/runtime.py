"""What a command needs to run: settings, the store and the Hub, and the acting tenant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from allroads.domain.errors import InvalidInput, NotFound, StoreError
from allroads.domain.types import Actor
from allroads.resolution.hub import Hub
from allroads.settings import Settings
from allroads.store import Store, TenantRow

CLI_INITIATOR = "cli"
CLI_TOUCHPOINT = "cli"
TENANT_ENV = "ALLROADS_TENANT"
TENANTS_LISTED = 20  # named in the error when a command needs --tenant


# The database URLs the store supports, and what to say about near misses.
SUPPORTED_URLS = ("sqlite:///", "postgresql+psycopg://")
URL_HINT = ("use sqlite:///allroads.db (a file) or "
            "postgresql+psycopg://user:password@host/dbname")


def settings(**overrides: Any) -> Settings:
    """Settings from the environment (ALLROADS_*), with command-line overrides."""
    config = Settings.from_env(**overrides)
    if not config.database_url.startswith(SUPPORTED_URLS):
        scheme = config.database_url.partition(":")[0] or config.database_url
        raise InvalidInput(f"ALLROADS_DATABASE_URL: unsupported database {scheme!r}",
                           field="database_url", hint=URL_HINT)
    return config


def sqlite_path(url: str) -> Path | None:
    """The file of a sqlite:/// URL, or None (another database, or in memory)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def open_store(config: Settings, *, migrate: bool = False) -> Store:
    """The store of `config`; migrated when asked, otherwise it must already be."""
    path = sqlite_path(config.database_url)
    if not migrate and path is not None and not path.exists():
        raise StoreError(f"no database at {path}",
                         hint="create it with `allroads db upgrade` (or set "
                         "ALLROADS_DATABASE_URL to the database to use)")
    store = Store(config.database_url, pool_size=config.pool_size)
    try:
        if migrate:
            store.migrate()
        else:
            store.check_migrated()
    except BaseException:
        store.close()
        raise
    return store


@contextmanager
def hub_session(config: Settings | None = None) -> Iterator[Hub]:
    """A Hub over the configured, migrated store, closed afterwards."""
    store = open_store(config or settings())
    try:
        yield Hub(store)
    finally:
        store.close()


def only_tenant() -> str:
    """The tenant to act for when none is named (no --tenant, no ALLROADS_TENANT): the
    database's only tenant. With none or several, an error says what to do."""
    store = open_store(settings())
    try:
        with store.read() as tx:
            slugs = [t.slug for t in tx.tenants()]
    finally:
        store.close()
    if len(slugs) == 1:
        return slugs[0]
    if not slugs:
        raise NotFound("no tenant given, and the database has none yet",
                       hint="create one with `allroads apikey create --tenant acme --role "
                       "admin`")
    shown = ", ".join(slugs[:TENANTS_LISTED])
    if len(slugs) > TENANTS_LISTED:
        shown += f" and {len(slugs) - TENANTS_LISTED} more"
    raise InvalidInput(f"no tenant given, and the database has {len(slugs)}: {shown}",
                       field="tenant", hint=f"choose one with --tenant {slugs[0]} (or set "
                       f"{TENANT_ENV}={slugs[0]})")


def find_tenant(hub: Hub, slug: str) -> TenantRow:
    """The tenant named `slug`, never creating it (a typo must not make a new tenant)."""
    return hub.tenant(slug)


def cli_actor(hub: Hub, slug: str) -> Actor:
    tenant = find_tenant(hub, slug)
    return Actor(tenant.id, CLI_INITIATOR, CLI_TOUCHPOINT, tenant.default_region)
