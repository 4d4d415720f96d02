"""The fast paths of identify, on both databases: the read-only answer for a record sent again
unchanged, the remembered API key, and where (event loop or thread pool) POST /identify
touches the store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from allroads.api import create_app
from allroads.domain.errors import InvalidIdentifier, InvalidInput, StoreError
from allroads.domain.normalize import email as email_module
from allroads.domain.normalize.email import normalize_email
from allroads.domain.types import Action, Actor, EntityType, IdentifyRequest, Role
from allroads.resolution.hub import Hub
from allroads.settings import Settings
from allroads.store import Store
from allroads.store import engine as engine_module
from conftest import make_store


def person(source_id: str, name: str = "Jane", **identifiers: Any) -> IdentifyRequest:
    return IdentifyRequest(EntityType.PERSON, "crm", source_id, identifiers, {"name": name})


def test_identify_unchanged_answers_only_a_record_stored_with_this_content(
        hub: Hub, actor: Actor) -> None:
    req = person("1", email="Jane@Acme.com", phone="(415) 555-2671")
    assert hub.identify_unchanged(actor, req) is None  # not stored yet
    created = hub.identify(actor, req)
    assert created.action is Action.CREATED
    again = hub.identify_unchanged(actor, req)
    assert again is not None
    assert again == hub.identify(actor, req)  # the answer identify gives
    assert (again.id, again.action) == (created.id, Action.MATCHED)
    assert again.evidence[0] == {"rule": "source_record", "source": "crm", "source_id": "1",
                                 "unchanged": True}
    # Spelled differently, normalized the same: still unchanged.
    assert hub.identify_unchanged(actor, person("1", email=" jane@ACME.com ",
                                                phone="+14155552671")) is not None
    changed = person("1", name="Jane Doe", email="jane@acme.com", phone="+14155552671")
    assert hub.identify_unchanged(actor, changed) is None
    written = hub.identify(actor, changed, unchanged_checked=True)
    assert (written.id, written.action) == (created.id, Action.MATCHED)
    assert hub.identify_unchanged(actor, changed) is not None


def test_store_answers_the_unchanged_question_as_a_transaction_does(hub: Hub,
                                                                     actor: Actor) -> None:
    created = hub.identify(actor, person("1", email="jane@acme.com"))
    with hub.store.read() as tx:
        record = tx.record(actor.tenant_id, "person", "crm", "1")
    assert record is not None
    ask = hub.store.entity_of_unchanged_record
    assert ask(actor.tenant_id, "person", "crm", "1", record.content_hash) == created.id
    assert ask(actor.tenant_id, "person", "crm", "1", "other hash") is None
    assert ask(actor.tenant_id, "account", "crm", "1", record.content_hash) is None
    assert ask(actor.tenant_id + 1, "person", "crm", "1", record.content_hash) is None


def test_the_unchanged_question_on_an_unmigrated_database_is_a_store_error(
        tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(StoreError, match="no such table"):
            store.entity_of_unchanged_record(1, "person", "crm", "1", "h")
    finally:
        store.close()


def test_identify_unchanged_leaves_records_with_an_account_to_identify(
        hub: Hub, actor: Actor) -> None:
    account = IdentifyRequest(EntityType.ACCOUNT, "crm", "acc-1", {"domain": "acme.com"}, {})
    req = IdentifyRequest(EntityType.PERSON, "crm", "1", {"email": "jane@acme.com"}, {},
                          account)
    hub.identify(actor, req)
    assert hub.identify_unchanged(actor, req) is None
    assert hub.identify(actor, req).action is Action.MATCHED


def test_identify_unchanged_rejects_bad_input_like_identify(hub: Hub, actor: Actor) -> None:
    bad = person("1", email="not an email")
    with pytest.raises(InvalidInput) as read_path:
        hub.identify_unchanged(actor, bad)
    with pytest.raises(InvalidInput) as write_path:
        hub.identify(actor, bad)
    assert read_path.value.message == write_path.value.message
    assert read_path.value.field == write_path.value.field == "identifiers.email"


def test_known_principal_is_remembered_only_after_authentication(hub: Hub) -> None:
    key, row = hub.create_api_key("acme", Role.INGEST)
    assert hub.known_principal(key) is None
    principal = hub.authenticate(key)
    assert principal is not None and principal.key.id == row.id
    assert hub.known_principal(key) is principal
    assert hub.known_principal(key + "x") is None
    hub.revoke_api_key(principal.actor(), row.id)
    assert hub.known_principal(key) is None
    assert hub.authenticate(key) is None


@dataclass
class Transactions:
    """Every store transaction begun, as (thread, write?), and every connection taken from
    the pool, as the thread (a statement run outside a transaction takes one too)."""

    seen: list[tuple[int, bool]] = field(default_factory=list)
    checkouts: list[int] = field(default_factory=list)

    def take(self) -> list[tuple[int, bool]]:
        out, self.seen = self.seen, []
        return out

    def take_checkouts(self) -> list[int]:
        out, self.checkouts = self.checkouts, []
        return out


@pytest.fixture
def transactions(hub: Hub) -> Iterator[Transactions]:
    log = Transactions()

    def begun(conn: sa.Connection) -> None:
        write = bool(conn.get_execution_options().get("allroads_write", False))
        log.seen.append((threading.get_ident(), write))

    def checkout(*_args: Any) -> None:
        log.checkouts.append(threading.get_ident())

    sa.event.listen(hub.store.engine, "begin", begun)
    sa.event.listen(hub.store.engine, "checkout", checkout)
    yield log
    sa.event.remove(hub.store.engine, "begin", begun)
    sa.event.remove(hub.store.engine, "checkout", checkout)


async def _loop_thread() -> int:
    return threading.get_ident()


def test_post_identify_touches_the_store_once_and_off_the_loop_only_to_write(
        hub: Hub, transactions: Transactions) -> None:
    hub.ensure_tenant("acme", default_region="US")
    key, _ = hub.create_api_key("acme", Role.INGEST)
    body = {"type": "person", "source": "crm", "source_id": "7",
            "identifiers": {"email": "Jane@Acme.com"}, "attributes": {"name": "Jane"}}
    local = hub.store.dialect.local_reads
    assert local == (hub.store.backend == "sqlite")
    # The writer thread (writer_process=0): its transactions are seen here.
    with TestClient(create_app(Settings(writer_process=0), hub=hub)) as client:
        assert client.portal is not None
        loop = client.portal.call(_loop_thread)

        def post(json: dict[str, Any]) -> dict[str, Any]:
            res = client.post("/api/v1/identify", json=json,
                              headers={"Authorization": f"Bearer {key}"})
            assert res.status_code == 200, res.text
            out: dict[str, Any] = res.json()
            return out

        transactions.take()
        transactions.take_checkouts()
        created = post(body)
        assert created["action"] == "created"
        first = transactions.take()
        checkouts = transactions.take_checkouts()
        if local:
            # The key is looked up once (a read in the pool); then, on the loop, the one
            # statement asking whether the record is stored unchanged (no transaction; the
            # rules are read with it, the first time); then the write, in the pool.
            assert [w for _, w in first] == [False, False, True]
            assert first[1][0] == loop and first[0][0] != loop and first[2][0] != loop
            assert checkouts[2] == loop and len(checkouts) == 4
        else:
            # The key, then (the first time) the rules, then the look-up and the write,
            # all in the pool.
            assert [w for _, w in first] == [False, False, False, True]
            assert all(thread != loop for thread, _ in first)

        again = post(body)
        assert (again["id"], again["action"]) == (created["id"], "matched")
        second = transactions.take()
        checkouts = transactions.take_checkouts()
        # The key and the rules are remembered: one statement, no write (on SQLite on the
        # reader connection the loop keeps: no pool checkout either).
        if local:
            assert second == [] and checkouts == []
        else:
            assert [w for _, w in second] == [False] and second[0][0] != loop

        changed = post({**body, "attributes": {"name": "Jane Doe"}})
        assert (changed["id"], changed["action"]) == (created["id"], "matched")
        third = transactions.take()
        checkouts = transactions.take_checkouts()
        assert [w for _, w in third] == ([True] if local else [False, True])
        assert third[-1][0] != loop
        # SQLite: the look-up on the loop's kept reader, then the write's one checkout (in
        # the writer thread); PostgreSQL: the look-up and the write, both in the pool.
        assert loop not in checkouts and len(checkouts) == (1 if local else 2)


# Normalization cache ------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.emails().map(lambda e: f" {e.upper()} ")))
def test_cached_email_normalization_answers_as_the_validator_does(raw: str) -> None:
    def outcome(fn: Callable[[str], str]) -> tuple[str, str]:
        try:
            return "ok", fn(raw)
        except InvalidIdentifier as exc:
            return "error", exc.message

    uncached = outcome(lambda r: _uncached_email(r) if r.strip() else normalize_email(r))
    assert outcome(normalize_email) == uncached
    assert outcome(normalize_email) == uncached  # the cached answer, the same


def _uncached_email(raw: str) -> str:
    normalized: str | None
    reason: str
    normalized, reason = email_module._validate.__wrapped__(raw.strip())
    if normalized is None:
        raise InvalidIdentifier("email", raw, reason)
    return normalized


# PostgreSQL: locks and idle connections -----------------------------------------------------
def test_lock_keys_takes_every_key_in_one_transaction(store: Store) -> None:
    keys = [f"1:person:email:user{i}@acme.com" for i in range(5)]
    with store.write() as tx:
        tx.lock_keys(keys)
        tx.lock_keys(keys[:1])
        tx.lock_keys([])
        if store.backend == "postgresql":
            held = tx.conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid()").scalar()
            assert held == 5


@pytest.fixture
def pg_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """PostgreSQL only: SQLite has no server connection to lose."""
    yield from make_store("postgres", request, tmp_path)


def test_idle_connections_are_pinged_and_replaced_when_gone(
        pg_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store = pg_store

    def pids() -> set[int]:
        with store.read() as tx:
            return {int(tx.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())}

    def kill(pid: int) -> None:
        """Terminate the backend and wait until it is gone."""
        admin = sa.create_engine(store.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})
        admin.dispose()

    # Used a moment ago: not pinged (no round trip); a connection killed under it fails
    # once (503 in the API), and the pool replaces it for the next call.
    (first,) = pids()
    kill(first)
    with pytest.raises(StoreError, match="unavailable"):
        pids()
    assert pids() != {first}
    # Idle longer than IDLE_PING_SECONDS: pinged, found dead, replaced, no error.
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)
    (second,) = pids()
    kill(second)
    assert pids() != {second}
