"""API keys, roles and tenant isolation, checked over every /api/v1 route of the app (read
from app.routes, so a new route cannot escape these tests)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from api_helpers import API, Api, assert_problem, make_api


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def api_routes(api: Api) -> list[tuple[str, str]]:
    """(method, path) of every /api/v1 route."""
    out = []
    for route in iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        path = route.path or ""
        if path.startswith(API + "/"):
            out += [(m, path) for m in sorted(route.methods or ()) if m != "HEAD"]
    assert len(out) > 30
    return out


def fill(path: str, **values: str) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


# Authentication --------------------------------------------------------------------------
def test_every_api_route_needs_a_key(api: Api) -> None:
    for method, path in api_routes(api):
        url = fill(path, id="x", merge_id="x", name="crm", type="person")
        res = api.client.request(method, url, json={})
        body = assert_problem(res, 401, "unauthorized")
        assert res.headers["WWW-Authenticate"].startswith("Bearer"), (method, path)
        assert "Authorization: Bearer" in body["detail"]


@pytest.mark.parametrize(("header", "words"), [
    ("Bearer ar_00000000_notakey", "ar_00000000_... is unknown or revoked"),
    ("Bearer something", "unknown or revoked"),
    ("Basic dXNlcjpwYXNz", "must be `Bearer <key>`"),
    ("Bearer", "must be `Bearer <key>`"),
])
def test_bad_keys(api: Api, header: str, words: str) -> None:
    res = api.client.get(f"{API}/people", headers={"Authorization": header})
    body = assert_problem(res, 401, "unauthorized")
    assert words in body["detail"]
    assert 'error="invalid_token"' in res.headers["WWW-Authenticate"]
    assert "notakey" not in res.text  # the secret part is never echoed


def test_a_revoked_key_stops_working(api: Api) -> None:
    ingest = api.with_role(Role.INGEST)
    assert ingest.get("/people").status_code == 200
    key_id = next(k["id"] for k in api.ok("GET", "/api-keys")["data"]
                  if ingest.key.startswith(f"ar_{k['prefix']}_"))
    assert api.delete(f"/api-keys/{key_id}").status_code == 204
    assert_problem(ingest.get("/people"), 401, "unauthorized")


def test_health_and_docs_need_no_key(api: Api) -> None:
    for path in ("/healthz", "/docs", "/openapi.json"):
        assert api.client.get(path).status_code == 200, path


# Roles -----------------------------------------------------------------------------------
def needed_role(method: str, path: str) -> Role:
    if path.startswith(f"{API}/api-keys"):
        return Role.ADMIN
    if method == "GET":
        return Role.VIEWER
    if path == f"{API}/identify":
        return Role.INGEST
    if path.startswith(f"{API}/imports") and not path.endswith("/undo"):
        return Role.INGEST  # upload, commit, replay
    if path.startswith((f"{API}/sources", f"{API}/rules")):
        return Role.ADMIN
    return Role.EDITOR


ALLOWED = {
    # viewer: GET; ingest: POST /identify and GET; editor: changes data; admin: everything.
    Role.VIEWER: {Role.VIEWER},
    Role.INGEST: {Role.VIEWER, Role.INGEST},
    Role.EDITOR: {Role.VIEWER, Role.INGEST, Role.EDITOR},
    Role.ADMIN: set(Role),
}


@pytest.mark.parametrize("role", list(Role))
def test_roles_over_every_route(api: Api, role: Role) -> None:
    caller = api.with_role(role)
    for method, path in api_routes(api):
        # Ids that exist nowhere: an allowed call ends in 404 or 422, never in a change.
        url = fill(path, id="999999" if "/api-keys/" in path else "per_nope",
                   merge_id="mrg_nope", name="crm", type="person")
        res = caller.request(method, url, json={})
        allowed = needed_role(method, path) in ALLOWED[role]
        if allowed:
            assert res.status_code != 403, (role, method, path, res.text)
        else:
            body = assert_problem(res, 403, "permission_denied")
            assert role.value in body["detail"], body


# Tenant isolation ------------------------------------------------------------------------
# Every route that takes an id, with a body that would be valid for it. "{other}" is a second
# entity of the same kind in tenant A.
ID_ROUTES: dict[tuple[str, str], dict[str, Any] | None] = {}
for _collection, _change in (("people", {"first_name": "X"}),
                             ("accounts", {"description": "X"})):
    _base = f"{API}/{_collection}/{{id}}"
    ID_ROUTES.update({
        ("GET", _base): None,
        ("PATCH", _base): _change,
        ("DELETE", _base): None,
        ("GET", f"{_base}/crosswalk"): None,
        ("PUT", f"{_base}/crosswalk"): {"ids": {"billing": "b-1"}},
        ("POST", f"{_base}/merge"): {"ids": ["{other}"]},
        ("POST", f"{_base}/keep-apart"): {"ids": ["{other}"]},
        ("GET", f"{_base}/changelog"): None,
        ("GET", f"{_base}/identifiers/history"): None,
        ("GET", f"{_base}/explain"): None,
    })
ID_ROUTES.update({
    ("POST", f"{API}/merges/{{merge_id}}/undo"): {},
    ("GET", f"{API}/sources/{{name}}"): None,
    ("GET", f"{API}/api-keys/{{id}}"): None,
    ("DELETE", f"{API}/api-keys/{{id}}"): None,
})
# Path parameters that name no stored row: these act on the caller's own tenant.
NOT_LOOKUPS = {("PUT", f"{API}/sources/{{name}}"), ("GET", f"{API}/rules/{{type}}"),
               ("PUT", f"{API}/rules/{{type}}"),
               ("GET", f"{API}/import-profiles/{{name}}"),  # profiles are the same for all
               ("GET", f"{API}/import-profiles/{{name}}/sample.csv"),
               ("PUT", f"{API}/import-templates/{{profile}}/{{name}}"),
               # Thresholds of the caller's tenant, per entity type.
               ("GET", f"{API}/match-settings/{{type}}"), ("PUT", f"{API}/match-settings/{{type}}")}
# Imports and templates: tenant isolation is checked route by route in test_api_imports.py.
IMPORT_ROUTES = {(m, f"{API}/imports/{{id}}{tail}") for m, tail in (
    ("GET", ""), ("GET", "/rows"), ("GET", "/errors.csv"), ("POST", "/commit"),
    ("POST", "/replay"), ("POST", "/undo"))} | {
    (m, f"{API}/import-templates/{{profile}}/{{name}}") for m in ("GET", "DELETE")}
# Match runs and the review queue: checked route by route in test_api_matching.py.
MATCH_ROUTES = {("GET", f"{API}/match-runs/{{id}}"), ("GET", f"{API}/match-candidates/{{id}}"),
                ("POST", f"{API}/match-candidates/{{id}}/accept"),
                ("POST", f"{API}/match-candidates/{{id}}/reject")}


def test_every_id_route_is_listed(api: Api) -> None:
    with_params = {(m, p) for m, p in api_routes(api) if "{" in p}
    unlisted = with_params - ID_ROUTES.keys() - NOT_LOOKUPS - IMPORT_ROUTES - MATCH_ROUTES
    assert not unlisted, f"add these routes to ID_ROUTES (or NOT_LOOKUPS): {unlisted}"
    assert not ID_ROUTES.keys() - with_params, "ID_ROUTES names routes that do not exist"


def test_another_tenant_sees_nothing(api: Api) -> None:
    # Tenant A (acme): people, accounts, a merge, a source, its API key.
    people = [api.identify("person", "crm", str(i), email=f"p{i}@acme.com")["id"]
              for i in range(4)]
    accounts = [api.identify("account", "crm", f"a{i}", {"display_name": f"A{i}"})["id"]
                for i in range(2)]
    merge = api.ok("POST", f"/people/{people[2]}/merge", json={"ids": [people[3]]})
    api.ok("PUT", "/sources/legacy", json={"priority": 10})
    key_id = api.ok("GET", "/api-keys")["data"][0]["id"]
    ids = {"people": (people[0], people[1]), "accounts": (accounts[0], accounts[1]),
           "api-keys": (str(key_id), "")}

    # Tenant B (globex), with an admin key: only the tenant can stop it.
    globex = api.with_role(Role.ADMIN, tenant="globex")
    assert globex.ok("GET", "/people")["data"] == []
    for (method, path), body in ID_ROUTES.items():
        collection = path[len(API) + 1:].split("/")[0]
        mine, other = ids.get(collection, ("", ""))
        url = fill(path, id=mine, merge_id=merge["merge_id"], name="legacy")
        if body is not None:
            body = {k: [other] if v == ["{other}"] else v for k, v in body.items()}
        res = globex.request(method, url, json=body)
        problem = assert_problem(res, 404, "not_found")
        assert "globex" not in problem["detail"] and "acme" not in problem["detail"]
    # Ids in a body and in a query are looked up in the key's tenant too.
    own = globex.identify("person", "crm", "1", email="p0@acme.com")
    assert own["action"] == "created" and own["id"] not in people
    assert_problem(globex.post(f"/people/{own['id']}/merge", json={"ids": [people[0]]}), 404)
    assert_problem(globex.post("/people", json={"first_name": "X", "account": accounts[0]}),
                   404, "not_found")
    assert_problem(globex.patch(f"/people/{own['id']}", json={"account": accounts[0]}), 404,
                   "not_found")
    assert [p["account"] for p in globex.ok("GET", "/people")["data"]] == [None]
    assert_problem(globex.get("/people", params={"account": accounts[0]}), 404)
    assert_problem(globex.get("/resolve", params={"type": "person", "source": "crm",
                                                  "source_id": "2"}), 404)

    # Tenant A's data is untouched.
    assert api.ok("GET", f"/people/{people[0]}")["emails"] == ["p0@acme.com"]
    assert api.ok("GET", f"/accounts/{accounts[0]}")["description"] is None
    assert api.ok("GET", "/people", params={"account": accounts[0]})["data"] == []
    assert api.ok("GET", f"/people/{people[3]}")["id"] == people[2]  # still merged
    assert api.ok("GET", "/sources/legacy")["priority"] == 10
    assert api.ok("GET", "/api-keys")["data"][0]["revoked_at"] is None
