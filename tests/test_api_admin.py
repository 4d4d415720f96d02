"""The tenant's configuration over the API: sources, match rules, API keys; and /quality."""

from __future__ import annotations

import pytest

from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from api_helpers import API, Api, assert_problem, make_api


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def test_sources(api: Api) -> None:
    names = [s["name"] for s in api.ok("GET", "/sources")["data"]]
    assert {"crm", "product", "support"} <= set(names)
    created = api.ok("PUT", "/sources/Legacy", json={"priority": 10, "description": "old"})
    assert created == {"name": "legacy", "priority": 10, "description": "old"}
    changed = api.ok("PUT", "/sources/legacy", json={"priority": 20})
    assert changed["description"] == "old"  # not sent: kept
    assert api.ok("GET", "/sources/LEGACY") == changed
    assert_problem(api.get("/sources/nope"), 404, "not_found")
    body = assert_problem(api.put("/sources/legacy", json={"priority": 2000}), 422)
    assert body["errors"][0]["location"] == "body.priority"
    assert_problem(api.put("/sources/bad name!", json={"priority": 1}), 422, "invalid_input")
    viewer = api.with_role(Role.VIEWER)
    assert viewer.get("/sources").status_code == 200
    assert_problem(viewer.put("/sources/legacy", json={"priority": 1}), 403)


def test_rules(api: Api) -> None:
    rules = api.ok("GET", "/rules/person")
    assert rules["entity_type"] == "person" and rules["policies"]["import"] == "reject"
    assert rules["identifiers"]["email"]["priority"] == 80
    # What GET returns can be sent back unchanged, and so can what PUT returns; no block
    # changed, so no stored value was read again.
    saved = api.ok("PUT", "/rules/person", json=rules)
    assert saved == {**rules, "remarked": {"checked": 0, "blocked": 0, "unblocked": 0,
                                           "records": 0}}
    assert api.ok("PUT", "/rules/person", json=saved) == saved
    changed = api.ok("PUT", "/rules/person", json={"policies": {"api": "review"}})
    assert changed["policies"]["api"] == "review"
    api.identify("person", "crm", "1", email="jane@acme.com")
    api.identify("person", "crm", "2", phone="+14155552671")
    res = api.identify("person", "crm", "3", email="jane@acme.com", phone="+14155552671")
    assert res["action"] == "review" and res["review_id"]
    reviews = api.ok("GET", "/quality")["open_reviews"]
    assert reviews[0]["public_id"] == res["review_id"]


@pytest.mark.parametrize(("body", "words"), [
    ({"identifiers": {"email": {"uniq": True}}}, "did you mean 'unique'"),
    ({"identifiers": {"email": {"priority": 0}}}, "greater than or equal to 1"),
    ({"policies": {"api": "merge-all"}}, "'reject', 'review' or 'merge'"),
    ({"policy": {}}, "did you mean 'policies'"),
])
def test_bad_rules_are_named(api: Api, body: dict, words: str) -> None:
    problem = assert_problem(api.put("/rules/person", json=body), 422, "validation_error")
    text = " ".join(e["message"] + " " + e.get("hint", "") for e in problem["errors"])
    assert words in text, problem


def test_bad_pattern_is_reported_by_the_rules_engine(api: Api) -> None:
    body = {"identifiers": {"email": {"blocked_patterns": ["(unclosed"]}}}
    problem = assert_problem(api.put("/rules/person", json=body), 422, "invalid_input")
    assert "not a valid regular expression" in problem["detail"]


