"""The app factory: `create_app(settings, hub=...)` builds the FastAPI app; nothing is built
at import time.

    app = create_app()                       # settings from the environment, its own store
    app = create_app(settings, hub=hub)      # tests: an existing Hub over a test database

Layers, outermost first: a body size limit (pure ASGI, before anything parses the body),
FastAPI's error handling (every error as problem+json, errors.py), the routes: /api/v1/...
(routes/), /healthz, /docs and /openapi.json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allroads import __version__
from allroads.api.errors import (
    PROBLEM_MEDIA_TYPE,
    BodyTooLarge,
    install_error_handlers,
    problem_for,
)
from allroads.api.routes import api_router, docs, health
from allroads.resolution.hub import Hub
from allroads.settings import Settings
from allroads.store import Store

API_PREFIX = "/api/v1"

DESCRIPTION = """\
Allroads resolves customer records from all your systems to one customer ID.

Every `/api/v1` route takes an API key: `Authorization: Bearer ar_...` (use **Authorize**).
Errors are RFC 9457 problem details (`application/problem+json`). Lists are paged with
`?cursor=` (the `next_cursor` of the previous page). Send an `Idempotency-Key` header with
a write to make retrying it safe.
"""


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    own_store = None
    if hub is None:
        own_store = Store(settings.database_url, pool_size=settings.pool_size)
        hub = Hub(own_store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if own_store is not None:
            own_store.check_migrated()  # fail at start, with how to fix it, not per request
        yield
        if own_store is not None:
            own_store.close()

    app = AllroadsAPI(title="Allroads", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  lifespan=lifespan)
    app.state.hub = hub
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(api_router(settings), prefix=API_PREFIX)
    app.include_router(health.router())
    docs.install(app)
    return app


class AllroadsAPI(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, with error responses under their real media type."""
        if self.openapi_schema is None:
            schema = super().openapi()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status >= "400" and "application/json" in content:
                            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
            self.openapi_schema = schema
        return self.openapi_schema


class BodySizeLimit:
    """413 for a body over `max_bytes`: at once when Content-Length says so, else as soon as
    the streamed (chunked) bytes pass it. Pure ASGI: no per-request task or body copy."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_for(Request(scope), BodyTooLarge(self.max_bytes))
        assert response is not None
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
