"""Dependencies of the routes, as Annotated aliases: the Hub, the settings, the API key.

    def list_people(principal: ReaderKey, hub: HubDep) -> ...

`CurrentKey` is the authenticated key (401 without one); the role aliases check its role
(403): `ReaderKey` (viewer, ingest and up: GET), `IngestKey` (POST /identify),
`EditorKey` (create, update, delete, merge, crosswalk), `AdminKey` (sources, rules, keys).

Every dependency here is `async def`: FastAPI runs a plain `def` dependency in the thread
pool, a hop that costs more than the work these do (none of them does I/O, except the
first look-up of an API key, which alone goes to the thread pool). The graph is kept
shallow: FastAPI solves a declared sub-dependency again for every dependant that declares
it (cached or not), so helpers call `authenticate` instead of declaring `CurrentKey`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from allroads.api.errors import ApiError, Unauthorized
from allroads.domain.types import Role
from allroads.resolution.hub import Hub, Principal
from allroads.settings import Settings

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="ApiKey", bearerFormat="ar_<prefix>_<secret>",
    description="An Allroads API key, sent as `Authorization: Bearer ar_...`. Each key "
                "belongs to one tenant and has a role: viewer, ingest, editor or admin.")

_KEY_HINT = "create a key with `allroads apikey create --tenant <slug> --role viewer`"


async def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


HubDep = Annotated[Hub, Depends(get_hub)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def authenticate(request: Request) -> Principal:
    """The principal of the request's bearer key (checked once a request, then cached).
    A key the Hub remembers costs no store look-up, so no thread-pool hop either."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("no API key: this route needs an `Authorization: Bearer <key>` "
                           "header", hint=_KEY_HINT)
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(f"the Authorization header must be `Bearer <key>`, got the scheme "
                           f"{scheme[:20]!r}" + ("" if token else " and no key"),
                           hint="send `Authorization: Bearer ar_...`", invalid_token=True)
    hub: Hub = request.app.state.hub
    principal = hub.known_principal(token)
    if principal is None:
        principal = await run_in_threadpool(hub.authenticate, token)
    if principal is None:
        raise Unauthorized(f"the API key {_redact(token)} is unknown or revoked",
                           hint=_KEY_HINT, invalid_token=True)
    request.state.principal = principal
    return principal


def _redact(token: str) -> str:
    """Enough of a key to recognize it in a message, never the secret part."""
    parts = token.split("_")
    return f"ar_{parts[1]}_..." if len(parts) >= 3 and parts[0] == "ar" else "sent"


async def current_key(request: Request,
                _credentials: Annotated[HTTPAuthorizationCredentials | None,
                                        Security(bearer_scheme)]) -> Principal:
    # bearer_scheme only declares the scheme in OpenAPI (Swagger's Authorize button);
    # authenticate() does the checking, with problem+json errors.
    return await authenticate(request)


CurrentKey = Annotated[Principal, Depends(current_key)]


async def reader(principal: CurrentKey) -> Principal:
    """Any key that may read: every role (see domain.types.ROLE_PERMISSIONS)."""
    principal.require(Role.VIEWER)
    return principal


def requires(needed: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    async def check(principal: CurrentKey) -> Principal:
        principal.require(needed)
        return principal

    check.__name__ = f"requires_{needed.value}"
    return check


ReaderKey = Annotated[Principal, Depends(reader)]
IngestKey = Annotated[Principal, Depends(requires(Role.INGEST))]
EditorKey = Annotated[Principal, Depends(requires(Role.EDITOR))]
AdminKey = Annotated[Principal, Depends(requires(Role.ADMIN))]


async def known_query(request: Request) -> None:
    """A 422 for a query parameter the route does not take (`?cursr=`), instead of ignoring
    it: a misspelled cursor would otherwise return the first page forever. Authentication
    comes first (a 401 before a 422); it is called, not declared as a sub-dependency: FastAPI
    solves every declared sub-dependency again, cached or not, at a cost on every request."""
    await authenticate(request)
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = sorted(set(_query_names(dependant)))
    for name in request.query_params:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {near[0]!r}?" if near else (
                "this route takes: " + ", ".join(known) if known else
                "this route takes no query parameters")
            raise ApiError(422, "invalid_input", f"unknown query parameter {name!r}",
                           field=f"query.{name}", hint=hint)


def _query_names(dependant: Any) -> Iterator[str]:
    for param in dependant.query_params:
        yield param.alias
    for sub in dependant.dependencies:
        yield from _query_names(sub)
