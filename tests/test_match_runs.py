"""Match runs over a tenant's stored records, and the review queue, on both databases.

Ten people are each held by three systems (crm, support, product) with no identifier in
common: only names (a nickname, a typo), birthdates (day and month transposed) and
addresses (abbreviated) say they are one customer. Beside them: two look-alikes (same name,
birthdate and address, different external ids: father and son) and two borderline records
(a name and a city only) for the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from allroads.batch.pipeline import Options
from allroads.batch.runs import MatchRuns, flatten_record
from allroads.domain.errors import Conflict, InvalidInput, NotFound
from allroads.domain.types import Actor, EntityType, IdentifyRequest, utcnow
from allroads.resolution.bulk import seed
from allroads.resolution.hub import Hub
from allroads.resolution.rules import RuleSet
from allroads.store import Store
from allroads.store.matching import MatchRecord, NewCandidate

P = EntityType.PERSON

PEOPLE = [
    # first, last, birthdate, address, city, postcode
    ("William", "Thompson", "1975-03-14", "12 Oak Street", "Springfield", "62704"),
    ("Margaret", "Okafor", "1982-11-02", "4 Birch Lane", "Riverton", "84065"),
    ("Hiroshi", "Tanaka", "1969-07-21", "88 Cedar Avenue", "Lakeside", "92040"),
    ("Elena", "Petrova", "1990-01-30", "301 Maple Road", "Fairview", "07022"),
    ("Jonathan", "Abernathy", "1958-09-09", "7 Willow Court", "Greenville", "29601"),
    ("Priya", "Raghunathan", "1987-05-17", "19 Elm Terrace", "Oakdale", "95361"),
    ("Robert", "Kowalczyk", "1979-12-25", "55 Pine Street", "Milton", "02186"),
    ("Catherine", "Delacroix", "1993-08-08", "2 Spruce Way", "Ashland", "97520"),
    ("Mohammed", "Haddad", "1971-04-04", "140 Poplar Drive", "Bristol", "06010"),
    ("Siobhan", "Gallagher", "1984-06-12", "63 Hawthorn Close", "Dover", "19901"),
]
NICKNAMES = {"William": "Bill", "Robert": "Bob", "Margaret": "Peggy", "Catherine": "Kate",
             "Jonathan": "Jon"}
SOURCES = ("crm", "support", "product")
WIDE = {"link": 0.99, "review": 0.3}


def variants(person: tuple[str, ...]) -> list[tuple[str, dict[str, str]]]:
    first, last, dob, address, city, postcode = person
    nick = NICKNAMES.get(first, first)
    year, month, day = dob.split("-")
    short = address.replace("Street", "St").replace("Avenue", "Ave").replace("Road", "Rd")
    swapped = f"{year}-{day}-{month}" if int(day) <= 12 and day != month else dob
    return [
        ("crm", {"first_name": first, "last_name": last, "birthdate": dob,
                 "address": address, "city": city, "postcode": postcode}),
        ("support", {"first_name": nick, "last_name": last, "birthdate": dob,
                     "address": address if nick != first else short, "city": city}),
        ("product", {"first_name": first, "last_name": last[:-2] + last[-1] + last[-2],
                     "birthdate": swapped, "address": address, "postcode": postcode}),
    ]


@dataclass
class World:
    hub: Hub
    actor: Actor
    people: dict[tuple[int, str], str]   # (person, source) -> entity id as identified
    father: str
    son: str
    maybe_elena: str
    maybe_hiroshi: str

    def now(self, public_id: str) -> str:
        return str(self.hub.get(self.actor, P, public_id)["id"])


def build(hub: Hub, actor: Actor) -> World:
    """Loads the records in bulk, as an import of new customers does: identify would already
    link most of them on arrival (fuzzy matching), and these tests are about the run."""
    requests: list[IdentifyRequest] = []
    for n, person in enumerate(PEOPLE):
        for source, attributes in variants(person):
            requests.append(IdentifyRequest(P, source, f"{source}-{n}", {}, attributes))
    reyes = {"first_name": "Daniel", "last_name": "Reyes", "birthdate": "1960-02-11",
             "address": "9 Harbor View", "city": "Monterey"}
    requests += [
        IdentifyRequest(P, "crm", "reyes-1", {"external_id": "D-1"},
                        {**reyes, "postcode": "93940"}),
        IdentifyRequest(P, "support", "reyes-2", {"external_id": "D-2"}, reyes),
        IdentifyRequest(P, "product", "maybe-1", {}, {
            "first_name": "Elena", "last_name": "Petrova", "city": "Fairview"}),
        IdentifyRequest(P, "product", "maybe-2", {}, {
            "first_name": "Hiroshi", "last_name": "Tanaka", "city": "Lakeside"}),
    ]
    report = seed(hub.store, actor, requests)
    assert report.seeded == len(requests), report

    def entity(source: str, source_id: str) -> str:
        return str(hub.resolve(actor, P, source=source, source_id=source_id)["id"])

    people = {(n, source): entity(source, f"{source}-{n}")
              for n in range(len(PEOPLE)) for source in SOURCES}
    return World(hub, actor, people, entity("crm", "reyes-1"), entity("support", "reyes-2"),
                 entity("product", "maybe-1"), entity("product", "maybe-2"))


@pytest.fixture
def world(hub: Hub, actor: Actor) -> World:
    return build(hub, actor)


@pytest.fixture
def runs(store: Store) -> MatchRuns:
    # Forty records are too few to estimate from: runs score with the default parameters.
    return MatchRuns(store, options=Options(random_pairs=20_000))


def entity_count(store: Store, tenant_id: int) -> int:
    with store.read() as tx:
        return len(set(tx.survivors(tenant_id, "person").values()))


def test_run_merges_the_same_people_and_queues_the_borderline(
        store: Store, world: World, runs: MatchRuns, actor: Actor) -> None:
    runs.set_thresholds(actor, "person", **WIDE)
    seen: list[tuple[str, float]] = []
    queued = runs.start(actor, "person")
    assert queued["status"] == "queued" and queued["id"].startswith("mrun_")
    done = runs.execute(queued["id"], progress=lambda step, share: seen.append((step, share)))
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == 1.0 and done["finished_at"] and done["started_at"]
    assert done["counts"]["records"] == 34
    assert done["counts"]["merged"] == 20       # ten people, three records each
    assert done["counts"]["refused"] >= 1       # father and son: different external ids
    assert done["counts"]["review"] == 2
    assert set(done["timings"]) >= {"features", "blocking", "scoring", "clustering"}
    shares = [share for _, share in seen]
    assert shares == sorted(shares) and shares[-1] == 1.0
    assert runs.get(actor, queued["id"]) == done

    customers = {n: {world.now(world.people[(n, s)]) for s in SOURCES}
                 for n in range(len(PEOPLE))}
    assert all(len(ids) == 1 for ids in customers.values()), customers
    assert len({next(iter(ids)) for ids in customers.values()}) == len(PEOPLE)
    assert world.now(world.father) == world.father
    assert world.now(world.son) == world.son
    assert world.now(world.maybe_elena) == world.maybe_elena
    assert entity_count(store, actor.tenant_id) == len(PEOPLE) + 4

    # Each merge says why: the run, the probability and each comparison's contribution.
    survivor = next(iter(customers[3]))
    with store.read() as tx:
        entity = tx.entity_by_public_id(actor.tenant_id, survivor)
        assert entity is not None
        merges = tx.merges_of([entity.id])
    assert len(merges) == 2
    for merge in merges:
        assert merge.reason == "match_run" and merge.touchpoint == "batch"
        assert merge.evidence["match_run"] == queued["id"]
        assert merge.evidence["probability"] >= 0.99
        parts = {p["comparison"]: p for p in merge.evidence["breakdown"]["comparisons"]}
        assert parts["last_name"]["weight"] != 0 and "level" in parts["birthdate"]

    open_, cursor = runs.candidates(actor, "person", limit=1)
    assert len(open_) == 1 and cursor is not None
    rest, end = runs.candidates(actor, "person", cursor=cursor, limit=1)
    assert len(rest) == 1 and end is None
    pairs = {frozenset(c["current"]) for c in [*open_, *rest]}
    assert pairs == {frozenset({world.maybe_elena, next(iter(customers[3]))}),
                     frozenset({world.maybe_hiroshi, next(iter(customers[2]))})}
    first = open_[0]
    assert first["status"] == "open" and first["run"] == queued["id"]
    assert 0.3 <= first["probability"] < 0.99
    assert first["breakdown"]["comparisons"] and first["records"][0]["source"]

    # A second run changes nothing: the same pairs are queued once.
    again = runs.run(actor, "person")
    assert again["status"] == "succeeded" and again["counts"]["merged"] == 0
    assert again["counts"]["review"] == 0
    assert len(runs.candidates(actor, "person", limit=10)[0]) == 2


def test_accept_merges_and_reject_keeps_apart(
        store: Store, world: World, runs: MatchRuns, actor: Actor) -> None:
    runs.set_thresholds(actor, "person", **WIDE)
    assert runs.run(actor, "person")["status"] == "succeeded"
    elena = world.now(world.people[(3, "crm")])
    hiroshi = world.now(world.people[(2, "crm")])
    by_pair = {frozenset(c["current"]): c for c in runs.candidates(actor, "person")[0]}
    to_accept = by_pair[frozenset({elena, world.maybe_elena})]["id"]
    to_reject = by_pair[frozenset({hiroshi, world.maybe_hiroshi})]["id"]
    # At the link threshold the second run uses below, this pair would be linked.
    assert by_pair[frozenset({hiroshi, world.maybe_hiroshi})]["probability"] >= 0.35

    accepted = runs.accept(actor, to_accept)
    assert accepted["status"] == "accepted" and accepted["decided_by"] == actor.initiator
    assert accepted["merge_id"].startswith("mrg_")
    assert world.now(world.maybe_elena) == elena
    with pytest.raises(Conflict, match="accepted already"):
        runs.accept(actor, to_accept)
    with pytest.raises(Conflict, match="accepted already"):
        runs.reject(actor, to_accept)

    rejected = runs.reject(actor, to_reject)
    assert rejected["status"] == "rejected"
    explained = world.hub.explain(actor, P, hiroshi)
    assert any(d["kind"] == "apart" and set(d["between"]) == {hiroshi, world.maybe_hiroshi}
               for d in explained["decisions"])
    assert [c["id"] for c in runs.candidates(actor, "person", status="rejected")[0]] == [
        to_reject]
    assert runs.candidates(actor, "person")[0] == []

    # Even with a link threshold low enough to link them, the rejected pair stays apart
    # and is not queued again; the accepted one stays merged.
    runs.set_thresholds(actor, "person", link=0.35, review=0.3)
    second = runs.run(actor, "person")
    assert second["status"] == "succeeded", second["error"]
    assert world.now(world.maybe_hiroshi) == world.maybe_hiroshi
    assert world.now(world.maybe_elena) == elena
    assert world.now(world.father) != world.now(world.son)
    assert all(frozenset(c["current"]) != frozenset({hiroshi, world.maybe_hiroshi})
               for c in runs.candidates(actor, "person", limit=100)[0])


def test_candidates_belong_to_their_tenant(
        store: Store, world: World, runs: MatchRuns, actor: Actor, hub: Hub) -> None:
    runs.set_thresholds(actor, "person", **WIDE)
    run = runs.run(actor, "person")
    mine = runs.candidates(actor, "person")[0]
    assert mine
    other_tenant = hub.ensure_tenant("globex")
    other = Actor(other_tenant.id, "test", "api")
    assert runs.candidates(other, "person")[0] == []
    assert runs.candidates(other, None, status="rejected")[0] == []
    for call in (runs.candidate, runs.accept, runs.reject):
        with pytest.raises(NotFound, match="no match candidate"):
            call(other, mine[0]["id"])
    with pytest.raises(NotFound, match="no match run"):
        runs.get(other, run["id"])
    assert runs.runs(other)[0] == []
    assert [r["id"] for r in runs.runs(actor)[0]] == [run["id"]]
    assert runs.candidate(actor, mine[0]["id"])["status"] == "open"
    # The other tenant's own run sees none of these records.
    theirs = runs.run(other, "person")
    assert theirs["status"] == "succeeded" and theirs["counts"]["records"] == 0


def test_failed_run_records_its_error_and_changes_nothing(
        store: Store, world: World, runs: MatchRuns, actor: Actor) -> None:
    before = entity_count(store, actor.tenant_id)
    queued = runs.start(actor, "person", engine="nosuch")
    done = runs.execute(queued["id"])
    assert done["status"] == "failed" and done["finished_at"]
    assert "unknown engine 'nosuch'" in done["error"] and "duckdb" in done["error"]
    assert entity_count(store, actor.tenant_id) == before
    assert runs.candidates(actor, "person")[0] == []
    with pytest.raises(Conflict, match="not queued"):
        runs.execute(queued["id"])
    with pytest.raises(NotFound):
        runs.execute("mrun_missing")


def test_bad_requests_are_specific(store: Store, runs: MatchRuns, actor: Actor) -> None:
    with pytest.raises(InvalidInput, match="unknown entity type 'robot'"):
        runs.start(actor, "robot")
    with pytest.raises(InvalidInput, match="invalid engine name"):
        runs.start(actor, "person", engine="DROP TABLE")
    with pytest.raises(InvalidInput, match="review <= link"):
        runs.set_thresholds(actor, "person", link=0.5, review=0.9)
    with pytest.raises(InvalidInput, match="unknown candidate status"):
        runs.candidates(actor, "person", status="maybe")
    with pytest.raises(InvalidInput, match="invalid cursor"):
        runs.candidates(actor, "person", cursor="nope")


def test_a_big_enough_run_estimates_and_saves_parameters(
        store: Store, world: World, actor: Actor) -> None:
    runs = MatchRuns(store, options=Options(random_pairs=20_000), estimate_from=10)
    assert runs.settings(actor, "person")["trained"] is False
    done = runs.run(actor, "person")
    assert done["status"] == "succeeded", done["error"]
    assert done["training"] and done["training"]["sessions"]
    settings = runs.settings(actor, "person")
    assert settings["trained"] is True and settings["trained_at"]
    with store.read() as tx:
        row = tx.match_settings(actor.tenant_id, "person")
    assert row is not None and row.parameters is not None
    assert set(row.parameters["m"]) >= {"first_name", "last_name", "birthdate"}
    # Father and son never cluster, whatever was estimated.
    assert world.now(world.father) != world.now(world.son)


def test_flatten_record_reads_identifiers_and_address_objects() -> None:
    record = MatchRecord(7, "crm", "1", 3, {
        "given_name": "Ann", "surname": "Lee", "dob": "1990-02-03", "_received": {"x": 1},
        "address": {"line1": "1 Main St", "line2": "Apt 2", "city": "Boston", "zip": "02101"}},
        {"email": ["info@x.com", "ann@x.com", "a2@x.com"], "phone": ["+15550001111"],
         "source_id": ["crm:1"], "external_id": ["E1"]})
    # info@ is blocked by the default rules: it is not the email the features read
    assert flatten_record(record, RuleSet.default(P)) == {
        "id": 7, "source": "crm", "first_name": "Ann", "last_name": "Lee",
        "birthdate": "1990-02-03", "address": "1 Main St Apt 2", "city": "Boston",
        "postcode": "02101", "email": "ann@x.com", "phone": "+15550001111",
        "external_id": "E1"}


def test_index_stores_the_features_identify_stores(store: Store, hub: Hub, actor: Actor
                                                   ) -> None:
    """A blocked identifier (info@...) is left out of a record's features whichever path
    writes them: identify, or `match index` (and match runs) reading the stored record."""
    people = [{"email": "info@acme.com", "first_name": "Ann", "last_name": "Lee"},
              {"email": ["noreply@shop.com", "bo.ek@mail.com"], "first_name": "Bo"},
              {"email": "cy@mail.com", "first_name": "Cy", "last_name": "Ray"}]
    for n, person in enumerate(people):
        names = {k: v for k, v in person.items() if k != "email"}
        hub.identify(actor, IdentifyRequest(P, "crm", str(n), {"email": person["email"]},
                                            names))

    def stored() -> dict[int, dict[str, object] | None]:
        with store.read() as tx:
            ids = [r.id for r in tx.records_after(actor.tenant_id, "person", 0, 100)]
            return {h.id: h.features
                    for h in tx.match_record_heads(actor.tenant_id, "person", ids)}

    by_identify = stored()
    assert len(by_identify) == 3 and all(by_identify.values())
    assert sorted(str(f.get("email_local")) for f in by_identify.values() if f) == [
        "None", "boek", "cy"]
    MatchRuns(store).index(actor, "person")
    assert stored() == by_identify


def test_store_queues_a_pair_once_and_never_a_pair_kept_apart(
        store: Store, hub: Hub, actor: Actor) -> None:
    ids = [hub.identify(actor, IdentifyRequest(P, "crm", str(n), {}, {"first_name": f"P{n}"})).id
           for n in range(3)]
    with store.read() as tx:
        rows = {e: tx.entity_by_public_id(actor.tenant_id, e) for e in ids if e}
        recs = {e: tx.records_of([r.id])[0].id for e, r in rows.items() if r}
    a, b, c = (r.id for e in ids if e and (r := rows[e]) is not None)
    ra, rb, rc = (recs[e] for e in ids if e)

    def new(pid: str, x: int, y: int, rx: int, ry: int) -> NewCandidate:
        return NewCandidate(pid, x, y, rx, ry, 0.5, 0.0, {"comparisons": []})

    with store.write() as tx:
        tx.add_decision(actor.tenant_id, "person", "apart", c, a, "test", "no", utcnow())
        added = tx.add_match_candidates(actor.tenant_id, "person", None, [
            new("mc_1", b, a, rb, ra), new("mc_2", a, b, ra, rb), new("mc_3", a, c, ra, rc)],
            utcnow())
    assert added == ["mc_1"]
    with store.write() as tx:
        assert tx.add_match_candidates(actor.tenant_id, "person", None,
                                       [new("mc_4", a, b, ra, rb)], utcnow()) == []
        row = tx.match_candidate(actor.tenant_id, "mc_1")
        assert row is not None
        # Stored smaller entity first, its records swapped with it.
        assert (row.entity_a, row.entity_b, row.record_a, row.record_b) == (a, b, ra, rb)
        assert tx.decide_match_candidate(row.id, "rejected", "test", utcnow())
        assert not tx.decide_match_candidate(row.id, "accepted", "test", utcnow())
        # Decided, the pair may be queued again (a later run, new evidence).
        assert tx.add_match_candidates(actor.tenant_id, "person", None,
                                       [new("mc_5", a, b, ra, rb)], utcnow()) == ["mc_5"]
        assert tx.match_candidate(actor.tenant_id + 1, "mc_5") is None


def test_deleting_a_record_takes_its_queued_pairs_and_keys_with_it(
        store: Store, hub: Hub, actor: Actor) -> None:
    """An import's undo deletes the records it created: a review-queue pair or a blocking key
    naming one must not stop it (foreign keys)."""
    people = [{"first_name": "Ada", "last_name": "Lovelace", "birthdate": "1815-12-10"},
              {"first_name": "Ada", "last_name": "Lovelace", "city": "London"}]
    ids = [hub.identify(actor, IdentifyRequest(P, src, "1", {}, attrs)).id
           for src, attrs in zip(("crm", "support"), people, strict=True)]
    with store.read() as tx:
        rows = [tx.entity_by_public_id(actor.tenant_id, e) for e in ids if e]
        recs = [tx.records_of([r.id])[0].id for r in rows if r]
        assert tx.match_keys_of(recs[1])
    a, b = (r.id for r in rows if r)
    with store.write() as tx:
        tx.add_match_candidates(actor.tenant_id, "person", None, [
            NewCandidate("mc_x", a, b, recs[0], recs[1], 0.5, 0.0, {"comparisons": []})],
            utcnow())
        tx.delete_record(recs[1])
    with store.read() as tx:
        assert tx.match_candidate(actor.tenant_id, "mc_x") is None
        assert tx.match_keys_of(recs[1]) == set()
