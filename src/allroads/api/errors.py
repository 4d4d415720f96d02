"""RFC 9457 problem details: the one error shape of the API, and every error translated to it.

    {"type": "/problems/not_found", "title": "Not found", "status": 404,
     "detail": "no person 'per_x'", "instance": "/api/v1/people/per_x", "code": "not_found",
     "field": ..., "hint": ..., "errors": [...]}          (media type application/problem+json)

What becomes which status:

    AllroadsError (allroads.domain.errors)
    ├── InvalidInput                 422 invalid_input / invalid_identifier
    ├── NotFound                     404 not_found
    ├── Conflict                     409 conflict / identifier_conflict
    ├── PermissionDenied             403 permission_denied
    └── StoreError                   503 store_error
    ApiError (here: errors only the HTTP edge can have)
    ├── Unauthorized                 401 unauthorized, with WWW-Authenticate: Bearer
    └── (plain ApiError)             its own status and code (e.g. 422 idempotency_key_reused)
    RequestValidationError           422 validation_error, every problem listed in `errors`
    HTTPException (Starlette)        404 no_route, 405 method_not_allowed, 413 body_too_large
    anything else                    500 internal_error, no details leaked
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from types import UnionType
from typing import Any, Union, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from allroads.domain.errors import (
    AllroadsError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StoreError,
)

log = logging.getLogger("allroads.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"

# code -> (title, what it means and how to fix it). Served at /problems/{code} too.
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "invalid_input": ("Invalid input", "A value sent is not acceptable. `detail` says which "
                      "and `field` where; fix it and send the request again."),
    "invalid_identifier": ("Invalid identifier", "An identifier value does not normalize "
                           "(e.g. an email without @, a phone number too short)."),
    "validation_error": ("Request validation failed", "The request does not match the schema "
                         "of the route; `errors` lists every problem with its location. See "
                         "/docs for the schema."),
    "not_found": ("Not found", "No such entity, merge, source or key in the tenant of your "
                  "API key."),
    "no_route": ("No such route", "The URL names no route. See /docs for the routes."),
    "method_not_allowed": ("Method not allowed", "The route exists but not with this "
                           "method; the Allow header lists the methods it takes."),
    "conflict": ("Conflict", "The request contradicts what is stored (e.g. merging what was "
                 "kept apart, undoing a merge twice)."),
    "identifier_conflict": ("Identifier conflict", "A unique identifier sent already belongs "
                            "to another customer."),
    "permission_denied": ("Permission denied", "The role of your API key does not allow "
                          "this: viewer reads, ingest sends /identify, editor changes data, "
                          "admin manages sources, rules and keys."),
    "unauthorized": ("Unauthorized", "Send an API key: `Authorization: Bearer ar_...`. "
                     "Create one with `allroads apikey create`."),
    "body_too_large": ("Request body too large", "The body is larger than the server "
                       "accepts (ALLROADS_MAX_BODY_BYTES); send smaller batches."),
    "idempotency_key_invalid": ("Invalid Idempotency-Key", "An Idempotency-Key is 1 to 255 "
                                "characters."),
    "idempotency_key_reused": ("Idempotency-Key reused", "The Idempotency-Key was used "
                               "before with a different request; use a new key for a new "
                               "request."),
    "store_error": ("Database unavailable", "The database failed or is not migrated; retry "
                    "later or ask the operator to run `allroads db upgrade`."),
    "internal_error": ("Internal server error", "An unexpected error; it is logged on the "
                       "server."),
    "http_error": ("HTTP error", "The request failed."),
}

_DOMAIN_STATUS: tuple[tuple[type[AllroadsError], int], ...] = (
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (PermissionDenied, 403),
    (StoreError, 503),
)


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


class ApiError(Exception):
    """An error only the HTTP edge can have (bad header, reused idempotency key, ...)."""

    def __init__(self, status: int, code: str, detail: str, *, hint: str | None = None,
                 field: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.hint = hint
        self.field = field
        self.headers = dict(headers or {})


class Unauthorized(ApiError):
    def __init__(self, detail: str, *, hint: str, invalid_token: bool = False) -> None:
        challenge = 'Bearer realm="allroads"'
        if invalid_token:
            challenge += ', error="invalid_token"'
        super().__init__(401, "unauthorized", detail, hint=hint,
                         headers={"WWW-Authenticate": challenge})


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body is read; an HTTPException so FastAPI's body parsing re-raises it
    instead of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


def problem(request: Request, status: int, code: str, detail: str, *,
            hint: str | None = None, field: str | None = None,
            errors: Sequence[Mapping[str, Any]] | None = None,
            headers: Mapping[str, str] | None = None) -> ProblemResponse:
    title = PROBLEM_TYPES.get(code, PROBLEM_TYPES["http_error"])[0]
    body: dict[str, Any] = {"type": f"{_root(request)}/problems/{code}", "title": title,
                            "status": status, "detail": detail,
                            "instance": request.url.path, "code": code}
    if field is not None:
        body["field"] = field
    if hint is not None:
        body["hint"] = hint
    if errors is not None:
        body["errors"] = list(errors)
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


# Translation -----------------------------------------------------------------------------
def problem_for(request: Request, exc: Exception) -> Response | None:
    """The problem response for an error, or None for an unexpected one (a 500)."""
    if isinstance(exc, AllroadsError):
        return _domain(request, exc)
    if isinstance(exc, ApiError):
        return problem(request, exc.status, exc.code, exc.detail, hint=exc.hint,
                       field=exc.field, headers=exc.headers)
    if isinstance(exc, RequestValidationError):
        return _validation(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return _http(request, exc)
    return None


def _domain(request: Request, exc: AllroadsError) -> Response:
    status = next((s for cls, s in _DOMAIN_STATUS if isinstance(exc, cls)), 500)
    headers = {"Retry-After": "5"} if status == 503 else None
    if status == 500:
        log.error("unmapped AllroadsError %s on %s", type(exc).__name__, request.url.path)
    hint = exc.hint
    if hint is None and status == 404:
        hint = ("check the id; ids are seen only with an API key of the tenant that holds "
                "them")
    return problem(request, status, exc.code, exc.message, hint=hint, field=exc.field,
                   headers=headers)


def _http(request: Request, exc: StarletteHTTPException) -> Response:
    method, path = request.method, request.url.path
    headers = dict(exc.headers or {})
    if isinstance(exc, BodyTooLarge) or exc.status_code == 413:
        return problem(request, 413, "body_too_large", str(exc.detail),
                       hint="send a smaller body (split large batches into several requests)",
                       headers=headers)
    if exc.status_code == 404:
        return problem(request, 404, "no_route", f"there is no route {path}",
                       hint="see /docs for the routes; API routes start with /api/v1/",
                       headers=headers)
    if exc.status_code == 405:
        allowed = headers.get("Allow") or headers.get("allow") or ""
        return problem(request, 405, "method_not_allowed",
                       f"{method} is not allowed on {path}",
                       hint=f"use one of: {allowed}" if allowed else None, headers=headers)
    return problem(request, exc.status_code, "http_error", str(exc.detail), headers=headers)


def _validation(request: Request, exc: RequestValidationError) -> Response:
    errors = [_one_error(request, e) for e in exc.errors()]
    if len(errors) == 1:
        detail = f"{errors[0]['location']}: {errors[0]['message']}"
    else:
        detail = (f"{len(errors)} problems in the request: "
                  + "; ".join(f"{e['location']}: {e['message']}" for e in errors))
    hints = [e["hint"] for e in errors if e.get("hint")]
    return problem(request, 422, "validation_error", detail,
                   field=errors[0]["location"] if errors else None,
                   hint=hints[0] if hints else "see /docs for the schema of this route",
                   errors=errors)


def location(loc: Sequence[Any]) -> str:
    """('body', 'identifiers', 'email', 0) -> 'body.identifiers.email[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "request"


