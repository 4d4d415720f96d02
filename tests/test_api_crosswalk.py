"""The cross-system ID map (Freshsuccess): GET and PUT /{accounts|people}/{id}/crosswalk."""

from __future__ import annotations

import pytest

from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from api_helpers import Api, assert_problem, make_api


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def test_freshsuccess_account_map(api: Api) -> None:
    """Product 'ACME Services' (34); the CRM's 'ACME' (110) carries the product id as its
    MyId; support's 'Acme Inc.' (2101) carries the account's external reference."""
    product = api.identify("account", "product", "34", {"display_name": "ACME Services"})
    crm = api.ok("POST", "/identify", json={
        "type": "account", "source": "crm", "source_id": "110",
        "identifiers": {"source_id": "product:34"}, "attributes": {"display_name": "ACME"}})
    assert crm["action"] == "matched" and crm["id"] == product["id"]
    account_id = product["id"]
    api.ok("PATCH", f"/accounts/{account_id}", json={"external_ref": "ACME-34"})
    support = api.identify("account", "support", "2101", {"display_name": "Acme Inc."},
                           org_ref="ACME-34")
    assert support["action"] == "matched" and support["id"] == account_id

    walk = api.ok("GET", f"/accounts/{account_id}/crosswalk")
    assert walk["id"] == account_id and walk["type"] == "account"
    assert walk["ids"] == {"product": ["34"], "crm": ["110"], "support": ["2101"]}
    assert {(r["source"], r["source_id"]) for r in walk["records"]} >= {
        ("product", "34"), ("crm", "110"), ("support", "2101")}
    assert all(r["versions"] >= 1 and r["first_seen"] for r in walk["records"])
    for source, source_id in (("product", "34"), ("crm", "110"), ("support", "2101")):
        view = api.ok("GET", "/resolve", params={"type": "account", "source": source,
                                                 "source_id": source_id})
        assert view["id"] == account_id
    assert api.ok("GET", f"/accounts/{account_id}")["external_ref"] == "ACME-34"


def test_put_maps_source_ids(api: Api) -> None:
    acme = api.identify("account", "product", "34", {"display_name": "ACME Services"})
    walk = api.ok("PUT", f"/accounts/{acme['id']}/crosswalk",
                  json={"ids": {"crm": "110", "support": 2101}})
    assert walk["ids"] == {"product": ["34"], "crm": ["110"], "support": ["2101"]}
    view = api.ok("GET", "/resolve", params={"type": "account", "source": "crm",
                                             "source_id": "110"})
    assert view["id"] == acme["id"]
    # Sending it again changes nothing.
    again = api.ok("PUT", f"/accounts/{acme['id']}/crosswalk", json={"ids": {"crm": "110"}})
    assert again["ids"] == walk["ids"]


def test_put_of_an_id_another_entity_has_is_a_conflict(api: Api) -> None:
    acme = api.identify("account", "product", "34", {"display_name": "ACME"})
    other = api.identify("account", "product", "35", {"display_name": "Other"})
    api.ok("PUT", f"/accounts/{acme['id']}/crosswalk", json={"ids": {"crm": "110"}})
    body = assert_problem(api.put(f"/accounts/{other['id']}/crosswalk",
                                  json={"ids": {"crm": "110"}}), 409, "conflict")
    assert "already belongs" in body["detail"] and acme["id"] in body["detail"]
    assert "merge" in body["hint"]


def test_people_have_a_crosswalk_too(api: Api) -> None:
    jane = api.identify("person", "crm", "c-1", email="jane@acme.com")
    api.identify("person", "support", "s-9", email="jane@acme.com")
    walk = api.ok("PUT", f"/people/{jane['id']}/crosswalk", json={"ids": {"billing": "b-7"}})
    assert walk["ids"] == {"crm": ["c-1"], "support": ["s-9"], "billing": ["b-7"]}


@pytest.mark.parametrize(("body", "location"), [
    ({"ids": {}}, "body.ids"),
    ({}, "body.ids"),
    ({"ids": {"crm": None}}, "body.ids.crm"),
    ({"ids": {"crm": "1"}, "extra": 1}, "body.extra"),
])
def test_put_needs_ids(api: Api, body: dict, location: str) -> None:
    acme = api.identify("account", "product", "34", {"display_name": "ACME"})
    problem = assert_problem(api.put(f"/accounts/{acme['id']}/crosswalk", json=body), 422)
    assert location in {e["location"] for e in problem["errors"]}


def test_viewers_read_editors_write(api: Api) -> None:
    acme = api.identify("account", "product", "34", {"display_name": "ACME"})
    viewer = api.with_role(Role.VIEWER)
    assert viewer.get(f"/accounts/{acme['id']}/crosswalk").status_code == 200
    assert_problem(viewer.put(f"/accounts/{acme['id']}/crosswalk",
                              json={"ids": {"crm": "1"}}), 403)
    editor = api.with_role(Role.EDITOR)
    assert editor.put(f"/accounts/{acme['id']}/crosswalk",
                      json={"ids": {"crm": "1"}}).status_code == 200
