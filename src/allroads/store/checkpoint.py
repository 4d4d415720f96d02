"""WAL checkpoints in a thread of their own, for a server on SQLite.

SQLite appends every commit to the write-ahead log and, by default, the commit that takes
the log past 1,000 pages copies the log back into the database file (a checkpoint: a few
MB of scattered writes and an fsync). That commit, and every write queued behind it, waits
for the disk. A server has a steady stream of small writes, so every fiftieth commit or so
paid for a checkpoint, and the requests behind it showed it in their latency.

`Checkpointer` (``Store.start_checkpointer``; the API's lifespan starts it) turns automatic
checkpoints off on the store's write connections and runs a PASSIVE checkpoint every
`every` seconds on a connection of its own: it copies what readers allow, never waits for
or blocks a writer or reader, and lets SQLite start the log again from its beginning once
all of it is copied. What is durable does not change (commits are in the log, fsynced as
before by `synchronous=NORMAL` at each checkpoint).

SQLite starts the log again only when a writer finds every frame copied back and no reader
still on the log; a busy server always has a reader, so the log grew without end (1 GB in
35 s at 1,000 identify/s). Once a log of `restart_pages` or more is all copied back, the
checkpointer asks for a RESTART: it waits, at most RESTART_WAIT_MS and holding writers back
meanwhile, for the readers still on the log (about a millisecond each; new readers read the
database file), and the next commit writes from the start of the log again. A reader that
stays longer (a match run reading every record) makes it give up until the next time: a
short wait tried every few seconds costs the writers less than a long one.
Measured at 1M people: the log stayed under 112 MB, and throughput was unchanged (1,088 and
1,070 against 1,078 and 1,115 req/s at 8 connections, interleaved runs).

SQLite syncs the database file only after a checkpoint that copies the log to its end, and
under a steady load a PASSIVE one never does (the writer has added to the log meanwhile).
So the pages every PASSIVE checkpoint copied stayed unsynced until the RESTART, whose sync
of all of them (125 to 150 ms on this VM's disk) held the writers back. The checkpointer
therefore syncs the database file itself after each PASSIVE checkpoint that copied pages,
holding no lock; the RESTART then has only the pages of the last moments left to sync. (An
extra sync changes nothing about what is durable: it only writes sooner.)
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from allroads.store.engine import BUSY_TIMEOUT_MS

log = logging.getLogger("allroads.store")

# How often the log is copied back: often enough that it stays a few MB under a steady load.
CHECKPOINT_SECONDS = 0.25
# A log this long (pages of 4 KB: 64 MB), all copied back, is started again.
RESTART_PAGES = 16_384
# How long a RESTART waits for the readers still on the log (writers wait meanwhile).
RESTART_WAIT_MS = 5


class Checkpointer:
    def __init__(self, connect: Any, every: float = CHECKPOINT_SECONDS,
                 restart_pages: int = RESTART_PAGES) -> None:
        """`connect()`: a DB-API connection to the database (closed when stopped)."""
        self.every = every
        self.restart_pages = restart_pages
        self.checkpoints = 0  # checkpoints run, and pages copied back (for tests, stats)
        self.pages = 0
        self.restarts = 0  # logs started again
        self._copied = 0  # the log's frames copied back as of the last sync
        self._connect = connect
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="allroads-checkpoint",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after a last checkpoint."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = self._connect()
        try:
            database = _database_file(conn)
            while not self._stop.wait(self.every):
                self.checkpoint(conn, database)
            self.checkpoint(conn, database)
        finally:
            conn.close()

    def checkpoint(self, conn: Any, database: int | None) -> None:
        """A PASSIVE checkpoint, the database file (`database`: its descriptor) synced if it
        copied pages, and a RESTART if the log is long and all copied back."""
        try:
            _busy, log_pages, copied = _run(conn, "PASSIVE")
            if database is not None and copied not in (0, self._copied):
                _sync(database)  # it copied pages since the last sync
                self._copied = copied
            if log_pages >= self.restart_pages and copied == log_pages:
                _run(conn, f"busy_timeout={RESTART_WAIT_MS}", pragma=True)
                try:
                    busy, _, _ = _run(conn, "RESTART")
                finally:
                    _run(conn, f"busy_timeout={BUSY_TIMEOUT_MS}", pragma=True)
                self.restarts += not busy
        except Exception:  # a failed checkpoint loses nothing: the next one copies it
            log.exception("WAL checkpoint failed; trying again in %.2f s", self.every)
            return
        self.checkpoints += 1
        self.pages += max(int(copied), 0)


# Descriptors of the database files synced, by (device, inode): opened once a process and
# never closed. Closing any descriptor of a file drops every POSIX lock the process holds
# on it, and SQLite's connections hold theirs through descriptors of their own ("How To
# Corrupt An SQLite Database File", 2.2).
_DATABASE_FILES: dict[tuple[int, int], int] = {}
_DATABASE_FILES_LOCK = threading.Lock()
# fdatasync where there is one (Linux), else fsync (macOS); Windows syncs only a descriptor
# open for writing, so there the RESTART syncs on its own, as before.
_sync = getattr(os, "fdatasync", os.fsync)


def _database_file(conn: Any) -> int | None:
    """A descriptor of `conn`'s main database file, to sync; None for one not on disk."""
    cursor = conn.execute("PRAGMA database_list")
    try:
        path = next(row[2] for row in cursor.fetchall() if row[1] == "main")
    finally:
        cursor.close()
    if not path or os.name == "nt":
        return None
    try:
        stat = os.stat(path)
        with _DATABASE_FILES_LOCK:
            key = (stat.st_dev, stat.st_ino)
            if key not in _DATABASE_FILES:
                _DATABASE_FILES[key] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            return _DATABASE_FILES[key]
    except OSError as exc:  # checkpoints go on; a RESTART then syncs everything itself
        log.warning("cannot open %s to sync it between checkpoints: %s", path, exc)
        return None


def _run(conn: Any, what: str, *, pragma: bool = False) -> tuple[int, int, int]:
    """`PRAGMA wal_checkpoint(what)`: (busy, pages in the log, pages copied back); or, with
    `pragma`, `PRAGMA what` (and zeros)."""
    cursor = conn.execute(f"PRAGMA {what}" if pragma else f"PRAGMA wal_checkpoint({what})")
    try:
        row = cursor.fetchone()
    finally:
        cursor.close()
    if pragma:
        return 0, 0, 0
    busy, log_pages, copied = row
    return int(busy), int(log_pages), int(copied)
