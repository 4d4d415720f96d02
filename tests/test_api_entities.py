"""/api/v1/people and /api/v1/accounts: create, read, update, delete, list and page."""

from __future__ import annotations

from typing import Any

import pytest

from allroads.resolution.hub import Hub
from allroads.settings import Settings
from api_helpers import Api, assert_problem, make_api

# Per collection: a body to create with (every field, each shown back as sent), a change,
# the field the change shows in, and an identifier list with a value to replace it by.
RESOURCES: dict[str, dict[str, Any]] = {
    "people": {"create": {"first_name": "Jane", "emails": ["jane@acme.com"],
                          "birthdate": "1990-04-01", "gender": "female", "area": "Bay Area",
                          "external_id": "C-1", "custom_attributes": {"plan": "pro"}},
               "update": {"last_name": "Doe"}, "field": "last_name", "new": "Doe",
               "prefix": "per_", "identifiers": ("emails", "jane@new.io")},
    "accounts": {"create": {"display_name": "ACME", "description": "Anvils, delivered",
                            "owner": "Wile E.", "domains": ["acme.com"],
                            "phones": ["+14155552671"], "external_id": "A-1", "tags": ["b2b"],
                            "custom_attributes": {"plan": "pro"}},
                 "update": {"tier": "gold"}, "field": "tier", "new": "gold",
                 "prefix": "acc_", "identifiers": ("domains", "acme.io")},
}


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


@pytest.mark.parametrize("collection", RESOURCES)
def test_create_get_update_delete(api: Api, collection: str) -> None:
    case = RESOURCES[collection]
    res = api.post(f"/{collection}", json=case["create"])
    assert res.status_code == 201, res.text
    created = res.json()
    assert created["id"].startswith(case["prefix"])
    assert res.headers["location"] == f"/api/v1/{collection}/{created['id']}"
    assert {name: created[name] for name in case["create"]} == case["create"]
    assert api.ok("GET", res.headers["location"]) == created

    updated = api.ok("PATCH", f"/{collection}/{created['id']}", json=case["update"])
    assert updated[case["field"]] == case["new"]
    for name in case["create"]:  # fields not sent are kept
        assert updated[name] == created[name], name

    assert api.delete(f"/{collection}/{created['id']}").status_code == 204
    assert_problem(api.get(f"/{collection}/{created['id']}"), 404, "not_found")
    assert_problem(api.delete(f"/{collection}/{created['id']}"), 404, "not_found")


@pytest.mark.parametrize("collection", RESOURCES)
def test_changelog_after_a_patch(api: Api, collection: str) -> None:
    case = RESOURCES[collection]
    entity = api.ok("POST", f"/{collection}", 201, json=case["create"])
    api.ok("PATCH", f"/{collection}/{entity['id']}", json=case["update"])
    changes = api.ok("GET", f"/{collection}/{entity['id']}/changelog")
    assert changes["next_cursor"] is None
    change = [c for c in changes["data"] if c["field"] == case["field"]][-1]
    assert change["old"] is None and change["new"] == case["new"]
    assert change["entity"] == entity["id"] and change["touchpoint"] == "api"
    prefix = api.key.split("_")[1]
    assert change["initiator"] == f"key:{prefix}"  # which API key made the change


def test_null_clears_a_field_and_custom_attribute(api: Api) -> None:
    person = api.ok("POST", "/people", 201, json={
        "first_name": "Jane", "timezone": "Europe/Paris", "phones": ["+14155552671"],
        "custom_attributes": {"plan": "pro", "seats": 3}})
    changed = api.ok("PATCH", f"/people/{person['id']}", json={
        "timezone": None, "phones": [], "custom_attributes": {"plan": None}})
    assert changed["timezone"] is None and changed["phones"] == []
    assert changed["custom_attributes"] == {"seats": 3}
    assert changed["first_name"] == "Jane"


def test_people_belong_to_accounts(api: Api) -> None:
    acme = api.ok("POST", "/accounts", 201, json={"display_name": "ACME"})
    jane = api.ok("POST", "/people", 201, json={"first_name": "Jane", "account": acme["id"]})
    bob = api.ok("POST", "/people", 201, json={"first_name": "Bob"})
    assert jane["account"] == acme["id"] and bob["account"] is None
    members = api.ok("GET", "/people", params={"account": acme["id"]})["data"]
    assert [p["id"] for p in members] == [jane["id"]]
    orphans = api.ok("GET", "/people", params={"orphans": "true"})["data"]
    assert [p["id"] for p in orphans] == [bob["id"]]
    moved = api.ok("PATCH", f"/people/{bob['id']}", json={"account": acme["id"]})
    assert moved["account"] == acme["id"]
    detached = api.ok("PATCH", f"/people/{jane['id']}", json={"account": None})
    assert detached["account"] is None
    assert_problem(api.post("/people", json={"first_name": "X", "account": "acc_nope"}), 404)
    assert_problem(api.post("/people", json={"first_name": "X", "account": "per_1"}), 422)


