"""Identify calls written together (group commit): `Hub.identify_group` on both databases
(each call in a savepoint, in order, seeing the ones before it; an error is its call's
answer alone and leaves nothing of that call), and the API's writers on SQLite: the
thread, which puts the calls that queue while it writes into one group, and the process
(errors come back as they were raised; a stopped process fails what it had not answered
and is replaced)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from allroads.api.writer import IdentifyWriter, ProcessIdentifyWriter
from allroads.domain.errors import InvalidInput, StoreError
from allroads.domain.types import (
    Action,
    Actor,
    EntityType,
    IdentifyRequest,
    IdentifyResult,
    Role,
)
from allroads.resolution.hub import Hub
from allroads.store import Store
from allroads.store.schema import records
from conftest import make_store

P = EntityType.PERSON


def _person(key: str, email: str, source: str = "widget") -> IdentifyRequest:
    return IdentifyRequest(EntityType.PERSON, source, key, {"email": email},
                           {"first_name": "Ada", "last_name": f"Lovelace {key}"})


def _record_count(store: Store) -> int:
    with store.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(records)).scalar_one())


def test_a_group_is_written_in_order_and_an_error_stays_its_own(hub: Hub,
                                                                  actor: Actor) -> None:
    answers = hub.identify_group([
        (actor, _person("w-1", "ada@analytical.example.net"), None),
        (actor, _person("w-2", "bad address"), None),  # invalid email: its own error
        (actor, _person("w-3", "ADA@analytical.example.net"), None),  # sees w-1
        (actor, _person("w-4", "lord@byron.example.net", source="Not A Source!"), None),
    ])
    first, bad, third, worse = answers
    assert isinstance(first, IdentifyResult) and first.action is Action.CREATED
    assert isinstance(bad, InvalidInput) and "email" in str(bad)
    assert isinstance(third, IdentifyResult) and third.action is Action.MATCHED
    assert third.id == first.id
    assert isinstance(worse, InvalidInput) and "source" in str(worse)
    assert _record_count(hub.store) == 2  # the failed calls left nothing
    again = hub.identify_group([(actor, _person("w-1", "ada@analytical.example.net"), None)])
    assert isinstance(again[0], IdentifyResult) and again[0].id == first.id


def test_a_rejected_call_does_not_stop_its_group(hub: Hub, actor: Actor) -> None:
    """A record that would join two customers through the import touchpoint is rejected
    (its policy), and the next call of the group is still written."""
    first = hub.identify_group([(actor, _person("a-1", "one@analytical.example.net"), None)])[0]
    second = hub.identify_group([(actor, _person("a-2", "two@analytical.example.net"), None)])[0]
    assert isinstance(first, IdentifyResult) and isinstance(second, IdentifyResult)
    bridge = IdentifyRequest(EntityType.PERSON, "crm", "c-9",
                             {"email": ["one@analytical.example.net",
                                        "two@analytical.example.net"]}, {}, None, "import")
    rejected, created = hub.identify_group([
        (actor, bridge, None), (actor, _person("a-3", "three@analytical.example.net"), None)])
    assert isinstance(rejected, IdentifyResult) and rejected.action is Action.REJECTED
    assert isinstance(created, IdentifyResult) and created.action is Action.CREATED
    assert _record_count(hub.store) == 3


@pytest.fixture
def sqlite_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Hub:
    store = next(make_store("sqlite", request, tmp_path))
    return Hub(store)


def test_the_writer_groups_the_calls_that_queue_while_it_writes(sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)
    writer = IdentifyWriter(hub)
    try:
        with hub.store.write():  # the writer's first call waits for this transaction
            futures = [writer.submit(actor, _person(f"q-{i}", f"q{i}@queue.example.net"),
                                     None) for i in range(10)]
            futures.append(writer.submit(actor, _person("q-bad", "not an email"), None))
            futures.append(writer.submit(actor, _person("q-0b", "q0@queue.example.net"),
                                         None))
        results = [f.exception() or f.result() for f in futures]
    finally:
        writer.shutdown()
    # The first call alone (if the thread took it before the rest came), then the rest.
    assert writer.calls == 12 and writer.groups in (1, 2)
    assert [r.action for r in results[:10]] == [Action.CREATED] * 10  # type: ignore[union-attr]
    assert isinstance(results[10], InvalidInput)
    assert isinstance(results[11], IdentifyResult) and results[11].id == results[0].id  # type: ignore[union-attr]
    assert _record_count(hub.store) == 11


def test_the_writer_answers_awaiting_callers_and_writes_what_is_queued_at_shutdown(
        sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)
    writer = IdentifyWriter(hub, max_group=4)

    async def many() -> list[IdentifyResult]:
        return await asyncio.gather(*(writer.identify(
            actor, _person(f"a-{i}", f"a{i}@await.example.net"), None) for i in range(9)))

    done = asyncio.run(many())
    assert [r.action for r in done] == [Action.CREATED] * 9
    assert len({r.id for r in done}) == 9
    with hub.store.write():
        queued = [writer.submit(actor, _person(f"s-{i}", f"s{i}@stop.example.net"), None)
                  for i in range(3)]
        writer.shutdown(wait=False)
    writer.shutdown()
    assert all(f.result().action is Action.CREATED for f in queued)
    with pytest.raises(RuntimeError, match="shut down"):
        writer.submit(actor, _person("late", "late@stop.example.net"), None)
    assert _record_count(hub.store) == 12


def test_the_writer_process_answers_keeps_errors_and_replaces_itself(sqlite_hub: Hub
                                                                      ) -> None:
    hub = sqlite_hub
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)
    writer = ProcessIdentifyWriter(hub.store.url, max_group=8)
    try:
        futures = [writer.submit(actor, _person(f"p-{i}", f"p{i}@proc.example.net"), None)
                   for i in range(6)]
        bad = writer.submit(actor, _person("p-bad", "p-bad@@proc"), None)
        again = writer.submit(actor, _person("p-0b", "P0@proc.example.net"), None)
        done = [f.result(timeout=60) for f in futures]
        assert [r.action for r in done] == [Action.CREATED] * 6
        error = bad.exception(timeout=60)
        assert isinstance(error, InvalidInput) and error.field == "identifiers.email"
        assert again.result(timeout=60).id == done[0].id
        assert _record_count(hub.store) == 7  # written by the other process, seen here

        os.kill(writer._process.pid, signal.SIGKILL)  # a crash: the next call starts anew
        writer._process.join(timeout=30)
        deadline = time.monotonic() + 30
        while writer._answers.live and time.monotonic() < deadline:
            time.sleep(0.05)
        after = writer.submit(actor, _person("p-9", "p9@proc.example.net"), None)
        assert after.result(timeout=60).action is Action.CREATED
        assert writer.started == 2
    finally:
        writer.shutdown()
    assert not writer._process.is_alive()
    with pytest.raises(RuntimeError, match="shut down"):
        writer.submit(actor, _person("late", "late@proc.example.net"), None)


def test_the_writer_process_writes_what_the_pipe_holds_in_groups_in_order(
        sqlite_hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer process's loop (`_serve`, here in this process): the messages waiting in
    the pipe are written in groups of at most `max_group`, in the order sent, each group
    answered in one message; a settings change is a boundary (the calls before it are
    written first); None stops it after everything before it."""
    import multiprocessing

    from allroads.api import writer as writer_module

    hub = sqlite_hub
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)
    events: list[str] = []
    monkeypatch.setattr(hub.cache, "forget", lambda tenant_id: events.append("forget"))
    written = writer_module.write_group

    def spy(hub_: Hub, calls: list[tuple[Actor, IdentifyRequest, None]]) -> list[object]:
        events.append("+".join(str(req.source_id) for _, req, _ in calls))
        return written(hub_, calls)  # type: ignore[arg-type]

    monkeypatch.setattr(writer_module, "write_group", spy)
    server, process = multiprocessing.Pipe()
    for i in range(3):
        server.send((i, actor, _person(f"g-{i}", f"g{i}@pipe.example.net"), None))
    server.send(("forget", tenant.id))
    server.send((3, actor, _person("g-bad", "not an email"), None))
    server.send((4, actor, _person("g-0b", "G0@pipe.example.net"), None))
    server.send(None)
    server.send((5, actor, _person("g-late", "late@pipe.example.net"), None))
    writer_module._serve(process, hub, max_group=2)
    answers = []
    while server.poll(1):
        answers.append(server.recv())
    assert events == ["g-0+g-1", "g-2", "forget", "g-bad+g-0b"]
    assert [[call_id for call_id, _ in group] for group in answers] == [[0, 1], [2], [3, 4]]
    results = {call_id: answer for group in answers for call_id, answer in group}
    assert all(results[i].action is Action.CREATED for i in range(3))  # type: ignore[union-attr]
    assert isinstance(results[3], InvalidInput)
    assert results[4].id == results[0].id  # type: ignore[union-attr]
    assert _record_count(hub.store) == 4  # g-0 to g-2, g-0b; nothing after None


