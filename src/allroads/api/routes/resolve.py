"""GET /resolve: the customer an identifier or a source record belongs to.

    GET /resolve?type=person&email=jane@acme.com           by one identifier (any kind)
    GET /resolve?type=account&source=crm&source_id=110     by a source's record id
    GET /resolve?type=account&source_id=product:34         by a source_id identifier
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from allroads.api.deps import HubDep, ReaderKey
from allroads.api.schemas import AnyEntityPublic, EntityTypeName
from allroads.domain.errors import InvalidInput, NotFound
from allroads.domain.identifiers import IDENTIFIER_KINDS
from allroads.domain.types import EntityType

RESERVED = ("type", "source", "source_id")
EXAMPLE = "e.g. ?type=person&email=jane@acme.com or ?type=account&source=crm&source_id=110"


def router() -> APIRouter:
    r = APIRouter(tags=["Identify"])
    r.add_api_route(
        "/resolve", resolve, methods=["GET"], response_model=AnyEntityPublic,
        summary="Find the customer an identifier belongs to",
        description="Give `type` and exactly one identifier, as a query parameter named "
        "after its kind (email, phone, external_id, user_ref, org_ref, domain, card_number, "
        "device_id, push_token, app_install_id, or a custom kind), or `source` and "
        "`source_id`. A merged-away customer answers with the one it was merged into.",
        openapi_extra={"parameters": [
            {"name": kind, "in": "query", "required": False, "schema": {"type": "string"},
             "description": f"resolve by {kind}"}
            for kind in IDENTIFIER_KINDS if kind != "source_id"]})
    return r


def resolve(request: Request, principal: ReaderKey, hub: HubDep,
            type: Annotated[EntityTypeName, Query(description="person or account")],
            source: Annotated[str | None, Query(max_length=64, description="a source, with "
                                                "source_id: resolve by its record id")] = None,
            source_id: Annotated[str | None, Query(max_length=255, description="the record's "
                                                   "id in source; alone, a 'source:id' "
                                                   "identifier")] = None,
            ) -> dict[str, Any]:
    etype = EntityType(type)
    actor = principal.actor()
    given = [(k, v) for k, v in request.query_params.multi_items() if k not in RESERVED]
    if source is not None:
        if given:
            raise InvalidInput(f"resolve by source and source_id or by one identifier, not "
                               f"both (also got {', '.join(k for k, _ in given)})",
                               field="query", hint=EXAMPLE)
        return hub.resolve(actor, etype, source=source, source_id=source_id)
    if source_id is not None:
        given.append(("source_id", source_id))
    if len(given) != 1:
        got = ", ".join(k for k, _ in given) if given else "none"
        raise InvalidInput(f"give exactly one identifier to resolve by (got {got})",
                           field="query", hint=EXAMPLE)
    kind, value = given[0]
    try:
        return hub.resolve(actor, etype, kind=kind, value=value)
    except NotFound as exc:
        if kind in IDENTIFIER_KINDS:
            raise
        raise NotFound(exc.message, hint=f"{kind!r} is not a built-in identifier kind "
                       f"({', '.join(IDENTIFIER_KINDS)}); as a custom kind it matches only "
                       "values sent with that name") from exc
