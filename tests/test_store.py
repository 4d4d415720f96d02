"""The store itself, on both databases."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import sqlalchemy as sa

from allroads.domain.errors import StoreError
from allroads.domain.types import Actor, EntityType, IdentifyRequest, Role
from allroads.resolution.hub import Hub, hash_key
from allroads.store import Store
from allroads.store.requests import PENDING
from allroads.store.schema import api_keys, record_versions

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


def test_driver_statements_store_and_read_what_sqlalchemy_does(tmp_path: object) -> None:
    """SQLite runs the hot statements on the driver (store/driver.py): the rows written
    and read must be exactly SQLAlchemy's (the same text for times and JSON)."""
    from allroads.store.driver import DriverStatement
    from allroads.store.schema import changelog

    s = Store(f"sqlite:///{tmp_path}/driver.db")
    s.migrate()
    hub = Hub(s)
    tenant = hub.ensure_tenant("acme")
    with s.write() as tx:
        entity = tx.create_entity(tenant.id, "person", "per_1", NOW)
    row = {"tenant_id": tenant.id, "entity_id": entity, "at": NOW, "touchpoint": "api",
           "initiator": "t", "field": "name", "old": None, "new": {"b": [1, "é"], "a": 2.5},
           "merge_public_id": None, "import_id": None}
    insert = changelog.insert()
    with s.write() as tx:
        tx.conn.execute(insert, [row])
        DriverStatement(insert, s.engine.dialect, list(row)).run(
            tx.conn.connection.driver_connection, row)
    with s.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT at, old, new FROM changelog ORDER BY id").all()
    assert len(raw) == 2 and raw[0] == raw[1]
    assert raw[0][1] == "null"  # JSON null, as SQLAlchemy stores None in a JSON column
    select = sa.select(changelog.c.at, changelog.c.old, changelog.c.new).order_by(changelog.c.id)
    with s.read() as tx:
        by_sqlalchemy = tx.conn.execute(select).all()
        by_driver = DriverStatement(select, s.engine.dialect).rows(
            tx.conn.connection.driver_connection, {})
    assert [tuple(r) for r in by_sqlalchemy] == by_driver
    assert by_driver[0] == (NOW, None, {"b": [1, "é"], "a": 2.5})
    s.close()


