"""A rule change that blocks values differently re-marks the values already stored, and
works out their records' matching features again (`resolution/reblock.py`), on both
databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from allroads.batch.runs import MatchRuns
from allroads.cli.main import app
from allroads.domain.types import Actor, EntityType, IdentifyRequest, utcnow
from allroads.resolution.hub import Hub
from allroads.resolution.reblock import reblock
from allroads.resolution.rules import RuleSet
from api_helpers import make_api

P, A = EntityType.PERSON, EntityType.ACCOUNT
SHARED = r"@shared\.acme\.com$"


def person(source_id: str, email: str, **attributes: Any) -> IdentifyRequest:
    return IdentifyRequest(P, "crm", source_id, {"email": email},
                           {"first_name": "Jane", "last_name": "Cho", **attributes})


def blocked_values(hub: Hub, actor: Actor) -> dict[tuple[str, str, str], int]:
    """The quality report's blocked values: (type, kind, value) -> records holding it."""
    return {(b["type"], b["kind"], b["value"]): b["records"]
            for b in hub.quality(actor)["blocked_identifiers"]}


def stored_features(hub: Hub, actor: Actor, source_id: str) -> dict[str, Any]:
    with hub.store.read() as tx:
        record = tx.record(actor.tenant_id, "person", "crm", source_id)
        assert record is not None
        return tx.stored_match_features([record.id])[record.id][1]


def store_rules(hub: Hub, actor: Actor, rules: RuleSet) -> None:
    """Save a rule set without the pass that saving runs (so a test can run it itself)."""
    with hub.store.write() as tx:
        tx.put_rule_set(actor.tenant_id, rules.entity_type.value, rules.to_dict(), utcnow())


def test_kinds_blocked_differently() -> None:
    rules = RuleSet.default(P)
    assert rules.kinds_blocked_differently(rules) == []
    changed = RuleSet.from_dict(P, {"identifiers": {
        "email": {"blocked_patterns": [SHARED]},
        "phone": {"block_repeated_digits": False},
        "device_id": {"shared_limit": 9},  # not a block
        "loyalty_id": {"blocked_values": ["0000"]},  # a kind with no rule before
    }})
    assert rules.kinds_blocked_differently(changed) == ["email", "loyalty_id", "phone"]
    assert changed.kinds_blocked_differently(rules) == ["email", "loyalty_id", "phone"]


def test_blocking_a_stored_value_marks_it_and_drops_it_from_matching(
        hub: Hub, actor: Actor) -> None:
    hub.identify(actor, person("1", "desk@shared.acme.com"))
    hub.identify(actor, person("2", "jane@acme.com"))
    assert blocked_values(hub, actor) == {}
    assert stored_features(hub, actor, "1")["email_local"] == "desk"

    saved = hub.set_rules(actor, P, {"identifiers": {"email": {"blocked_patterns": [SHARED]}}})
    assert saved["remarked"] == {"checked": 2, "blocked": 1, "unblocked": 0, "records": 1}
    assert blocked_values(hub, actor) == {("person", "email", "desk@shared.acme.com"): 1}
    assert "email_local" not in stored_features(hub, actor, "1")
    assert stored_features(hub, actor, "2")["email_local"] == "jane"

    # Back to the defaults: the value identifies again, and matching reads it again.
    hub.set_rules(actor, P, {})
    assert blocked_values(hub, actor) == {}
    assert stored_features(hub, actor, "1")["email_local"] == "desk"


def test_switching_a_built_in_block_off_unblocks_stored_values(hub: Hub, actor: Actor) -> None:
    hub.identify(actor, IdentifyRequest(A, "crm", "1", {"domain": "gmail.com"},
                                        {"display_name": "Jane's shop"}))
    assert blocked_values(hub, actor) == {("account", "domain", "gmail.com"): 1}
    hub.set_rules(actor, A, {"identifiers": {"domain": {"block_free_mail": False}}})
    assert blocked_values(hub, actor) == {}
    hub.set_rules(actor, A, {"identifiers": {"domain": {"block_free_mail": True}}})
    assert blocked_values(hub, actor) == {("account", "domain", "gmail.com"): 1}


