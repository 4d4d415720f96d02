"""Concurrent identify calls carrying the same new email never create two entities."""

from __future__ import annotations

import threading

from allroads.domain.types import Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub

THREADS = 8
ROUNDS = 5


def test_concurrent_identify_same_new_email(hub: Hub, actor: Actor) -> None:
    for round_ in range(ROUNDS):
        email = f"new{round_}@acme.com"
        barrier = threading.Barrier(THREADS)
        results: list[str | None] = []
        errors: list[BaseException] = []

        def call(i: int, email: str = email, barrier: threading.Barrier = barrier,
                 results: list[str | None] = results,
                 errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait()
                res = hub.identify(actor, IdentifyRequest(
                    EntityType.PERSON, "widget", f"{email}-{i}", {"email": email},
                    {"name": f"Visitor {i}"}))
                results.append(res.id)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(results) == THREADS
        assert len(set(results)) == 1, f"round {round_}: {len(set(results))} entities"
        view = hub.resolve(actor, EntityType.PERSON, kind="email", value=email)
        assert len(view["sources"]["widget"]) == THREADS
