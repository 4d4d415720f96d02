"""Bulk seed, on both databases: what it stores is what identify, one request at a time, stores.

Each test loads the same requests into two tenants of one store: tenant "seeded" through
`bulk_seed`, tenant "identified" through `hub.identify` one by one, then compares everything
the two tenants hold (entities, records, versions, index rows, links, profiles, changelog,
merges, review items, sources) and what resolving every identifier answers. Random public
ids, internal ids and times differ by nature; ids are compared through a label (the records
an entity ever held), times not at all.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from allroads.domain.errors import AllroadsError, Conflict, InvalidInput, NotFound
from allroads.domain.types import Action, Actor, EntityType, IdentifyRequest
from allroads.resolution.bulk import bulk_seed, seed
from allroads.resolution.hub import Hub
from allroads.store import Store
from allroads.store.schema import (
    changelog,
    entities,
    identifiers,
    links,
    match_candidates,
    match_keys,
    merges,
    profiles,
    record_versions,
    records,
    review_items,
    sources,
)

P, A = EntityType.PERSON, EntityType.ACCOUNT


def person(source: str, source_id: str | None, attributes: dict[str, Any] | None = None,
           touchpoint: str | None = None, **idents: object) -> IdentifyRequest:
    return IdentifyRequest(P, source, source_id, dict(idents), attributes or {},
                           touchpoint=touchpoint)


def account(source: str, source_id: str, attributes: dict[str, Any] | None = None,
            **idents: object) -> IdentifyRequest:
    return IdentifyRequest(A, source, source_id, dict(idents), attributes or {})


def mixed_requests() -> list[IdentifyRequest]:
    """New people, duplicates inside the input, merges, protection, blocked values, accounts,
    a nested account, a rejection: what a real first import throws at the loader."""
    return [
        person("crm", "1", {"first_name": "Jane", "last_name": "Doe"}, email="Jane@Acme.com",
               phone="(415) 555-2671"),
        person("crm", "2", {"name": "Dr. John A. Smith Jr.", "tags": ["vip"]},
               email="john@gmail.com"),
        person("support", "9", {"tier": "silver"}, email=" jane@ACME.com "),  # = crm 1
        person("crm", "1", {"first_name": "Jane", "last_name": "Doe", "tier": "gold"},
               email="jane@acme.com", phone="+14155552671"),  # crm 1, a new version
        person("product", "p3", {"name": "Bob"}, email="bob@x.io"),
        person("widget", None, {"name": "Carol"}, email="carol@y.io"),  # key derived
        person("product", "p4", {"name": "Dave", "tags": ["beta"]}, email="dave@z.io",
               phone="+1 415.555.0123"),
        person("product", "p5", {"area": "west"}, email="bob@x.io",
               phone="(415) 555-0123"),  # bridges p3 and p4: a merge
        person("crm", "e1", {"name": "Eve One"}, external_id="C-1", email="eve@e.io"),
        person("shop", "7", {"name": "Eve Two"}, external_id="C-2",
               email="eve@e.io"),  # protected: another customer
        person("crm", "b1", {"name": "Info Desk"}, email="info@acme.com"),  # blocked value
        person("crm", "b2", {"name": "Info Desk 2"}, email="info@acme.com"),
        person("product", "p12", {"name": "José Núñez", "prefs": {"b": 1, "a": [2, 1]},
                                  "score": 1.5, "vip": True, "note": None},
               email="JOSE@NUNEZ.ES", phone="+49 151 2345 6789"),
        person("import", "r1", {"name": "Rejected"}, touchpoint="import",
               email=["bob@x.io", "john@gmail.com"]),  # reject policy: two customers
        account("crm", "110", {"display_name": "ACME"}, domain="https://www.acme.com/",
                org_ref="ORG-34"),
        account("crm", "111", {"display_name": "Globex"}, domain="globex.io"),
        person("crm", "p10", {"name": "Zed"}, email="zed@acme.com"),  # by email domain
        person("crm", "p11", {"name": "Amy"}, email="amy@other.io", org_ref="ORG-34"),
        person("crm", "p13", {"name": "Ann", "account_external_id": "ORG-34"},
               email="ann@else.io"),
        IdentifyRequest(P, "widget", "w1", {"email": "dan@startup.io"}, {"name": "Dan"},
                        account=account("widget", "org-9", {"display_name": "Startup"},
                                        domain="startup.io")),
        person("crm", "p14", {"name": "Sam"}, email="sam@startup.io"),  # joins Startup
        person("crm", "p15", {"name": "Gus"}, email="gus@globex.io", phone="4155550199"),
    ]


def tenants(hub: Hub) -> tuple[Actor, Actor]:
    a = hub.ensure_tenant("seeded", default_region="US")
    b = hub.ensure_tenant("identified", default_region="US")
    return (Actor(a.id, "loader", "api", "US"), Actor(b.id, "loader", "api", "US"))


def identify_each(hub: Hub, actor: Actor, requests: Sequence[IdentifyRequest]) -> Counter[str]:
    return Counter(hub.identify(actor, r).action.value for r in requests)


# What a tenant holds, with ids replaced by labels -------------------------------------
_PUBLIC = re.compile(r"\b(?:per|acc|mrg|rev|rej)_[a-z2-7]{16}\b")


def snapshot(store: Store, tenant_id: int) -> dict[str, Any]:
    with store.engine.connect() as c:
        def rows(table: sa.Table, *order: Any) -> list[Any]:
            return list(c.execute(sa.select(table).where(table.c.tenant_id == tenant_id)
                                  .order_by(*(order or (table.c.id,)))))

        ents = {r.id: r for r in rows(entities)}
        recs = {r.id: r for r in rows(records)}
        lks = rows(links)
        vers = list(c.execute(sa.select(record_versions).where(
            record_versions.c.record_id.in_(list(recs) or [0]))))
        held: defaultdict[int, set[str]] = defaultdict(set)
        for lk in lks:
            held[lk.entity_id].add(f"{recs[lk.record_id].source}:{recs[lk.record_id].source_key}")
        label = {e: "+".join(sorted(held[e])) or f"empty{e}" for e in ents}
        mrg = rows(merges)
        names = {ents[e].public_id: label[e] for e in ents}
        names.update({m.public_id: f"merge({label[m.survivor_id]})" for m in mrg})
        reviews = rows(review_items)
        names.update({r.public_id: f"review{i}" for i, r in enumerate(reviews)})

        def canon(value: Any) -> Any:
            if isinstance(value, str):
                return _PUBLIC.sub(lambda m: names.get(m.group(0), "?"), value)
            if isinstance(value, list):
                return [canon(v) for v in value]
            if isinstance(value, dict):
                return {k: canon(v) for k, v in value.items() if k != "record"}
            return value

        def lab(eid: int | None) -> str | None:
            return None if eid is None else label[eid]

        def key(record_id: int) -> tuple[str, str]:
            return recs[record_id].source, recs[record_id].source_key

        changes: defaultdict[str, list[Any]] = defaultdict(list)
        for ch in rows(changelog):
            changes[label[ch.entity_id]].append(
                (ch.field, canon(ch.old), canon(ch.new), ch.touchpoint, ch.initiator,
                 canon(ch.merge_public_id)))
        profile_rows = list(c.execute(sa.select(profiles)
                                      .where(profiles.c.tenant_id == tenant_id)))
        return {
            "entities": sorted((label[e.id], e.entity_type, e.status, lab(e.merged_into),
                                lab(e.account_id)) for e in ents.values()),
            "records": sorted((r.entity_type, r.source, r.source_key, label[r.entity_id],
                               r.current_version, r.content_hash) for r in recs.values()),
            "versions": sorted(((*key(v.record_id), v.version), repr(v.attributes),
                                repr(v.identifiers), v.touchpoint, v.initiator)
                               for v in vers),
            "identifiers": sorted((i.entity_type, i.kind, i.value, *key(i.record_id),
                                   bool(i.blocked), i.removed_at is None)
                                  for i in rows(identifiers)),
            "links": sorted((*key(lk.record_id), label[lk.entity_id],
                             "new_entity" if lk.rule == "bulk_seed" else lk.rule,
                             repr(canon(lk.evidence)), lk.actor, lk.touchpoint,
                             lk.ended_at is None) for lk in lks),
            "profiles": sorted((label[p.entity_id], p.entity_type, canon(p.display_name),
                                repr(canon(p.data)), repr(canon(p.provenance)),
                                canon(p.search_text)) for p in profile_rows),
            "changelog": dict(changes),
            "merges": sorted((label[m.survivor_id], sorted(label[e] for e in m.merged_ids),
                              m.reason) for m in mrg),
            "reviews": [(r.status, r.reason, canon(r.entity_ids)) for r in reviews],
            "sources": sorted((s.name, s.priority) for s in rows(sources, sources.c.name)),
            "match_candidates": sorted(
                (label[m.entity_a], label[m.entity_b], key(m.record_a), key(m.record_b),
                 m.probability, m.match_weight, repr(m.breakdown), m.status)
                for m in rows(match_candidates)),
            "match_keys": sorted((k.entity_type, k.key, *key(k.record_id))
                                 for k in rows(match_keys, match_keys.c.record_id)),
        }


def resolved(hub: Hub, actor: Actor, requests: Sequence[IdentifyRequest]) -> list[Any]:
    """What resolving every email, phone and source id of the input answers."""
    with hub.store.engine.connect() as c:
        names = {r.public_id: r.public_id for r in c.execute(sa.select(entities.c.public_id))}
    out: list[Any] = []
    for req in requests:
        queries: list[dict[str, Any]] = [{"source": req.source, "source_id": req.source_id}]
        for kind in ("email", "phone", "external_id", "org_ref", "domain"):
            raw = req.identifiers.get(kind)
            for value in raw if isinstance(raw, list) else [raw] if raw else []:
                queries.append({"kind": kind, "value": value})
        for q in queries:
            if q.get("source_id") is None and "kind" not in q:
                continue
            try:
                view = hub.resolve(actor, EntityType(req.type), **q)
            except (NotFound, Conflict) as exc:
                out.append((q, type(exc).__name__))
                continue
            view = {k: v for k, v in view.items() if k not in ("created_at", "updated_at")}
            view["provenance"] = {f: _without_records(o) for f, o in view["provenance"].items()}
            out.append((q, view))
    assert names  # the ids themselves differ by tenant: compare their shape below
    return [(q, _PUBLIC.sub("ID", repr(v))) for q, v in out]


def _without_records(origin: dict[str, Any]) -> dict[str, Any]:
    """A field's origin without the record ids (they differ between the two tenants)."""
    out = {k: v for k, v in origin.items() if k != "record"}
    if "values" in out:
        out["values"] = [_without_records(v) for v in out["values"]]
    return out


