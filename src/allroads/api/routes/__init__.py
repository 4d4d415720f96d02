"""The routers, one module a resource; `api_router` puts the /api/v1 ones together."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from allroads.api.deps import known_query
from allroads.api.routes import (
    accounts,
    admin,
    identify,
    import_templates,
    imports,
    merges,
    people,
    quality,
    resolve,
)
from allroads.api.schemas import Problem
from allroads.settings import Settings

# The errors any /api/v1 route may answer, documented once for all of them.
PROBLEMS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "no API key, or an unknown or revoked one"},
    403: {"model": Problem, "description": "the key's role does not allow this"},
    404: {"model": Problem, "description": "no such entity, merge, source, key or import in "
                                           "the key's tenant"},
    409: {"model": Problem, "description": "the request contradicts stored state"},
    413: {"model": Problem, "description": "the body is too large"},
    422: {"model": Problem, "description": "invalid input: every problem is listed"},
    503: {"model": Problem, "description": "the database is unavailable"},
}


def api_router(settings: Settings) -> APIRouter:
    router = APIRouter(responses=PROBLEMS)
    # /resolve takes any identifier kind as a query parameter; the others take a known set.
    router.include_router(resolve.router())
    for part in (identify.router(), people.router(settings), accounts.router(settings),
                 merges.router(), quality.router(settings), admin.router(),
                 imports.router(settings), import_templates.router()):
        router.include_router(part, dependencies=[Depends(known_query)])
    return router