def test_calls_a_stopped_writer_process_did_not_answer_fail_with_a_store_error(
        sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)
    writer = ProcessIdentifyWriter(hub.store.url)
    try:
        assert writer.submit(actor, _person("w-1", "w1@proc.example.net"), None).result(
            timeout=60).action is Action.CREATED
        with hub.store.write():  # holds the process's next write
            stuck = writer.submit(actor, _person("w-2", "w2@proc.example.net"), None)
            time.sleep(0.5)
            os.kill(writer._process.pid, signal.SIGKILL)
            error = stuck.exception(timeout=60)
        assert isinstance(error, StoreError) and "send the request again" in str(error)
    finally:
        writer.shutdown()
    assert _record_count(hub.store) == 1


def test_a_call_whose_caller_stopped_waiting_does_not_stop_the_answers(
        sqlite_hub: Hub) -> None:
    """A request cancelled while its call is in the writer process (the server shutting
    down, say): its answer, when it comes, is dropped, and the calls after it are answered
    by the same process."""
    hub = sqlite_hub
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)
    writer = ProcessIdentifyWriter(hub.store.url)
    try:
        async def cancelled_then_next() -> IdentifyResult:
            with hub.store.write():  # holds the process's write of the first call
                first = asyncio.ensure_future(writer.identify(
                    actor, _person("c-1", "c1@cancel.example.net"), None))
                await asyncio.sleep(0.3)
                first.cancel()
                await asyncio.sleep(0)
            return await writer.identify(actor, _person("c-2", "c2@cancel.example.net"), None)

        assert asyncio.run(cancelled_then_next()).action is Action.CREATED
        assert writer._answers.live and writer.started == 1
    finally:
        writer.shutdown()
    assert _record_count(hub.store) == 2  # the cancelled call was written all the same