@pytest.mark.parametrize("collection", RESOURCES)
def test_pagination_walks_every_item_once(api: Api, collection: str) -> None:
    for i in range(7):
        body = ({"name": f"Person {i}", "emails": [f"p{i}@acme.com"]} if collection == "people"
                else {"display_name": f"Company {i}", "domains": [f"c{i}.com"]})
        api.ok("POST", f"/{collection}", 201, json=body)
    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = api.ok("GET", f"/{collection}", params=params)
        seen += [item["id"] for item in page["data"]]
        sizes.append(len(page["data"]))
        assert all("provenance" not in item or item["provenance"] is None
                   for item in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert len(seen) == len(set(seen)) == 7


def test_search(api: Api) -> None:
    for i in range(4):
        api.ok("POST", "/people", 201, json={"name": f"Person {i}", "emails": [f"p{i}@acme.com"]})
    found = api.ok("GET", "/people", params={"q": "p3@acme"})["data"]
    assert [p["display_name"] for p in found] == ["Person 3"]


def test_account_search_by_name_and_domain(api: Api) -> None:
    for name, domain in (("Stark Industries", "starkmail.io"), ("Hooli", "hooli.xyz"),
                         ("Initech", "initech.com")):
        api.ok("POST", "/accounts", 201, json={"display_name": name, "domains": [domain]})
    for q, want in (("industries", ["Stark Industries"]), ("STARKMAIL.io", ["Stark Industries"]),
                    ("hooli", ["Hooli"]), ("globex", [])):
        found = api.ok("GET", "/accounts", params={"q": q})["data"]
        assert [a["display_name"] for a in found] == want, q


def test_default_and_largest_page_size(hub: Hub) -> None:
    api = make_api(hub, settings=Settings(page_limit_max=5))
    for i in range(6):
        api.ok("POST", "/accounts", 201, json={"display_name": f"Company {i}"})
    assert len(api.ok("GET", "/accounts")["data"]) == 5  # the default, capped by the setting
    assert len(api.ok("GET", "/accounts", params={"limit": 5})["data"]) == 5
    for limit in (0, 6):
        body = assert_problem(api.get("/accounts", params={"limit": limit}), 422)
        assert body["errors"][0]["location"] == "query.limit"


def test_bad_cursor(api: Api) -> None:
    body = assert_problem(api.get("/people", params={"cursor": "nope"}), 422, "invalid_input")
    assert body["field"] == "cursor" and "next_cursor" in body["hint"]


def test_unique_identifier_conflict(api: Api) -> None:
    api.ok("POST", "/people", 201, json={"first_name": "Jane", "emails": ["jane@acme.com"]})
    body = assert_problem(api.post("/people", json={"first_name": "Other",
                                                    "emails": ["JANE@acme.com"]}), 409)
    assert body["code"] == "identifier_conflict"
    assert "Email is already present" in body["detail"]


@pytest.mark.parametrize(("collection", "body", "location", "words"), [
    ("accounts", {"domains": ["acme.com"]}, "body.display_name", "'display_name' is required"),
    ("accounts", {"display_name": "A", "tierr": "gold"}, "body.tierr", "did you mean 'tier'"),
    ("accounts", {"display_name": "A", "domains": "acme.com"}, "body.domains", "list"),
    ("people", {"birthdate": "1990-13-45"}, "body.birthdate", "date"),
    ("people", {"timezone": "Mars/Olympus"}, "body.timezone", "unknown time zone"),
    ("people", {"email": "jane@acme.com"}, "body.email", "did you mean 'emails'"),
])
def test_invalid_fields_are_named(api: Api, collection: str, body: dict, location: str,
                                  words: str) -> None:
    problem = assert_problem(api.post(f"/{collection}", json=body), 422, "validation_error")
    where = {e["location"]: e for e in problem["errors"]}
    assert location in where, problem
    assert words in where[location]["message"] + " " + where[location].get("hint", "")


def test_patch_takes_the_same_checks(api: Api) -> None:
    acme = api.ok("POST", "/accounts", 201, json={"display_name": "ACME"})
    problem = assert_problem(api.patch(f"/accounts/{acme['id']}", json={"display_name": ""}),
                             422)
    assert problem["errors"][0]["location"] == "body.display_name"
    assert api.ok("PATCH", f"/accounts/{acme['id']}", json={})["display_name"] == "ACME"


@pytest.mark.parametrize("collection", RESOURCES)
def test_identifier_history(api: Api, collection: str) -> None:
    case = RESOURCES[collection]
    field, new = case["identifiers"]
    entity = api.ok("POST", f"/{collection}", 201, json=case["create"])
    old = entity[field][0]
    api.ok("PATCH", f"/{collection}/{entity['id']}", json={field: [new]})
    history = api.ok("GET", f"/{collection}/{entity['id']}/identifiers/history")["data"]
    by_value = {h["value"]: h for h in history}
    assert by_value[old]["active"] is False
    assert by_value[old]["removed_at"] is not None
    assert by_value[new]["active"] is True