def _one_error(request: Request, err: Mapping[str, Any]) -> dict[str, Any]:
    loc = tuple(err.get("loc", ()))
    kind = str(err.get("type", "value_error"))
    message = str(err.get("msg", "invalid value"))
    hint: str | None = None
    name = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        message = f"unknown field {name!r}"
        known = _known_fields(request, loc[:-1])
        near = difflib.get_close_matches(name, known, n=1)
        if near:
            hint = f"did you mean {near[0]!r}?"
        elif known:
            hint = "the fields are: " + ", ".join(known)
    elif kind == "missing" and loc == ("body",):
        message = "a JSON body is required"
        hint = "send a JSON object with Content-Type: application/json"
    elif kind == "missing":
        where = "" if loc and loc[0] == "body" else f"the {loc[0]} parameter " if loc else ""
        message = f"{where}{name!r} is required"
    elif kind == "json_invalid":
        reason = (err.get("ctx") or {}).get("error", "")
        at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        message = f"the body is not valid JSON{at}" + (f" ({reason})" if reason else "")
        hint = "send a JSON object with Content-Type: application/json"
        loc = ("body",)
    elif loc == ("body",) and isinstance(err.get("input"), bytes | str):
        message = "the body must be a JSON object"
        hint = "send a JSON object with Content-Type: application/json"
    elif kind.startswith("value_error") and message.startswith("Value error, "):
        message = message[len("Value error, "):]
    elif kind.endswith(("_type", "_parsing")) and "input" in err:
        message += f", got {_json_kind(err['input'])}"
    out: dict[str, Any] = {"location": location(loc), "message": message, "type": kind}
    if hint:
        out["hint"] = hint
    return out


