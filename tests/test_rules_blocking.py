"""Blocked values as rule data: the default blocks, a tenant's own patterns, and the built-in
blocks (phones of one repeated digit, free-mail domains) shown in the rules and switchable,
on both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from allroads.cli.main import app
from allroads.domain.errors import InvalidInput
from allroads.domain.types import Action, Actor, EntityType, IdentifyRequest, utcnow
from allroads.resolution.hub import Hub
from allroads.resolution.rules import RuleSet
from api_helpers import Api, assert_problem, make_api

P, A = EntityType.PERSON, EntityType.ACCOUNT
# Valid numbers whose national number is one repeated digit (+1 111-111-1111 is no valid
# number: normalizing refuses it before any rule is read).
REPEATED, OTHER_REPEATED = "+91 99999 99999", "+91 88888 88888"
BUILT_IN = ("block_repeated_digits", "block_free_mail")


def person(source_id: str, **identifiers: object) -> IdentifyRequest:
    return IdentifyRequest(P, "crm", source_id, dict(identifiers), {})


def account(source_id: str, **identifiers: object) -> IdentifyRequest:
    return IdentifyRequest(A, "crm", source_id, dict(identifiers), {"display_name": source_id})


def blocked(evidence: list[dict[str, Any]], value: str) -> list[str]:
    """The reasons the evidence gives for blocking `value`."""
    return [e["reason"] for e in evidence if e["rule"] == "blocked" and e["value"] == value]


@pytest.fixture
def api(hub: Hub) -> Api:
    return make_api(hub)


@pytest.mark.parametrize("email", ["noreply@x.com", "test@x.com"])
def test_default_blocked_local_parts_never_identify(hub: Hub, actor: Actor, email: str) -> None:
    a = hub.identify(actor, person("1", email=email))
    b = hub.identify(actor, person("2", email=email))
    assert b.action is Action.CREATED and a.id != b.id
    assert any("blocked pattern" in r for r in blocked(b.evidence, email)), b.evidence
    # The same domain with a personal local part does identify: the local part blocks.
    c = hub.identify(actor, person("3", email="jane@x.com"))
    d = hub.identify(actor, person("4", email="jane@x.com"))
    assert d.action is Action.MATCHED and d.id == c.id


def test_a_tenant_blocked_pattern_blocks(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("1", email="desk@shared.acme.com"))
    assert hub.identify(actor, person("2", email="desk@shared.acme.com")).id == a.id
    hub.set_rules(actor, P, {"identifiers": {"email": {
        "blocked_patterns": [r"@shared\.acme\.com$"]}}})
    c = hub.identify(actor, person("3", email="desk@shared.acme.com"))
    assert c.action is Action.CREATED and c.id != a.id
    assert blocked(c.evidence, "desk@shared.acme.com") == [
        "'desk@shared.acme.com' matches the blocked pattern '@shared\\\\.acme\\\\.com$'"]


def test_a_tenant_blocked_value_blocks_over_the_api(api: Api) -> None:
    api.ok("PUT", "/rules/person", json={"identifiers": {"phone": {
        "blocked_values": ["+14155552671"]}}})
    a = api.identify("person", "crm", "1", phone="(415) 555-2671")
    b = api.identify("person", "crm", "2", phone="+1 415 555 2671")
    assert b["action"] == "created" and a["id"] != b["id"]
    assert any(e["rule"] == "blocked" and "blocked list" in e["reason"] for e in b["evidence"])


def test_built_in_blocks_are_shown_in_the_rules(api: Api) -> None:
    people = api.ok("GET", "/rules/person")["identifiers"]
    accounts = api.ok("GET", "/rules/account")["identifiers"]
    for rules in (people, accounts):
        assert rules["phone"]["block_repeated_digits"] is True
        assert rules["phone"]["block_free_mail"] is False
        assert rules["domain"]["block_free_mail"] is True
        assert rules["domain"]["block_repeated_digits"] is False
    # Every other kind has the settings too, off.
    assert {k: [people[k][b] for b in BUILT_IN] for k in people
            if k not in ("phone", "domain")} == {k: [False, False] for k in people
                                                  if k not in ("phone", "domain")}


def test_repeated_digit_block_can_be_switched_off(api: Api) -> None:
    a = api.identify("person", "crm", "1", phone=REPEATED)
    b = api.identify("person", "crm", "2", phone=REPEATED)
    assert a["id"] != b["id"]
    assert any("one repeated digit" in e.get("reason", "") for e in b["evidence"])

    saved = api.ok("PUT", "/rules/person", json={"identifiers": {"phone": {
        "block_repeated_digits": False}}})
    phone = saved["identifiers"]["phone"]
    assert phone["block_repeated_digits"] is False
    assert phone["blocked_values"] == ["+12025550100", "+18005550199"]  # the rest is kept
    assert api.ok("GET", "/rules/person")["identifiers"]["phone"] == phone
    c = api.identify("person", "crm", "3", phone=OTHER_REPEATED)
    d = api.identify("person", "crm", "4", phone=OTHER_REPEATED)
    assert d["action"] == "matched" and d["id"] == c["id"]
    assert {"rule": "identifier", "kind": "phone", "value": "+918888888888", "priority": 70,
            "entity": c["id"]} in d["evidence"]
    assert not [e for e in c["evidence"] + d["evidence"] if e["rule"] == "blocked"]


def test_free_mail_block_can_be_switched_off(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, account("1", domain="gmail.com"))
    b = hub.identify(actor, account("2", domain="gmail.com"))
    assert a.id != b.id and blocked(b.evidence, "gmail.com")

    rules = hub.set_rules(actor, A, {"identifiers": {"domain": {"block_free_mail": False}}})
    assert rules["identifiers"]["domain"]["block_free_mail"] is False
    c = hub.identify(actor, account("3", domain="yahoo.com"))
    d = hub.identify(actor, account("4", domain="yahoo.com"))
    assert d.action is Action.MATCHED and d.id == c.id
    assert not blocked(c.evidence + d.evidence, "yahoo.com")


def test_stored_rules_without_the_built_in_settings_load_with_defaults(
        hub: Hub, actor: Actor) -> None:
    """A rule set stored before the built-in blocks were settings lacks them: it loads with
    them on, as they were then, and keeps what it says."""
    for etype in (P, A):
        old = RuleSet.default(etype).to_dict()
        for rule in old["identifiers"].values():
            for key in BUILT_IN:
                del rule[key]
        old["identifiers"]["phone"]["priority"] = 65
        with hub.store.write() as tx:
            tx.put_rule_set(actor.tenant_id, etype.value, old, utcnow())
        loaded = hub.rules(actor, etype)["identifiers"]
        assert loaded["phone"]["priority"] == 65  # the stored set, not the defaults
        assert loaded["phone"]["block_repeated_digits"] is True
        assert loaded["domain"]["block_free_mail"] is True
        assert loaded["email" if etype is P else "org_ref"]["block_free_mail"] is False

    a = hub.identify(actor, person("1", phone=REPEATED))
    b = hub.identify(actor, person("2", phone=REPEATED))
    assert a.id != b.id and blocked(b.evidence, "+919999999999")
    c = hub.identify(actor, account("1", domain="gmail.com"))
    d = hub.identify(actor, account("2", domain="gmail.com"))
    assert c.id != d.id and blocked(d.evidence, "gmail.com")


def test_built_in_blocks_are_checked(hub: Hub, actor: Actor) -> None:
    with pytest.raises(InvalidInput) as err:
        hub.set_rules(actor, P, {"identifiers": {
            "phone": {"block_repeated_digits": "no"},
            "domain": {"block_free_mail": 1},
            "email": {"block_free_mail": True, "block_repeated_digits": False},
            "card_number": {"block_repeated_digits": True}}})
    message = err.value.message
    for part in ("identifiers.phone.block_repeated_digits: must be true or false",
                 "identifiers.domain.block_free_mail: must be true or false",
                 "identifiers.email.block_free_mail: only domain",
                 "identifiers.card_number.block_repeated_digits: only phone"):
        assert part in message, message
    assert "email.block_repeated_digits" not in message  # false is fine on any kind
    assert hub.rules(actor, P)["identifiers"]["phone"]["block_repeated_digits"] is True


def test_built_in_blocks_are_checked_over_the_api(api: Api) -> None:
    wrong_type = {"identifiers": {"phone": {"block_repeated_digits": "sometimes"}}}
    problem = assert_problem(api.put("/rules/person", json=wrong_type), 422,
                             "validation_error")
    assert problem["errors"][0]["location"].endswith("block_repeated_digits"), problem
    for loose in ("true", 1, "false", 0):  # as strict as the CLI: true or false only
        for key in ("unique", "block_free_mail"):
            res = api.put("/rules/account", json={"identifiers": {"domain": {key: loose}}})
            problem = assert_problem(res, 422, "validation_error")
            assert problem["errors"][0]["location"].endswith(key), problem
    wrong_kind = {"identifiers": {"email": {"block_free_mail": True}}}
    problem = assert_problem(api.put("/rules/account", json=wrong_kind), 422, "invalid_input")
    assert "email.block_free_mail: only domain" in problem["detail"]


runner = CliRunner()


def test_cli_shows_and_sets_the_built_in_blocks(hub: Hub, actor: Actor,
                                                tmp_path: Path) -> None:
    env = {"ALLROADS_DATABASE_URL": hub.store.url, "ALLROADS_TENANT": None}
    shown = runner.invoke(app, ["rules", "show", "--type", "account", "-t", "acme"], env=env)
    assert shown.exit_code == 0, shown.output
    # (The table wraps its Blocked column at 80 characters: look for single words.)
    assert "free-mail" in shown.stdout and "repeated" in shown.stdout
    assert "repeated" in runner.invoke(app, ["rules", "show", "-t", "acme"], env=env).stdout

    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps({"identifiers": {"phone": {
        "block_repeated_digits": False}}}))
    saved = runner.invoke(app, ["rules", "set", str(rules_file), "-t", "acme", "--json"],
                          env=env)
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout)["identifiers"]["phone"]["block_repeated_digits"] is False
    assert "repeated" not in runner.invoke(app, ["rules", "show", "-t", "acme"], env=env).stdout

    rules_file.write_text(json.dumps({"identifiers": {"phone": {
        "block_repeated_digits": "off"}}}))
    invalid = runner.invoke(app, ["rules", "set", str(rules_file), "-t", "acme"], env=env)
    assert invalid.exit_code == 2
    assert "phone.block_repeated_digits: must be true or false" in invalid.stderr
