"""GET /api/v1/resolve: the customer an identifier or a source record belongs to."""

from __future__ import annotations

import pytest

from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from api_helpers import Api, assert_problem, make_api


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def test_resolve_by_email_normalizes_it(api: Api) -> None:
    jane = api.identify("person", "crm", "1", {"name": "Jane Doe"}, email="jane@acme.com")
    view = api.ok("GET", "/resolve", params={"type": "person", "email": " JANE@acme.com"})
    assert view["id"] == jane["id"] and view["type"] == "person"
    assert view["emails"] == ["jane@acme.com"] and "provenance" in view


def test_resolve_by_phone_with_the_tenant_region(api: Api) -> None:
    jane = api.identify("person", "crm", "1", phone="+1 415 555 2671")
    view = api.ok("GET", "/resolve", params={"type": "person", "phone": "(415) 555-2671"})
    assert view["id"] == jane["id"]


def test_resolve_by_source_record(api: Api) -> None:
    acme = api.identify("account", "crm", "110", {"display_name": "ACME"})
    view = api.ok("GET", "/resolve", params={"type": "account", "source": "CRM",
                                             "source_id": "110"})
    assert view["id"] == acme["id"] and view["display_name"] == "ACME"
    assert view["type"] == "account" and view["sources"] == {"crm": ["110"]}


def test_resolve_by_source_id_identifier(api: Api) -> None:
    """A record's MyId: `source_id` alone is the identifier kind ('source:id')."""
    acme = api.ok("POST", "/identify", json={
        "type": "account", "source": "crm", "source_id": "110",
        "identifiers": {"source_id": "product:34"}, "attributes": {"display_name": "ACME"}})
    for value in ("product:34", "crm:110"):
        view = api.ok("GET", "/resolve", params={"type": "account", "source_id": value})
        assert view["id"] == acme["id"]


def test_a_merged_away_customer_resolves_to_the_survivor(api: Api) -> None:
    a = api.identify("person", "crm", "1", email="jane@acme.com")
    api.identify("person", "support", "2", phone="+14155552671")
    api.identify("person", "product", "3", email="jane@acme.com", phone="+14155552671")
    view = api.ok("GET", "/resolve", params={"type": "person", "source": "support",
                                             "source_id": "2"})
    assert view["id"] == a["id"]


def test_not_found(api: Api) -> None:
    api.identify("person", "crm", "1", email="jane@acme.com")
    body = assert_problem(api.get("/resolve", params={"type": "person",
                                                      "email": "bob@acme.com"}), 404)
    assert body["code"] == "not_found" and "bob@acme.com" in body["detail"]
    body = assert_problem(api.get("/resolve", params={"type": "account", "source": "crm",
                                                      "source_id": "999"}), 404)
    assert "999" in body["detail"]
    # A person's email does not resolve an account.
    assert_problem(api.get("/resolve", params={"type": "account",
                                               "email": "jane@acme.com"}), 404)


def test_a_misspelled_kind_is_explained(api: Api) -> None:
    body = assert_problem(api.get("/resolve", params={"type": "person",
                                                      "emial": "jane@acme.com"}), 404)
    assert "not a built-in identifier kind" in body["hint"] and "email" in body["hint"]


@pytest.mark.parametrize(("params", "words"), [
    ({"type": "person"}, "exactly one identifier to resolve by (got none)"),
    ({"type": "person", "email": "a@acme.com", "phone": "+14155552671"},
     "exactly one identifier to resolve by (got email, phone)"),
    ({"type": "person", "source": "crm", "source_id": "1", "email": "a@acme.com"},
     "not both"),
    ({"type": "person", "source": "crm"}, "source_id is needed"),
    ({"type": "person", "email": "not-an-email"}, "email"),
])
def test_bad_queries_say_what_to_send(api: Api, params: dict, words: str) -> None:
    body = assert_problem(api.get("/resolve", params=params), 422)
    assert words in body["detail"], body


def test_type_is_required_and_checked(api: Api) -> None:
    body = assert_problem(api.get("/resolve", params={"email": "a@acme.com"}), 422)
    assert body["errors"][0]["location"] == "query.type"
    assert "'type' is required" in body["errors"][0]["message"]
    body = assert_problem(api.get("/resolve", params={"type": "company", "email": "a@b.io"}),
                          422)
    assert body["errors"][0]["location"] == "query.type"


def test_every_reading_role_may_resolve(api: Api) -> None:
    jane = api.identify("person", "crm", "1", email="jane@acme.com")
    for role in Role:
        view = api.with_role(role).ok("GET", "/resolve",
                                      params={"type": "person", "email": "jane@acme.com"})
        assert view["id"] == jane["id"]
