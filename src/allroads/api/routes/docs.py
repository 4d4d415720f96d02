"""The docs, served offline: Swagger UI from the installed swagger_ui_bundle package, and a
page for each problem type that error responses link to.

    GET /docs                     Swagger UI (its assets under /static/swagger/)
    GET /docs/openapi-3.0.json    the OpenAPI document as 3.0, for that Swagger UI
    GET /problems/{code}          what an error code means and how to fix it

The bundled Swagger UI (4.15) renders only OpenAPI 3.0 documents and refuses FastAPI's 3.1
one, so the docs page reads a 3.0 rendition of /openapi.json (`openapi_30`). /openapi.json
itself stays 3.1, the contract for clients and code generators.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from allroads.api.errors import PROBLEM_TYPES
from allroads.domain.errors import NotFound

STATIC = "/static/swagger"
OPENAPI_30 = "/docs/openapi-3.0.json"


def install(app: FastAPI) -> None:
    app.mount(STATIC, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    r = APIRouter(include_in_schema=False)
    r.add_api_route("/docs", docs, methods=["GET"])
    r.add_api_route(OPENAPI_30, openapi_30_document, methods=["GET"])
    r.add_api_route("/problems/{code}", problem_page, methods=["GET"])
    app.include_router(r)


def docs(request: Request) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return get_swagger_ui_html(
        openapi_url=root + OPENAPI_30, title=f"{request.app.title} API",
        swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC}/favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None,
                               "displayRequestDuration": True})


def openapi_30_document(request: Request) -> JSONResponse:
    return JSONResponse(openapi_30(request.app.openapi()))


def problem_page(code: str) -> HTMLResponse:
    if code not in PROBLEM_TYPES:
        raise NotFound(f"no problem type {code!r}",
                       hint="the codes are: " + ", ".join(sorted(PROBLEM_TYPES)))
    title, text = (html.escape(t) for t in PROBLEM_TYPES[code])
    return HTMLResponse(f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
                        f"<h1>{title}</h1><p><code>{html.escape(code)}</code></p>"
                        f"<p>{text}</p><p><a href=\"../docs\">API docs</a></p></body></html>")


# OpenAPI 3.1 -> 3.0 ---------------------------------------------------------------------
def openapi_30(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with the 3.1-only JSON Schema forms FastAPI emits rewritten as 3.0."""
    out: dict[str, Any] = _downgrade(spec)
    out["openapi"] = "3.0.3"
    out.pop("webhooks", None)
    out.pop("jsonSchemaDialect", None)
    return out


# Keys whose value maps names to schemas (or to other objects): the names are not keywords.
_MAPPINGS = frozenset({"properties", "schemas", "paths", "responses", "securitySchemes",
                       "content", "patternProperties", "$defs", "headers", "mapping"})


def _downgrade(node: Any, *, mapping: bool = False) -> Any:
    if isinstance(node, list):
        return [_downgrade(v) for v in node]
    if not isinstance(node, dict):
        return node
    if mapping:
        return {k: _downgrade(v) for k, v in node.items()}
    out = {k: _downgrade(v, mapping=k in _MAPPINGS) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            out.pop(key)
            out["nullable"] = True
            if len(rest) == 1 and "$ref" in rest[0]:
                out["allOf"] = rest  # 3.0 allows no siblings beside $ref
            elif len(rest) == 1:
                out.update({k: v for k, v in rest[0].items() if k not in out})
            else:
                out[key] = rest
    kinds = out.get("type")
    if isinstance(kinds, list):
        others = [k for k in kinds if k != "null"]
        out["type"] = others[0] if len(others) == 1 else others
        if "null" in kinds:
            out["nullable"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if isinstance(out.get("examples"), list):
        examples = out.pop("examples")
        if examples:
            out["example"] = examples[0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[plain] = out[bound]
            out[bound] = True
    return out
