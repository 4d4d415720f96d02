"""Idempotency-Key: a retried write returns the first response and changes nothing."""

from __future__ import annotations

import pytest
from fastapi.routing import iter_route_contexts

from allroads.api.idempotency import IdempotentRoute, idempotency
from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from api_helpers import API, Api, assert_problem, make_api

JANE = {"type": "person", "source": "crm", "source_id": "1",
        "identifiers": {"email": "jane@acme.com"}, "attributes": {"name": "Jane"}}


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def test_every_write_route_takes_an_idempotency_key(api: Api) -> None:
    writes = 0
    for route in iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        methods = set(route.methods or ()) & {"POST", "PUT", "PATCH"}
        if not methods or not (route.path or "").startswith(API):
            continue
        writes += 1
        assert isinstance(route.original_route, IdempotentRoute), route.path
        calls = {d.call for d in route.original_route.dependant.dependencies}
        if route.path == f"{API}/imports":  # streams its body: checks the key over its hash
            headers = {p.alias for p in route.original_route.dependant.header_params}
            assert "Idempotency-Key" in headers
            continue
        assert idempotency in calls, f"{methods} {route.path} has no Idempotency-Key"
    assert writes >= 15


def test_a_replay_returns_the_first_response(api: Api) -> None:
    first = api.post("/people", json={"first_name": "Jane"}, headers=key("k-1"))
    assert first.status_code == 201 and "Idempotency-Replayed" not in first.headers
    again = api.post("/people", json={"first_name": "Jane"}, headers=key("k-1"))
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert len(api.ok("GET", "/people")["data"]) == 1  # created once


def test_key_order_and_spacing_do_not_matter(api: Api) -> None:
    api.post("/identify", json=JANE, headers=key("k-2"))
    reordered = b'{"attributes": {"name": "Jane"}, "source_id": "1", "source": "crm",' \
                b'  "identifiers": {"email": "jane@acme.com"}, "type": "person"}'
    res = api.post("/identify", content=reordered, headers={
        **key("k-2"), "Content-Type": "application/json"})
    assert res.headers["Idempotency-Replayed"] == "true"
    assert res.json()["action"] == "created"  # the first answer, not "matched"


def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    api.ok("POST", "/identify", json=JANE, headers=key("k-3"))
    res = api.post("/identify", json={**JANE, "source_id": "2"}, headers=key("k-3"))
    body = assert_problem(res, 422, "idempotency_key_reused")
    assert "Idempotency-Key 'k-3' was used with a different request" in body["detail"]
    assert body["field"] == "header.Idempotency-Key" and "new Idempotency-Key" in body["hint"]
    assert api.get("/resolve", params={"type": "person", "source": "crm",
                                       "source_id": "2"}).status_code == 404


def test_the_same_key_on_another_route_is_refused(api: Api) -> None:
    api.ok("POST", "/people", 201, json={"first_name": "Jane"}, headers=key("k-4"))
    res = api.post("/accounts", json={"first_name": "Jane"}, headers=key("k-4"))
    body = assert_problem(res, 422, "idempotency_key_reused")
    assert f"POST {API}/people" in body["detail"]


def test_keys_are_per_tenant(api: Api) -> None:
    api.ok("POST", "/people", 201, json={"first_name": "Jane"}, headers=key("k-5"))
    other = api.with_role(Role.ADMIN, tenant="globex")
    res = other.post("/people", json={"first_name": "Jane"}, headers=key("k-5"))
    assert res.status_code == 201 and "Idempotency-Replayed" not in res.headers


@pytest.mark.parametrize("value", ["x" * 256, " "])
def test_invalid_keys(api: Api, value: str) -> None:
    body = assert_problem(api.post("/people", json={}, headers=key(value)), 422,
                          "idempotency_key_invalid")
    assert "1 to 255" in body["detail"]
    assert api.ok("GET", "/people")["data"] == []


def test_the_longest_key_is_fine(api: Api) -> None:
    assert api.post("/people", json={}, headers=key("x" * 255)).status_code == 201


def test_client_errors_are_replayed_too(api: Api) -> None:
    first = api.post("/people/per_nope/merge", json={"ids": ["per_x"]}, headers=key("k-6"))
    assert_problem(first, 404)
    again = api.post("/people/per_nope/merge", json={"ids": ["per_x"]}, headers=key("k-6"))
    assert_problem(again, 404)
    assert again.headers["Idempotency-Replayed"] == "true" and again.json() == first.json()
    invalid = api.post("/accounts", json={"tier": 1}, headers=key("k-7"))
    replay = api.post("/accounts", json={"tier": 1}, headers=key("k-7"))
    assert invalid.status_code == replay.status_code == 422
    assert replay.headers["Idempotency-Replayed"] == "true"


def test_server_errors_are_not_stored(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api(hub, raise_server_exceptions=False)
    real = hub.identify
    monkeypatch.setattr(hub, "identify", lambda *a, **k: (_ for _ in ()).throw(RuntimeError()))
    assert api.post("/identify", json=JANE, headers=key("k-8")).status_code == 500
    monkeypatch.setattr(hub, "identify", real)
    retry = api.post("/identify", json=JANE, headers=key("k-8"))
    assert retry.status_code == 200 and "Idempotency-Replayed" not in retry.headers


def test_a_weaker_key_of_the_tenant_cannot_replay(api: Api) -> None:
    api.ok("POST", "/people", 201, json={"first_name": "Jane"}, headers=key("k-9"))
    viewer = api.with_role(Role.VIEWER)
    assert_problem(viewer.post("/people", json={"first_name": "Jane"}, headers=key("k-9")),
                   403)


def test_put_patch_and_delete(api: Api) -> None:
    jane = api.ok("POST", "/people", 201, json={"first_name": "Jane"})
    first = api.patch(f"/people/{jane['id']}", json={"last_name": "Doe"}, headers=key("p-1"))
    api.ok("PATCH", f"/people/{jane['id']}", json={"last_name": "Roe"})
    again = api.patch(f"/people/{jane['id']}", json={"last_name": "Doe"}, headers=key("p-1"))
    assert again.headers["Idempotency-Replayed"] == "true" and again.json() == first.json()
    assert api.ok("GET", f"/people/{jane['id']}")["last_name"] == "Roe"  # not applied again


def test_a_new_api_key_is_never_replayed(api: Api) -> None:
    first = api.post("/api-keys", json={"role": "ingest", "name": "etl"}, headers=key("a-1"))
    assert first.status_code == 201 and first.json()["key"].startswith("ar_")
    again = api.post("/api-keys", json={"role": "ingest", "name": "etl"}, headers=key("a-1"))
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json()["key"] is None and again.json()["id"] == first.json()["id"]
    assert first.json()["key"] not in again.text
    assert [k["name"] for k in api.ok("GET", "/api-keys")["data"]].count("etl") == 1
