"""The background runner of import phases: validation, commit and replay run on worker
threads, so the API answers 202 at once and clients poll the import for progress.

    runner = ImportRunner(imports, workers=1)
    runner.start()                          # also resumes what a crashed server left
    view = runner.process(actor, job_id)    # validate (then commit, when auto_commit)
    view = runner.commit(actor, job_id)     # 409 (Conflict) now if it cannot be committed
    view = runner.replay(actor, job_id)     # a failed import, within its replay window
    runner.stop()                           # unfinished jobs stay resumable

`process` and `commit` move the job to `validating` / `committing` before they return, in
the caller's thread: a job the API accepted is in the database as claimed, so if the server
dies before a worker gets to it, `Imports.pending` finds it (once its heartbeat is older
than `stale_seconds`) and the next start, or the periodic poll, resumes it. A job is queued
once at a time: asking again while it is queued or running changes nothing.

`stop()` lets the running phases finish the batch they are in (each batch is one committed
transaction), then leaves them in `validating` / `committing`, to be resumed. With
`workers=0` the runner is synchronous: each phase runs in the calling thread (tests, CLI).
Progress needs no help from here: the pipeline writes validated_rows / committed_rows to
the job row after every batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from allroads.domain.errors import AllroadsError, Conflict
from allroads.domain.types import Actor
from allroads.ingest.service import Imports
from allroads.ingest.validate import Progress

log = logging.getLogger("allroads.imports")

Phase = Literal["process", "commit", "replay", "resume"]


class _Interrupted(BaseException):
    """Raised from the progress callback when the runner stops: a BaseException, so the
    pipeline's retry (which catches Exception) lets it through and the job stays claimed."""


@dataclass(frozen=True)
class _Task:
    phase: Phase
    actor: Actor
    public_id: str