def test_api_keys(api: Api) -> None:
    res = api.post("/api-keys", json={"role": "viewer", "name": "dashboard"})
    assert res.status_code == 201
    created = res.json()
    assert created["key"].startswith(f"ar_{created['prefix']}_")
    assert res.headers["location"] == f"{API}/api-keys/{created['id']}"
    shown = api.ok("GET", f"/api-keys/{created['id']}")
    assert "key" not in shown and shown["role"] == "viewer" and shown["name"] == "dashboard"
    listed = api.ok("GET", "/api-keys")["data"]
    assert created["id"] in {k["id"] for k in listed}
    assert all("key" not in k for k in listed)

    dashboard = Api(api.client, api.hub, created["key"])
    assert dashboard.get("/people").status_code == 200
    assert_problem(dashboard.post("/people", json={}), 403)
    assert_problem(dashboard.get("/api-keys"), 403)

    assert api.delete(f"/api-keys/{created['id']}").status_code == 204
    assert api.ok("GET", f"/api-keys/{created['id']}")["revoked_at"] is not None
    assert_problem(dashboard.get("/people"), 401)
    assert_problem(api.delete(f"/api-keys/{created['id']}"), 404)
    assert_problem(api.post("/api-keys", json={"role": "owner"}), 422)


def test_quality(api: Api) -> None:
    acme = api.ok("POST", "/accounts", 201, json={"display_name": "ACME"})
    api.ok("POST", "/people", 201, json={"first_name": "Jane", "account": acme["id"]})
    bob = api.ok("POST", "/people", 201, json={"first_name": "Bob"})
    report = api.ok("GET", "/quality", params={"limit": 10})
    assert report["people_without_account"]["count"] == 1
    assert report["people_without_account"]["items"][0]["id"] == bob["id"]
    assert report["accounts_without_external_ref"]["count"] == 1
    assert_problem(api.get("/quality", params={"limit": 0}), 422)


def test_quality_report_lists_blocked_and_shared_identifiers(api: Api) -> None:
    # info@ never identifies anyone: two records holding it stay two people.
    first = api.identify("person", "crm", "1", email="info@acme.com")
    second = api.identify("person", "support", "2", email="Info@ACME.com")
    assert first["id"] != second["id"]
    # One domain, two accounts with different org_refs: they stay apart, so the domain is
    # held by 2 accounts, more than its shared_limit (1).
    for org_ref, name in (("90", "Initech"), ("91", "Initech Europe")):
        api.identify("account", "crm", org_ref, {"display_name": name}, org_ref=org_ref,
                     domain="initech.com")
    api.ok("POST", "/accounts", 201, json={"display_name": "Quill & Co"})  # no org_ref
    # Records pointing at two people: rejected on import, queued for review on the widget.
    api.identify("person", "crm", "3", email="jane@acme.com")
    api.identify("person", "crm", "4", phone="+14155552671")
    api.ok("PUT", "/rules/person", json={"policies": {"widget": "review"}})
    for touchpoint, action in (("import", "rejected"), ("widget", "review")):
        res = api.ok("POST", "/identify", json={
            "type": "person", "source": "shop", "source_id": touchpoint,
            "touchpoint": touchpoint,
            "identifiers": {"email": "jane@acme.com", "phone": "+1 415 555 2671"}})
        assert res["action"] == action, res

    report = api.ok("GET", "/quality")
    assert {"type": "person", "kind": "email", "value": "info@acme.com",
            "records": 2} in report["blocked_identifiers"]
    assert {"type": "account", "kind": "domain", "value": "initech.com",
            "entities": 2} in report["shared_identifiers"]
    assert all(s["kind"] != "email" for s in report["shared_identifiers"])  # blocked: not
    assert len(report["open_reviews"]) == 1 and len(report["recent_rejections"]) == 1

    # The OpenAPI document describes the report: its lists and their items, key for key.
    spec = api.client.get("/openapi.json").json()
    op = spec["paths"][f"{API}/quality"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/QualityOut"}
    schemas = spec["components"]["schemas"]

    def keys(name: str) -> set[str]:
        return set(schemas[name]["properties"])

    assert keys("QualityOut") == set(report)
    for name, items in (("QualityEntity", report["people_without_account"]["items"]),
                        ("QualityEntity", report["accounts_without_external_ref"]["items"]),
                        ("BlockedIdentifier", report["blocked_identifiers"]),
                        ("SharedIdentifier", report["shared_identifiers"]),
                        ("QualityReviewItem", report["open_reviews"]),
                        ("QualityReviewItem", report["recent_rejections"])):
        assert items, name
        assert all(set(item) == keys(name) for item in items), (name, items)
    assert keys("QualityEntities") == set(report["people_without_account"])
