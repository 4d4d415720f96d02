"""Merging, the redirect of a merged-away id, undo, keep-apart and explanations."""

from __future__ import annotations

import pytest

from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from api_helpers import Api, assert_problem, make_api


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def two_people(api: Api) -> tuple[str, str]:
    a = api.identify("person", "crm", "1", {"name": "Jane Doe"}, email="jane@acme.com")
    b = api.identify("person", "support", "2", {"name": "J. Doe"}, phone="+14155552671")
    return a["id"], b["id"]


def test_merge_redirect_and_undo(api: Api) -> None:
    a, b = two_people(api)
    merged = api.ok("POST", f"/people/{b}/merge", json={"ids": [a]})
    assert merged["survivor"] == a and merged["merged"] == [b]  # the oldest survives
    assert merged["merge_id"] and merged["entity"]["id"] == a
    assert merged["entity"]["emails"] == ["jane@acme.com"]
    assert merged["entity"]["phones"] == ["+14155552671"]

    res = api.get(f"/people/{b}")
    assert res.status_code == 200 and res.json()["id"] == a
    assert res.headers["Allroads-Redirected-From"] == b
    assert "Allroads-Redirected-From" not in api.get(f"/people/{a}").headers
    changes = api.ok("GET", f"/people/{a}/changelog")["data"]
    assert any(c["merge_id"] == merged["merge_id"] for c in changes)

    undone = api.ok("POST", f"/merges/{merged['merge_id']}/undo")
    assert undone["undone"] is True
    assert {e["id"] for e in undone["entities"]} == {a, b}
    assert api.ok("GET", f"/people/{a}")["phones"] == []
    back = api.get(f"/people/{b}")
    assert back.json()["id"] == b and back.json()["phones"] == ["+14155552671"]
    assert "Allroads-Redirected-From" not in back.headers

    again = assert_problem(api.post(f"/merges/{merged['merge_id']}/undo"), 409, "conflict")
    assert "already undone" in again["detail"]


def test_undo_with_keep_apart_stops_automatic_merges(api: Api) -> None:
    a, b = two_people(api)
    merged = api.ok("POST", f"/people/{a}/merge", json={"ids": [b]})
    api.ok("POST", f"/merges/{merged['merge_id']}/undo", json={"keep_apart": True})
    bridge = api.identify("person", "product", "3", email="jane@acme.com",
                          phone="+14155552671")
    assert bridge["action"] != "merged"
    assert api.ok("GET", f"/people/{b}")["id"] == b


def test_undo_without_keep_apart(api: Api) -> None:
    a, b = two_people(api)
    merged = api.ok("POST", f"/people/{a}/merge", json={"ids": [b]})
    api.ok("POST", f"/merges/{merged['merge_id']}/undo", json={"keep_apart": False})
    bridge = api.identify("person", "product", "3", email="jane@acme.com",
                          phone="+14155552671")
    assert bridge["action"] == "merged"


def test_keep_apart(api: Api) -> None:
    a, b = two_people(api)
    res = api.ok("POST", f"/people/{a}/keep-apart", json={"ids": [b], "reason": "twins"})
    assert res == {"id": a, "kept_apart_from": [b]}
    bridge = api.identify("person", "product", "3", email="jane@acme.com",
                          phone="+14155552671")
    assert bridge["action"] != "merged"
    decisions = api.ok("GET", f"/people/{a}/explain")["decisions"]
    assert {"kind": "apart", "reason": "twins"}.items() <= decisions[0].items()


def test_accounts_merge(api: Api) -> None:
    product = api.identify("account", "product", "34", {"display_name": "ACME Services"})
    support = api.identify("account", "support", "2101", {"display_name": "Acme Inc."})
    merged = api.ok("POST", f"/accounts/{product['id']}/merge", json={"ids": [support["id"]]})
    assert merged["entity"]["type"] == "account"
    walk = api.ok("GET", f"/accounts/{support['id']}/crosswalk")
    assert walk["id"] == product["id"]
    assert walk["ids"] == {"product": ["34"], "support": ["2101"]}


@pytest.mark.parametrize(("etype", "collection", "kind", "value"), [
    ("person", "people", "email", "jane@acme.com"),
    ("account", "accounts", "domain", "acme.com"),
], ids=["person", "account"])
def test_explain_shows_the_evidence(api: Api, etype: str, collection: str, kind: str,
                                    value: str) -> None:
    a = api.identify(etype, "crm", "1", {}, **{kind: value})
    api.identify(etype, "support", "2", {}, **{kind: value})
    why = api.ok("GET", f"/{collection}/{a['id']}/explain")
    assert why["id"] == a["id"] and why["type"] == etype
    support = next(r for r in why["records"] if r["source"] == "support")
    assert support["linked_by"]["rule"] == "identifier"
    assert support["linked_by"]["evidence"]["evidence"][0]["kind"] == kind


def test_bad_merges(api: Api) -> None:
    a, _ = two_people(api)
    assert_problem(api.post(f"/people/{a}/merge", json={"ids": [a]}), 422, "invalid_input")
    assert_problem(api.post(f"/people/{a}/merge", json={"ids": ["per_nope"]}), 404)
    assert_problem(api.post(f"/people/{a}/merge", json={"ids": []}), 422, "validation_error")
    assert_problem(api.post("/merges/mrg_nope/undo"), 404, "not_found")
    account = api.identify("account", "crm", "9", {"display_name": "X"})
    assert_problem(api.post(f"/people/{a}/merge", json={"ids": [account["id"]]}), 404)


def test_merging_takes_an_editor(api: Api) -> None:
    a, b = two_people(api)
    for role in (Role.VIEWER, Role.INGEST):
        assert_problem(api.with_role(role).post(f"/people/{a}/merge", json={"ids": [b]}), 403)
    assert api.with_role(Role.EDITOR).post(f"/people/{a}/merge",
                                           json={"ids": [b]}).status_code == 200
