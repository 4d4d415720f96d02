"""POST /identify: one record in, the customer it is out (created, matched, merged, sent to
review, or rejected with the reason). What a product, CRM sync or chat widget calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from allroads.api.deps import IngestKey
from allroads.api.idempotency import IdempotencyDep, IdempotentRoute
from allroads.api.schemas import IdentifyAccountIn, IdentifyIn, IdentifyOut
from allroads.domain.types import EntityType, IdentifyRequest, IdentifyResult
from allroads.resolution.hub import Hub


def router() -> APIRouter:
    r = APIRouter(tags=["Identify"], route_class=IdempotentRoute)
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
    # One thread-pool hop at most. Where reads are local (SQLite), a record sent again
    # unchanged, the common case, is answered right here from a read transaction; the
    # writer (which may wait for another writer) always runs in the thread pool.
    hub: Hub = request.app.state.hub  # not HubDep: one dependency fewer to solve
    actor, req = principal.actor(), to_request(body)
    local = hub.store.dialect.local_reads
    result, prepared = hub.check_unchanged(actor, req) if local else (None, None)
    if result is None:
        result = await run_in_threadpool(hub.identify, actor, req, unchanged_checked=local,
                                         prepared=prepared)
    return result_view(result)


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
