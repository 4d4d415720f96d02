"""Match runs a process left behind, on both databases: the heartbeat, one run in progress per
tenant and type across processes, and what a starting runner does with the runs of a process
that stopped.

"Another process" is a second Store over the same database with its own MatchRuns (its own
connections, write lock and heartbeat thread); a process that dies is one whose MatchRuns
stops holding its runs (`close`: no more heartbeats) and whose last heartbeat is old.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from allroads.batch.pipeline import Options
from allroads.batch.runner import MatchRunner
from allroads.batch.runs import HEARTBEAT_SECONDS, STALE_SECONDS, MatchRuns
from allroads.domain.errors import Conflict
from allroads.domain.types import Actor, utcnow
from allroads.resolution.hub import Hub
from allroads.store import Store
from allroads.store.matching import MatchRunRow
from allroads.store.schema import match_runs
from test_match_runs import build

OPTIONS = Options(random_pairs=20_000)
LONG_AGO = dt.timedelta(minutes=10)


@pytest.fixture
def other(store: Store) -> Iterator[Store]:
    """Another process's store over the same database."""
    second = Store(store.engine.url.render_as_string(hide_password=False))
    yield second
    second.close()


def row(store: Store, public_id: str) -> MatchRunRow:
    with store.read() as tx:
        found = tx.match_run_by_public_id(public_id)
    assert found is not None
    return found


def die(runs: MatchRuns, *public_ids: str) -> dt.datetime:
    """The process of `runs` stops: no more heartbeats, the last one LONG_AGO."""
    runs.close()
    last: dt.datetime = utcnow() - LONG_AGO
    with runs.store.write() as tx:
        assert tx.beat_match_runs(list(public_ids), last) == len(public_ids)
    return last


def claim(store: Store, public_id: str) -> None:
    """Mark a queued run running, as a worker does before it starts the work."""
    with store.write() as tx:
        assert tx.claim_match_run(row(store, public_id).id, utcnow())


def wait_for(what: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.02)
    return False


def test_the_stale_age_is_many_heartbeats(store: Store) -> None:
    assert (HEARTBEAT_SECONDS, STALE_SECONDS) == (10.0, 120.0)
    with pytest.raises(ValueError, match="heartbeat_seconds < stale_seconds"):
        MatchRuns(store, heartbeat_seconds=5, stale_seconds=5)


def test_a_run_left_running_is_failed_when_a_runner_starts(
        store: Store, other: Store, actor: Actor) -> None:
    crashed = MatchRuns(other)
    left = crashed.start(actor, "person")
    claim(other, left["id"])
    last = die(crashed, left["id"])
    alive = MatchRuns(other)  # a process that is still running its run: fresh heartbeat
    busy = alive.start(actor, "account")
    claim(other, busy["id"])

    runner = MatchRunner(MatchRuns(store, options=OPTIONS), workers=1)
    runner.start()
    try:
        ended = row(store, left["id"])
        assert ended.status == "failed" and ended.step == "failed" and ended.finished_at
        assert ended.error == (f"interrupted: the process running it stopped (last heartbeat "
                               f"{last.isoformat()}); start a new run")
        assert runner.runs.get(actor, left["id"])["error"] == ended.error
        assert row(store, busy["id"]).status == "running"  # its process is alive
        # The type is free again: a new run goes through.
        assert runner.submit(actor, "person")["status"] == "queued"
        assert runner.wait_idle()
        assert runner.runs.runs(actor, entity_type="person")[0][0]["status"] == "succeeded"
    finally:
        assert runner.stop()
        alive.close()


def test_a_queued_run_no_process_holds_is_executed_when_a_runner_starts(
        store: Store, other: Store, hub: Hub, actor: Actor) -> None:
    build(hub, actor)
    crashed = MatchRuns(other)
    orphan = crashed.start(actor, "person")
    die(crashed, orphan["id"])
    live = MatchRuns(other)
    held = live.start(actor, "account")  # queued by a live process: not taken

    runs = MatchRuns(store, options=OPTIONS)
    runs.set_thresholds(actor, "person", link=0.99, review=0.3)
    runner = MatchRunner(runs, workers=1)
    runner.start()
    try:
        assert runner.wait_idle()
        done = runs.get(actor, orphan["id"])
        assert done["status"] == "succeeded", done["error"]
        assert done["counts"]["records"] == 34 and done["counts"]["merged"] == 20
        assert row(store, held["id"]).status == "queued"
        assert runner.state(held["id"]) is None
    finally:
        assert runner.stop()
        live.close()


