"""The cross-system ID map of an entity (Freshsuccess): its id in every source.

    GET /{collection}/{id}/crosswalk     {id, type, ids: {source: [ids]}, records: [...]}
    PUT /{collection}/{id}/crosswalk     {ids: {source: id}}: these source ids are this entity
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from allroads.api.deps import EditorKey, HubDep, ReaderKey
from allroads.api.idempotency import IdempotencyDep
from allroads.api.routes.resource import EntityId, Resource
from allroads.api.schemas import CrosswalkIn, CrosswalkOut


def add_routes(router: APIRouter, res: Resource) -> None:
    etype, noun = res.etype, res.noun

    @router.get("/{id}/crosswalk", response_model=CrosswalkOut,
                summary=f"The {noun}'s id in every source")
    def get_crosswalk(id: EntityId, principal: ReaderKey, hub: HubDep) -> dict[str, Any]:
        return hub.crosswalk(principal.actor(), etype, id)

    @router.put("/{id}/crosswalk", response_model=CrosswalkOut,
                summary=f"Map source ids to the {noun}",
                description="Each source id sent becomes a record of this entity. An id that "
                "already belongs to another entity is a 409: merge that entity instead.")
    def put_crosswalk(id: EntityId, principal: EditorKey, _idempotency: IdempotencyDep,
                      hub: HubDep, body: CrosswalkIn) -> dict[str, Any]:
        return hub.set_crosswalk(principal.actor(), etype, id, body.ids)
