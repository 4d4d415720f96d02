"""The one router builder for both entity collections, /people and /accounts:

    POST   /{collection}                  create (201, Location)
    GET    /{collection}                  list: ?limit= &cursor= &q= (people: &account= &orphans=)
    GET    /{collection}/{id}             one (a merged-away id answers with the survivor)
    PATCH  /{collection}/{id}             change the fields sent
    DELETE /{collection}/{id}             soft delete (204)

plus the crosswalk, merge and history routes of crosswalk.py, merges.py and history.py.
"""

# No `from __future__ import annotations` here: FastAPI reads the body model of each endpoint
# from its annotations at runtime, and these are the resource's models, known only when the
# router is built.

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from allroads.api.deps import EditorKey, HubDep, ReaderKey
from allroads.api.idempotency import IdempotencyDep, IdempotentRoute, created_location
from allroads.api.routes import crosswalk, history, merges
from allroads.api.routes.resource import Cursor, EntityId, Resource
from allroads.domain.errors import AllroadsError
from allroads.resolution.views import identifier_fields
from allroads.settings import Settings

REDIRECT_HEADER = "Allroads-Redirected-From"
DEFAULT_LIMIT = 50

Search = Annotated[str | None, Query(max_length=255, description="search names, emails, "
                                                                  "domains, phones and ids")]


@contextmanager
def fields_named(res: Resource) -> Iterator[None]:
    """Errors about an identifier kind ('identifiers.email') name the field sent ('emails')."""
    try:
        yield
    except AllroadsError as exc:
        kinds = {kind: name for name, kind in identifier_fields(res.etype).items()}
        kind = (exc.field or "").removeprefix("identifiers.")
        if kind in kinds:
            exc.field = kinds[kind]
        raise


def entity_router(res: Resource, settings: Settings) -> APIRouter:
    router = APIRouter(prefix=f"/{res.collection}", tags=[res.tag],
                       route_class=IdempotentRoute)
    etype, noun = res.etype, res.noun
    if TYPE_CHECKING:
        CreateBody: TypeAlias = BaseModel
        UpdateBody: TypeAlias = BaseModel
    else:
        CreateBody, UpdateBody = res.create, res.update
    most = settings.page_limit_max
    default = min(DEFAULT_LIMIT, most)
    Limit = Annotated[int, Query(ge=1, le=most, description=f"page size, at most {most}")]

    @router.post("", status_code=201, response_model=res.public, summary=f"Create a {noun}",
                 responses={409: {"description": "a unique identifier belongs to another "
                                                 f"{noun}"}})
    def create(request: Request, response: Response, principal: EditorKey,
               _idempotency: IdempotencyDep, hub: HubDep, body: CreateBody) -> dict[str, Any]:
        fields = body.model_dump(mode="json", exclude_unset=True)
        with fields_named(res):
            view = hub.create(principal.actor(), etype, fields)
        response.headers["Location"] = created_location(request.url.path, view) or ""
        return view

    def page(principal: ReaderKey, hub: HubDep, limit: int, cursor: str | None,
             q: str | None, account: str | None = None, orphans: bool = False
             ) -> dict[str, Any]:
        items, next_cursor = hub.list_entities(principal.actor(), etype, cursor=cursor,
                                               limit=limit, query=q, account=account,
                                               orphans_only=orphans)
        return {"data": items, "next_cursor": next_cursor}

    if res.member_filters:
        @router.get("", response_model=res.page, summary=f"List {res.collection}")
        def list_members(principal: ReaderKey, hub: HubDep, limit: Limit = default,
                         cursor: Cursor = None, q: Search = None,
                         account: Annotated[str | None, Query(
                             max_length=64, description="only members of this account "
                             "(acc_...)")] = None,
                         orphans: Annotated[bool, Query(
                             description="only people who belong to no account")] = False,
                         ) -> dict[str, Any]:
            return page(principal, hub, limit, cursor, q, account, orphans)
    else:
        @router.get("", response_model=res.page, summary=f"List {res.collection}")
        def list_all(principal: ReaderKey, hub: HubDep, limit: Limit = default,
                     cursor: Cursor = None, q: Search = None) -> dict[str, Any]:
            return page(principal, hub, limit, cursor, q)

    @router.get("/{id}", response_model=res.public, summary=f"Get a {noun}",
                description=f"A merged-away id answers with the {noun} it was merged into, "
                f"and the header {REDIRECT_HEADER} names the id asked for.")
    def get(id: EntityId, response: Response, principal: ReaderKey, hub: HubDep
            ) -> dict[str, Any]:
        view = hub.get(principal.actor(), etype, id)
        if view["id"] != id:
            response.headers[REDIRECT_HEADER] = id
        return view

    @router.patch("/{id}", response_model=res.public, summary=f"Update a {noun}",
                  description="Only the fields sent change; a field sent as null is cleared.")
    def update(id: EntityId, principal: EditorKey, _idempotency: IdempotencyDep,
               hub: HubDep, body: UpdateBody) -> dict[str, Any]:
        fields = body.model_dump(mode="json", exclude_unset=True)
        with fields_named(res):
            return hub.update(principal.actor(), etype, id, fields)

    @router.delete("/{id}", status_code=204, response_class=Response,
                   summary=f"Delete a {noun}",
                   description="A soft delete: the id stops resolving and its identifiers "
                   "stop matching; its records and history are kept.")
    def delete(id: EntityId, principal: EditorKey, hub: HubDep) -> Response:
        hub.delete(principal.actor(), etype, id)
        return Response(status_code=204)

    crosswalk.add_routes(router, res)
    merges.add_entity_routes(router, res)
    history.add_routes(router, res, settings)
    return router