def test_the_writer_process_answers_on_the_event_loop_it_is_given(sqlite_hub: Hub) -> None:
    """What the app uses: the answers read on the app's loop (no thread), its callers
    awaiting futures of the loop; a cancelled call, an error and a crash as with the
    thread; shut down from the loop, it writes what it was sent first."""
    hub = sqlite_hub
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)

    async def run() -> None:
        writer = ProcessIdentifyWriter(hub.store.url, loop=asyncio.get_running_loop())
        assert writer._receiver is None
        try:
            many = await asyncio.gather(*(writer.identify(
                actor, _person(f"l-{i}", f"l{i}@loop.example.net"), None) for i in range(6)),
                writer.identify(actor, _person("l-bad", "l-bad@@loop"), None),
                return_exceptions=True)
            assert [r.action for r in many[:6]] == [Action.CREATED] * 6  # type: ignore[union-attr]
            assert isinstance(many[6], InvalidInput)
            with hub.store.write():  # holds the process's next write
                first = asyncio.ensure_future(writer.identify(
                    actor, _person("l-c", "lc@loop.example.net"), None))
                await asyncio.sleep(0.3)
                first.cancel()
                await asyncio.sleep(0)
            again = await writer.identify(actor, _person("l-0b", "L0@loop.example.net"), None)
            assert again.id == many[0].id  # type: ignore[union-attr]
            with hub.store.write():
                stuck = asyncio.ensure_future(writer.identify(
                    actor, _person("l-s", "ls@loop.example.net"), None))
                await asyncio.sleep(0.3)
                os.kill(writer._process.pid, signal.SIGKILL)
                with pytest.raises(StoreError, match="send the request again"):
                    await asyncio.wait_for(stuck, 60)
            after = await writer.identify(actor, _person("l-9", "l9@loop.example.net"), None)
            assert after.action is Action.CREATED and writer.started == 2
            queued = [asyncio.ensure_future(writer.identify(
                actor, _person(f"q-{i}", f"q{i}@loop.example.net"), None)) for i in range(3)]
            await asyncio.sleep(0)  # sent
        finally:
            writer.shutdown()
        done = await asyncio.wait_for(asyncio.gather(*queued), 5)  # answered in shutdown
        assert [r.action for r in done] == [Action.CREATED] * 3

    asyncio.run(run())
    assert _record_count(hub.store) == 6 + 1 + 1 + 1 + 3  # l-c was written all the same


