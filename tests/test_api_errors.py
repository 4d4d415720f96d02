"""Every error is an RFC 9457 problem (application/problem+json) that says what went wrong,
where, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from allroads.domain.errors import StoreError
from allroads.resolution.hub import Hub
from allroads.settings import Settings
from api_helpers import API, Api, assert_problem, make_api


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def test_not_found_entity(api: Api) -> None:
    body = assert_problem(api.get("/people/per_nope"), 404, "not_found")
    assert body == {"type": "/problems/not_found", "title": "Not found", "status": 404,
                    "detail": "no person 'per_nope'", "instance": f"{API}/people/per_nope",
                    "code": "not_found", "hint": "check the id; ids are seen only with an API "
                    "key of the tenant that holds them"}


def test_unknown_route_and_wrong_method(api: Api) -> None:
    body = assert_problem(api.get("/peoples"), 404, "no_route")
    assert "/api/v1/peoples" in body["detail"] and "/docs" in body["hint"]
    res = api.delete("/identify")
    body = assert_problem(res, 405, "method_not_allowed")
    assert res.headers["allow"] == "POST"
    assert body["detail"] == f"DELETE is not allowed on {API}/identify"
    assert "POST" in body["hint"]


def test_validation_lists_every_problem(api: Api) -> None:
    res = api.post("/accounts", json={"tier": 5, "domains": "acme.com", "colour": "red"})
    body = assert_problem(res, 422, "validation_error")
    locations = [e["location"] for e in body["errors"]]
    assert set(locations) == {"body.display_name", "body.tier", "body.domains",
                              "body.colour"}
    assert body["detail"].startswith("4 problems in the request: ")
    for location in locations:
        assert location in body["detail"]
    assert all({"location", "message", "type"} <= e.keys() for e in body["errors"])
    assert body["field"] == locations[0]


def test_invalid_json(api: Api) -> None:
    res = api.post("/identify", content=b'{"type": "person",', headers={
        "Content-Type": "application/json"})
    body = assert_problem(res, 422, "validation_error")
    assert "not valid JSON" in body["detail"] and "JSON object" in body["hint"]


def test_body_without_json_content_type(api: Api) -> None:
    res = api.post("/identify", content=b'{"type": "person", "source": "crm"}',
                   headers={"Content-Type": "text/plain"})
    body = assert_problem(res, 422, "validation_error")
    assert "Content-Type: application/json" in body["hint"]


def test_missing_body(api: Api) -> None:
    body = assert_problem(api.post("/identify"), 422, "validation_error")
    assert body["detail"] == "body: a JSON body is required"


def test_conflict(api: Api) -> None:
    api.ok("POST", "/people", 201, json={"emails": ["jane@acme.com"]})
    body = assert_problem(api.post("/people", json={"emails": ["jane@acme.com"]}), 409,
                          "identifier_conflict")
    assert body["title"] == "Identifier conflict"
    assert body["field"] == "emails"  # the field sent, not the identifier kind


def test_permission_denied_says_which_role_is_needed(api: Api) -> None:
    from allroads.domain.types import Role

    body = assert_problem(api.with_role(Role.VIEWER).post("/people", json={}), 403,
                          "permission_denied")
    assert "viewer" in body["detail"] and "editor" in body["detail"]
    assert body["hint"]


def test_body_too_large_by_content_length(hub: Hub) -> None:
    api = make_api(hub, settings=Settings(max_body_bytes=1000))
    big = {"type": "person", "source": "crm", "source_id": "1",
           "attributes": {"note": "x" * 2000}}
    body = assert_problem(api.post("/identify", json=big), 413, "body_too_large")
    assert "1000 bytes" in body["detail"] and body["hint"]
    assert api.ok("GET", "/people")["data"] == []  # nothing was stored
    small = {**big, "attributes": {"note": "x"}}
    assert api.post("/identify", json=small).status_code == 200


def test_body_too_large_streamed(hub: Hub) -> None:
    """A chunked body has no Content-Length: the bytes are counted as they arrive."""
    api = make_api(hub, settings=Settings(max_body_bytes=1000))

    def chunks() -> Iterator[bytes]:
        yield b'{"type": "person", "source": "crm", "attributes": {"note": "'
        for _ in range(30):
            yield b"x" * 100
        yield b'"}}'

    res = api.post("/identify", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in res.request.headers}
    assert_problem(res, 413, "body_too_large")
    assert api.ok("GET", "/people")["data"] == []


def test_store_error_is_503(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        raise StoreError("the database is not reachable", hint="check ALLROADS_DATABASE_URL")

    monkeypatch.setattr(api.hub, "quality", down)
    res = api.get("/quality")
    body = assert_problem(res, 503, "store_error")
    assert body["hint"] == "check ALLROADS_DATABASE_URL" and res.headers["retry-after"]


def test_unexpected_errors_leak_nothing(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api(hub, raise_server_exceptions=False)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.hub, "quality", broken)
    body = assert_problem(api.get("/quality"), 500, "internal_error")
    assert "secret" not in body["detail"] and f"{API}/quality" in body["detail"]


def test_problem_types_are_documented(api: Api) -> None:
    body = assert_problem(api.get("/people/per_nope"), 404)
    page = api.client.get(body["type"])
    assert page.status_code == 200 and "Not found" in page.text
    assert_problem(api.client.get("/problems/nonsense"), 404, "not_found")


def test_unknown_query_parameters_are_named(api: Api) -> None:
    body = assert_problem(api.get("/people", params={"cursr": "c1"}), 422, "invalid_input")
    assert body["detail"] == "unknown query parameter 'cursr'"
    assert body["hint"] == "did you mean 'cursor'?" and body["field"] == "query.cursr"
    body = assert_problem(api.get("/quality", params={"x": "1"}), 422)
    assert body["hint"] == "this route takes: limit"
    assert api.get("/people", params={"limit": 2, "q": "x"}).status_code == 200
    # Without a key, the answer is still 401.
    assert_problem(api.client.get(f"{API}/people?cursr=1"), 401)
