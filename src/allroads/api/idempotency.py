"""`Idempotency-Key`: a retried write gets the first response back and changes nothing.

Two halves, because the check must come after authentication and the role check (a key
may only replay what its tenant and role may do), and the store after the response exists:

    def create(principal: EditorKey, _: IdempotencyDep, body: ...)   # every write route
    APIRouter(route_class=IdempotentRoute)                            # every router

- `IdempotencyDep` (runs after the role check, as the later parameter): no header, nothing
  to do; a key seen before with the same method, path and body raises `Replay` (the route
  returns the stored response with `Idempotency-Replayed: true`); seen with another request,
  a 422 problem; new, it marks the request so the route stores what it answers.
- `IdempotentRoute` runs the endpoint, turns errors into problem responses itself (so a
  4xx is stored and replayed like a success) and stores any answer below 500.

Bodies are compared by a hash of their canonical JSON (key order and spacing do not
matter). A response holding a secret (a new API key) is stored with the secret removed:
see `store_instead`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from allroads.api.deps import authenticate
from allroads.api.errors import PROBLEM_MEDIA_TYPE, ApiError, problem_for
from allroads.resolution.hub import Principal
from allroads.store import StoredResponse
from allroads.store.requests import PENDING

log = logging.getLogger("allroads.api")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
MAX_KEY_LENGTH = 255
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Replay(Exception):
    def __init__(self, stored: StoredResponse) -> None:
        super().__init__(stored.path)
        self.stored = stored


@dataclass(frozen=True)
class Pending:
    """What to store the response under, once the route has answered."""

    key: str
    method: str
    path: str
    body_hash: str


async def idempotency(request: Request,
                      key: Annotated[str | None, Header(
                          alias=HEADER, description="any unique string (e.g. a UUID), at "
                          f"most {MAX_KEY_LENGTH} characters: a retry with the same key "
                          "and body returns the first response and changes nothing")] = None
                      ) -> Pending | None:
    # Authenticated first (a 401 before any 422), by a call rather than a declared
    # CurrentKey (see api/deps.py); the route's role check has usually done it already.
    principal = await authenticate(request)
    if key is None:
        return None
    check_key(key)
    return await claim_key(request, principal, key, body_hash(await request.body()))


def check_key(key: str) -> None:
    """422 for a key that is blank or too long."""
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        what = "blank" if not key.strip() else f"{len(key)} characters long"
        raise ApiError(422, "idempotency_key_invalid",
                       f"the {HEADER} header is {what}; it must be 1 to {MAX_KEY_LENGTH} "
                       "characters", field=f"header.{HEADER}",
                       hint="use a UUID, e.g. 6f1c1f0e-1c3a-4d43-9e32-3c9a1b4b7c55")


async def claim_key(request: Request, principal: Principal, key: str, request_hash: str,
                    *, body: str = "body") -> Pending:
    """Claim `key` for this request (hashed as `request_hash`): the Pending to complete, or
    Replay of the stored answer; 422 if the key was used for another request, 409 while
    that one still runs. Uploads hash their streamed file instead of a body read whole."""
    pending = Pending(key, request.method, _path(request), request_hash)
    stored = await run_in_threadpool(request.app.state.hub.claim_request, principal.actor(),
                                     key, pending.method, pending.path, pending.body_hash)
    if stored is None:
        request.state.idempotency = pending  # IdempotentRoute stores the answer
        return pending
    if (stored.method, stored.path, stored.body_hash) != (pending.method, pending.path,
                                                         pending.body_hash):
        what = body if (stored.method, stored.path) == (pending.method, pending.path) \
            else f"request ({stored.method} {stored.path})"
        raise ApiError(422, "idempotency_key_reused",
                       f"{HEADER} {_short(key)} was used with a different request: the first "
                       f"one had a different {what}", field=f"header.{HEADER}",
                       hint=f"send a new {HEADER} for a new request; reuse a key only to "
                       "retry the very same request")
    if stored.status_code == PENDING:
        raise ApiError(409, "idempotency_key_in_use",
                       f"a request with {HEADER} {_short(key)} is still running",
                       field=f"header.{HEADER}",
                       hint="wait for it to finish, then retry: the retry gets its response")
    raise Replay(stored)


IdempotencyDep = Annotated[Pending | None, Depends(idempotency)]


def store_instead(request: Request, body: Any) -> None:
    """Store `body` for replays instead of the response (to leave a secret out)."""
    request.state.idempotency_body = json.dumps(body, default=str)


class IdempotentRoute(APIRoute):
    """A route whose writes store their response for `Idempotency-Key` replays."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not (self.methods or set()) & WRITE_METHODS:
            return handler

        async def idempotent_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except Replay as replay:
                return replayed(request, replay.stored)
            except Exception as exc:
                pending = getattr(request.state, "idempotency", None)
                translated = problem_for(request, exc) if pending is not None else None
                if translated is None:
                    await _release(request)
                    raise
                response = translated
            await _store(request, response)
            return response

        return idempotent_handler


async def _release(request: Request) -> None:
    """The request failed: give its key back so a retry runs it again."""
    pending: Pending | None = getattr(request.state, "idempotency", None)
    if pending is not None:
        await run_in_threadpool(request.app.state.hub.release_request,
                                request.state.principal.actor(), pending.key)


async def _store(request: Request, response: Response) -> None:
    pending: Pending | None = getattr(request.state, "idempotency", None)
    if pending is None:
        return
    if response.status_code >= 500:
        await _release(request)
        return
    body: str = getattr(request.state, "idempotency_body", None) or bytes(
        response.body).decode()
    principal = request.state.principal
    try:
        await run_in_threadpool(request.app.state.hub.complete_request, principal.actor(),
                                pending.key, response.status_code, body)
    except Exception:
        # The work is done and committed; failing to remember it must not turn the answer
        # into an error. A retry will run the request again.
        log.exception("could not store the response for %s %s", HEADER, _short(pending.key))


def replayed(request: Request, stored: StoredResponse) -> Response:
    headers = {REPLAYED_HEADER: "true"}
    if stored.status_code == 204:
        return Response(status_code=204, headers=headers)
    if stored.status_code == 201:
        location = created_location(request.url.path, stored.response)
        if location:
            headers["Location"] = location
    media_type = PROBLEM_MEDIA_TYPE if stored.status_code >= 400 else "application/json"
    return Response(stored.response, status_code=stored.status_code, media_type=media_type,
                    headers=headers)


def created_location(collection_path: str, body: Any) -> str | None:
    """The Location of what a POST to `collection_path` created: `{path}/{body.id}`."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    ident = body.get("id") if isinstance(body, dict) else None
    return f"{collection_path.rstrip('/')}/{ident}" if ident is not None else None


def body_hash(body: bytes) -> str:
    """A hash of the body's canonical JSON (raw bytes when it is not JSON)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def _path(request: Request) -> str:
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def _short(key: str) -> str:
    return repr(key if len(key) <= 40 else key[:40] + "...")