def assert_same(hub: Hub, seeded: Actor, identified: Actor,
                requests: Sequence[IdentifyRequest]) -> None:
    a, b = snapshot(hub.store, seeded.tenant_id), snapshot(hub.store, identified.tenant_id)
    for part in a:
        assert a[part] == b[part], part
    assert resolved(hub, seeded, requests) == resolved(hub, identified, requests)


# Tests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [5000, 3])
def test_seed_stores_what_identify_stores(hub: Hub, batch_size: int) -> None:
    seeded, identified = tenants(hub)
    requests = mixed_requests()
    report = seed(hub.store, seeded, requests, batch_size=batch_size)
    actions = identify_each(hub, identified, requests)
    assert report.actions == actions
    assert actions[Action.MERGED.value] == 1 and actions[Action.REJECTED.value] == 1
    assert report.processed == len(requests)
    assert report.seeded + report.routed + report.unchanged == len(requests)
    assert report.seeded >= 12  # most rows took the bulk path
    assert_same(hub, seeded, identified, requests)
    links_of = snapshot(hub.store, seeded.tenant_id)["links"]
    assert any(lk[3] == "new_entity" for lk in links_of)


def test_seed_against_a_store_that_already_holds_customers(hub: Hub) -> None:
    seeded, identified = tenants(hub)
    existing = [person("crm", "1", {"name": "Jane Doe"}, email="jane@acme.com"),
                person("crm", "2", {"name": "John"}, phone="+14155550123"),
                account("crm", "110", {"display_name": "ACME"}, domain="acme.com")]
    for actor in (seeded, identified):
        identify_each(hub, actor, existing)
    requests = [
        person("crm", "1", {"name": "Jane Doe"}, email="jane@acme.com"),  # unchanged
        person("crm", "2", {"name": "John", "tier": "gold"}, phone="+14155550123"),  # changed
        person("support", "s1", {"name": "J. Doe"}, email="JANE@acme.com"),  # matches crm 1
        person("support", "s2", {"name": "Bridge"}, email="jane@acme.com",
               phone="(415) 555-0123"),  # merges crm 1 and crm 2
        person("support", "s3", {"name": "New"}, email="new@acme.com"),  # new, joins ACME
        person("support", "s4", {"name": "Newer"}, email="newer@gmail.com"),
    ]
    report = seed(hub.store, seeded, requests)
    assert report.unchanged == 1 and report.seeded == 2 and report.routed == 3
    assert report.actions == identify_each(hub, identified, requests)
    assert_same(hub, seeded, identified, [*existing, *requests])