def _json_kind(value: Any) -> str:
    """A sent value described in JSON terms, briefly: "the string 'acme.com'"."""
    names = ((bool, "a boolean"), (int, "a number"), (float, "a number"), (str, "the string"),
             (list, "a list"), (dict, "an object"))
    if value is None:
        return "null"
    name = next((n for t, n in names if isinstance(value, t)), type(value).__name__)
    if isinstance(value, str):
        return f"{name} {value[:40]!r}" + ("..." if len(value) > 40 else "")
    return name


def _known_fields(request: Request, loc: Sequence[Any]) -> list[str]:
    """The field names of the body model at `loc` (('body', 'account')), for suggestions."""
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    if not loc or loc[0] != "body" or body_field is None:
        return []
    node: Any = getattr(getattr(body_field, "field_info", None), "annotation", None)
    for part in loc[1:]:
        node = _step(_unwrap(node), part)
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """The type inside `X | None` and `Annotated[X, ...]`."""
    while True:
        args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
        if getattr(annotation, "__metadata__", None) is not None:  # Annotated[X, ...]
            annotation = annotation.__origin__
        elif get_origin(annotation) in (Union, UnionType) and len(args) == 1:
            annotation = args[0]
        else:
            return annotation


def _step(node: Any, part: Any) -> Any:
    """The type one step down `loc`: a model's field, a dict's value, a list's item."""
    if isinstance(node, type) and issubclass(node, BaseModel):
        info = node.model_fields.get(str(part))
        return info.annotation if info is not None else None
    origin, args = get_origin(node), get_args(node)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


# Handlers --------------------------------------------------------------------------------
async def _handle(request: Request, exc: Exception) -> Response:
    response = problem_for(request, exc)
    if response is not None:
        return response
    log.exception("unexpected error on %s %s", request.method, request.url.path,
                  exc_info=exc)
    return problem(request, 500, "internal_error",
                   f"an unexpected error happened while serving {request.method} "
                   f"{request.url.path}",
                   hint="it is logged on the server; retry, and report it if it persists")


async def handle_error(request: Request, exc: Exception, send: Send) -> None:
    """Answer `exc` as the app's stack would, for a layer in front of it (api/fast.py):
    the problem response of the handler below, and for an unexpected error (a 500)
    re-raised after it is sent, as Starlette's ServerErrorMiddleware does (the server logs
    it)."""
    response = await _handle(request, exc)
    await response(request.scope, request.receive, send)
    if problem_for(request, exc) is None:
        raise exc


def handles_errors(app: FastAPI) -> bool:
    """True when `app`'s exception handlers are the ones `install_error_handlers` set (and
    FastAPI's own for websockets), nothing else."""
    handlers = app.exception_handlers
    return all(handlers.get(cls) is _handle for cls in _HANDLED) and all(
        cls in _HANDLED or cls is WebSocketRequestValidationError for cls in handlers)


_HANDLED: tuple[type[Exception], ...] = (AllroadsError, ApiError, RequestValidationError,
                                         StarletteHTTPException, Exception)


def install_error_handlers(app: FastAPI) -> None:
    for exc_class in _HANDLED:
        app.add_exception_handler(exc_class, _handle)
