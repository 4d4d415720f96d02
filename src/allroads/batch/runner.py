"""The background runner of match runs: the API queues a run and answers 202 at once; a
worker thread executes it while clients poll the run for its step and progress.

    runner = MatchRunner(runs, workers=1)
    runner.start()                                    # also clears up after stopped processes
    view = runner.submit(actor, "person", "duckdb")   # queued (a Conflict if one of this
                                                      # tenant and type is queued or running,
                                                      # here or in another process)
    runner.state(view["id"])                          # {"state": "queued" | "running"} | None
    runner.wait_idle()                                # tests
    runner.stop()

With one worker (the default) runs execute one at a time, in the order they were queued:
two runs merging the same tenant's entities at once would race for the same entities. With
`workers=0` the runner is synchronous: `submit` executes the run before it returns (tests,
scripts).

`stop()` lets the running run end at its next progress report, as failed ("interrupted":
what it merged before stays merged, each merge complete and undoable; the review queue is
written in one transaction at the end, so it is all there or not at all), and ends the runs
still waiting in the queue the same way, so no run is left `queued` or `running` with no
worker behind it.

A process that dies cannot do that; its runs stop getting heartbeats (``MatchRuns``). When
a runner starts, and every `poll_seconds` (``POLL_SECONDS``) after, it calls
``MatchRuns.recover``: a run left `running` whose heartbeat is older than
``STALE_SECONDS`` is ended as failed ("interrupted: the process running it stopped (last
heartbeat ...); start a new run"), and a run left `queued` that no process holds is queued
here and executed like one submitted here.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from allroads.batch.runs import HEARTBEAT_SECONDS, STALE_SECONDS, MatchRuns
from allroads.domain.errors import AllroadsError, Conflict
from allroads.domain.types import Actor

log = logging.getLogger("allroads.matching")

INTERRUPTED = "the server stopped during the run; start a new run"
# How often a started runner looks for runs that stopped processes left (MatchRuns.recover).
POLL_SECONDS = 30.0

__all__ = ["HEARTBEAT_SECONDS", "INTERRUPTED", "POLL_SECONDS", "STALE_SECONDS", "Interrupted",
           "MatchRunner"]


class Interrupted(Exception):
    """Raised from the progress callback when the runner stops: the run ends as failed."""

    def __str__(self) -> str:
        return INTERRUPTED


class MatchRunner:
    def __init__(self, runs: MatchRuns, workers: int = 1, *,
                 poll_seconds: float = POLL_SECONDS) -> None:
        if workers < 0:
            raise ValueError("workers must be 0 (synchronous) or more")
        self.runs = runs
        self.workers = workers
        self.poll_seconds = poll_seconds
        self._queue: queue.Queue[str | None] = queue.Queue()
        # public id -> (tenant id, entity type, "queued" | "running")
        self._active: dict[str, tuple[int, str, str]] = {}
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # Life cycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        """Start the workers (and the poll), and clear up after processes that stopped
        (``recover``); starting a started runner does nothing."""
        with self._lock:
            self._stopping.clear()
            if self.running:
                return
            if self.workers > 0:
                self._queue = queue.Queue()
                self._threads = [threading.Thread(target=self._work, daemon=True,
                                                  name=f"allroads-match-{n}")
                                 for n in range(self.workers)]
                if self.poll_seconds > 0:
                    self._threads.append(threading.Thread(target=self._poll, daemon=True,
                                                          name="allroads-match-poll"))
                for thread in self._threads:
                    thread.start()
        self.recover()

    def recover(self) -> int:
        """End the runs stopped processes left running, and queue here the queued runs no
        process holds (``MatchRuns.recover``); how many were queued."""
        if self._stopping.is_set():
            return 0
        try:
            _ended, taken = self.runs.recover()
        except AllroadsError as exc:  # the database is down: the poll tries again
            log.warning("match runner: could not look for runs stopped processes left: %s",
                        exc.message)
            return 0
        except Exception:  # e.g. a database not upgraded yet: serve anyway, say why
            log.exception("match runner: could not look for runs stopped processes left "
                          "(is the database upgraded? `allroads db upgrade`)")
            return 0
        for run in taken:
            log.info("match run %s: queued by a process that stopped; running it here",
                     run.public_id)
            with self._lock:
                self._active[run.public_id] = (run.tenant_id, run.entity_type, "queued")
            self._dispatch(run.public_id)
        return len(taken)

    def stop(self, timeout: float = 10.0) -> bool:
        """Interrupt the running runs and end the queued ones (both as failed); True if
        every worker ended in time."""
        self._stopping.set()
        threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in threads if t.is_alive()]
        if alive:
            log.warning("match runner: %d worker(s) still busy after %.0f s", len(alive),
                        timeout)
        self._drain()
        with self._lock:
            self._threads = alive
            self._lock.notify_all()
        return not alive

    # Work ---------------------------------------------------------------------------------
    def submit(self, actor: Actor, entity_type: str, engine: str = "duckdb"
               ) -> dict[str, Any]:
        """Queue a run of this tenant's records of this type; the run as queued (with
        `workers=0`, as finished). Conflict while a run of the same tenant and type is
        queued or running here."""
        with self._lock:
            busy = next((pid for pid, (tenant, etype, _) in self._active.items()
                         if tenant == actor.tenant_id and etype == entity_type), None)
            if busy is not None:
                raise Conflict(f"a {entity_type} match run is already "
                               f"{self._active[busy][2]}: {busy}",
                               hint=f"poll GET /api/v1/match-runs/{busy} until it ends, then "
                               "start another")
            view = self.runs.start(actor, entity_type, engine)
            self._active[view["id"]] = (actor.tenant_id, entity_type, "queued")
        self._dispatch(view["id"])
        if self.workers == 0:
            return self.runs.get(actor, view["id"])
        return view

    def state(self, public_id: str) -> dict[str, str] | None:
        """What the runner is doing with this run: {"state": "queued" | "running"}, or None
        (not here: finished, or queued by another process)."""
        with self._lock:
            active = self._active.get(public_id)
        return {"state": active[2]} if active else None

    def states(self) -> dict[str, dict[str, str]]:
        """``state`` of every run this runner holds, at one moment."""
        with self._lock:
            return {pid: {"state": active[2]} for pid, active in self._active.items()}

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until nothing is queued or running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    # Inside -------------------------------------------------------------------------------
    def _dispatch(self, public_id: str) -> None:
        """Execute a run held in `_active` now (workers=0), or queue it for the workers."""
        if self.workers == 0:
            self._execute(public_id)
            return
        if not self.running and not self._stopping.is_set():
            self.start()  # an app whose lifespan did not run (a TestClient without `with`)
        self._queue.put(public_id)

    def _poll(self) -> None:
        while not self._stopping.wait(self.poll_seconds):
            self.recover()

    def _work(self) -> None:
        while True:
            public_id = self._queue.get()
            if public_id is None or self._stopping.is_set():
                if public_id is not None:
                    self._queue.put(public_id)  # left for _drain
                return
            self._execute(public_id)

    def _execute(self, public_id: str) -> None:
        with self._lock:
            tenant, etype, _ = self._active.get(public_id, (0, "", ""))
            self._active[public_id] = (tenant, etype, "running")
        try:
            view = self.runs.execute(public_id, progress=self._progress)
            log.info("match run %s: %s %s", public_id, view["status"],
                     view.get("counts") or view.get("error"))
        except AllroadsError as exc:  # e.g. executed meanwhile by another process
            log.warning("match run %s not run: %s", public_id, exc.message)
        except Exception:
            log.exception("match run %s failed unexpectedly", public_id)
        finally:
            with self._lock:
                self._active.pop(public_id, None)
                self._lock.notify_all()

    def _progress(self, _step: str, _share: float) -> None:
        if self._stopping.is_set():
            raise Interrupted

    def _drain(self) -> None:
        """End the runs still queued here (as failed, interrupted)."""
        while True:
            try:
                public_id = self._queue.get_nowait()
            except queue.Empty:
                return
            if public_id is not None:
                self._execute(public_id)  # fails at its first progress report
