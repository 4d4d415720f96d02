"""POST /identify: one record in, the customer it is out (created, matched, merged, sent to
review, or rejected with the reason). What a product, CRM sync or chat widget calls.

The route is FastAPI's, and its OpenAPI document too, but a request is served by a lean
handler when it is the common case (`IdentifyRoute`): a JSON body that validates, no
`Idempotency-Key`, no query string. FastAPI's general machinery (solving the dependency
graph, parsing the content type, extracting the endpoint's context) cost more than the
identify itself for a record sent again unchanged. Anything else (an invalid body, an
idempotency key, a query parameter) goes through FastAPI's handler, which answers exactly
as it always has.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ClassVar, get_args

import fastapi.routing
from fastapi import APIRouter, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from allroads.api.deps import IngestKey, authenticate, bearer_scheme, current_key, known_query
from allroads.api.idempotency import HEADER, IdempotencyDep, IdempotentRoute, idempotency
from allroads.api.schemas import IdentifyAccountIn, IdentifyIn, IdentifyOut
from allroads.api.writer import IdentifyWriter, ProcessIdentifyWriter, running_loop
from allroads.domain.types import EntityType, IdentifyRequest, IdentifyResult, Role
from allroads.resolution.hub import Hub, Principal

_IDEMPOTENCY_HEADER = HEADER.lower().encode()
# `app.state.lean_identify = False` turns the lean handler off (tests compare the two).
LEAN_SWITCH = "lean_identify"
WRITER = "identify_writer"  # app.state: the IdentifyWriter of identify's writes (or None)


def router() -> APIRouter:
    r = APIRouter(tags=["Identify"], route_class=IdentifyRoute)
    r.add_api_route(
        "/identify", identify, methods=["POST"], response_model=IdentifyOut,
        summary="Identify a person or account",
        description="Resolves the record to one customer by its identifiers and stores it. "
        "`action` says what happened: created, matched, merged (two customers were found to "
        "be one), review (queued for a person to decide) or rejected (the touchpoint's policy "
        "refuses to join two customers; `id` is null and `message` says why). A rejection "
        "is a 200: the request was valid.")
    return r


async def identify(request: Request, principal: IngestKey, _idempotency: IdempotencyDep,
                   body: IdentifyIn) -> dict[str, Any]:
    return await run_identify(request.app.state.hub, principal, body,
                              getattr(request.app.state, WRITER, None))


async def run_identify(hub: Hub, principal: Principal, body: IdentifyIn,
                       writer: IdentifyWriter | ProcessIdentifyWriter | None = None
                       ) -> dict[str, Any]:
    # One thread hop at most. Where reads are local (SQLite), a record sent again
    # unchanged, the common case, is answered right here from a read transaction; the
    # writer (which may wait for another writer) always runs in another thread, with the
    # request as already prepared (identifiers normalized) here: `writer` (SQLite, while the
    # app runs: one thread, as SQLite has one writer, writing the calls that queue in
    # groups) or the thread pool.
    actor, req = principal.actor(), to_request(body)
    local = hub.store.dialect.local_reads
    result, prepared = hub.check_unchanged(actor, req) if local else (None, None)
    if result is None:
        if writer is not None:
            if prepared is not None:
                # The record's matching features (a name parse, about a millisecond) are
                # worked out here: this process has time to spare, the one writer has none.
                prepared.features(req.type)
            result = await writer.identify(actor, req, prepared)
        else:
            result = await run_in_threadpool(hub.identify, actor, req,
                                             unchanged_checked=local, prepared=prepared)
    return result_view(result)


def identify_writer(hub: Hub, *, process: bool = True
                    ) -> IdentifyWriter | ProcessIdentifyWriter | None:
    """What identify's writes run in while the app runs (`app.state.identify_writer`, set
    by the app's lifespan), on SQLite, whose writes wait for each other anyway
    (Store.write's lock): one process of its own (`process`), else one thread, writing
    the calls that queue meanwhile together (see allroads.api.writer). None elsewhere."""
    if not hub.store.dialect.local_reads:
        return None
    if process and hub.store.engine.url.database not in (None, "", ":memory:"):
        # the app's loop (the lifespan's): the answers are read on it
        return ProcessIdentifyWriter(hub.store.url, loop=running_loop())
    return IdentifyWriter(hub)


def to_request(body: IdentifyIn) -> IdentifyRequest:
    account = _account(body.account) if body.account is not None else None
    return IdentifyRequest(EntityType(body.type), body.source, body.source_id,
                           body.identifiers.values(), dict(body.attributes), account,
                           body.touchpoint)


def _account(body: IdentifyAccountIn) -> IdentifyRequest:
    return IdentifyRequest(EntityType.ACCOUNT, body.source, body.source_id,
                           body.identifiers.values(), dict(body.attributes))


def result_view(result: IdentifyResult) -> dict[str, Any]:
    return {"id": result.id, "type": result.type.value, "action": result.action.value,
            "evidence": result.evidence, "message": result.message,
            "account": result_view(result.account) if result.account else None,
            "merge_id": result.merge_id, "review_id": result.review_id}


# The lean handler ---------------------------------------------------------------------------
# What the route's dependencies are, all of which the lean handler does itself: the router's
# `known_query` (authenticate; a query string goes the full way), `IngestKey` (the bearer
# scheme, `authenticate`, the role check) and `IdempotencyDep` (no header: nothing to do).
_INGEST_CHECK = get_args(IngestKey)[1].dependency
EXPECTED_DEPENDENCIES = frozenset({known_query, current_key, bearer_scheme, _INGEST_CHECK,
                                   idempotency})


class IdentifyRoute(IdempotentRoute):
    """The /identify route: FastAPI's handler (with `IdempotentRoute`'s storing of answers)
    for any request, and a lean one for the common case, which answers the same."""

    served_lean: ClassVar[int] = 0  # requests the lean handler answered, in this process

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()
        # FastAPI builds the handler once per router the route is included in, with that
        # inclusion's dependencies; it says which in a context variable (as it reads it).
        context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
        context = context_var.get() if context_var is not None else None
        route: Any = context if getattr(context, "original_route", None) is self else self
        if not _lean_ready(route):
            # A dependency or parameter the lean handler does not know of: never skip it.
            return full
        body_field, response_field = route.body_field, route.response_field

        async def handler(request: Request) -> Response:
            body = _lean_body(request, await request.body(), body_field) if getattr(
                request.app.state, LEAN_SWITCH, True) else None
            if body is None:
                return await full(request)
            principal = await authenticate(request)
            principal.require(Role.INGEST)
            IdentifyRoute.served_lean += 1
            view = await run_identify(request.app.state.hub, principal, body,
                                      getattr(request.app.state, WRITER, None))
            content = await fastapi.routing.serialize_response(
                field=response_field, response_content=view, dump_json=True)
            return Response(content=content, media_type="application/json")

        return handler


def _lean_body(request: Request, raw: bytes, body_field: Any) -> IdentifyIn | None:
    """The validated body, when the request is the lean handler's case; else None."""
    scope = request.scope
    if scope.get("query_string") or not raw:
        return None
    content_type = None
    for name, value in scope["headers"]:
        if name == _IDEMPOTENCY_HEADER:
            return None
        if name == b"content-type":
            content_type = value
    if content_type is None or content_type.split(b";", 1)[0].strip().lower() \
            != b"application/json":
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    value, errors = body_field.validate(data, {}, loc=("body",))
    return value if not errors and isinstance(value, IdentifyIn) else None


def _lean_ready(route: Any) -> bool:
    """True when the route's dependencies and parameters are exactly those the lean handler
    does itself, and its body and response are the identify models."""
    dependant: Dependant | None = getattr(route, "dependant", None)
    if dependant is None or getattr(route, "body_field", None) is None:
        return False
    calls = set(_calls(dependant))
    headers = {p.alias.lower() for d in _dependants(dependant) for p in d.header_params}
    queries = [p for d in _dependants(dependant) for p in d.query_params]
    cookies = [p for d in _dependants(dependant) for p in d.cookie_params]
    paths = [p for d in _dependants(dependant) for p in d.path_params]
    return (calls == EXPECTED_DEPENDENCIES and headers == {HEADER.lower()} and not queries
            and not cookies and not paths and len(dependant.body_params) == 1
            and route.body_field.field_info.annotation is IdentifyIn
            and route.response_field is not None
            and route.response_field.field_info.annotation is IdentifyOut)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)
