"""People attach to accounts, on both databases and on both write paths (identify one record
at a time, and the bulk seed that imports write through): by the account sent along, by
org_ref or the account's external id, else by the email's domain. The decision's evidence is
kept: in identify's answer and on the record's link, which explain shows."""

from __future__ import annotations

from typing import Any

import pytest

from allroads.domain.types import Action, Actor, EntityType, IdentifyRequest
from allroads.resolution.bulk import seed
from allroads.resolution.hub import Hub

P, A = EntityType.PERSON, EntityType.ACCOUNT
PATHS = ["identify", "seed"]


def person(source_id: str, attributes: dict[str, Any] | None = None, *, source: str = "crm",
           **identifiers: object) -> IdentifyRequest:
    return IdentifyRequest(P, source, source_id, dict(identifiers), attributes or {})


def account(source_id: str, **identifiers: object) -> IdentifyRequest:
    return IdentifyRequest(A, "crm", source_id, dict(identifiers),
                           {"display_name": f"Account {source_id}"})


def load(hub: Hub, actor: Actor, path: str, requests: list[IdentifyRequest]) -> None:
    """Store the requests one by one through identify, or in bulk as an import seeds them."""
    if path == "seed":
        report = seed(hub.store, actor, requests)
        assert report.seeded == len(requests)  # written in bulk, none routed to identify
    else:
        for req in requests:
            hub.identify(actor, req)


def link_evidence(hub: Hub, actor: Actor, public_id: str, source: str = "crm"
                  ) -> list[dict[str, Any]]:
    """The evidence on the current link of the person's record from `source`, as explain
    shows it."""
    records = [r for r in hub.explain(actor, P, public_id)["records"] if r["source"] == source]
    assert len(records) == 1
    evidence: list[dict[str, Any]] = records[0]["linked_by"]["evidence"]["evidence"]
    return evidence


@pytest.mark.parametrize("path", PATHS)
def test_an_email_at_a_unicode_domain_joins_the_account_holding_it(
        hub: Hub, actor: Actor, path: str) -> None:
    acc = hub.identify(actor, account("1", domain="münchen.de"))
    load(hub, actor, path, [person("p1", email="jane@münchen.de"),
                            person("p2", email="otto@xn--mnchen-3ya.de"),  # sent as punycode
                            person("p3", email="carol@gmail.com")])
    why = {"rule": "account", "by": "email_domain", "value": "xn--mnchen-3ya.de",
           "account": acc.id}
    for email in ("jane@münchen.de", "otto@münchen.de"):
        view = hub.resolve(actor, P, kind="email", value=email)
        assert view["account"] == acc.id, email
        assert why in link_evidence(hub, actor, view["id"])
    free = hub.resolve(actor, P, kind="email", value="carol@gmail.com")
    assert free["account"] is None  # a free-mail domain names no company
    assert all(e["rule"] != "account" for e in link_evidence(hub, actor, free["id"]))


@pytest.mark.parametrize("path", PATHS)
def test_a_person_joins_the_account_by_its_external_id(hub: Hub, actor: Actor,
                                                       path: str) -> None:
    acc = hub.identify(actor, account("1", external_id="X-9"))
    hub.identify(actor, account("2", domain="acme.com"))
    load(hub, actor, path, [person("p1", email="jane@acme.com", org_ref="X-9"),
                            person("p2", {"account_external_id": "X-9"}, email="john@acme.com")])
    why = {"rule": "account", "by": "external_id", "value": "X-9", "account": acc.id}
    for email in ("jane@acme.com", "john@acme.com"):
        view = hub.resolve(actor, P, kind="email", value=email)
        assert view["account"] == acc.id, email  # the reference wins over the domain
        assert why in link_evidence(hub, actor, view["id"])


def test_the_attach_decision_is_in_the_answer_and_on_the_link(hub: Hub, actor: Actor) -> None:
    acme = hub.identify(actor, account("1", org_ref="ORG-34", domain="acme.com"))
    by_ref = hub.identify(actor, person("p1", email="a@other.io", org_ref="ORG-34"))
    by_domain = hub.identify(actor, person("p2", email="bob@acme.com"))
    sent_along = hub.identify(actor, IdentifyRequest(
        P, "widget", "w1", {"email": "dan@startup.io"}, {},
        account=IdentifyRequest(A, "widget", "org-9", {"domain": "startup.io"},
                                {"display_name": "Startup"})))
    assert sent_along.account is not None and sent_along.account.id
    expected = [
        (by_ref, {"rule": "account", "by": "org_ref", "value": "ORG-34", "account": acme.id}),
        (by_domain, {"rule": "account", "by": "email_domain", "value": "acme.com",
                     "account": acme.id}),
        (sent_along, {"rule": "account", "by": "account", "account": sent_along.account.id}),
    ]
    for result, why in expected:
        assert result.action is Action.CREATED and result.id
        assert why in result.evidence
        source = "widget" if result is sent_along else "crm"
        assert link_evidence(hub, actor, result.id, source) == result.evidence
    # A person without an account, joined by a later record that names one: that record's
    # link keeps why, and the changelog the change.
    alone = hub.identify(actor, person("p3", email="eve@other.io"))
    assert alone.id and hub.get(actor, P, alone.id)["account"] is None
    joined = hub.identify(actor, person("s3", source="support", email="eve@other.io",
                                        org_ref="ORG-34"))
    assert joined.action is Action.MATCHED and joined.id == alone.id
    why = {"rule": "account", "by": "org_ref", "value": "ORG-34", "account": acme.id}
    assert why in joined.evidence
    assert link_evidence(hub, actor, alone.id, "support") == joined.evidence
    assert why not in link_evidence(hub, actor, alone.id, "crm")
    changes = hub.changelog(actor, P, alone.id, cursor=None, limit=100)[0]
    assert [(c["old"], c["new"]) for c in changes if c["field"] == "account"] == [
        (None, acme.id)]