def test_the_loop_writer_shut_down_from_another_thread_answers_on_the_loop(
        sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)

    async def run() -> IdentifyResult:
        writer = ProcessIdentifyWriter(hub.store.url, loop=asyncio.get_running_loop())
        call = asyncio.ensure_future(writer.identify(
            actor, _person("t-1", "t1@thread.example.net"), None))
        await asyncio.sleep(0)  # sent
        await asyncio.to_thread(writer.shutdown)  # reads the answers in that thread
        return await asyncio.wait_for(call, 10)

    assert asyncio.run(run()).action is Action.CREATED
    assert _record_count(hub.store) == 1


def test_a_settings_change_reaches_the_writer_process_at_once(sqlite_hub: Hub) -> None:
    """The writer process keeps its own copy of a tenant's rules (for a few seconds); a
    change made through the hub is passed on, so the next call is written with it: here
    the api touchpoint's policy turns from merge to reject."""
    hub = sqlite_hub
    tenant = hub.ensure_tenant("acme", default_region="US")
    actor = Actor(tenant.id, "test", "api", tenant.default_region)
    writer = ProcessIdentifyWriter(hub.store.url)
    hub.settings_listeners.append(writer.forget)
    try:
        def send(key: str, identifiers: dict[str, str]) -> IdentifyResult:
            return writer.submit(actor, IdentifyRequest(P, "crm", key, identifiers, {}),
                                 None).result(timeout=60)

        a = send("a", {"email": "a@rules.example.net"})
        b = send("b", {"phone": "+14155550123"})
        assert a.action is b.action is Action.CREATED  # the writer holds the rules now
        hub.set_rules(actor, P, {"policies": {"api": "reject"}})
        both = send("c", {"email": "a@rules.example.net", "phone": "+14155550123"})
        assert both.action is Action.REJECTED, both
    finally:
        writer.shutdown()


def test_rules_put_through_the_api_reach_the_writer_process(sqlite_hub: Hub) -> None:
    """The server registers its writer process for settings changes while it runs."""
    from fastapi.testclient import TestClient

    from allroads.api.app import create_app
    from allroads.settings import Settings

    key, _ = sqlite_hub.create_api_key("acme", Role.ADMIN)
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(Settings(writer_process=1), hub=sqlite_hub)) as client:
        def send(key: str, identifiers: dict[str, str]) -> str:
            res = client.post("/api/v1/identify", headers=auth, json={
                "type": "person", "source": "crm", "source_id": key,
                "identifiers": identifiers})
            assert res.status_code == 200, res.text
            return str(res.json()["action"])

        assert send("a", {"email": "a@rules.example.net"}) == "created"
        assert send("b", {"phone": "+14155550123"}) == "created"
        res = client.put("/api/v1/rules/person", headers=auth,
                         json={"policies": {"api": "reject"}})
        assert res.status_code == 200, res.text
        assert send("c", {"email": "a@rules.example.net", "phone": "+14155550123"}) \
            == "rejected"
    assert sqlite_hub.settings_listeners == []  # the stopped server's writer is gone


def test_every_error_pickles_as_it_was_raised() -> None:
    """What the writer process sends back: each error class, with its message, hint,
    field and own attributes."""
    import pickle

    from allroads.domain import errors

    made = [errors.InvalidIdentifier("email", "a@@b", "two @", hint="fix it")]
    made += [cls("it failed", hint="retry", field="x") for cls in (
        errors.AllroadsError, errors.InvalidInput, errors.NotFound, errors.Conflict,
        errors.IdentifierConflict, errors.PermissionDenied, errors.StoreError)]
    for error in made:
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error)
        assert back.__dict__ == error.__dict__ and back.args == error.args
