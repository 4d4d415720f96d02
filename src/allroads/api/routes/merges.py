"""Merging, undoing merges, and keeping customers apart.

    POST /{collection}/{id}/merge        {ids: [...]}: merge them into this one
    POST /{collection}/{id}/keep-apart   {ids: [...], reason}: never merge these automatically
    POST /merges/{merge_id}/undo         {keep_apart: true}: split a merge again
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from allroads.api.deps import EditorKey, HubDep
from allroads.api.idempotency import IdempotencyDep, IdempotentRoute
from allroads.api.routes.resource import EntityId, Resource
from allroads.api.schemas import KeepApartIn, KeepApartOut, MergeIn, MergeOut, UndoIn, UndoOut

MergeId = Annotated[str, Path(max_length=64, description="the merge_id a merge returned")]


def add_entity_routes(router: APIRouter, res: Resource) -> None:
    etype, noun = res.etype, res.noun

    @router.post("/{id}/merge", response_model=MergeOut[res.public],  # type: ignore[name-defined]
                 summary=f"Merge {res.collection} into this {noun}",
                 description="The oldest entity survives; the others redirect to it. The merge "
                 "is remembered as a decision, so it overrides merge protection, and it can be "
                 "undone with POST /merges/{merge_id}/undo.")
    def merge(id: EntityId, principal: EditorKey, _idempotency: IdempotencyDep, hub: HubDep,
              body: MergeIn) -> dict[str, Any]:
        return hub.merge(principal.actor(), etype, id, body.ids)

    @router.post("/{id}/keep-apart", response_model=KeepApartOut,
                 summary=f"Keep {res.collection} apart from this {noun}",
                 description="Remembered and always respected: no identifier will merge them "
                 "automatically.")
    def keep_apart(id: EntityId, principal: EditorKey, _idempotency: IdempotencyDep,
                   hub: HubDep, body: KeepApartIn) -> dict[str, Any]:
        return hub.keep_apart(principal.actor(), etype, id, body.ids, body.reason)


def router() -> APIRouter:
    r = APIRouter(prefix="/merges", tags=["Merges"], route_class=IdempotentRoute)
    r.add_api_route("/{merge_id}/undo", undo, methods=["POST"], response_model=UndoOut,
                    summary="Undo a merge",
                    description="The merged entities come back with their records. With "
                    "keep_apart (the default) they are never merged again automatically.")
    return r


def undo(merge_id: MergeId, principal: EditorKey, _idempotency: IdempotencyDep, hub: HubDep,
         body: Annotated[UndoIn | None, Body()] = None) -> dict[str, Any]:
    keep_apart = body.keep_apart if body is not None else True
    return hub.undo_merge(principal.actor(), merge_id, keep_apart=keep_apart)
