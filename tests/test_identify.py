"""The resolution engine's identify, on both databases."""

from __future__ import annotations

import pytest

from allroads.domain.errors import IdentifierConflict, InvalidInput, NotFound
from allroads.domain.types import Action, Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub

P, A = EntityType.PERSON, EntityType.ACCOUNT


def person(source: str, source_id: str | None, attributes: dict | None = None,
           **identifiers: object) -> IdentifyRequest:
    return IdentifyRequest(P, source, source_id, dict(identifiers), attributes or {})


def account(source: str, source_id: str, attributes: dict | None = None,
            **identifiers: object) -> IdentifyRequest:
    return IdentifyRequest(A, source, source_id, dict(identifiers), attributes or {})


def test_new_then_matched_by_normalized_email(hub: Hub, actor: Actor) -> None:
    first = hub.identify(actor, person("crm", "1", {"name": "Jane Doe"}, email="Jane@Acme.com"))
    assert first.action is Action.CREATED and first.id and first.id.startswith("per_")
    second = hub.identify(actor, person("support", "9", email=" jane@ACME.com "))
    assert second.action is Action.MATCHED and second.id == first.id
    assert {"rule": "identifier", "kind": "email", "value": "jane@acme.com", "priority": 80,
            "entity": first.id} in second.evidence
    view = hub.get(actor, P, first.id)
    assert view["emails"] == ["jane@acme.com"]
    assert view["sources"] == {"crm": ["1"], "support": ["9"]}


def test_same_record_sent_again_changes_nothing(hub: Hub, actor: Actor) -> None:
    req = person("crm", "1", {"name": "Jane"}, email="jane@acme.com", phone="(415) 555-2671")
    first = hub.identify(actor, req)
    before = hub.changelog(actor, P, first.id, cursor=None, limit=100)[0]
    again = hub.identify(actor, req)
    assert again.action is Action.MATCHED and again.id == first.id
    assert again.evidence[0]["unchanged"] is True
    assert hub.changelog(actor, P, first.id, cursor=None, limit=100)[0] == before


def test_new_version_never_overwrites_the_old(hub: Hub, actor: Actor) -> None:
    first = hub.identify(actor, person("crm", "1", {"tier": "gold"}, email="jane@acme.com"))
    hub.identify(actor, person("crm", "1", {"tier": "silver"}, email="jane@acme.com"))
    with hub.store.read() as tx:
        record = tx.record(actor.tenant_id, "person", "crm", "1")
        assert record is not None and record.current_version == 2
        versions = tx.versions_of_record(record.id)
    assert [v.attributes["tier"] for v in versions] == ["gold", "silver"]
    assert hub.get(actor, P, first.id)["custom_attributes"]["tier"] == "silver"