def test_every_stored_value_is_read_page_by_page(hub: Hub, actor: Actor) -> None:
    """Pages of 2 rows: values held by several records, and values on both sides of the
    blocks, are each marked once."""
    emails = ["a@x.com", "desk@shared.acme.com", "desk@shared.acme.com", "help@shared.acme.com",
              "b@x.com", "desk@shared.acme.com", "c@x.com"]
    for i, email in enumerate(emails):
        hub.identify(actor, person(str(i), email, first_name=f"P{i}", last_name=f"L{i}"))
    rules = RuleSet.from_dict(P, {"identifiers": {"email": {"blocked_patterns": [SHARED]}}})
    hub.set_rules(actor, P, rules.to_dict())
    assert blocked_values(hub, actor) == {("person", "email", "desk@shared.acme.com"): 3,
                                          ("person", "email", "help@shared.acme.com"): 1}
    # The marks already agree: a second pass changes nothing.
    again = reblock(hub.store, actor.tenant_id, P, rules, ["email"], page=2)
    assert (again.blocked, again.unblocked, again.records) == (0, 0, 0)
    # Unblocked a page at a time: every record holding one is worked out again.
    store_rules(hub, actor, RuleSet.default(P))
    done = reblock(hub.store, actor.tenant_id, P, RuleSet.default(P), ["email"], page=2)
    assert (done.blocked, done.unblocked, done.records) == (0, 4, 4)
    assert blocked_values(hub, actor) == {}


def test_a_pass_behind_a_newer_save_marks_by_the_newer_rules(hub: Hub, actor: Actor) -> None:
    """Two saves close together: the first one's pass, still running when the second is
    saved, must not undo the second's marks. Each page is marked by the rules stored when
    it is written (read, and on PostgreSQL locked, in the page's own transaction)."""
    hub.identify(actor, person("1", "desk@shared.acme.com"))
    hub.identify(actor, person("2", "info@acme.com"))  # blocked by the default patterns
    newer = RuleSet.from_dict(P, {"identifiers": {"email": {"blocked_patterns": [SHARED]}}})
    hub.set_rules(actor, P, newer.to_dict())  # blocks desk@, no longer info@
    assert blocked_values(hub, actor) == {("person", "email", "desk@shared.acme.com"): 1}
    # The pass of an older save of the defaults comes late: it would flip both back.
    late = reblock(hub.store, actor.tenant_id, P, RuleSet.default(P), ["email"])
    assert (late.checked, late.blocked, late.unblocked, late.records) == (2, 0, 0, 0)
    assert blocked_values(hub, actor) == {("person", "email", "desk@shared.acme.com"): 1}
    assert "email_local" not in stored_features(hub, actor, "1")


def test_another_tenants_values_are_left_alone(hub: Hub, actor: Actor) -> None:
    other_tenant = hub.ensure_tenant("globex", default_region="US")
    other = Actor(other_tenant.id, "test", "api", "US")
    hub.identify(actor, person("1", "desk@shared.acme.com"))
    hub.identify(other, person("1", "desk@shared.acme.com"))
    hub.set_rules(actor, P, {"identifiers": {"email": {"blocked_patterns": [SHARED]}}})
    assert blocked_values(hub, actor) == {("person", "email", "desk@shared.acme.com"): 1}
    assert blocked_values(hub, other) == {}
    assert stored_features(hub, other, "1")["email_local"] == "desk"


