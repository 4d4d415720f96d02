"""WAL checkpoints in a thread of their own (a server on SQLite): the write connections'
automatic checkpoints are off while it runs, its checkpoints copy the log back, and when
it stops the connections checkpoint as SQLite does by default. PostgreSQL: nothing."""

from __future__ import annotations

import time

import sqlalchemy as sa

from allroads.domain.types import Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub
from allroads.store import Store
from allroads.store.store import DEFAULT_CHECKPOINT_PAGES


def _autocheckpoint(store: Store) -> int:
    with store.write() as tx:
        return int(tx.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _write(hub: Hub, actor: Actor, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        hub.identify(actor, IdentifyRequest(EntityType.PERSON, "crm", f"c-{i}",
                                            {"email": f"p{i}@mail.acme-corp.net"},
                                            {"first_name": "Ada", "tier": i}))


def test_checkpoints_run_beside_the_writes(hub: Hub, actor: Actor, store: Store) -> None:
    if store.backend != "sqlite":
        store.start_checkpointer()
        assert store.checkpointer is None  # PostgreSQL checkpoints itself
        store.stop_checkpointer()
        _write(hub, actor, 3)
        return
    assert _autocheckpoint(store) == DEFAULT_CHECKPOINT_PAGES
    store.start_checkpointer()
    try:
        checkpointer = store.checkpointer
        assert checkpointer is not None
        assert _autocheckpoint(store) == 0
        _write(hub, actor, 60)
        deadline = time.monotonic() + 10
        while checkpointer.pages == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.checkpoints > 0 and checkpointer.pages > 0
        with store.write(bulk=True):  # a bulk write keeps the log to the checkpointer
            pass
        assert _autocheckpoint(store) == 0
    finally:
        store.stop_checkpointer()
    assert store.checkpointer is None
    assert _autocheckpoint(store) == DEFAULT_CHECKPOINT_PAGES
    _write(hub, actor, 2, start=60)
    with store.read() as tx:
        assert tx.conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one() == 62


def test_a_log_always_read_is_started_again(hub: Hub, actor: Actor, store: Store) -> None:
    """A server always has a reader on the log, so SQLite never starts it again by itself
    and it grows without end; the checkpointer starts it again (RESTART) once it is long
    and all copied back."""
    if store.backend != "sqlite":
        return
    import threading

    store.start_checkpointer(every=0.02, restart_pages=32)
    checkpointer = store.checkpointer
    assert checkpointer is not None
    done = threading.Event()

    def read() -> None:  # two readers, always busy: one is nearly always on the log
        while not done.is_set():
            with store.read() as tx:
                tx.conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one()

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        _write(hub, actor, 150)
        deadline = time.monotonic() + 10
        while checkpointer.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        for t in readers:
            t.join()
        store.stop_checkpointer()
    assert checkpointer.restarts > 0
    with store.read() as tx:
        assert tx.conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one() == 150
