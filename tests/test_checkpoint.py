"""WAL checkpoints in a thread of their own (a server on SQLite): the write connections'
automatic checkpoints are off while it runs, its checkpoints copy the log back, and when
it stops the connections checkpoint as SQLite does by default. PostgreSQL: nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from allroads.domain.types import Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub
from allroads.store import Store
from allroads.store.checkpoint import Checkpointer
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


def test_the_database_file_is_synced_outside_the_checkpoint(
        hub: Hub, actor: Actor, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PASSIVE checkpoint under a steady load never reaches the log's end, so SQLite never
    syncs what it copied; the checkpointer syncs the database file itself, holding no lock,
    so that a RESTART (which holds the writers back) has little left to sync."""
    if store.backend != "sqlite":
        return
    from allroads.store import checkpoint

    synced: list[int] = []

    def sync(fd: int) -> None:  # the real call, watched
        synced.append(os.fstat(fd).st_ino)
        real_sync(fd)

    real_sync = checkpoint._sync
    monkeypatch.setattr(checkpoint, "_sync", sync)
    database = _database_path(store)
    checkpointer = _checkpoints_while_writing(hub, actor, store,
                                              until=lambda c: c.pages > 0 and bool(synced))
    assert checkpointer.pages > 0
    assert synced and set(synced) == {os.stat(database).st_ino}


def test_stopping_the_checkpointer_keeps_the_process_s_locks(
        hub: Hub, actor: Actor, store: Store) -> None:
    """The checkpointer's descriptor of the database file stays open: closing any descriptor
    of a file drops every POSIX lock the process holds on it, SQLite's connections' too.
    Then another process's connection, closing, would find itself the last one and delete
    the log this process still uses."""
    if store.backend != "sqlite":
        return
    database = _database_path(store)
    _write(hub, actor, 3)
    with store.read() as tx:  # a connection of this process, open and pooled
        tx.conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one()
        store.start_checkpointer(every=0.02)
        time.sleep(0.1)
        store.stop_checkpointer()
        other = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                 "c.execute('SELECT count(*) FROM records').fetchone(); c.close()")
        subprocess.run([sys.executable, "-c", other, database], check=True, timeout=60)
        assert os.path.exists(database + "-wal")
        assert tx.conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one() == 3


def _checkpoints_while_writing(hub: Hub, actor: Actor, store: Store,
                               until: Callable[[Checkpointer], bool]) -> Checkpointer:
    """Checkpoint every 20 ms while 30 people are written, until `until` holds (10 s at
    most); the checkpointer, stopped."""
    store.start_checkpointer(every=0.02)
    checkpointer = store.checkpointer
    assert checkpointer is not None
    try:
        _write(hub, actor, 30)
        deadline = time.monotonic() + 10
        while not until(checkpointer) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        store.stop_checkpointer()
    return checkpointer


def _database_path(store: Store) -> str:
    path = store.engine.url.database
    assert path
    return str(path)


def test_checkpoints_go_on_when_the_database_file_cannot_be_opened(
        hub: Hub, actor: Actor, store: Store, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Opening the database file to sync it is a help, not a need: when it fails the
    checkpointer says so and goes on (the RESTART syncs on its own, as SQLite does)."""
    if store.backend != "sqlite":
        return
    from allroads.store import checkpoint

    def refuse(*_args: object, **_kwargs: object) -> int:
        raise PermissionError("refused for the test")

    with monkeypatch.context() as patched:
        patched.setattr(checkpoint, "_DATABASE_FILES", {})  # nothing opened yet
        patched.setattr(checkpoint.os, "open", refuse)
        checkpointer = _checkpoints_while_writing(hub, actor, store,
                                                  until=lambda c: c.pages > 0)
    assert checkpointer.checkpoints > 0 and checkpointer.pages > 0
    assert "cannot open" in caplog.text and "refused for the test" in caplog.text
