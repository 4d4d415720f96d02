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
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("allroads.store")

# How often the log is copied back: often enough that it stays a few MB under a steady load.
CHECKPOINT_SECONDS = 0.25


class Checkpointer:
    def __init__(self, connect: Any, every: float = CHECKPOINT_SECONDS) -> None:
        """`connect()`: a DB-API connection to the database (closed when stopped)."""
        self.every = every
        self.checkpoints = 0  # checkpoints run, and pages copied back (for tests, stats)
        self.pages = 0
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
            while not self._stop.wait(self.every):
                self.checkpoint(conn)
            self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: Any) -> None:
        try:
            cursor = conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            _busy, _log_pages, copied = cursor.fetchone()
            cursor.close()
        except Exception:  # a failed checkpoint loses nothing: the next one copies it
            log.exception("WAL checkpoint failed; trying again in %.2f s", self.every)
            return
        self.checkpoints += 1
        self.pages += max(int(copied), 0)
