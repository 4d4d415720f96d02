"""The changelog over the API: what changed, old and new value, when, touchpoint, initiator,
and the customer each change belongs to, by id and by name (as Maestra shows it)."""

from __future__ import annotations

from typing import Any

import pytest

from allroads.domain.types import EntityType, utcnow
from allroads.resolution.hub import Hub
from allroads.store import Tx
from api_helpers import Api, make_api


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


def changes(api: Api, collection: str, public_id: str) -> list[dict[str, Any]]:
    """Every change, page by page (two a page)."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = api.ok("GET", f"/{collection}/{public_id}/changelog", params=params)
        out += page["data"]
        if page["next_cursor"] is None:
            return out
        params["cursor"] = page["next_cursor"]


def test_each_change_names_the_customer(api: Api) -> None:
    jane = api.ok("POST", "/people", 201, json={"first_name": "Jane", "last_name": "Doe",
                                                "emails": ["jane@acme.com"]})
    api.ok("PATCH", f"/people/{jane['id']}", json={"area": "Paris"})
    log = changes(api, "people", jane["id"])
    assert len(log) > 2  # more than one page
    assert {(c["entity"], c["name"]) for c in log} == {(jane["id"], "Jane Doe")}
    area = next(c for c in log if c["field"] == "area")
    assert (area["old"], area["new"], area["touchpoint"]) == (None, "Paris", "api")
    # The name is the customer's name now.
    api.ok("PATCH", f"/people/{jane['id']}", json={"first_name": "Janet"})
    assert {c["name"] for c in changes(api, "people", jane["id"])} == {"Janet Doe"}

    acme = api.ok("POST", "/accounts", 201, json={"display_name": "ACME"})
    assert {c["name"] for c in changes(api, "accounts", acme["id"])} == {"ACME"}
    spec = api.client.get("/openapi.json").json()
    assert "name" in spec["components"]["schemas"]["ChangeOut"]["properties"]


def test_a_merged_customer_changes_show_the_survivor_name(api: Api, hub: Hub) -> None:
    a = api.identify("person", "crm", "1", {"name": "Jane Doe"}, email="jane@acme.com")["id"]
    b = api.identify("person", "support", "2", {"name": "J. Doe"}, phone="+14155552671")["id"]
    assert {c["name"] for c in changes(api, "people", b)} == {"J. Doe"}
    api.ok("POST", f"/people/{b}/merge", json={"ids": [a]})
    survivor = api.ok("GET", f"/people/{a}")["display_name"]

    # Asked by the merged-away id (it redirects) or by the survivor's: one log, each change
    # with its own entity, and the name of the customer it is now part of.
    for asked in (a, b):
        log = changes(api, "people", asked)
        assert {c["entity"] for c in log} == {a, b}
        assert {c["name"] for c in log} == {survivor}

    # A member of the family with a profile of its own is shown with that profile's name.
    tenant = hub.tenant("acme")
    with hub.store.write() as tx:
        member = tx.entity_by_public_id(tenant.id, b)
        assert member is not None and tx.profile(member.id) is None  # merged away
        tx.put_profile(tenant.id, member.id, "person", "J. Doe (kept)", {}, {}, "", utcnow())
    names = {(c["entity"], c["name"]) for c in changes(api, "people", a)}
    assert names == {(a, survivor), (b, "J. Doe (kept)")}


def test_names_cost_one_query_a_page(api: Api, hub: Hub, monkeypatch: pytest.MonkeyPatch
                                     ) -> None:
    a = api.identify("person", "crm", "1", {"name": "Jane Doe"}, email="jane@acme.com")["id"]
    b = api.identify("person", "support", "2", {"name": "J. Doe"}, phone="+14155552671")["id"]
    api.ok("POST", f"/people/{b}/merge", json={"ids": [a]})
    calls: list[str] = []
    for name in ("profile", "profiles_by_id"):
        original = getattr(Tx, name)

        def counted(self: Tx, *args: Any, _name: str = name, _original: Any = original
                    ) -> Any:
            calls.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(Tx, name, counted)
    principal = hub.authenticate(api.key)
    assert principal is not None
    page, _ = hub.changelog(principal.actor(), EntityType.PERSON, a, cursor=None, limit=100)
    assert len(page) > 5 and {c["entity"] for c in page} == {a, b}
    assert calls == ["profiles_by_id"]