def fuzzy_requests() -> list[IdentifyRequest]:
    """People with no identifier in common whose names, birthdates and addresses say they
    may be one: variants of a stored person, near duplicates inside the input, namesakes."""
    home = {"line1": "12 Elm Street", "city": "Springfield", "postcode": "62704"}
    return [
        person("shop", "f1", {"first_name": "Jon", "last_name": "Smyth",
                              "birthdate": "1980-03-12", "address": home}),  # stored's variant
        person("shop", "f2", {"first_name": "Katherine", "last_name": "Jones",
                              "birthdate": "1975-06-01"}, email="kj@example.org"),
        person("shop", "f3", {"first_name": "Peter", "last_name": "Parker",
                              "birthdate": "1990-01-02"}),  # nobody like him
        person("shop", "f4", {"first_name": "Kathrine", "last_name": "Jones",
                              "birthdate": "1975-06-01"}),  # f2 earlier in the input
        person("shop", "f5", {"first_name": "Kate", "last_name": "Jones",
                              "birthdate": "1975-01-06"}, email="kate.j@example.net"),
        person("shop", "f6", {"first_name": "Mary", "last_name": "Smith",
                              "birthdate": "1980-03-12"}),  # shares a birthdate only
        person("shop", "f7", {"name": "John Smith"}),  # a namesake, nothing else
        person("shop", "f8", {"first_name": "Ann", "last_name": "Lee"}, phone="+14155550177"),
    ]