def test_json_columns_store_orjson_text_and_json_for_what_it_refuses(tmp_path: object
                                                                     ) -> None:
    """Every JSON column stores `json_text` (through SQLAlchemy and the bulk writes alike):
    orjson's compact text; json's for integers beyond 64 bits and keys that are not
    strings, which orjson refuses. Each reads back as the value written."""
    from allroads.store.engine import json_text
    from allroads.store.schema import changelog

    assert json_text({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'
    assert json_text({"n": 2**70}) == '{"n": 1180591620717411303424}'
    assert json_text({1: "x"}) == '{"1": "x"}'
    s = Store(f"sqlite:///{tmp_path}/json.db")
    s.migrate()
    tenant = Hub(s).ensure_tenant("acme")
    values = [{"a": [1, "é"]}, {"n": 2**70}]
    with s.write() as tx:
        entity = tx.create_entity(tenant.id, "person", "per_1", NOW)
        tx.conn.execute(changelog.insert(), [
            {"tenant_id": tenant.id, "entity_id": entity, "at": NOW, "touchpoint": "api",
             "initiator": "t", "field": "f", "old": None, "new": value} for value in values])
    with s.engine.connect() as conn:
        raw = [r[0] for r in conn.exec_driver_sql("SELECT new FROM changelog ORDER BY id")]
        read = [r[0] for r in conn.execute(sa.select(changelog.c.new).order_by(changelog.c.id))]
    assert raw == [json_text(v) for v in values]
    assert read == values
    s.close()


def test_driver_executemany_converts_each_row_as_sqlalchemy(tmp_path: object) -> None:
    """run_many converts a time shared by consecutive rows once: every row still stores
    its own time and values, as SQLAlchemy's executemany does."""
    from allroads.store.driver import DriverStatement
    from allroads.store.schema import changelog

    s = Store(f"sqlite:///{tmp_path}/driver.db")
    s.migrate()
    tenant = Hub(s).ensure_tenant("acme")
    with s.write() as tx:
        entity = tx.create_entity(tenant.id, "person", "per_1", NOW)
    later = NOW + dt.timedelta(seconds=1, microseconds=5)
    rows = [{"tenant_id": tenant.id, "entity_id": entity, "at": at, "touchpoint": "api",
             "initiator": "t", "field": f"f{i}", "old": None, "new": {"n": i},
             "merge_public_id": None, "import_id": None}
            for i, at in enumerate([NOW, NOW, later, later, NOW])]
    insert = changelog.insert()
    with s.write() as tx:
        tx.conn.execute(insert, rows)
        DriverStatement(insert, s.engine.dialect, list(rows[0])).run_many(
            tx.conn.connection.driver_connection, rows)
    with s.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT at, field, new FROM changelog ORDER BY id").all()
    assert raw[:5] == raw[5:]
    assert [r[0] for r in raw[:5]] == [raw[0][0]] * 2 + [raw[2][0]] * 2 + [raw[0][0]]
    assert raw[0][0] != raw[2][0]
    s.close()


def test_driver_statements_expand_lists_and_report_errors_as_sqlalchemy(
        tmp_path: object) -> None:
    from allroads.store.driver import DriverStatement
    from allroads.store.schema import entities

    s = Store(f"sqlite:///{tmp_path}/driver.db")
    s.migrate()
    tenant = Hub(s).ensure_tenant("acme")
    with s.write() as tx:
        ids = [tx.create_entity(tenant.id, "person", f"per_{i}", NOW) for i in range(5)]
    select = sa.select(entities.c.public_id).where(
        entities.c.id.in_(sa.bindparam("ids", expanding=True))).order_by(entities.c.id)
    stmt = DriverStatement(select, s.engine.dialect)
    with s.read() as tx:
        conn = tx.conn.connection.driver_connection
        assert stmt.rows(conn, {"ids": ids[1:3]}) == [("per_1",), ("per_2",)]
        assert stmt.rows(conn, {"ids": ids}) == [(f"per_{i}",) for i in range(5)]
    with s.write() as tx, pytest.raises(sa.exc.IntegrityError):
        tx.create_entity(tenant.id, "person", "per_1", NOW)  # public ids are unique
    s.close()


def test_match_candidates_keep_json_that_orjson_would_change(store: Store) -> None:
    """Candidates' versions are decoded as SQLAlchemy's JSON type would: a 20-digit integer
    stays an integer, NaN and Infinity (json.dumps writes them) are read back (SQLite; a
    PostgreSQL JSONB holds no NaN)."""
    hub = Hub(store)
    tenant = hub.ensure_tenant("json-edge")
    actor = Actor(tenant.id, "test", "api", None)
    attributes: dict[str, object] = {"first_name": "Ann", "last_name": "Lee",
                                     "loyalty_no": "1234567890123456789012"}
    res = hub.identify(actor, IdentifyRequest(EntityType.PERSON, "crm", "c-1",
                                              {"email": "ann@lee.example.org"}, attributes))
    assert res.id is not None
    big = 12345678901234567890123
    special = {"big": big, **({"nan": float("nan"), "inf": float("inf")}
                              if store.dialect.name == "sqlite" else {})}
    with store.write() as tx:
        rec = tx.record(tenant.id, "person", "crm", "c-1")
        assert rec is not None
        tx.conn.execute(sa.update(record_versions).where(record_versions.c.record_id == rec.id)
                        .values(attributes={**attributes, **special}))
    with store.read() as tx:
        got = tx.match_records_by_id(tenant.id, "person", [rec.id])[0].attributes
    assert got["big"] == big and isinstance(got["big"], int)
    assert got["loyalty_no"] == "1234567890123456789012"
    if store.dialect.name == "sqlite":
        assert math.isnan(got["nan"]) and got["inf"] == float("inf")


def test_a_savepoint_undoes_only_what_ran_inside_it(store: Store) -> None:
    with store.write(bulk=True) as tx:
        tenant = tx.create_tenant("t1", "T1", "US", NOW)
        tx.add_source_if_missing(tenant.id, "kept", 10, NOW)
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.add_source_if_missing(tenant.id, "undone", 10, NOW)
            with tx.savepoint():  # nested: released with the outer one's work
                tx.add_source_if_missing(tenant.id, "undone_too", 10, NOW)
            raise RuntimeError("the row failed")
        with tx.savepoint():
            tx.add_source_if_missing(tenant.id, "after", 10, NOW)
    with store.read() as tx:
        assert sorted(s.name for s in tx.sources(tenant.id)) == ["after", "kept"]


def test_a_bulk_write_restores_the_checkpoint_interval(tmp_path: object) -> None:
    s = Store(f"sqlite:///{tmp_path}/bulk.db")
    s.migrate()
    with s.write(bulk=True) as tx:
        during = tx.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    with s.write() as tx:
        after = tx.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert during == 16_000 and after == 1000
