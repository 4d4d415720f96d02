"""The app factory: `create_app(settings, hub=...)` builds the FastAPI app; nothing is built
at import time.

    app = create_app()                       # settings from the environment, its own store
    app = create_app(settings, hub=hub)      # tests: an existing Hub over a test database

Layers, outermost first: a body size limit (pure ASGI, before anything parses the body;
ALLROADS_MAX_BODY_BYTES, except the import upload, which streams to disk under
ALLROADS_IMPORT_MAX_BYTES), FastAPI's error handling (every error as problem+json,
errors.py), the routes: /api/v1/... (routes/), /healthz, /docs and /openapi.json.

The import pipeline (`app.state.imports`) and its background runner
(`app.state.import_runner`) are built here too; the lifespan starts the runner, which
resumes the imports a crashed server left, and stops it, leaving unfinished ones resumable.
Likewise batch matching (`app.state.match_runs`) and its runner (`app.state.match_runner`),
which executes the queued match runs one at a time and, stopped, ends the unfinished ones as
failed (interrupted).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allroads import __version__
from allroads.api.deps import known_query
from allroads.api.errors import (
    PROBLEM_MEDIA_TYPE,
    BodyTooLarge,
    install_error_handlers,
    problem_for,
)
from allroads.api.fast import PATH as FAST_PATH
from allroads.api.fast import FastIdentify
from allroads.api.routes import PROBLEMS, api_router, docs, health, matching
from allroads.api.routes.identify import LEAN_SWITCH, WRITER, identify_writer
from allroads.api.writer import ProcessIdentifyWriter
from allroads.batch.runner import MatchRunner
from allroads.batch.runs import MatchRuns
from allroads.ingest.runner import ImportRunner
from allroads.ingest.service import ImportConfig, Imports
from allroads.resolution.hub import Hub
from allroads.settings import Settings
from allroads.store import Store

API_PREFIX = "/api/v1"
TELEMETRY_RECHECK_SECONDS = 1.0
UPLOAD_PATH = API_PREFIX + "/imports"
FORM_OVERHEAD = 1_048_576  # room for the form fields and multipart framing beside the file

DESCRIPTION = """\
Allroads resolves customer records from all your systems to one customer ID.

Every `/api/v1` route takes an API key: `Authorization: Bearer ar_...` (use **Authorize**).
Errors are RFC 9457 problem details (`application/problem+json`). Lists are paged with
`?cursor=` (the `next_cursor` of the previous page). Send an `Idempotency-Key` header with
a write to make retrying it safe.
"""


def create_app(settings: Settings | None = None, *, hub: Hub | None = None,
               import_workers: int = 1, match_workers: int = 1) -> FastAPI:
    """`import_workers`: threads running import phases; `match_workers`: threads running
    match runs; 0 runs them inside the request (synchronous, for tests and scripts)."""
    settings = settings or Settings.from_env()
    own_store = None
    if hub is None:
        own_store = Store(settings.database_url, pool_size=settings.pool_size)
        hub = Hub(own_store)
    imports = Imports(hub.store, ImportConfig.from_settings(settings))
    runner = ImportRunner(imports, workers=import_workers)
    match_runs = MatchRuns(hub.store)
    match_runner = MatchRunner(match_runs, workers=match_workers)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if own_store is not None:
            own_store.check_migrated()  # fail at start, with how to fix it, not per request
        hub.store.start_checkpointer()
        runner.start()
        match_runner.start()
        writer = identify_writer(hub, process=bool(settings.writer_process))
        setattr(_app.state, WRITER, writer)
        if isinstance(writer, ProcessIdentifyWriter):  # its own copy of tenant settings
            hub.settings_listeners.append(writer.forget)
        try:
            yield
        finally:
            setattr(_app.state, WRITER, None)
            if isinstance(writer, ProcessIdentifyWriter):
                hub.settings_listeners.remove(writer.forget)
            if writer is not None:
                writer.shutdown(wait=True)
            match_runner.stop()
            runner.stop()
            hub.store.stop_checkpointer()
            if own_store is not None:
                own_store.close()

    app = AllroadsAPI(title="Allroads", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  lifespan=lifespan)
    app.state.hub = hub
    app.state.settings = settings
    app.state.imports = imports
    app.state.import_runner = runner
    app.state.match_runs = match_runs
    app.state.match_runner = match_runner
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       overrides={("POST", UPLOAD_PATH):
                                  settings.import_max_bytes + FORM_OVERHEAD})
    app.include_router(api_router(settings), prefix=API_PREFIX)
    app.include_router(matching.router(settings), prefix=API_PREFIX, responses=PROBLEMS,
                       dependencies=[Depends(known_query)])
    app.include_router(health.router())
    docs.install(app)
    return app


class AllroadsAPI(FastAPI):
    """FastAPI, with the common identify call served in front of its stack (api/fast.py)."""

    _fast_identify: FastIdentify | bool | None = False  # False: not yet built
    _telemetry_checked = -TELEMETRY_RECHECK_SECONDS
    _telemetry_on = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == FAST_PATH \
                and scope["method"] == "POST" and not scope["query_string"] \
                and not scope.get("root_path") and not self.root_path \
                and not self.dependency_overrides and getattr(self.state, LEAN_SWITCH, True) \
                and not self._telemetry_enabled():
            fast = self._fast_identify
            if fast is False:
                fast = self._fast_identify = FastIdentify.build(self)
            if isinstance(fast, FastIdentify):
                scope["app"] = self
                await fast(scope, receive, send, super().__call__)
                return
        await super().__call__(scope, receive, send)

    def _telemetry_enabled(self) -> bool:
        """FastAPI's own OpenTelemetry spans and metrics are on (a provider is configured):
        then every request goes through FastAPI, which records them. Asked at most once a
        second (the check costs a fair share of a fast identify; providers are set once, at
        start-up)."""
        now = time.monotonic()
        if now - self._telemetry_checked >= TELEMETRY_RECHECK_SECONDS:
            native = getattr(self, "_native_telemetry", None)
            self._telemetry_on = bool(native is not None and native.enabled())
            self._telemetry_checked = now
        return self._telemetry_on

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
    the streamed (chunked) bytes pass it. Pure ASGI: no per-request task or body copy.
    `overrides` gives some routes, by (method, path), a limit of their own (uploads)."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 overrides: Mapping[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = dict(overrides or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get((scope["method"], scope["path"].rstrip("/")),
                                   self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._reject(scope, receive, send, limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
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
            await self._reject(scope, receive, send, limit)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_for(Request(scope), BodyTooLarge(limit))
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