class ImportRunner:
    def __init__(self, imports: Imports, workers: int = 1, *, stale_seconds: float = 60.0,
                 poll_seconds: float = 30.0) -> None:
        if workers < 0:
            raise ValueError("workers must be 0 (synchronous) or more")
        self.imports = imports
        self.workers = workers
        self.stale_seconds = stale_seconds
        self.poll_seconds = poll_seconds
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._active: dict[str, tuple[Phase, str]] = {}  # public id -> (phase, state)
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # Life cycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        """Start the workers (and the poll for stale jobs), and resume the jobs a crashed
        server left. Starting a started runner does nothing."""
        with self._lock:
            if self.running or self.workers == 0:
                if self.workers == 0:
                    self._stopping.clear()
                    self.resume_pending()
                return
            self._stopping.clear()
            self._queue = queue.Queue()
            self._threads = [threading.Thread(target=self._work, daemon=True,
                                              name=f"allroads-import-{n}")
                             for n in range(self.workers)]
            if self.poll_seconds > 0:
                self._threads.append(threading.Thread(target=self._poll, daemon=True,
                                                      name="allroads-import-poll"))
            for thread in self._threads:
                thread.start()
        self.resume_pending()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop after the batch each worker is in; True if every worker ended in time.
        Queued and interrupted jobs stay claimed in the database, to be resumed."""
        self._stopping.set()
        threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in threads if t.is_alive()]
        if alive:
            log.warning("import runner: %d worker(s) still busy after %.0f s; their jobs "
                        "will be resumed by the next start", len(alive), timeout)
        with self._lock:
            self._threads = alive
            self._active.clear()
            self._lock.notify_all()
        return not alive

    def resume_pending(self) -> int:
        """Queue every job left unfinished (no heartbeat for `stale_seconds`); how many."""
        try:
            pending = self.imports.pending(stale_seconds=self.stale_seconds)
        except AllroadsError as exc:
            log.warning("import runner: could not look for unfinished imports: %s",
                        exc.message)
            return 0
        queued = 0
        for actor, public_id in pending:
            if self._enqueue(_Task("resume", actor, public_id)):
                log.info("import runner: resuming %s", public_id)
                queued += 1
        return queued

    # Work ---------------------------------------------------------------------------------
    def process(self, actor: Actor, public_id: str) -> dict[str, Any]:
        """Claim an uploaded import for validation and queue it (then its commit, when the
        import was sent with auto_commit)."""
        # The pipeline's atomic status move (Conflict for a wrong status or a dry run);
        # the queued phase then runs as `claimed`.
        self.imports.claim(actor, public_id, ("uploaded",), "validating")
        self._enqueue(_Task("process", actor, public_id))
        return self.view(actor, public_id)

    def commit(self, actor: Actor, public_id: str) -> dict[str, Any]:
        """Claim a validated import for its commit and queue it; Conflict (with the
        pipeline's message) for a dry run or an import in another status."""
        self.imports.claim(actor, public_id, ("validated",), "committing")
        self._enqueue(_Task("commit", actor, public_id))
        return self.view(actor, public_id)

    def replay(self, actor: Actor, public_id: str) -> dict[str, Any]:
        """Queue the replay of a failed import; Conflict now if it is not failed or its
        replay window has passed (the same checks the replay itself makes)."""
        self.imports.check_replayable(actor, public_id)
        if not self._enqueue(_Task("replay", actor, public_id)):
            raise Conflict(f"import {public_id} is already being replayed",
                           hint="poll GET /api/v1/imports/{id} for its progress")
        return self.view(actor, public_id)

    def view(self, actor: Actor, public_id: str) -> dict[str, Any]:
        """The import as `Imports.get` shows it, with what the runner does with it:
        `runner: {"phase": "commit", "state": "queued" | "running"}` or null."""
        view = self.imports.get(actor, public_id)
        view["runner"] = self.state(public_id)
        return view

    def state(self, public_id: str) -> dict[str, str] | None:
        with self._lock:
            active = self._active.get(public_id)
        return {"phase": active[0], "state": active[1]} if active else None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or running; False on timeout (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    # Inside -------------------------------------------------------------------------------
    def _enqueue(self, task: _Task) -> bool:
        """Queue a task unless its job is queued or running already; False if it was."""
        with self._lock:
            if task.public_id in self._active:
                return False
            self._active[task.public_id] = (task.phase, "queued")
        if self.workers == 0:
            self._execute(task)
            return True
        if not self.running and not self._stopping.is_set():
            self.start()  # an app whose lifespan did not run (e.g. a TestClient without with)
        self._queue.put(task)
        return True

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            if task is None or self._stopping.is_set():
                return
            self._execute(task)

    def _poll(self) -> None:
        while not self._stopping.wait(self.poll_seconds):
            self.resume_pending()

    def _execute(self, task: _Task) -> None:
        with self._lock:
            self._active[task.public_id] = (task.phase, "running")
        try:
            view = self._run(task)
            log.info("import %s: %s done, %s", task.public_id, task.phase, view["status"])
        except _Interrupted:
            log.info("import %s: %s interrupted by shutdown; it will be resumed",
                     task.public_id, task.phase)
        except AllroadsError as exc:  # e.g. claimed meanwhile by another process
            log.warning("import %s: %s not run: %s", task.public_id, task.phase, exc.message)
        except Exception:
            log.exception("import %s: %s failed unexpectedly", task.public_id, task.phase)
        finally:
            with self._lock:
                self._active.pop(task.public_id, None)
                self._lock.notify_all()

    def _run(self, task: _Task) -> dict[str, Any]:
        imports, actor, public_id, progress = (self.imports, task.actor, task.public_id,
                                               self._progress)
        if task.phase == "process":  # claimed by `process` before it was queued
            return imports.process(actor, public_id, progress=progress, claimed=True)
        if task.phase == "commit":
            return imports.commit(actor, public_id, progress=progress, claimed=True)
        if task.phase == "resume":
            return imports.resume(actor, public_id, progress=progress,
                                  stale_seconds=self.stale_seconds)
        return imports.replay(actor, public_id, progress=progress)

    def _progress(self, _progress: Progress) -> None:
        if self._stopping.is_set():
            raise _Interrupted
