"""The unchanged-record look-up outside any transaction (`Store.entity_of_unchanged_record`)
and, on SQLite, the reader connection the first thread keeps (store/driver.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from allroads.domain.types import Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub
from allroads.store import Store
from allroads.store.driver import DriverStatement, _kept_reader
from conftest import make_store


def _people(hub: Hub, actor: Actor, n: int) -> list[tuple[IdentifyRequest, str]]:
    out = []
    for i in range(n):
        req = IdentifyRequest(EntityType.PERSON, "crm", f"c{i}", {"email": f"p{i}@acme.com"},
                              {"name": f"Person {i}"})
        result = hub.identify(actor, req)
        assert result.id is not None
        out.append((req, result.id))
    return out


def test_unchanged_look_ups_from_many_threads_while_writing(hub: Hub, actor: Actor) -> None:
    people = _people(hub, actor, 20)

    def look_up(i: int) -> str | None:
        req, _ = people[i % len(people)]
        result = hub.identify_unchanged(actor, req)
        return result.id if result is not None else None

    stop = threading.Event()

    def write() -> int:
        n = 0
        while not stop.is_set():
            hub.identify(actor, IdentifyRequest(EntityType.PERSON, "support", f"w{n}",
                                                {"email": f"w{n}@acme.com"}, {}))
            n += 1
        return n

    with ThreadPoolExecutor(5) as pool:
        writer = pool.submit(write)
        try:
            found = list(pool.map(look_up, range(400)))
        finally:
            stop.set()
        assert writer.result() > 0
    assert found == [people[i % len(people)][1] for i in range(400)]
    # A record sent with another content is no longer "unchanged".
    req, _ = people[0]
    changed = IdentifyRequest(req.type, req.source, req.source_id, req.identifiers,
                              {"name": "Someone Else"})
    assert hub.identify_unchanged(actor, changed) is None


@pytest.fixture
def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """SQLite only: the kept reader is SQLite's (PostgreSQL reads in a transaction)."""
    yield from make_store("sqlite", request, tmp_path)


def test_sqlite_keeps_one_reader_connection_for_the_first_thread(sqlite_store: Store
                                                                  ) -> None:
    store, hub = sqlite_store, Hub(sqlite_store)
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)
    people = _people(hub, actor, 3)  # identify looked for unchanged records: one kept
    pool = store.engine.pool
    idle = 0
    req, person = people[0]
    assert pool.checkedout() == idle + 1  # kept by this thread
    assert hub.identify_unchanged(actor, req).id == person  # type: ignore[union-attr]
    assert pool.checkedout() == idle + 1  # the same one again

    # Another thread checks a connection out and gives it back.
    with ThreadPoolExecutor(1) as other:
        assert other.submit(hub.identify_unchanged, actor, req).result() is not None
    assert pool.checkedout() == idle + 1

    # A statement that fails gives the kept connection back; the next read takes another.
    kept = _kept_reader(store.engine)
    before = kept.connection()
    broken = DriverStatement(sa.select(sa.literal_column("x")).select_from(
        sa.table("no_such_table")), store.engine.dialect)
    with pytest.raises(sa.exc.OperationalError, match="no_such_table"):
        broken.scalar(store.engine, {})
    assert pool.checkedout() == idle
    assert hub.identify_unchanged(actor, req).id == person  # type: ignore[union-attr]
    assert kept.connection() is not before

    # Closing the store gives it back too; the store still answers afterwards.
    store.close()
    assert store.engine.pool.checkedout() == 0
    assert hub.identify_unchanged(actor, req).id == person  # type: ignore[union-attr]
