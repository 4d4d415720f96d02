"""What happened to an entity and why it is what it is.

    GET /{collection}/{id}/changelog             {data: [{field, old, new, at, initiator, ...}],
                                                  next_cursor}
    GET /{collection}/{id}/identifiers/history   {data: [{kind, value, added_at, removed_at}]}
    GET /{collection}/{id}/explain               each record and the evidence that linked it
"""

# No `from __future__ import annotations` here: the page size limit in the annotations
# comes from the settings, known only when the router is built.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from allroads.api.deps import HubDep, ReaderKey
from allroads.api.routes.resource import Cursor, EntityId, Resource
from allroads.api.schemas import ChangeList, ExplainOut, IdentifierHistory
from allroads.settings import Settings


def add_routes(router: APIRouter, res: Resource, settings: Settings) -> None:
    etype, noun = res.etype, res.noun
    most = settings.page_limit_max

    @router.get("/{id}/changelog", response_model=ChangeList,
                summary=f"The {noun}'s changelog",
                description="Every change, oldest first: field, old and new value, when, "
                "touchpoint, initiator, and the merge or import that caused it. Includes the "
                "entities merged into this one.")
    def changelog(id: EntityId, principal: ReaderKey, hub: HubDep,
                  limit: Annotated[int, Query(ge=1, le=most)] = min(50, most),
                  cursor: Cursor = None) -> dict[str, Any]:
        items, next_cursor = hub.changelog(principal.actor(), etype, id, cursor=cursor,
                                           limit=limit)
        return {"data": items, "next_cursor": next_cursor}

    @router.get("/{id}/identifiers/history", response_model=IdentifierHistory,
                summary=f"Every identifier the {noun} has had")
    def identifier_history(id: EntityId, principal: ReaderKey, hub: HubDep
                           ) -> dict[str, Any]:
        return {"data": hub.identifier_history(principal.actor(), etype, id)}

    @router.get("/{id}/explain", response_model=ExplainOut,
                summary=f"Why the {noun}'s records are one {noun}")
    def explain(id: EntityId, principal: ReaderKey, hub: HubDep) -> dict[str, Any]:
        return hub.explain(principal.actor(), etype, id)
