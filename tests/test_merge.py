"""Merges, undo, redirects and force decisions, on both databases."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allroads.domain.errors import Conflict, NotFound
from allroads.domain.types import Action, Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub

P, A = EntityType.PERSON, EntityType.ACCOUNT


def person(source: str, source_id: str, attributes: dict | None = None,
           **identifiers: object) -> IdentifyRequest:
    return IdentifyRequest(P, source, source_id, dict(identifiers), attributes or {})


def snapshot(hub: Hub, actor: Actor, ids: list[str]) -> dict[str, object]:
    out = {}
    for i in ids:
        view = hub.get(actor, P, i)
        view.pop("updated_at")
        out[i] = (view, [(h["kind"], h["value"], h["source"], h["active"])
                         for h in hub.identifier_history(actor, P, i)])
    return out


def test_merge_redirects_and_undo_restores(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", {"name": "Jane Doe", "tier": "gold"},
                                   email="jane@acme.com")).id
    b = hub.identify(actor, person("support", "2", {"name": "J. Doe", "area": "Paris"},
                                   phone="+33 1 42 68 53 00")).id
    assert a and b
    before = snapshot(hub, actor, [a, b])
    merged = hub.merge(actor, P, a, [b])
    assert merged["survivor"] == a and merged["merged"] == [b]
    survivor = hub.get(actor, P, b)
    assert survivor["id"] == a
    assert survivor["emails"] == ["jane@acme.com"] and survivor["phones"] == ["+33142685300"]
    assert survivor["area"] == "Paris" and survivor["name"] == "Jane Doe"
    assert hub.resolve(actor, P, kind="phone", value="+33142685300")["id"] == a
    hub.undo_merge(actor, merged["merge_id"])
    assert snapshot(hub, actor, [a, b]) == before
    with pytest.raises(Conflict, match="already undone"):
        hub.undo_merge(actor, merged["merge_id"])
    changes = hub.changelog(actor, P, a, cursor=None, limit=100)[0]
    assert any(c["field"] == "merged" and c["new"] == b for c in changes)
    assert any(c["field"] == "unmerged" and c["old"] == b for c in changes)


def test_undo_keeps_them_apart(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", email="jane@acme.com")).id
    b = hub.identify(actor, person("support", "2", phone="+14155552671")).id
    bridge = hub.identify(actor, person("product", "3", email="jane@acme.com",
                                        phone="+14155552671"))
    assert bridge.action is Action.MERGED and bridge.merge_id
    hub.undo_merge(actor, bridge.merge_id)
    again = hub.identify(actor, person("product", "4", email="jane@acme.com",
                                       phone="+14155552671"))
    assert again.action is Action.MATCHED and again.id == a
    # The bridge record stayed with a, so the phone is now shared and stops identifying;
    # either way a and b are never joined again.
    assert any(e["rule"] in ("not_merged", "shared_value") for e in again.evidence)
    decisions = hub.explain(actor, P, a)["decisions"]
    assert decisions[0]["kind"] == "apart" and set(decisions[0]["between"]) == {a, b}
    assert hub.get(actor, P, a)["id"] == a and hub.get(actor, P, b)["id"] == b


def test_force_apart_is_respected_after_later_merges(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", email="a@acme.com")).id
    b = hub.identify(actor, person("crm", "2", email="b@acme.com")).id
    c = hub.identify(actor, person("crm", "3", email="c@acme.com")).id
    hub.keep_apart(actor, P, a, [b])
    hub.merge(actor, P, c, [b])  # b merges into the older... c is newer: survivor is b
    res = hub.identify(actor, person("shop", "9", email="a@acme.com", phone="+14155552671"))
    res2 = hub.identify(actor, person("shop", "10", email="c@acme.com", phone="+14155552671"))
    assert res.id == a and res2.id != a
    assert any("force-apart" in e.get("reason", "") for e in res2.evidence)


def test_force_together_overrides_protection(hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", external_id="C-1")).id
    b = hub.identify(actor, person("shop", "1", external_id="C-2")).id
    merged = hub.merge(actor, P, a, [b])
    view = hub.get(actor, P, b)
    assert view["id"] == a and sorted(view["identifiers"]["external_id"]) == ["C-1", "C-2"]
    why = hub.explain(actor, P, a)
    assert why["decisions"][0]["kind"] == "together"
    assert why["merges"][0]["merge_id"] == merged["merge_id"]


def test_undoing_a_manual_merge_without_keeping_apart_ends_its_force_together(
        hub: Hub, actor: Actor) -> None:
    a = hub.identify(actor, person("crm", "1", external_id="C-1")).id
    b = hub.identify(actor, person("shop", "1", external_id="C-2")).id
    merged = hub.merge(actor, P, a, [b])
    hub.undo_merge(actor, merged["merge_id"], keep_apart=False)
    kinds = [d["kind"] for d in hub.explain(actor, P, a)["decisions"]]
    assert kinds == ["together", "cleared"]  # the newest: no decision in force
    assert hub.get(actor, P, b)["id"] == b


def test_undo_of_a_merge_whose_survivor_merged_again(hub: Hub, actor: Actor) -> None:
    a, b, c = (hub.identify(actor, person("crm", str(i), email=f"{i}@acme.com")).id
               for i in range(3))
    first = hub.merge(actor, P, b, [c])   # c into b
    second = hub.merge(actor, P, a, [b])  # b into a
    with pytest.raises(Conflict, match="undo the later merge first"):
        hub.undo_merge(actor, first["merge_id"])
    hub.undo_merge(actor, second["merge_id"])
    hub.undo_merge(actor, first["merge_id"])
    assert {hub.get(actor, P, x)["id"] for x in (a, b, c)} == {a, b, c}


def test_account_merge_moves_people_and_undo_moves_them_back(hub: Hub, actor: Actor) -> None:
    acme = hub.create(actor, A, {"display_name": "ACME", "domains": ["acme.com"]})["id"]
    acme2 = hub.create(actor, A, {"display_name": "Acme Inc."})["id"]
    p = hub.create(actor, P, {"first_name": "Bob", "account": acme2})["id"]
    m = hub.merge(actor, A, acme, [acme2])
    assert hub.get(actor, P, p)["account"] == acme
    hub.undo_merge(actor, m["merge_id"])
    assert hub.get(actor, P, p)["account"] == acme2


def test_survivorship_between_equal_sources_takes_the_latest_value(hub: Hub,
                                                                   actor: Actor) -> None:
    for source in ("shop", "pos"):
        hub.set_source(actor, source, 50)
    a = hub.identify(actor, person("shop", "1", {"area": "Paris"}, email="jane@acme.com")).id
    assert a
    hub.identify(actor, person("pos", "1", {"area": "Lyon"}, email="jane@acme.com"))
    view = hub.get(actor, P, a)
    assert view["area"] == "Lyon" and view["provenance"]["area"]["source"] == "pos"
    hub.identify(actor, person("shop", "1", {"area": "Nice"}, email="jane@acme.com"))
    view = hub.get(actor, P, a)
    assert view["area"] == "Nice" and view["provenance"]["area"]["source"] == "shop"


def test_survivorship_an_empty_value_never_beats_a_value(hub: Hub, actor: Actor) -> None:
    hub.set_source(actor, "erp", 90)
    hub.set_source(actor, "shop", 10)
    a = hub.identify(actor, person("shop", "1", {"area": "Paris", "languages": ["fr"],
                                                 "timezone": "Europe/Berlin"},
                                   email="jane@acme.com")).id
    assert a
    # erp outranks shop and is the more recent: only its empty values lose.
    hub.identify(actor, person("erp", "1", {"area": "", "languages": [],
                                            "timezone": "Europe/Paris"},
                               email="jane@acme.com"))
    view = hub.get(actor, P, a)
    assert view["timezone"] == "Europe/Paris"
    assert view["area"] == "Paris" and view["custom_attributes"]["languages"] == ["fr"]
    assert {f: view["provenance"][f]["source"] for f in ("timezone", "area", "languages")} \
        == {"timezone": "erp", "area": "shop", "languages": "shop"}


def test_unknown_merge(hub: Hub, actor: Actor) -> None:
    with pytest.raises(NotFound):
        hub.undo_merge(actor, "mrg_nope")


_counter = itertools.count()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(merges=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1,
                       max_size=6),
       undo_order=st.randoms(use_true_random=False))
def test_any_merges_then_undos_restore_everything(hub: Hub, merges: list[tuple[int, int]],
                                                  undo_order: object) -> None:
    """Property: any sequence of merges, then undoing them all (in any order that is
    allowed), gives back exactly the original profiles and identifiers."""
    tenant = hub.ensure_tenant(f"prop{next(_counter)}", default_region="US")
    actor = Actor(tenant.id, "prop", "api", "US")
    ids = []
    for i in range(5):
        res = hub.identify(actor, person(
            ["crm", "support", "product"][i % 3], str(i),
            {"name": f"Person {i}", "tier": ["gold", "silver", None][i % 3],
             "tags": [f"t{i}", "shared"]},
            email=f"p{i}@acme.com", phone=f"+1415555{2600 + i}"))
        assert res.id
        ids.append(res.id)
    before = snapshot(hub, actor, ids)
    done = []
    for x, y in merges:
        ex, ey = hub.get(actor, P, ids[x])["id"], hub.get(actor, P, ids[y])["id"]
        if ex != ey:
            done.append(hub.merge(actor, P, ex, [ey])["merge_id"])
    pending = list(done)
    undo_order.shuffle(pending)  # type: ignore[attr-defined]
    while pending:
        progressed = False
        for merge_id in list(pending):
            try:
                hub.undo_merge(actor, merge_id)
            except Conflict:
                continue
            pending.remove(merge_id)
            progressed = True
        assert progressed, "some merge could never be undone"
    assert snapshot(hub, actor, ids) == before
