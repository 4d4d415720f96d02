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
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future

from allroads.domain.types import Actor, IdentifyRequest, IdentifyResult
from allroads.resolution.hub import Hub
from allroads.resolution.identify import Prepared

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
        try:
            answers = self.hub.identify_group([(a, r, p) for a, r, p, _ in live])
        except BaseException as exc:  # every caller hears of it
            log.exception("identify writer: a group of %d failed", len(live))
            failed = exc if isinstance(exc, Exception) else RuntimeError(str(exc))
            answers = [failed] * len(live)
        self.groups += 1
        self.calls += len(live)
        for (_, _, _, future), answer in zip(live, answers, strict=True):
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
