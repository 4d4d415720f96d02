"""The demo dataset, seeded through the Hub on both databases: the stories it is meant to tell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from allroads.demo import DemoSummary, seed_demo
from allroads.demo import data as demo_data
from allroads.demo.keys import demo_admin_key
from allroads.demo.seed import demo_actor
from allroads.domain.types import Actor, EntityType, Role
from allroads.resolution.hub import Hub
from conftest import BACKENDS, make_store

P, A = EntityType.PERSON, EntityType.ACCOUNT


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Hub, DemoSummary]]:
    """The demo seeded once per backend, shared by this module's tests (they only read)."""
    stores = make_store(request.param, request, tmp_path_factory.mktemp("demo"))
    store = next(stores)
    try:
        hub = Hub(store)
        yield hub, seed_demo(hub)
    finally:
        next(stores, None)


@pytest.fixture
def hub(seeded: tuple[Hub, DemoSummary]) -> Hub:
    return seeded[0]


@pytest.fixture
def summary(seeded: tuple[Hub, DemoSummary]) -> DemoSummary:
    return seeded[1]


@pytest.fixture
def actor(hub: Hub) -> Actor:
    return demo_actor(hub)


def person(hub: Hub, actor: Actor, **query: str) -> dict:
    [(kind, value)] = query.items()
    return hub.resolve(actor, P, kind=kind, value=value)


def account_name(hub: Hub, actor: Actor, view: dict) -> str | None:
    if view["account"] is None:
        return None
    return str(hub.get(actor, A, view["account"])["display_name"])


def test_the_dataset_refers_only_to_rows_it_has() -> None:
    products = {a["id"] for a in demo_data.PRODUCT_ACCOUNTS}
    crm = {a["Id"] for a in demo_data.CRM_ACCOUNTS}
    orgs = {o["id"] for o in demo_data.SUPPORT_ORGANIZATIONS}
    assert {u["account_id"] for u in demo_data.PRODUCT_USERS} <= products
    assert {c["AccountId"] for c in demo_data.CRM_CONTACTS} - {None} <= crm
    assert {u["organization_id"] for u in demo_data.SUPPORT_USERS} - {None} <= orgs
    assert {a["MyId"] for a in demo_data.CRM_ACCOUNTS} - {None} <= products
    assert {a["Support__Id"] for a in demo_data.CRM_ACCOUNTS} - {None} <= orgs
    for table in (demo_data.PRODUCT_USERS, demo_data.CRM_CONTACTS, demo_data.SUPPORT_USERS):
        ids = [row.get("id", row.get("Id")) for row in table]
        assert len(ids) == len(set(ids))


def test_summary_counts(summary: DemoSummary) -> None:
    assert summary.records == {"product": {"account": 18, "person": 49},
                               "support": {"account": 13, "person": 27},
                               "crm": {"account": 17, "person": 30}}
    assert (summary.accounts, summary.people) == (21, 73)
    assert summary.actions.get("merged") == len(summary.merge_ids) == 3
    assert summary.changed


def test_seeding_again_changes_nothing(hub: Hub, summary: DemoSummary) -> None:
    again = seed_demo(hub)
    assert not again.changed
    assert again.actions == {"unchanged": summary.records_total}
    assert (again.accounts, again.people, again.records) == \
        (summary.accounts, summary.people, summary.records)
    assert again.acme_account_id == summary.acme_account_id


def test_freshsuccess_acme_is_one_account(hub: Hub, actor: Actor, summary: DemoSummary) -> None:
    acme = summary.acme_account_id
    walk = hub.crosswalk(actor, A, acme)
    assert walk["ids"] == {"product": ["34"], "crm": ["110"], "support": ["2101"]}
    for source, source_id in (("product", "34"), ("crm", "110"), ("support", "2101")):
        view = hub.resolve(actor, A, source=source, source_id=source_id)
        assert view["id"] == acme
    view = hub.get(actor, A, acme)
    assert view["display_name"] == "ACME Services"  # the product's name wins
    assert set(view["domains"]) == {"acmeservices.com", "acme-inc.com"}
    # Only the CRM's MyId + Support__Id tie the support organization in: a merge.
    why = hub.explain(actor, A, acme)
    assert any(m["reason"] == "identify" for m in why["merges"])