def test_a_synchronous_runner_executes_the_orphan_in_start(
        store: Store, other: Store, actor: Actor) -> None:
    crashed = MatchRuns(other)
    orphan = crashed.start(actor, "account")
    die(crashed, orphan["id"])
    runner = MatchRunner(MatchRuns(store), workers=0)
    runner.start()
    assert runner.runs.get(actor, orphan["id"])["status"] == "succeeded"


def test_the_poll_finds_runs_that_go_stale_while_the_runner_runs(
        store: Store, other: Store, actor: Actor) -> None:
    runner = MatchRunner(MatchRuns(store, heartbeat_seconds=0.05, stale_seconds=0.5),
                         workers=1, poll_seconds=0.1)
    runner.start()
    try:
        crashed = MatchRuns(other)
        orphan = crashed.start(actor, "account")
        running = crashed.start(actor, "person")
        claim(other, running["id"])
        crashed.close()  # its heartbeat stops; half a second later the poll finds both
        assert wait_for(lambda: row(store, orphan["id"]).status == "succeeded")
        assert wait_for(lambda: row(store, running["id"]).status == "failed")
        assert "interrupted: the process running it stopped (last heartbeat " in str(
            row(store, running["id"]).error)
    finally:
        assert runner.stop()


class Blocked:
    """A progress callback that holds the run at its first report until released, and
    records what the heartbeat was while it waited."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reached = threading.Event()
        self.go = threading.Event()
        self.beats: list[dt.datetime] = []
        self.public_id = ""

    def __call__(self, step: str, share: float) -> None:
        if self.reached.is_set():
            return
        self.beats.append(self._beat())
        self.reached.set()
        assert self.go.wait(30)
        self.beats.append(self._beat())

    def _beat(self) -> dt.datetime:
        beat: dt.datetime | None = row(self.store, self.public_id).heartbeat_at
        assert beat is not None
        return beat


def in_thread(runs: MatchRuns, public_id: str, progress: Blocked) -> tuple[threading.Thread,
                                                                          list[dict[str, object]]]:
    progress.public_id = public_id
    out: list[dict[str, object]] = []
    thread = threading.Thread(target=lambda: out.append(runs.execute(public_id,
                                                                     progress=progress)))
    thread.start()
    assert progress.reached.wait(30)
    return thread, out


def test_a_second_start_while_another_process_runs_one_is_a_conflict(
        store: Store, other: Store, actor: Actor) -> None:
    theirs = MatchRuns(other)
    first = theirs.start(actor, "person")
    mine = MatchRuns(store)
    runner = MatchRunner(mine, workers=1)
    with pytest.raises(Conflict, match=f"already queued: {first['id']}") as queued:
        runner.submit(actor, "person")
    assert queued.value.hint == (f"poll GET /api/v1/match-runs/{first['id']} until it ends, "
                                 "then start another")
    blocked = Blocked(other)
    thread, out = in_thread(theirs, first["id"], blocked)
    try:
        with pytest.raises(Conflict, match=f"already running: {first['id']}"):
            runner.submit(actor, "person")
        with pytest.raises(Conflict, match=f"already running: {first['id']}"):
            mine.run(actor, "person")
        assert mine.start(actor, "account")["status"] == "queued"  # another type may run
    finally:
        blocked.go.set()
        thread.join(60)
    assert out[0]["status"] == "succeeded"
    assert mine.start(actor, "person")["status"] == "queued"  # theirs ended: free again
    with store.read() as tx:
        assert len(tx.active_match_runs(actor.tenant_id)) == 2
    mine.close()


def test_the_database_holds_one_run_in_progress_per_tenant_and_type(
        store: Store, other: Store, actor: Actor) -> None:
    """The race the check in `start` cannot see (two processes checking at once) ends at the
    partial unique index: the second insert gets None, not a second run."""
    now = utcnow()
    with store.write() as tx:
        assert tx.create_match_run(actor.tenant_id, "mrun_a", "person", "duckdb", "t", now)
    with other.write() as tx:
        assert tx.create_match_run(actor.tenant_id, "mrun_b", "person", "duckdb", "t",
                                   now) is None
        assert tx.create_match_run(actor.tenant_id, "mrun_c", "account", "duckdb", "t", now)
    with store.write() as tx:
        tx.finish_match_run(row(store, "mrun_a").id, "failed", now, error="x")
        assert tx.create_match_run(actor.tenant_id, "mrun_d", "person", "duckdb", "t", now)


def test_start_ends_a_run_its_process_left_and_queues_the_new_one(
        store: Store, other: Store, actor: Actor) -> None:
    crashed = MatchRuns(other)
    queued = crashed.start(actor, "person")
    last = die(crashed, queued["id"])
    mine = MatchRuns(store)
    new = mine.start(actor, "person")
    left = row(store, queued["id"])
    assert left.status == "failed"
    assert left.error == (f"interrupted: the process that queued it stopped before it ran "
                          f"(last heartbeat {last.isoformat()}); superseded by {new['id']}")
    assert mine.execute(new["id"])["status"] == "succeeded"


def test_the_heartbeat_advances_while_a_run_works(
        store: Store, other: Store, actor: Actor) -> None:
    runs = MatchRuns(store, heartbeat_seconds=0.05, stale_seconds=5)
    queued = runs.start(actor, "person")
    created = row(store, queued["id"]).heartbeat_at
    assert created is not None
    blocked = Blocked(other)
    thread, out = in_thread(runs, queued["id"], blocked)
    started = row(other, queued["id"]).started_at
    assert started is not None and blocked.beats[0] >= started >= created
    # The run is busy in one step (the callback): the heartbeat thread writes on.
    assert wait_for(lambda: (row(other, queued["id"]).heartbeat_at or created)
                    > blocked.beats[0], 10)
    blocked.go.set()
    thread.join(60)
    assert out[0]["status"] == "succeeded"
    assert blocked.beats[1] > blocked.beats[0]
    final = row(store, queued["id"]).heartbeat_at
    time.sleep(0.3)  # ended: no one beats it any more
    assert row(store, queued["id"]).heartbeat_at == final


def test_the_heartbeat_is_written_every_few_seconds_not_more(
        store: Store, actor: Actor) -> None:
    runs = MatchRuns(store, heartbeat_seconds=0.5, stale_seconds=5)
    queued = runs.start(actor, "person")
    seen: set[dt.datetime | None] = set()
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        seen.add(row(store, queued["id"]).heartbeat_at)
        time.sleep(0.01)
    runs.close()
    assert 2 <= len(seen) <= 4  # the start's, then one each 0.5 s


def test_a_run_another_process_ended_stops_and_keeps_that_ending(
        store: Store, other: Store, actor: Actor) -> None:
    """A process whose heartbeat could not be written for the stale age (here: it writes
    none) loses its run to another's recover; it stops at its next report and does not
    overwrite the ending."""
    slow = MatchRuns(other, heartbeat_seconds=1000, stale_seconds=2000)
    queued = slow.start(actor, "person")
    blocked = Blocked(store)
    thread, out = in_thread(slow, queued["id"], blocked)
    try:
        quick = MatchRuns(store, heartbeat_seconds=0.05, stale_seconds=0.3)
        time.sleep(0.4)
        ended, taken = quick.recover()
        assert [r.public_id for r in ended] == [queued["id"]] and taken == []
    finally:
        blocked.go.set()
        thread.join(60)
    done = out[0]
    assert done["status"] == "failed"
    assert str(done["error"]).startswith("interrupted: the process running it stopped")
    slow.close()


def test_migration_0005_ends_older_duplicates_and_downgrades(
        store: Store, actor: Actor) -> None:
    cfg = Config(str(resources.files("allroads.store") / "alembic.ini"))
    cfg.set_main_option("script_location", str(resources.files("allroads.store") / "migrations"))
    old = utcnow() - LONG_AGO

    def alembic(step: Callable[..., None], revision: str) -> None:
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    alembic(command.downgrade, "0004")
    MatchRunner(MatchRuns(store), workers=0).start()  # not upgraded yet: logged, serves on
    base = {"tenant_id": actor.tenant_id, "engine": "duckdb", "step": "", "progress": 0.0,
            "counts": {}, "timings": {}, "created_by": "t", "created_at": old}
    cols = [c for c in match_runs.c if c.name != "heartbeat_at"]
    before = sa.table("match_runs", *[sa.column(c.name, c.type) for c in cols])
    with store.engine.begin() as conn:
        conn.execute(before.insert(), [
            {**base, "public_id": "mrun_old", "entity_type": "person", "status": "running"},
            {**base, "public_id": "mrun_new", "entity_type": "person", "status": "queued"},
            {**base, "public_id": "mrun_acc", "entity_type": "account", "status": "running"},
        ])
    alembic(command.upgrade, "head")
    statuses = {r: row(store, r).status for r in ("mrun_old", "mrun_new", "mrun_acc")}
    assert statuses == {"mrun_old": "failed", "mrun_new": "queued", "mrun_acc": "running"}
    assert "interrupted" in str(row(store, "mrun_old").error)
    # The runs from before have no heartbeat: a starting runner treats them as left behind.
    runs = MatchRuns(store)
    ended, taken = runs.recover()
    runs.close()
    assert [r.public_id for r in ended] == ["mrun_acc"]
    assert [r.public_id for r in taken] == ["mrun_new"]
    alembic(command.downgrade, "0004")
    alembic(command.upgrade, "head")