def test_phone_normalized_with_tenant_region(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", phone="(415) 555-2671"))
    b = hub.identify(actor, person("support", "2", phone="+1 415.555.2671"))
    assert b.id == a.id
    assert hub.get(actor, P, a.id)["phones"] == ["+14155552671"]


def test_invalid_identifiers_reported_together(hub: Hub, actor: Actor) -> None:
    with pytest.raises(InvalidInput) as err:
        hub.identify(actor, person("crm", "1", email="not-an-email", phone="12"))
    assert "email" in err.value.message and "phone" in err.value.message


def test_nothing_to_identify_by(hub: Hub, actor: Actor) -> None:
    with pytest.raises(InvalidInput, match="nothing to identify by"):
        hub.identify(actor, person("widget", None, {"name": "x"}))


def test_without_source_id_the_best_identifier_keys_the_record(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("widget", None, {"name": "A"}, email="a@acme.com"))
    b = hub.identify(actor, person("widget", None, {"name": "A2"}, email="a@acme.com"))
    assert a.id == b.id
    assert hub.crosswalk(actor, P, a.id)["ids"] == {"widget": ["email:a@acme.com"]}


def test_blocked_local_parts_never_identify(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", email="info@acme.com"))
    b = hub.identify(actor, person("crm", "2", email="info@acme.com"))
    assert a.id != b.id and b.action is Action.CREATED
    assert any(e["rule"] == "blocked" and e["value"] == "info@acme.com" for e in b.evidence)
    q = hub.quality(actor)
    assert {"type": "person", "kind": "email", "value": "info@acme.com", "records": 2} in \
        q["blocked_identifiers"]


def test_repeated_digit_phone_is_blocked(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", phone="+91 99999 99999"))
    b = hub.identify(actor, person("crm", "2", phone="+919999999999"))
    assert a.id != b.id


def test_low_trust_identifier_never_bridges_conflicting_external_ids(hub: Hub,
                                                                      actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", external_id="C-1", email="a@acme.com"))
    b = hub.identify(actor, person("shop", "7", external_id="C-2", email="a@acme.com"))
    assert b.action is Action.CREATED and b.id != a.id
    assert any(e["rule"] == "not_linked" and "external_id" in e["reason"] for e in b.evidence)


def test_two_entities_holding_different_external_ids_are_not_merged(hub: Hub,
                                                                    actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", external_id="C-1"))
    b = hub.identify(actor, person("shop", "7", external_id="C-2", phone="+14155552671"))
    c = hub.identify(actor, person("support", "3", email="x@acme.com", phone="+14155552671"))
    assert c.id == b.id
    # d's phone points at b and its external id at a; a and b hold different external ids
    # (priority 100 outranks phone's 70), so the phone may not join them.
    d = hub.identify(actor, person("widget", "w1", external_id="C-1", phone="+14155552671"))
    assert d.id == a.id and d.action is Action.MATCHED
    assert any(e["rule"] == "not_merged" for e in d.evidence)
    assert hub.get(actor, P, a.id)["id"] != hub.get(actor, P, b.id)["id"]


def test_merge_policy_joins_two_entities_when_one_record_bridges_them(hub: Hub,
                                                                      actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", {"name": "Jane"}, email="jane@acme.com"))
    b = hub.identify(actor, person("support", "2", phone="+14155552671"))
    c = hub.identify(actor, person("product", "3", email="jane@acme.com",
                                   phone="(415) 555-2671"))
    assert c.action is Action.MERGED and c.id == a.id and c.merge_id
    assert hub.get(actor, P, b.id)["id"] == a.id  # the merged-away id redirects
    view = hub.get(actor, P, a.id)
    assert view["phones"] == ["+14155552671"] and view["emails"] == ["jane@acme.com"]


def test_reject_policy_for_imports(hub: Hub, actor: Actor) -> None:
    imp = Actor(actor.tenant_id, "import-job", "import", "US")
    hub.identify(imp, person("crm", "1", email="jane@acme.com"))
    hub.identify(imp, person("crm", "2", phone="+14155552671"))
    res = hub.identify(imp, person("crm", "3", email="jane@acme.com", phone="+14155552671"))
    assert res.action is Action.REJECTED and res.id is None
    assert res.message in ("Email is already present for some other registered user",
                           "Mobile number is already registered for a different user")
    with pytest.raises(NotFound):
        hub.resolve(actor, P, source="crm", source_id="3")
    kept = hub.quality(actor)["recent_rejections"][0]
    assert kept["reason"] == res.message and kept["evidence"]["source_id"] == "3"


def test_review_policy_queues_the_decision(hub: Hub, actor: Actor) -> None:
    hub.set_rules(actor, P, {"policies": {"api": "review"}})
    a = hub.identify(actor, person("crm", "1", email="jane@acme.com"))
    hub.identify(actor, person("crm", "2", phone="+14155552671"))
    res = hub.identify(actor, person("crm", "3", email="jane@acme.com", phone="+14155552671"))
    assert res.action is Action.REVIEW and res.id == a.id and res.review_id
    assert hub.quality(actor)["open_reviews"][0]["public_id"] == res.review_id


def test_shared_value_stops_identifying(hub: Hub, actor: Actor) -> None:
    hub.set_rules(actor, P, {"identifiers": {"device_id": {"shared_limit": 2}}})
    ids = {hub.identify(actor, person("app", str(i), email=f"u{i}@acme.com",
                                      device_id="dev-1")).id for i in range(3)}
    assert len(ids) == 3  # device_id is low trust: it never bridges existing customers
    res = hub.identify(actor, person("app", "new", device_id="dev-1"))
    assert res.action is Action.CREATED
    said = [e for e in res.evidence if e["rule"] == "shared_value"]
    assert [(e["kind"], e["value"], e["entities"]) for e in said] == [("device_id", "dev-1", 3)]


def test_people_attach_to_accounts(hub: Hub, actor: Actor) -> None:
    acme = hub.identify(actor, account("crm", "110", {"display_name": "ACME"},
                                       org_ref="ORG-34", domain="https://www.acme.com/"))
    by_ref = hub.identify(actor, person("crm", "p1", email="a@other.io", org_ref="ORG-34"))
    by_domain = hub.identify(actor, person("support", "p2", email="bob@acme.com"))
    gmail = hub.identify(actor, person("support", "p3", email="carol@gmail.com"))
    sent_along = hub.identify(actor, IdentifyRequest(
        P, "widget", "w1", {"email": "dan@startup.io"}, {},
        account=account("widget", "org-9", {"display_name": "Startup"}, domain="startup.io")))
    assert hub.get(actor, P, by_ref.id)["account"] == acme.id
    assert hub.get(actor, P, by_domain.id)["account"] == acme.id
    assert hub.get(actor, P, gmail.id)["account"] is None
    assert sent_along.account is not None
    assert hub.get(actor, P, sent_along.id)["account"] == sent_along.account.id
    orphans = hub.quality(actor)["people_without_account"]
    assert orphans["count"] == 1 and orphans["items"][0]["id"] == gmail.id


def test_freshsuccess_cross_system_account_map(hub: Hub, actor: Actor) -> None:
    product = hub.identify(actor, account("product", "34", {"display_name": "ACME Services"}))
    crm = hub.identify(actor, IdentifyRequest(A, "crm", "110", {"source_id": ["product:34"]},
                                              {"display_name": "ACME"}))
    support = hub.identify(actor, account("support", "2101", {"display_name": "Acme Inc."}))
    assert crm.id == product.id
    assert support.id != product.id  # no shared identifier: issue 4's fuzzy matching
    walked = hub.merge(actor, A, product.id, [support.id])
    cw = hub.crosswalk(actor, A, walked["survivor"])
    assert cw["ids"] == {"product": ["34"], "crm": ["110"], "support": ["2101"]}
    view = hub.resolve(actor, A, source="support", source_id="2101")
    assert view["id"] == product.id and view["display_name"] == "ACME Services"


def test_crosswalk_put_and_conflict(hub: Hub, actor: Actor) -> None:
    acc = hub.identify(actor, account("product", "34", {"display_name": "ACME Services"}))
    other = hub.identify(actor, account("product", "35", {"display_name": "Other"}))
    cw = hub.set_crosswalk(actor, A, acc.id, {"crm": "110", "support": "2101"})
    assert cw["ids"] == {"product": ["34"], "crm": ["110"], "support": ["2101"]}
    assert hub.resolve(actor, A, source="crm", source_id="110")["id"] == acc.id
    from allroads.domain.errors import Conflict

    with pytest.raises(Conflict, match="already belongs"):
        hub.set_crosswalk(actor, A, other.id, {"crm": "110"})


def test_create_update_delete_and_changelog(hub: Hub, actor: Actor) -> None:
    acc = hub.create(actor, A, {"display_name": "ACME", "domains": ["acme.com"], "tier": "gold"})
    per = hub.create(actor, P, {"first_name": "Jane", "emails": ["jane@acme.com"],
                                "account": acc["id"]})
    assert per["account"] == acc["id"]
    with pytest.raises(IdentifierConflict, match="Email is already present"):
        hub.create(actor, P, {"first_name": "Other", "emails": ["JANE@acme.com"]})
    updated = hub.update(actor, P, per["id"], {"last_name": "Doe", "timezone": "Europe/Paris"})
    assert updated["last_name"] == "Doe" and updated["first_name"] == "Jane"
    changes = hub.changelog(actor, P, per["id"], cursor=None, limit=100)[0]
    last = [c for c in changes if c["field"] == "last_name"][-1]
    assert last["old"] is None and last["new"] == "Doe" and last["initiator"] == "test"
    assert last["touchpoint"] == "api"
    hub.delete(actor, P, per["id"])
    with pytest.raises(NotFound):
        hub.get(actor, P, per["id"])
    # Its email no longer identifies anyone: a new record creates a new person.
    again = hub.identify(actor, person("crm", "9", email="jane@acme.com"))
    assert again.action is Action.CREATED


def test_list_pagination_and_search(hub: Hub, actor: Actor) -> None:
    for i in range(7):
        hub.identify(actor, person("crm", str(i), {"name": f"Person {i}"},
                                   email=f"p{i}@acme.com"))
    seen, cursor = [], None
    while True:
        page, cursor = hub.list_entities(actor, P, cursor=cursor, limit=3)
        seen += [p["id"] for p in page]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    found, _ = hub.list_entities(actor, P, cursor=None, limit=10, query="p3@acme")
    assert [p["display_name"] for p in found] == ["Person 3"]


def test_tenants_are_isolated(hub: Hub, actor: Actor) -> None:
    mine = hub.identify(actor, person("crm", "1", email="jane@acme.com"))
    other_tenant = hub.ensure_tenant("globex")
    other = Actor(other_tenant.id, "test", "api", None)
    theirs = hub.identify(other, person("crm", "1", email="jane@acme.com"))
    assert theirs.action is Action.CREATED and theirs.id != mine.id
    with pytest.raises(NotFound):
        hub.get(other, P, mine.id)


def test_explain_shows_evidence(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", email="jane@acme.com"))
    hub.identify(actor, person("support", "2", email="jane@acme.com"))
    why = hub.explain(actor, P, a.id)
    support = next(r for r in why["records"] if r["source"] == "support")
    assert support["linked_by"]["rule"] == "identifier"
    assert support["linked_by"]["evidence"]["evidence"][0]["kind"] == "email"


def test_people_sharing_an_org_ref_stay_different_people(hub: Hub, actor: Actor) -> None:
    acme = hub.identify(actor, account("crm", "110", {"display_name": "ACME"}, org_ref="34"))
    a = hub.identify(actor, person("crm", "1", email="a@acme.com", org_ref="34"))
    b = hub.identify(actor, person("crm", "2", email="b@acme.com", org_ref="34"))
    assert a.id != b.id and b.action is Action.CREATED
    assert hub.get(actor, P, b.id)["account"] == acme.id
    assert not hub.quality(actor)["shared_identifiers"]


def test_free_mail_domains_never_identify_a_company(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, account("crm", "1", {"display_name": "Joe's Plumbing"},
                                    domain="gmail.com"))
    b = hub.identify(actor, account("crm", "2", {"display_name": "Ann's Bakery"},
                                    domain="gmail.com"))
    assert a.id != b.id
    assert any(e["rule"] == "blocked" and "free-mail" in e["reason"] for e in b.evidence)


def test_a_person_can_name_an_account_by_its_source_id(hub: Hub, actor: Actor) -> None:
    acme = hub.identify(actor, account("crm", "110", {"display_name": "ACME"}))
    res = hub.identify(actor, IdentifyRequest(P, "crm", "c1", {"email": "x@other.io"}, {},
                                              account=IdentifyRequest(A, "crm", "110")))
    assert res.account is not None and res.account.id == acme.id
    assert hub.get(actor, P, res.id)["account"] == acme.id
    with hub.store.read() as tx:
        record = tx.record(actor.tenant_id, "account", "crm", "110")
        assert record is not None and record.current_version == 1  # not overwritten


def test_rule_sets_are_checked_and_every_problem_named(hub: Hub, actor: Actor) -> None:
    with pytest.raises(InvalidInput) as err:
        hub.set_rules(actor, P, {"identifers": {}, "identifiers": {
            "email": {"blocked_values": "info@acme.com", "priority": 0, "colour": "red"},
            "phone": {"blocked_patterns": ["("]}}, "policies": {"import": "maybe"}})
    message = err.value.message
    for part in ("identifers: unknown setting", "email.blocked_values: must be a list",
                 "email.priority: must be a positive integer", "email.colour: unknown",
                 "phone.blocked_patterns", "policies.import"):
        assert part in message
    stored = hub.set_rules(actor, P, {"identifiers": {"email": {"blocked_values": [
        "sales@acme.com"]}}})
    assert stored["identifiers"]["email"]["blocked_values"] == ["sales@acme.com"]
    res = hub.identify(actor, person("crm", "1", email="sales@acme.com"))
    assert any(e["rule"] == "blocked" for e in res.evidence)


def test_an_integer_beyond_64_bits_is_stored_and_sent_again_unchanged(hub: Hub,
                                                                      actor: Actor) -> None:
    """orjson refuses integers beyond 64 bits: the content hash falls back to json (it
    failed with a TypeError, an API 500), and the same content hashes the same again."""
    big = 2**70
    req = person("crm", "big-1", {"name": "Jane Doe", "loyalty": big}, email="jane@big.example")
    first = hub.identify(actor, req)
    assert first.action is Action.CREATED and first.id
    again = hub.identify(actor, req)
    assert again.action is Action.MATCHED and again.id == first.id
    assert again.evidence[0]["unchanged"] is True
    changed = hub.identify(actor, person("crm", "big-1", {"name": "Jane Doe",
                                                          "loyalty": big + 1},
                                         email="jane@big.example"))
    assert changed.id == first.id and "unchanged" not in changed.evidence[0]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused_on_both_databases(hub: Hub, actor: Actor,
                                                        value: float) -> None:
    req = IdentifyRequest(EntityType.PERSON, "crm", "n1", {"email": "nan@acme.com"},
                          {"scores": {"risk": [1.5, value]}})
    with pytest.raises(InvalidInput) as caught:
        hub.identify(actor, req)
    assert caught.value.field == "attributes.scores.risk[1]"
    assert "not a number JSON can hold" in caught.value.message
    with pytest.raises(NotFound):  # nothing was stored
        hub.resolve(actor, EntityType.PERSON, kind="email", value="nan@acme.com")