def test_people_match_across_systems_by_normalized_email_and_phone(hub: Hub,
                                                                   actor: Actor) -> None:
    jane = person(hub, actor, email="Jane.Cho@AcmeServices.COM")
    assert set(jane["sources"]) == {"product", "crm", "support"}
    assert jane["phones"] == ["+13125550143"]
    assert account_name(hub, actor, jane) == "ACME Services"
    assert person(hub, actor, phone="312.555.0143")["id"] == jane["id"]


def test_same_phone_different_emails_is_one_person(hub: Hub, actor: Actor) -> None:
    work = person(hub, actor, email="priya.raman@meridianhealth.org")
    assert person(hub, actor, email="priya.raman.md@gmail.com")["id"] == work["id"]
    assert person(hub, actor, phone="(617) 555-0182")["id"] == work["id"]
    # Her support record (gmail, no organization) is in Meridian through the CRM contact.
    assert account_name(hub, actor, work) == "Meridian Health"


def test_a_third_system_bridges_two_records(hub: Hub, actor: Actor) -> None:
    dana = person(hub, actor, email="dana@brightline.io")
    assert person(hub, actor, email="dana.whitfield@gmail.com")["id"] == dana["id"]
    assert set(dana["sources"]) == {"product", "support", "crm"}
    oliver = person(hub, actor, phone="+44 20 7946 0958")
    assert oliver["emails"] == ["oliver.hughes@bluefinpay.com", "oliver@bluefin.co.uk"]


def test_shared_mailboxes_are_blocked(hub: Hub, actor: Actor) -> None:
    quality = hub.quality(actor)
    blocked = {(b["kind"], b["value"]): b["records"] for b in quality["blocked_identifiers"]}
    assert blocked[("email", "info@northwindtraders.com")] == 2
    assert ("email", "billing@solsticeenergy.com") in blocked
    crm = hub.resolve(actor, P, source="crm", source_id="0035g00000NWINaAAA")
    support = hub.resolve(actor, P, source="support", source_id="5060")
    assert crm["id"] != support["id"]  # info@ links no one


def test_orphans_and_attachment_by_email_domain(hub: Hub, actor: Actor) -> None:
    orphans = hub.quality(actor)["people_without_account"]
    assert orphans["count"] == 3
    assert {p["display_name"] for p in orphans["items"]} == \
        {"Kevin Osei", "Wei Zhang", "Lena Fischer"}
    # Free mail never attaches anyone to an account by domain.
    assert person(hub, actor, email="kevin.osei84@gmail.com")["account"] is None
    # CRM contacts without AccountId, support users without organization: by domain.
    assert account_name(hub, actor, person(hub, actor, email="noah.fischer@kestrelanalytics.com")
                        ) == "Kestrel Analytics"
    assert account_name(hub, actor, person(hub, actor, email="linda.shaw@riverbendbank.com")
                        ) == "Riverbend Bank"
    # ACME's old domain is known only from the support organization merged into it.
    assert account_name(hub, actor, person(hub, actor, email="talvarez@acme-inc.com")
                        ) == "ACME Services"


def test_attachment_by_org_id(hub: Hub, actor: Actor) -> None:
    initech = hub.resolve(actor, A, source="product", source_id="90")
    europe = hub.resolve(actor, A, source="product", source_id="91")
    assert initech["id"] != europe["id"]  # one domain, two account ids: kept apart
    assert person(hub, actor, email="jonas.weber@initech.com")["account"] == europe["id"]
    assert person(hub, actor, email="helen.park@initech.com")["account"] == initech["id"]
    shared = hub.quality(actor)["shared_identifiers"]
    assert {"type": "account", "kind": "domain", "value": "initech.com", "entities": 2} in shared


def test_accounts_no_system_leads_to(hub: Hub, actor: Actor) -> None:
    unlinked = hub.quality(actor)["accounts_without_external_ref"]
    assert {a["display_name"] for a in unlinked["items"]} == \
        {"Riverbend Bank", "Quill & Co", "Granite Peak Insurance"}


def test_demo_admin_key_is_reused(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "demo.db.key"
    key, created = demo_admin_key(hub, path)
    assert created and path.read_text().strip() == key
    assert path.stat().st_mode & 0o077 == 0
    principal = hub.authenticate(key)
    assert principal is not None and principal.role is Role.ADMIN
    assert principal.tenant.slug == demo_data.TENANT_SLUG
    assert demo_admin_key(hub, path) == (key, False)
    path.write_text("ar_00000000_not-a-key\n")
    replaced, created = demo_admin_key(hub, path)
    assert created and replaced != key
