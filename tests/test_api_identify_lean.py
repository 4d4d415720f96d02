"""POST /identify's lean handler answers exactly as FastAPI's full handler does.

The same requests go to two apps over one database, one tenant each: the app as built
(the common case served by the lean handler) and one built with the lean handler off. Their
answers must be the same: status, media type and body (public ids, which are random, are
compared by the order they first appear in)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from allroads.api.fast import FastIdentify
from allroads.api.routes.identify import LEAN_SWITCH, IdentifyRoute
from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from api_helpers import Api, make_api

PUBLIC_ID = re.compile(r"\b(per|acc|mrg|rev|rej)_[0-9A-Za-z]+")

JANE = {"type": "person", "source": "crm", "source_id": "1",
        "identifiers": {"email": "Jane@Acme.com", "phone": "(415) 555-2671"},
        "attributes": {"name": "Jane Doe", "tags": ["vip"]}}


def requests() -> Iterator[tuple[str, dict[str, Any]]]:
    """(what, httpx request arguments) in order: later ones build on earlier ones."""
    yield "new person", {"json": JANE}
    yield "the same again (unchanged)", {"json": JANE}
    yield "an attribute changed", {"json": {**JANE, "attributes": {"name": "Jane D."}}}
    yield "another source, same email", {"json": {
        "type": "person", "source": "support", "source_id": "9",
        "identifiers": {"email": " jane@ACME.com "}}}
    yield "a second person", {"json": {"type": "person", "source": "product",
                                       "source_id": "p2", "identifiers": {
                                           "phone": "+1 212 555 0100"}}}
    yield "a bridge: merged", {"json": {
        "type": "person", "source": "product", "source_id": "p3",
        "identifiers": {"email": "jane@acme.com", "phone": "+12125550100"}}}
    yield "with an account", {"json": {
        "type": "person", "source": "widget", "source_id": "visitor-81",
        "identifiers": {"email": "sam@initech.com"},
        "account": {"source": "widget", "source_id": "org-9",
                    "identifiers": {"domain": "initech.com"},
                    "attributes": {"display_name": "Initech"}}}}
    yield "charset in the content type", {
        "content": b'{"type": "account", "source": "crm", "source_id": "110", '
                   b'"identifiers": {"domain": "acme.com"}}',
        "headers": {"Content-Type": "application/json; charset=utf-8"}}
    yield "import touchpoint: rejected", {"json": {
        "type": "person", "source": "crm", "source_id": "r1", "touchpoint": "import",
        "identifiers": {"email": "jane@acme.com", "phone": "+1 212 555 0100",
                        "external_id": "X-1"}}}
    yield "an invalid email (the engine's 422)", {"json": {
        "type": "person", "source": "crm", "identifiers": {"email": "jane-at-acme"}}}
    yield "an unknown field (validation)", {"json": {**JANE, "colour": "red"}}
    yield "an unknown touchpoint", {"json": {**JANE, "touchpoint": "fax"}}
    yield "no body", {"content": b"", "headers": {"Content-Type": "application/json"}}
    yield "not JSON", {"content": b"{nope", "headers": {"Content-Type": "application/json"}}
    yield "a JSON array", {"json": [JANE]}
    yield "no content type", {"content": b'{"type": "person", "source": "crm", '
                                         b'"identifiers": {"email": "a@b.com"}}',
                              "headers": {"Content-Type": ""}}
    yield "text/plain", {"content": b'{"type": "person", "source": "crm"}',
                         "headers": {"Content-Type": "text/plain"}}
    yield "unknown query parameter", {"json": JANE, "params": {"dry_run": "1"}}
    yield "no API key", {"json": JANE, "headers": {"Authorization": ""}}
    yield "a wrong API key", {"json": JANE, "headers": {"Authorization": "Bearer ar_x_y"}}
    yield "not a bearer", {"json": JANE, "headers": {"Authorization": "Basic abc"}}
    yield "viewer role (403)", {"json": JANE, "viewer": True}
    yield "viewer role, invalid body (403 first)", {"json": {"type": "robot"}, "viewer": True}
    yield "idempotency key", {"json": JANE, "headers": {"Idempotency-Key": "k-1"}}
    yield "idempotency key, replayed", {"json": JANE, "headers": {"Idempotency-Key": "k-1"}}


def send(api: Api, viewer: Api, args: dict[str, Any]) -> httpx.Response:
    args = dict(args)
    who = viewer if args.pop("viewer", False) else api
    headers = who.headers(args.pop("headers", None))
    headers = {k: v for k, v in headers.items() if v}
    return who.client.post("/api/v1/identify", headers=headers, **args)


def comparable(res: httpx.Response, ids: dict[str, str]) -> tuple[int, str, str]:
    def name(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(0), f"{match.group(1)}_#{len(ids)}")

    return (res.status_code, res.headers.get("content-type", ""),
            PUBLIC_ID.sub(name, res.text))


@pytest.fixture
def apps(hub: Hub) -> tuple[Api, Api]:
    lean = make_api(hub, role=Role.INGEST, tenant="lean")
    full = make_api(hub, role=Role.INGEST, tenant="full")
    setattr(full.client.app.state, LEAN_SWITCH, False)
    return lean, full


def test_lean_and_full_handlers_answer_the_same(apps: tuple[Api, Api]) -> None:
    lean, full = apps
    lean_viewer, full_viewer = lean.with_role(Role.VIEWER), full.with_role(Role.VIEWER)
    lean_ids: dict[str, str] = {}
    full_ids: dict[str, str] = {}
    before = IdentifyRoute.served_lean
    served, fast = [], []
    for what, args in requests():
        n, f = IdentifyRoute.served_lean, FastIdentify.served
        got = comparable(send(lean, lean_viewer, args), lean_ids)
        served.append(IdentifyRoute.served_lean - n)
        fast.append(FastIdentify.served - f)
        want = comparable(send(full, full_viewer, args), full_ids)
        assert got == want, what
    names = [what for what, _ in requests()]
    lean_served = {w for w, n in zip(names, served, strict=True) if n}
    fast_served = {w for w, n in zip(names, fast, strict=True) if n}
    # Once the key is known (after the first request), the layer in front of the app
    # (api/fast.py) serves the common case; the lean handler the first.
    assert fast_served == lean_served - {"new person"}
    # The common cases went the lean way, the others the full way (and answered the same).
    assert {"new person", "the same again (unchanged)", "an attribute changed",
            "with an account", "charset in the content type", "a bridge: merged",
            "import touchpoint: rejected", "an invalid email (the engine's 422)"} <= lean_served
    assert not lean_served & {"an unknown field (validation)", "not JSON", "a JSON array",
                              "no content type", "text/plain", "unknown query parameter",
                              "idempotency key", "idempotency key, replayed", "no body",
                              "viewer role, invalid body (403 first)"}
    assert IdentifyRoute.served_lean - before == sum(served)


def test_the_full_app_never_serves_lean(apps: tuple[Api, Api]) -> None:
    _, full = apps
    before, fast = IdentifyRoute.served_lean, FastIdentify.served
    for _ in range(2):
        assert full.client.post("/api/v1/identify", headers=full.headers(),
                                json=JANE).status_code == 200
    assert (IdentifyRoute.served_lean, FastIdentify.served) == (before, fast)


def test_the_route_documents_what_it_always_did(apps: tuple[Api, Api]) -> None:
    lean, _ = apps
    op = lean.client.get("/openapi.json").json()["paths"]["/api/v1/identify"]["post"]
    assert [p["name"] for p in op["parameters"]] == ["Idempotency-Key"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IdentifyIn"}
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IdentifyOut"}
    assert op["security"] == [{"ApiKey": []}]
    assert {"401", "403", "422", "503"} <= op["responses"].keys()


def test_with_fastapi_telemetry_on_every_identify_goes_through_fastapi(
        apps: tuple[Api, Api]) -> None:
    from opentelemetry.trace import NoOpTracerProvider

    lean, _ = apps
    app: Any = lean.client.app
    assert lean.client.post("/api/v1/identify", headers=lean.headers(),
                            json=JANE).status_code == 200
    fast = FastIdentify.served
    assert lean.client.post("/api/v1/identify", headers=lean.headers(),
                            json=JANE).status_code == 200
    assert FastIdentify.served == fast + 1  # the key is known: the fast layer
    # A tracer provider given to FastAPI turns its telemetry on: FastAPI must see every
    # request (the lean handler inside it still serves this one).
    app._telemetry["tracer_provider"] = NoOpTracerProvider()
    app._telemetry_checked = -1e9  # as if a second had passed
    lean_before, fast = IdentifyRoute.served_lean, FastIdentify.served
    res = lean.client.post("/api/v1/identify", headers=lean.headers(), json=JANE)
    assert res.status_code == 200 and res.json()["action"] == "matched"
    assert FastIdentify.served == fast
    assert IdentifyRoute.served_lean == lean_before + 1
