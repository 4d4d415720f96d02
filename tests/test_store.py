"""The store itself, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from allroads.domain.errors import StoreError
from allroads.domain.types import Role
from allroads.resolution.hub import Hub, hash_key
from allroads.store import Store
from allroads.store.requests import PENDING
from allroads.store.schema import api_keys

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_migrate_is_repeatable(store: Store) -> None:
    store.migrate()
    store.migrate()
    store.check_migrated()


def test_unmigrated_database_is_reported(tmp_path: object) -> None:
    empty = Store(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(StoreError, match="allroads db upgrade"):
        empty.check_migrated()


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    s = Store(f"sqlite:///{tmp_path}/wal.db")
    s.migrate()
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_api_keys_are_stored_hashed(store: Store) -> None:
    hub = Hub(store)
    key, row = hub.create_api_key("acme", Role.EDITOR)
    with store.engine.connect() as conn:
        stored = [r.key_hash for r in conn.execute(sa.select(api_keys.c.key_hash))]
    assert stored == [hash_key(key)] and key not in stored
    principal = hub.authenticate(key)
    assert principal is not None and principal.role is Role.EDITOR
    assert hub.authenticate(key + "x") is None
    hub.revoke_api_key(principal.actor(), row.id)
    assert hub.authenticate(key) is None


def test_times_come_back_in_utc(store: Store) -> None:
    with store.write() as tx:
        tenant = tx.create_tenant("t1", "T1", "US", NOW)
    with store.read() as tx:
        back = tx.tenant(tenant.id)
    assert back is not None and back.created_at == NOW and back.created_at.tzinfo is not None


def test_an_idempotency_key_is_claimed_once(store: Store) -> None:
    with store.write() as tx:
        tenant = tx.create_tenant("t1", "T1", None, NOW)
        assert tx.claim_request(tenant.id, "k1", "POST", "/x", "h", NOW) is None
        held = tx.claim_request(tenant.id, "k1", "POST", "/x", "h2", NOW)
        assert held is not None and held.status_code == PENDING and held.body_hash == "h"
        tx.complete_request(tenant.id, "k1", 201, "{}")
        tx.release_request(tenant.id, "k1")  # only a pending claim can be released
    with store.read() as tx:
        got = tx.stored_response(tenant.id, "k1")
    assert got is not None and (got.body_hash, got.status_code, got.response) == ("h", 201, "{}")
    with store.write() as tx:
        assert tx.claim_request(tenant.id, "k2", "POST", "/x", "h", NOW) is None
        tx.release_request(tenant.id, "k2")
        assert tx.claim_request(tenant.id, "k2", "POST", "/x", "h", NOW) is None


def test_a_failed_write_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.create_tenant("half", "Half", None, NOW)
        raise RuntimeError("boom")
    with store.read() as tx:
        assert tx.tenant_by_slug("half") is None