@pytest.mark.parametrize("batch_size", [5000, 2])
def test_fuzzy_seed_stores_what_identify_stores(hub: Hub, batch_size: int) -> None:
    seeded, identified = tenants(hub)
    stored = [person("crm", "c1", {"first_name": "John", "last_name": "Smith",
                                   "birthdate": "1980-03-12",
                                   "address": {"line1": "12 Elm St", "city": "Springfield",
                                               "postcode": "62704"}}, email="js@acme.com")]
    for actor in (seeded, identified):
        identify_each(hub, actor, stored)
    requests = fuzzy_requests()
    report = seed(hub.store, seeded, requests, batch_size=batch_size, fuzzy=True)
    assert report.actions == identify_each(hub, identified, requests)
    assert_same(hub, seeded, identified, [*stored, *requests])
    held = snapshot(hub.store, seeded.tenant_id)
    fuzzy_links = [lk for lk in held["links"] if "'rule': 'fuzzy'" in lk[4]]
    assert fuzzy_links or held["match_candidates"], "the input found no fuzzy match at all"
    assert report.seeded >= 2 and report.routed >= 2  # both paths taken


def test_seed_without_fuzzy_matching_writes_every_new_person(hub: Hub) -> None:
    seeded, _ = tenants(hub)
    requests = fuzzy_requests()
    report = seed(hub.store, seeded, requests)  # fuzzy=False: a load of distinct people
    assert report.seeded == len(requests) and report.routed == 0
    held = snapshot(hub.store, seeded.tenant_id)
    assert not held["match_candidates"] and len(held["entities"]) == len(requests)
    assert held["match_keys"]  # the keys are written all the same


