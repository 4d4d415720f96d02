"""The tenant's configuration: sources and their trust, match rules, API keys.

    GET /sources                    GET|PUT /sources/{name}       {priority, description}
    GET|PUT /rules/{type}           identifier rules and touchpoint policies
    GET|POST /api-keys              GET|DELETE /api-keys/{id}     DELETE revokes

Reading sources and rules takes any reading key; changing them, and anything about API
keys, takes an admin key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from allroads.api.deps import AdminKey, HubDep, ReaderKey
from allroads.api.idempotency import (
    IdempotencyDep,
    IdempotentRoute,
    created_location,
    store_instead,
)
from allroads.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    EntityTypeName,
    RulesIn,
    RulesOut,
    RulesSaved,
    SourceIn,
    SourceList,
    SourceOut,
)
from allroads.domain.errors import NotFound
from allroads.domain.types import EntityType
from allroads.store import ApiKeyRow

SourceName = Annotated[str, Path(max_length=64, description="the source's name, e.g. crm")]
RuleType = Annotated[EntityTypeName, Path(description="person or account")]
KeyId = Annotated[int, Path(description="the key's id (from GET /api-keys)")]


def router() -> APIRouter:
    sources = APIRouter(tags=["Sources"], route_class=IdempotentRoute)
    sources.add_api_route("/sources", list_sources, methods=["GET"],
                          response_model=SourceList, summary="List sources")
    sources.add_api_route("/sources/{name}", get_source, methods=["GET"],
                          response_model=SourceOut, summary="Get a source")
    sources.add_api_route("/sources/{name}", put_source, methods=["PUT"],
                          response_model=SourceOut,
                          summary="Register a source or change its priority",
                          description="Higher priority wins when sources disagree about a "
                          "field. A description not sent is kept.")
    rules = APIRouter(tags=["Rules"], route_class=IdempotentRoute)
    rules.add_api_route("/rules/{type}", get_rules, methods=["GET"], response_model=RulesOut,
                        summary="Get the match rules")
    rules.add_api_route("/rules/{type}", put_rules, methods=["PUT"], response_model=RulesSaved,
                        summary="Change the match rules",
                        description="Settings sent replace the defaults for the kinds and "
                        "touchpoints named; every problem is reported at once.")
    keys = APIRouter(tags=["API keys"], route_class=IdempotentRoute)
    keys.add_api_route("/api-keys", list_keys, methods=["GET"], response_model=ApiKeyList,
                       summary="List the tenant's API keys")
    keys.add_api_route("/api-keys", create_key, methods=["POST"], status_code=201,
                       response_model=ApiKeyCreated, summary="Create an API key",
                       description="The key itself is in this response only; store it now.")
    keys.add_api_route("/api-keys/{id}", get_key, methods=["GET"], response_model=ApiKeyOut,
                       summary="Get an API key (never the key itself)")
    keys.add_api_route("/api-keys/{id}", revoke_key, methods=["DELETE"], status_code=204,
                       response_class=Response, summary="Revoke an API key")
    r = APIRouter()
    for part in (sources, rules, keys):
        r.include_router(part)
    return r


# Sources ----------------------------------------------------------------------------------
def list_sources(principal: ReaderKey, hub: HubDep) -> dict[str, Any]:
    return {"data": hub.sources(principal.actor())}


def get_source(name: SourceName, principal: ReaderKey, hub: HubDep) -> dict[str, Any]:
    wanted = name.strip().lower()
    for source in hub.sources(principal.actor()):
        if source["name"] == wanted:
            return source
    raise NotFound(f"no source {name!r} in this tenant",
                   hint=f"register it with PUT /api/v1/sources/{wanted}")


def put_source(name: SourceName, principal: AdminKey, _idempotency: IdempotencyDep,
               hub: HubDep, body: SourceIn) -> dict[str, Any]:
    actor = principal.actor()
    description = body.description
    if description is None:  # not sent: keep the one it has
        wanted = name.strip().lower()
        description = next((s["description"] for s in hub.sources(actor)
                            if s["name"] == wanted), "")
    return hub.set_source(actor, name, body.priority, description or "")


# Rules ------------------------------------------------------------------------------------
def get_rules(type: RuleType, principal: ReaderKey, hub: HubDep) -> dict[str, Any]:
    return hub.rules(principal.actor(), EntityType(type))


def put_rules(type: RuleType, principal: AdminKey, _idempotency: IdempotencyDep, hub: HubDep,
              body: RulesIn) -> dict[str, Any]:
    return hub.set_rules(principal.actor(), EntityType(type), body.to_hub())


# API keys ---------------------------------------------------------------------------------
def key_view(row: ApiKeyRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "role": row.role,
            "created_at": row.created_at, "revoked_at": row.revoked_at}


def list_keys(principal: AdminKey, hub: HubDep) -> dict[str, Any]:
    return {"data": [key_view(k) for k in hub.list_api_keys(principal.actor())]}


def create_key(request: Request, response: Response, principal: AdminKey,
               _idempotency: IdempotencyDep, hub: HubDep, body: ApiKeyCreate
               ) -> dict[str, Any]:
    key, row = hub.create_api_key(principal.tenant.slug, body.role, body.name)
    view = key_view(row)
    # A replay must not hand the secret out again, nor may the idempotency store keep it.
    store_instead(request, ApiKeyCreated.model_validate({**view, "key": None})
                  .model_dump(mode="json"))
    response.headers["Location"] = created_location(request.url.path, view) or ""
    return {**view, "key": key}


def get_key(id: KeyId, principal: AdminKey, hub: HubDep) -> dict[str, Any]:
    for row in hub.list_api_keys(principal.actor()):
        if row.id == id:
            return key_view(row)
    raise NotFound(f"no API key {id} in this tenant", hint="GET /api/v1/api-keys lists them")


def revoke_key(id: KeyId, principal: AdminKey, hub: HubDep) -> Response:
    hub.revoke_api_key(principal.actor(), id)
    return Response(status_code=204)
