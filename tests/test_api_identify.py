"""POST /api/v1/identify over HTTP, on both databases."""

from __future__ import annotations

import json

import pytest

from allroads.api.fast import FastIdentify
from allroads.api.routes.identify import LEAN_SWITCH
from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from api_helpers import Api, assert_problem, make_api


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def test_created_then_matched_by_normalized_email(api: Api) -> None:
    first = api.identify("person", "crm", "1", {"name": "Jane Doe"}, email="Jane@Acme.com")
    assert first["action"] == "created" and first["id"].startswith("per_")
    assert first["type"] == "person" and first["message"] is None
    assert first["evidence"] == [{"rule": "new_entity", "entity": first["id"]}]
    second = api.identify("person", "support", "9", email=" jane@ACME.com ")
    assert second["action"] == "matched" and second["id"] == first["id"]
    assert {"rule": "identifier", "kind": "email", "value": "jane@acme.com", "priority": 80,
            "entity": first["id"]} in second["evidence"]
    person = api.ok("GET", f"/people/{first['id']}")
    assert person["emails"] == ["jane@acme.com"]
    assert person["sources"] == {"crm": ["1"], "support": ["9"]}


def test_a_record_that_bridges_two_customers_merges_them(api: Api) -> None:
    a = api.identify("person", "crm", "1", {"name": "Jane"}, email="jane@acme.com")
    b = api.identify("person", "support", "2", phone="+14155552671")
    c = api.identify("person", "product", "3", email="jane@acme.com", phone="(415) 555-2671")
    assert c["action"] == "merged" and c["id"] == a["id"] and c["merge_id"]
    assert api.ok("GET", f"/people/{b['id']}")["id"] == a["id"]


def test_review_policy_queues_a_bridging_record_on_the_fast_path_and_the_full_one(
        hub: Hub) -> None:
    answers = []
    for tenant, lean in (("lean", True), ("full", False)):
        api = make_api(hub, tenant=tenant)
        setattr(api.client.app.state, LEAN_SWITCH, lean)  # type: ignore[attr-defined]
        api.ok("PUT", "/rules/person", json={"policies": {"widget": "review"}})
        a = api.identify("person", "crm", "1", email="jane@acme.com")["id"]
        b = api.identify("person", "support", "2", phone="+14155552671")["id"]
        served = FastIdentify.served
        res = api.ok("POST", "/identify", json={
            "type": "person", "source": "widget", "source_id": "3", "touchpoint": "widget",
            "identifiers": {"email": "jane@acme.com", "phone": "+14155552671"}})
        assert FastIdentify.served == served + int(lean)  # the path that answered
        assert res["action"] == "review" and res["id"] == a
        assert res["review_id"].startswith("rev_") and res["merge_id"] is None
        reviews = api.ok("GET", "/quality")["open_reviews"]
        assert [r["public_id"] for r in reviews] == [res["review_id"]]
        assert api.ok("GET", f"/people/{b}")["id"] == b  # not merged
        answers.append(json.dumps(res).replace(a, "A").replace(b, "B")
                       .replace(res["review_id"], "R"))
    assert answers[0] == answers[1]


def test_import_touchpoint_rejects_with_the_reason(api: Api) -> None:
    def imported(source_id: str, **identifiers: str) -> dict:
        return api.ok("POST", "/identify", json={
            "type": "person", "source": "crm", "source_id": source_id,
            "identifiers": identifiers, "touchpoint": "import"})

    first = imported("1", external_id="C-1")
    imported("2", email="jane@acme.com")
    res = imported("3", external_id="C-1", email="jane@acme.com")
    assert res["action"] == "rejected" and res["id"] is None
    assert res["message"] == "Email is already present for some other registered user"
    assert any(e["rule"] == "rejected" for e in res["evidence"])
    # Nothing was stored for the rejected record.
    assert api.get("/resolve", params={"type": "person", "source": "crm",
                                       "source_id": "3"}).status_code == 404
    assert api.ok("GET", f"/people/{first['id']}")["emails"] == []


