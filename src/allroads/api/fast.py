"""The fast path of POST /api/v1/identify: a thin ASGI layer in front of the whole app.

    AllroadsAPI.__call__  ->  FastIdentify (the common identify call)  |  FastAPI (the rest)

The common call (POST /api/v1/identify, no query string, no `Idempotency-Key`, a JSON object
body that validates, from a key the Hub already knows with a role that may identify) costs
little in itself: a look-up when the record is stored unchanged. Through Starlette and
FastAPI it also paid for the middleware stack, FastAPI's nested routers (each matching the
path in turn), a Request, a Response object and two layers of exception handling: more
than the look-up. This layer serves that call with what it needs: the body read (under the
same size limit), the cached key, the body parsed (orjson; the standard json where orjson
would read a value differently) and validated by the route's own body model, `identify`
run as the route runs it, the answer serialized as the route serializes it.

Anything else, and anything this layer cannot tell apart from the common call, goes
through the FastAPI app unchanged (the body already read is handed on as it was received),
which answers as it always did: a missing, unknown or weak key (401, 403), a body that
does not validate (422), an idempotency key, another content type. An error raised by
identify itself (an invalid email: 422; the database down: 503) is answered by the app's
own error handlers, as the route would answer it. A test sends the same requests both ways
and compares every answer (tests/test_api_identify_lean.py).

The layer serves only when the app is as `create_app` builds it: the route's dependencies
are the ones the lean handler knows (routes/identify.py), it is the one route matching the
path, the only middleware is the body size limit, no dependency is overridden,
`app.state.lean_identify` is not False, and FastAPI's OpenTelemetry instrumentation is off
(no provider configured: with one, FastAPI must see every request to record it). Checked
once at the first request (the routes are then fixed), the overrides and the switch at
every request, the instrumentation at most once a second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, ClassVar, cast

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from allroads.api.errors import handle_error, handles_errors
from allroads.api.routes.identify import WRITER, IdentifyRoute, _lean_ready, run_identify
from allroads.api.schemas import IdentifyIn
from allroads.domain.types import Role
from allroads.resolution.hub import Hub

PATH = "/api/v1/identify"
_JSON = b"application/json"
# orjson reads an integer beyond 64 bits as a float; the standard json keeps it exact.
_LONG_DIGITS = re.compile(rb"\d{19}")
_HEADERS_JSON = b"application/json"


class FastIdentify:
    """Serves the common identify call for `app`, or hands the request to `fallback` (the
    app's usual stack)."""

    served: ClassVar[int] = 0  # requests this layer answered, in this process

    def __init__(self, app: FastAPI, route: Any, max_bytes: int) -> None:
        self.app = app
        self.hub: Hub = app.state.hub
        self.body_field = route.body_field
        self.response_field = route.response_field
        self.max_bytes = max_bytes

    @classmethod
    def build(cls, app: FastAPI) -> FastIdentify | None:
        """The layer for `app`, or None when the app is not as this layer expects."""
        from allroads.api.app import BodySizeLimit

        middleware = list(app.user_middleware)
        if len(middleware) != 1 or middleware[0].cls is not cast(Any, BodySizeLimit):
            return None
        limits: dict[str, Any] = dict(middleware[0].kwargs)
        max_bytes = limits.get("max_bytes")
        overrides = limits.get("overrides") or {}
        if not isinstance(max_bytes, int) or ("POST", PATH) in overrides:
            return None
        if not handles_errors(app):
            return None
        route = _identify_route(app)
        return cls(app, route, max_bytes) if route is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send,
                       fallback: Callable[[Scope, Receive, Send], Any]) -> None:
        auth = content_type = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if auth is None:
                    auth = value
            elif name == b"content-type":
                if content_type is None:
                    content_type = value
            elif name == b"content-length":
                if length is None:
                    length = value
            elif name == b"idempotency-key":
                await fallback(scope, receive, send)
                return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = 0
            if declared > self.max_bytes:  # the app's size limit answers
                await fallback(scope, receive, send)
                return
        # The body, as the size limit lets the app read it.
        messages: list[Message] = []
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            chunks.append(chunk)
            if seen > self.max_bytes or not message.get("more_body", False):
                break
        complete = messages[-1]["type"] == "http.request" and not messages[-1].get(
            "more_body", False) and seen <= self.max_bytes
        body = self._body(b"".join(chunks), content_type) if complete else None
        principal = self._principal(auth) if body is not None else None
        if body is None or principal is None:
            await fallback(scope, _replay(messages, receive), send)
            return
        IdentifyRoute.served_lean += 1
        FastIdentify.served += 1
        try:
            view = await run_identify(self.hub, principal, body,
                                      getattr(self.app.state, WRITER, None))
            value, errors = self.response_field.validate(view, {}, loc=("response",))
            if errors:  # as FastAPI's serialize_response: a ResponseValidationError (500)
                from fastapi.exceptions import ResponseValidationError

                raise ResponseValidationError(errors=errors, body=view)
            content = self.response_field.serialize_json(
                value, include=None, exclude=None, by_alias=True, exclude_unset=False,
                exclude_defaults=False, exclude_none=False)
        except Exception as exc:  # answered by the app's error handlers, as the route's
            await handle_error(Request(scope, _replay(messages, receive)), exc, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(content)).encode()),
                                (b"content-type", _HEADERS_JSON)]})
        await send({"type": "http.response.body", "body": content})

    def _body(self, raw: bytes, content_type: bytes | None) -> IdentifyIn | None:
        """The validated body when this is the common call, else None."""
        if not raw or content_type is None or content_type.split(b";", 1)[0].strip().lower() \
                != _JSON:
            return None
        try:
            data = json.loads(raw) if _LONG_DIGITS.search(raw) else orjson.loads(raw)
        except ValueError:
            try:  # what orjson refuses and json reads (NaN, a byte order mark, UTF-16)
                data = json.loads(raw)
            except ValueError:
                return None
        if not isinstance(data, dict):
            return None
        value, errors = self.body_field.validate(data, {}, loc=("body",))
        return value if not errors and isinstance(value, IdentifyIn) else None

    def _principal(self, header: bytes | None) -> Any:
        """The principal of a known key that may identify, as `deps.authenticate` finds it
        (None: let the app authenticate, and answer 401 or 403)."""
        if not header:
            return None
        scheme, _, token = header.decode("latin-1").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        principal = self.hub.known_principal(token)
        if principal is None or not principal.role.allows(Role.INGEST):
            return None
        return principal


def _identify_route(app: FastAPI) -> Any:
    """The route context serving POST /identify: the only one matching it, with the
    dependencies the lean handler knows."""
    import fastapi.routing

    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:
        return None
    scope = {"type": "http", "method": "POST", "path": PATH, "root_path": "",
             "headers": [], "query_string": b""}
    found = []
    for context in iter_contexts(app.router.routes):
        matches = getattr(context, "matches", None)
        if matches is None:
            return None
        match, _ = matches(dict(scope))
        if match != Match.NONE:
            found.append(context)
    if len(found) != 1:
        return None
    route = found[0]
    if not isinstance(getattr(route, "original_route", None), IdentifyRoute) \
            or not _lean_ready(route):
        return None
    return route


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """`receive`, giving the messages already read first."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
