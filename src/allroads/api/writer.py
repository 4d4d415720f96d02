"""The thread identify's writes run in on SQLite, and the group commit it does.

SQLite has one writer at a time, so the app gives identify's writes to one thread of its
own (`IdentifyWriter`, started and stopped by the app's lifespan) instead of letting pool
threads queue on the store's write lock. The calls that arrive while it is writing wait in
its queue; it then takes all of them (at most `max_group`) and writes them in one
transaction with one commit (`Hub.identify_group`: each call in a savepoint, in arrival
order, each seeing the ones before it; an error is that call's answer alone). A commit
costs SQLite more than one call's rows, and calls arriving together change the same pages
(the newest records, versions, links, changelog), so under load a group costs less than
its calls one by one; a lone call is written at once, as before. Each call is answered
only after its group's commit: what a caller is told is stored, is.

`ProcessIdentifyWriter` (what `allroads serve` uses on SQLite, setting `writer_process`)
does the same in a process of its own: the server's process keeps the HTTP work, the
unchanged checks and the normalizing, the writer process the resolution engine, each
with its own interpreter lock, so the two use both cores. Calls go to it over a pipe
(pickled: the actor, the request as prepared); one thread there reads them and writes
them in groups (`_serve`), and each group's answers, or the calls' errors, come back in
one message. If the process stops, the calls it had not answered fail with a
StoreError (503, "send it again") and the next call starts a new one. A change of a
tenant's rules or source priorities made through the server is passed on the same way
(`forget`), so every call sent after it is written with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import pickle
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from allroads.domain.errors import StoreError
from allroads.domain.types import Actor, IdentifyRequest, IdentifyResult
from allroads.resolution.hub import Hub
from allroads.resolution.identify import Prepared
from allroads.store import Store

log = logging.getLogger("allroads.api")

# At most this many calls in one transaction: a group's calls are answered when it commits,
# so a bigger group would hold its first caller longer for a smaller gain.
MAX_GROUP = 32

_Call = tuple[Actor, IdentifyRequest, Prepared | None, "Future[IdentifyResult]"]


class IdentifyWriter:
    def __init__(self, hub: Hub, *, max_group: int = MAX_GROUP) -> None:
        self.hub = hub
        self.max_group = max_group
        self.groups = 0  # transactions written, and the calls in them (for tests, stats)
        self.calls = 0
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="allroads-identify",
                                        daemon=True)
        self._thread.start()

    async def identify(self, actor: Actor, req: IdentifyRequest,
                       prepared: Prepared | None) -> IdentifyResult:
        """`Hub.identify(actor, req, unchanged_checked=True, prepared=prepared)`, written by
        the writer thread (in a group with the calls queued beside it)."""
        return await asyncio.wrap_future(self.submit(actor, req, prepared))

    def submit(self, actor: Actor, req: IdentifyRequest, prepared: Prepared | None
               ) -> Future[IdentifyResult]:
        if self._closed:
            raise RuntimeError("the identify writer is shut down")
        future: Future[IdentifyResult] = Future()
        self._queue.put((actor, req, prepared, future))
        return future

    def shutdown(self, wait: bool = True) -> None:
        """Write what is queued, then stop the thread."""
        self._closed = True
        self._queue.put(None)
        if wait:
            self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._write(group)

    def _write(self, group: list[_Call]) -> None:
        live = [c for c in group if c[3].set_running_or_notify_cancel()]
        if not live:
            return
        answers = write_group(self.hub, [(a, r, p) for a, r, p, _ in live])
        self.groups += 1
        self.calls += len(live)
        for (_, _, _, future), answer in zip(live, answers, strict=True):
            _deliver(future, answer)


def write_group(hub: Hub, calls: list[tuple[Actor, IdentifyRequest, Prepared | None]]
                ) -> list[IdentifyResult | Exception]:
    """`Hub.identify_group`; if the group as a whole fails, its error is every call's
    answer (every caller hears of it)."""
    try:
        return hub.identify_group(calls)
    except BaseException as exc:
        log.exception("identify writer: a group of %d failed", len(calls))
        failed = exc if isinstance(exc, Exception) else RuntimeError(str(exc))
        return [failed] * len(calls)


# The process writer -----------------------------------------------------------------------
# Database connections the writer process keeps (its writes, and the reads they make).
PROCESS_POOL_SIZE = 2


class ProcessIdentifyWriter:
    """`IdentifyWriter` in a process of its own, on the database at `database_url`.

    Its answers are read by a thread of this process, or, given the event loop `loop`
    (the app's), on that loop as they arrive: the loop's own callers then await plain
    futures of it, with no thread to wake and no hand-over of each answer to the loop."""

    def __init__(self, database_url: str, *, max_group: int = MAX_GROUP,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.database_url = database_url
        self.max_group = max_group
        self.started = 0  # processes started (a stopped one is replaced on the next call)
        self._loop = loop
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = False
        self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe()
        process = context.Process(target=_writer_process, name="allroads-identify-writer",
                                  args=(theirs, self.database_url, self.max_group),
                                  daemon=True)
        process.start()
        theirs.close()
        answers = _Answers(self, mine)
        receiver: threading.Thread | None = None
        if self._loop is None:
            receiver = threading.Thread(target=answers.read_all,
                                        name="allroads-identify-answers", daemon=True)
            receiver.start()
        else:
            self._on_loop(answers.watch)
        self._process, self._answers, self._receiver = process, answers, receiver
        self.started += 1

    async def identify(self, actor: Actor, req: IdentifyRequest,
                       prepared: Prepared | None) -> IdentifyResult:
        if self._loop is None or asyncio.get_running_loop() is not self._loop:
            return await asyncio.wrap_future(self.submit(actor, req, prepared))
        future: asyncio.Future[IdentifyResult] = self._loop.create_future()
        self._send(future, actor, req, prepared)
        return await future

    def submit(self, actor: Actor, req: IdentifyRequest, prepared: Prepared | None
               ) -> Future[IdentifyResult]:
        future: Future[IdentifyResult] = Future()
        self._send(future, actor, req, prepared)
        return future

    def _send(self, future: _Waiter, actor: Actor, req: IdentifyRequest,
              prepared: Prepared | None) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the identify writer is shut down")
            if not self._process.is_alive() or not self._answers.live:
                log.warning("identify writer process stopped (exit code %s); starting another",
                            self._process.exitcode)
                self._start()
            call_id = next(self._ids)
            pending = self._answers.pending
            pending[call_id] = future
            try:
                self._answers.conn.send((call_id, actor, req, prepared))
            except (OSError, ValueError) as exc:
                del pending[call_id]
                raise _stopped() from exc

    def forget(self, tenant_id: int) -> None:
        """The tenant's rules or source priorities changed: the writer process drops its
        copy of them, before any call sent after this one (`Hub.settings_listeners`)."""
        with self._lock:
            if self._closed or not self._process.is_alive():
                return  # a process started later reads them afresh
            with contextlib.suppress(OSError, ValueError):
                self._answers.conn.send(("forget", tenant_id))

    def shutdown(self, wait: bool = True) -> None:
        """Write what is queued, then stop the process."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError, ValueError):
                self._answers.conn.send(None)
        if not wait:
            return
        if self._receiver is not None:
            self._receiver.join()
        else:  # the answers still to come, read here (the loop may not run again)
            self._on_loop(self._answers.unwatch)
            self._answers.read_all()
        self._process.join(timeout=30)

    def _on_loop(self, call: Callable[[], None]) -> None:
        """`call()` on the writer's loop: at once when on it, else as soon as it can."""
        assert self._loop is not None
        if running_loop() is self._loop or self._loop.is_closed():
            call()
        else:
            self._loop.call_soon_threadsafe(call)


_Waiter = Future[IdentifyResult] | asyncio.Future[IdentifyResult]


class _Answers:
    """One writer process's end of the pipe (`conn`): the calls sent and waiting for their
    answers (`pending`), and the answers, each group's in one message. Read by a thread
    (`read_all`) or by the writer's event loop (`watch`); when the process is gone, what it
    did not answer fails."""

    def __init__(self, writer: ProcessIdentifyWriter, conn: Any) -> None:
        self.writer, self.conn = writer, conn
        self.pending: dict[int, _Waiter] = {}
        self.fd = conn.fileno()
        self.live = True  # False once the process is gone (no more answers)
        self.watched = False
        self.reading = threading.Lock()  # whoever reads the answers holds it

    def read_all(self) -> None:
        """Every answer until the process is gone (blocking)."""
        with self.reading:
            while self.live:
                self._read_one()

    def watch(self) -> None:
        """Read the answers on the writer's loop as they arrive."""
        if self.live and self.writer._loop is not None:
            self.writer._loop.add_reader(self.fd, self._readable)
            self.watched = True

    def unwatch(self) -> None:
        if self.watched and self.writer._loop is not None:
            self.watched = False
            with contextlib.suppress(ValueError, OSError):
                self.writer._loop.remove_reader(self.fd)

    def _readable(self) -> None:
        if not self.reading.acquire(blocking=False):
            return  # `read_all` (shutting down) has them
        try:
            while self.live and _waiting(self.conn):
                self._read_one()
        finally:
            self.reading.release()

    def _read_one(self) -> None:
        message = _receive(self.conn)
        if message is None:  # the process is done
            self._gone()
            return
        with self.writer._lock:  # a group's answers, in one message
            answered = [(self.pending.pop(call_id, None), answer) for call_id, answer in message]
        for future, answer in answered:
            if future is not None:
                _settle(future, answer)

    def _gone(self) -> None:
        self.live = False
        self.unwatch()
        self.conn.close()
        with self.writer._lock:
            unanswered = list(self.pending.values())
            self.pending.clear()
        for future in unanswered:
            _settle(future, _stopped())


def _settle(future: _Waiter, answer: IdentifyResult | BaseException) -> None:
    """Give `future` its answer, unless its caller stopped waiting (a cancelled request);
    a future of the loop, on the loop."""
    if isinstance(future, asyncio.Future):
        loop = future.get_loop()
        if running_loop() is not loop:
            if not loop.is_closed():  # else nobody waits for it
                loop.call_soon_threadsafe(_settle, future, answer)
            return
        if future.done():
            return
    elif not future.set_running_or_notify_cancel():
        return
    _deliver(future, answer)


def _deliver(future: _Waiter, answer: IdentifyResult | BaseException) -> None:
    if isinstance(answer, BaseException):
        future.set_exception(answer)
    else:
        future.set_result(answer)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _stopped() -> StoreError:
    return StoreError("the identify writer process stopped before answering",
                      hint="send the request again; the server's log says why it stopped")


def _writer_process(conn: Any, database_url: str, max_group: int) -> None:
    """The writer process: calls from the pipe are written in groups (`_serve`) on its own
    store. None (or the pipe closing) stops it after what it has received is written."""
    # Stopped by the server (None on the pipe), not by the signals sent to its process
    # group: Ctrl-C must not lose the calls it holds.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    store = Store(database_url, pool_size=PROCESS_POOL_SIZE)
    store.start_checkpointer()
    try:
        _serve(conn, Hub(store), max_group)
    finally:
        with contextlib.suppress(OSError, ValueError):
            conn.send(None)
        conn.close()
        store.stop_checkpointer()
        store.close()


def _serve(conn: Any, hub: Hub, max_group: int) -> None:
    """One thread reads the pipe and writes: it waits for a message, then takes every
    message already in the pipe (the calls sent while it wrote: the pipe holds about one
    group's worth) and writes the calls in groups of at most `max_group`, in the order
    sent, answering each group in one message once it is committed. A settings change
    (`forget`) applies to the calls sent after it; None or the pipe closing stops it after
    the calls before it are written. (A second thread reading the pipe would hand each
    call over, and each answer back, through the interpreter lock: a wake-up of each
    thread per call.)"""
    received: deque[Any] = deque()
    while True:
        if not received:
            received.append(_receive(conn))
        while received[-1] is not None and _waiting(conn):  # what else has arrived
            received.append(_receive(conn))
        group: list[tuple[int, Actor, IdentifyRequest, Prepared | None]] = []
        while received and len(group) < max_group:
            message = received[0]
            if message is None or message[0] == "forget":
                if group:
                    break  # the calls before it first
                received.popleft()
                if message is None:
                    return
                hub.cache.forget(message[1])
                continue
            group.append(received.popleft())
        if group:
            answers = write_group(hub, [(a, r, p) for _, a, r, p in group])
            _answer(conn, [(call[0], answer) for call, answer in zip(group, answers,
                                                                        strict=True)])


def _receive(conn: Any) -> Any:
    """The next message (None when the server is gone)."""
    try:
        return conn.recv()
    except (EOFError, OSError):
        return None


def _waiting(conn: Any) -> bool:
    """Whether a message (or the pipe's end) is there to read."""
    try:
        return bool(conn.poll())
    except (EOFError, OSError):
        return True  # `_receive` says None


def _answer(conn: Any, answers: list[tuple[int, IdentifyResult | Exception]]) -> None:
    """A group's answers, in one message; an answer that does not pickle is sent as a
    RuntimeError naming it."""
    try:
        conn.send(answers)
    except (OSError, ValueError):
        return  # the server is gone
    except Exception:
        kept = []
        for call_id, answer in answers:
            try:
                pickle.dumps(answer)
            except Exception as exc:
                answer = RuntimeError(f"{type(answer).__name__}: {answer}" if isinstance(
                    answer, Exception) else f"{type(exc).__name__}: {exc}")
            kept.append((call_id, answer))
        with contextlib.suppress(OSError, ValueError):
            conn.send(kept)
