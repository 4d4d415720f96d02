"""Fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ALLROADS_TEST_POSTGRES_URL (.ci/run starts a throwaway server and sets
it). Without it the PostgreSQL half is skipped locally, and fails under CI=true.
Each test gets a fresh database: a copy of a migrated SQLite file, or a PostgreSQL database
created from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from allroads.domain.types import Actor
from allroads.resolution.hub import Hub
from allroads.store import Store

PG_URL = os.environ.get("ALLROADS_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not PG_URL:
        if IN_CI:
            pytest.fail("CI=true but ALLROADS_TEST_POSTGRES_URL is not set: PostgreSQL tests "
                        "must run in CI (see .ci/run)")
        pytest.skip("PostgreSQL not configured (set ALLROADS_TEST_POSTGRES_URL)")
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"allroads_tpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    store.migrate()
    store.close()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def make_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "allroads.db"
        shutil.copy(template, path)
        store = Store(f"sqlite:///{path}")
        yield store
        store.close()
        return
    template_name: str = request.getfixturevalue("pg_template")
    assert PG_URL
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"allroads_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    store = Store(sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    yield store
    store.close()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated store on each backend."""
    yield from make_store(request.param, request, tmp_path)


@pytest.fixture
def hub(store: Store) -> Hub:
    return Hub(store)


@pytest.fixture
def actor(hub: Hub) -> Actor:
    tenant = hub.ensure_tenant("acme", default_region="US")
    return Actor(tenant.id, "test", "api", tenant.default_region)