def test_match_index_repairs_the_marks(hub: Hub, actor: Actor) -> None:
    """A pass that stopped part-way left marks that disagree with the rules: `match index`
    (MatchRuns.index) marks every stored value of every kind with a rule again."""
    hub.identify(actor, person("1", "info@acme.com"))  # blocked by the default patterns
    hub.identify(actor, person("2", "jane@acme.com"))
    with hub.store.write() as tx:
        rows = tx.identifiers_of_kind(actor.tenant_id, "person", "email")
        assert [(value, blocked) for _, value, _, blocked in rows] == [
            ("info@acme.com", True), ("jane@acme.com", False)]
        tx.set_identifiers_blocked([rows[0][0]], False)
        tx.set_identifiers_blocked([rows[1][0]], True)
    assert blocked_values(hub, actor) == {("person", "email", "jane@acme.com"): 1}
    seen: list[tuple[int, int]] = []
    counts = MatchRuns(hub.store).index(actor, "person", marking=lambda checked, total:
                                        seen.append((checked, total)))
    assert (counts["blocked"], counts["unblocked"]) == (1, 1)
    assert seen == [(2, 4), (4, 4)]  # the two emails, then the two source ids
    assert blocked_values(hub, actor) == {("person", "email", "info@acme.com"): 1}
    assert MatchRuns(hub.store).index(actor, "person")["blocked"] == 0  # nothing left


def test_progress_and_counts_reach_the_api_and_the_cli(hub: Hub, actor: Actor,
                                                       tmp_path: Path) -> None:
    """The pass reports its progress page by page, and the API's and the CLI's answers say
    what it did."""
    for i, email in enumerate(["a@x.com", "desk@shared.acme.com", "b@x.com"]):
        hub.identify(actor, person(str(i), email, first_name=f"P{i}"))
    hub.identify(actor, IdentifyRequest(P, "crm", "9", {"phone": "+14155552671"}, {}))
    rules = RuleSet.from_dict(P, {"identifiers": {"email": {"blocked_patterns": [SHARED]}}})
    store_rules(hub, actor, rules)
    seen: list[tuple[int, int]] = []
    done = reblock(hub.store, actor.tenant_id, P, rules, ["phone", "email", "email"], page=2,
                   progress=lambda checked, total: seen.append((checked, total)))
    assert seen == [(2, 4), (3, 4), (4, 4)]  # the emails' two pages, then the phone's
    # A value removed from its record is not read, but counted in the first total.
    hub.identify(actor, IdentifyRequest(P, "crm", "9", {"phone": "+14155552672"}, {}))
    seen.clear()
    reblock(hub.store, actor.tenant_id, P, rules, ["phone"],
            progress=lambda checked, total: seen.append((checked, total)))
    assert seen == [(1, 2), (1, 1)]
    assert (done.checked, done.blocked, done.unblocked, done.records) == (4, 1, 0, 1)
    assert reblock(hub.store, actor.tenant_id, P, rules, []).checked == 0

    # Over HTTP: switching the pattern off unblocks the stored value again.
    api = make_api(hub)
    saved = api.ok("PUT", "/rules/person", json={})
    assert saved["remarked"] == {"checked": 3, "blocked": 0, "unblocked": 1, "records": 1}
    unchanged = api.ok("PUT", "/rules/person", json={"policies": {"api": "review"}})
    assert unchanged["remarked"]["checked"] == 0

    # The CLI prints the counts under the rules (and has them in --json).
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps(rules.to_dict()))
    env = {"ALLROADS_DATABASE_URL": hub.store.url, "ALLROADS_TENANT": None}
    shown = CliRunner().invoke(app, ["rules", "set", str(rules_file), "-t", "acme"], env=env)
    assert shown.exit_code == 0, shown.output
    assert ("Stored values read again: 3; now blocked 1, unblocked 0; records re-indexed 1."
            in shown.stdout)
    as_json = CliRunner().invoke(app, ["rules", "set", str(rules_file), "-t", "acme",
                                       "--json"], env=env)
    assert json.loads(as_json.stdout)["remarked"] == {"checked": 0, "blocked": 0,
                                                       "unblocked": 0, "records": 0}
