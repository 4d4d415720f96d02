"""The docs work offline: Swagger UI and its assets come from this server, and the OpenAPI
document declares the bearer scheme so the Authorize button works."""

from __future__ import annotations

import re

import pytest

from allroads.resolution.hub import Hub
from api_helpers import API, Api, make_api


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def test_swagger_ui_is_served_offline(api: Api) -> None:
    res = api.client.get("/docs")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    html = res.text
    assert not re.findall(r"https?://", html), "the docs page must not load anything remote"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    spec = re.findall(r"url: '([^']+)'", html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    assert spec == ["/docs/openapi-3.0.json"]
    for url in [*assets, *spec]:
        assert url.startswith("/"), url
        asset = api.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    js = next(a for a in assets if a.endswith(".js"))
    assert "SwaggerUIBundle" in api.client.get(js).text


def test_openapi_document(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    operations = [(path, method, op) for path, ops in spec["paths"].items()
                  for method, op in ops.items()]
    api_ops = [(p, m, op) for p, m, op in operations if p.startswith(API)]
    assert len(api_ops) > 30
    for path, method, op in api_ops:
        assert op.get("security") == [{"ApiKey": []}], (method, path)
        problem = op["responses"]["422"]["content"]
        assert list(problem) == ["application/problem+json"], (method, path)
        if method in ("post", "put", "patch"):
            headers = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
            assert "Idempotency-Key" in headers, (method, path)
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert "/docs" not in spec["paths"] and "/static/swagger" not in spec["paths"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    resolve = spec["paths"][f"{API}/resolve"]["get"]
    assert "email" in {p["name"] for p in resolve["parameters"]}


def test_the_docs_page_reads_a_3_0_rendition(api: Api) -> None:
    """The bundled Swagger UI (4.x) renders only OpenAPI 3.0 documents."""
    full = api.client.get("/openapi.json").json()
    spec = api.client.get("/docs/openapi-3.0.json").json()
    assert spec["openapi"] == "3.0.3"
    assert spec["paths"].keys() == full["paths"].keys()
    text = str(spec)
    assert "'type': 'null'" not in text and "'const'" not in text
    assert spec["components"]["securitySchemes"] == full["components"]["securitySchemes"]
    person = spec["components"]["schemas"]["PersonPublic"]["properties"]
    assert person["account"] == {"type": "string", "nullable": True, "title": "Account"}


def test_health(api: Api, hub: Hub) -> None:
    res = api.client.get("/healthz")
    assert res.status_code == 200
    assert res.json() == {"status": "ok", "database": hub.store.backend}