def test_chat_widget_sends_the_person_and_their_account(api: Api) -> None:
    """The DevRev PLuG flow: the widget identifies the visitor and their workspace."""
    res = api.ok("POST", "/identify", json={
        "type": "person", "source": "widget", "source_id": "visitor-81",
        "identifiers": {"email": "dan@startup.io", "user_ref": "u-81"},
        "attributes": {"name": "Dan Brown"}, "touchpoint": "widget",
        "account": {"source": "widget", "source_id": "org-9",
                    "identifiers": {"domain": "https://www.startup.io/"},
                    "attributes": {"display_name": "Startup"}}})
    assert res["action"] == "created" and res["account"]["action"] == "created"
    account_id = res["account"]["id"]
    assert account_id.startswith("acc_") and res["account"]["type"] == "account"
    person = api.ok("GET", f"/people/{res['id']}")
    assert person["account"] == account_id and person["external_ref"] == "u-81"
    account = api.ok("GET", f"/accounts/{account_id}")
    assert account["display_name"] == "Startup" and account["domains"] == ["startup.io"]
    changes = api.ok("GET", f"/people/{res['id']}/changelog")["data"]
    assert changes and {c["touchpoint"] for c in changes} == {"widget"}


def test_integer_ids_and_identifier_lists_are_accepted(api: Api) -> None:
    res = api.ok("POST", "/identify", json={
        "type": "account", "source": "product", "source_id": 34,
        "identifiers": {"external_id": 3400, "domain": ["acme.com", "acme.io"]},
        "attributes": {"display_name": "ACME Services"}})
    account = api.ok("GET", f"/accounts/{res['id']}")
    assert account["sources"] == {"product": ["34"]}
    assert account["external_id"] == "3400"
    assert sorted(account["domains"]) == ["acme.com", "acme.io"]


def test_custom_identifier_kinds(api: Api) -> None:
    a = api.identify("person", "shop", "1", loyalty_no="L-77")
    b = api.identify("person", "pos", "2", loyalty_no=" L-77 ")
    assert b["id"] == a["id"]
    person = api.ok("GET", f"/people/{a['id']}")
    assert person["identifiers"]["loyalty_no"] == ["L-77"]


def test_invalid_identifiers_are_reported_together(api: Api) -> None:
    res = api.post("/identify", json={"type": "person", "source": "crm", "source_id": "1",
                                      "identifiers": {"email": "not-an-email", "phone": "12"}})
    body = assert_problem(res, 422)
    assert body["code"] in ("invalid_input", "invalid_identifier")
    assert "email" in body["detail"] and "phone" in body["detail"]
    assert body["field"].startswith("identifiers.")


@pytest.mark.parametrize(("body", "location", "words"), [
    ({"type": "person", "source": "crm", "identifers": {}}, "body.identifers",
     "did you mean 'identifiers'"),
    ({"type": "robot", "source": "crm"}, "body.type", "person"),
    ({"type": "person", "source": "crm", "touchpoint": "fax"}, "body.touchpoint",
     "unknown touchpoint 'fax'"),
    ({"type": "person", "source": "crm", "identifiers": {"email": {"a": 1}}},
     "body.identifiers.email", "an identifier is a string"),
    ({"type": "person", "source": "crm", "identifiers": {"x_id": True}},
     "body.identifiers.x_id", "got bool"),
    ({"type": "person", "source": "", "source_id": "1"}, "body.source", "at least 1"),
    ({"type": "person", "source": "crm", "account": {"source": "crm", "name": "x"}},
     "body.account.name", "the fields are: source, source_id, identifiers, attributes"),
])
def test_malformed_bodies_name_the_problem(api: Api, body: dict, location: str,
                                           words: str) -> None:
    problem = assert_problem(api.post("/identify", json=body), 422, "validation_error")
    where = {e["location"]: e for e in problem["errors"]}
    assert location in where, problem
    text = where[location]["message"] + " " + where[location].get("hint", "")
    assert words in text, where[location]


def test_nothing_to_identify_by(api: Api) -> None:
    res = api.post("/identify", json={"type": "person", "source": "widget",
                                      "attributes": {"name": "x"}})
    assert "nothing to identify by" in assert_problem(res, 422, "invalid_input")["detail"]


def test_roles_that_may_identify(api: Api) -> None:
    body = {"type": "person", "source": "crm", "source_id": "1",
            "identifiers": {"email": "a@acme.com"}}
    for role in (Role.INGEST, Role.EDITOR, Role.ADMIN):
        assert api.with_role(role).post("/identify", json=body).status_code == 200
    denied = api.with_role(Role.VIEWER).post("/identify", json=body)
    assert "viewer" in assert_problem(denied, 403, "permission_denied")["detail"]