def test_seeding_twice_changes_nothing(hub: Hub) -> None:
    seeded, _ = tenants(hub)
    # Each record once (a record sent twice with different content is a new version each
    # time, and a rejection is recorded each time: for identify too, see below).
    once = [r for r in mixed_requests()
            if (r.source, r.source_id) not in (("crm", "1"), ("import", "r1"))]
    bulk_seed(hub.store, seeded, once)
    before = snapshot(hub.store, seeded.tenant_id)
    report = seed(hub.store, seeded, once, batch_size=4)
    assert report.seeded == 0 and report.unchanged == len(once) - 1  # w1: nested account
    assert report.actions == Counter({"matched": len(once)})
    assert snapshot(hub.store, seeded.tenant_id) == before


def test_seeding_twice_is_identifying_twice(hub: Hub) -> None:
    seeded, identified = tenants(hub)
    requests = mixed_requests()
    for _ in range(2):
        bulk_seed(hub.store, seeded, requests)
        identify_each(hub, identified, requests)
    assert_same(hub, seeded, identified, requests)


def test_invalid_rows(hub: Hub) -> None:
    seeded, identified = tenants(hub)
    good = [person("crm", str(i), {"name": f"P{i}"}, email=f"p{i}@acme.com") for i in range(5)]
    bad = person("crm", "x", email="not-an-email", phone="12")
    requests = [*good[:3], bad, *good[3:]]
    problems: list[tuple[int, AllroadsError]] = []
    report = seed(hub.store, seeded, requests, batch_size=2,
                  on_error=lambda i, e: problems.append((i, e)))
    assert report.processed == 5 and report.invalid == 1
    assert [i for i, _ in problems] == [3]
    assert "email" in problems[0][1].message and "phone" in problems[0][1].message
    assert len(snapshot(hub.store, seeded.tenant_id)["records"]) == 5
    # Without a handler the first bad row raises, naming it; the batches before it are kept.
    with pytest.raises(InvalidInput, match="request 3: "):
        bulk_seed(hub.store, identified, requests, batch_size=2)
    kept = snapshot(hub.store, identified.tenant_id)["records"]
    assert [(r[1], r[2]) for r in kept] == [("crm", "0"), ("crm", "1")]


def test_progress_and_batches(hub: Hub) -> None:
    seeded, _ = tenants(hub)
    requests = [person("crm", str(i), email=f"p{i}@acme.com") for i in range(7)]
    requests.insert(3, account("crm", "a1", {"display_name": "A"}, domain="a.io"))
    seen: list[int] = []
    report = seed(hub.store, seeded, requests, batch_size=2, progress=seen.append)
    assert seen == [2, 3, 4, 6, 8]  # a batch ends at 2 rows and where the entity type changes
    assert report.batches == 5 and report.seeded == 8
    assert bulk_seed(hub.store, seeded, []) == 0
    with pytest.raises(InvalidInput):
        bulk_seed(hub.store, seeded, requests, batch_size=0)


def test_seeded_rows_are_indexed_and_resolvable(hub: Hub) -> None:
    seeded, _ = tenants(hub)
    bulk_seed(hub.store, seeded, [person("product", "u1", {"name": "Jane Doe"},
                                         email=" Jane@Acme.com ", phone="(415) 555-2671")])
    view = hub.resolve(seeded, P, kind="phone", value="+1 415 555 2671")
    assert view["emails"] == ["jane@acme.com"] and view["phones"] == ["+14155552671"]
    assert view["first_name"] == "Jane" and view["last_name"] == "Doe"
    again = hub.identify(seeded, person("support", "9", email="jane@acme.com"))
    assert again.action is Action.MATCHED and again.id == view["id"]
    explained = hub.explain(seeded, P, view["id"])
    assert explained["records"][0]["linked_by"]["rule"] == "bulk_seed"
    history = hub.changelog(seeded, P, view["id"], cursor=None, limit=50)[0]
    assert {h["field"] for h in history} >= {"name", "first_name", "last_name",
                                             "identifiers.email", "identifiers.phone"}


def test_normalizing_in_worker_processes_changes_nothing(hub: Hub) -> None:
    seeded, identified = tenants(hub)
    requests = mixed_requests()
    with_workers = seed(hub.store, seeded, requests, batch_size=4, workers=1)
    without = seed(hub.store, identified, requests, batch_size=4)
    assert with_workers == without
    a, b = snapshot(hub.store, seeded.tenant_id), snapshot(hub.store, identified.tenant_id)
    for part in a:
        assert a[part] == b[part], part
