"""Helpers for the API tests: an in-process client over the test Hub, with a key."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from allroads.api import create_app
from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from allroads.settings import Settings

API = "/api/v1"
PROBLEM = "application/problem+json"
# Uploads of every in-process app made here, removed when the test run ends.
UPLOADS = tempfile.TemporaryDirectory(prefix="allroads-test-uploads-")


@dataclass
class Api:
    """Calls /api/v1 routes with one API key: `api.post("/identify", json=...)`."""

    client: TestClient
    hub: Hub
    key: str
    tenant: str = "acme"

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                **kwargs: Any) -> httpx.Response:
        url = path if path.startswith(("/api/", "/docs", "/static", "/openapi", "/health",
                                       "/problems")) else API + path
        return self.client.request(method, url, headers=self.headers(headers), **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def with_role(self, role: Role, tenant: str | None = None) -> Api:
        """The same app with a new key of `role` (in `tenant`, default this one's)."""
        tenant = tenant or self.tenant
        key, _ = self.hub.create_api_key(tenant, role)
        return Api(self.client, self.hub, key, tenant)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """The JSON body of a call that must answer `status`."""
        res = self.request(method, path, **kwargs)
        assert res.status_code == status, (res.status_code, res.text)
        return res.json() if res.content else None

    def identify(self, type: str, source: str, source_id: str | None = None,
                 attributes: dict[str, Any] | None = None, **identifiers: Any
                 ) -> dict[str, Any]:
        body: dict[str, Any] = {"type": type, "source": source, "identifiers": identifiers,
                                "attributes": attributes or {}}
        if source_id is not None:
            body["source_id"] = source_id
        result: dict[str, Any] = self.ok("POST", "/identify", json=body)
        return result


def make_api(hub: Hub, *, role: Role = Role.ADMIN, tenant: str = "acme",
             settings: Settings | None = None, raise_server_exceptions: bool = True) -> Api:
    hub.ensure_tenant(tenant, default_region="US")
    key, _ = hub.create_api_key(tenant, role)
    settings = settings or Settings()
    if settings.import_dir == Settings().import_dir:  # uploads never land in the checkout
        settings = dataclasses.replace(settings, import_dir=tempfile.mkdtemp(
            dir=UPLOADS.name))
    app = create_app(settings, hub=hub)
    client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
    return Api(client, hub, key, tenant)


def assert_problem(res: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The problem+json body of an error response, checked for the RFC 9457 shape."""
    assert res.status_code == status, (res.status_code, res.text)
    assert res.headers["content-type"].startswith(PROBLEM), res.headers["content-type"]
    body: dict[str, Any] = res.json()
    assert {"type", "title", "status", "detail", "instance", "code"} <= body.keys(), body
    assert body["status"] == status
    assert body["type"].endswith(f"/problems/{body['code']}")
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body
