"""Fuzzy matching on each identify call, through blocking keys kept in the store, on both
databases.

Jonathan Smith (crm) and Jon Smyth (support) share no identifier: a nickname, a misspelt
surname sounding the same, day and month transposed, an abbreviated street, the same city
and postcode say they are one customer. A look-alike holding a different external id is
someone else; a pair with less in common goes to the review queue.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from allroads.batch.runs import MatchRuns
from allroads.domain.types import Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub
from allroads.resolution.matching import incremental
from allroads.resolution.matching.people import person_features, person_model
from allroads.store import Store, Tx

P = EntityType.PERSON
JONATHAN = {"first_name": "Jonathan", "last_name": "Smith", "birthdate": "1980-03-07",
            "address": "12 Oak Street", "city": "Springfield", "postcode": "62704"}
JON = {"first_name": "Jon", "last_name": "Smyth", "birthdate": "1980-07-03",
       "address": "12 Oak St", "city": "Springfield", "postcode": "62704"}


def person(hub: Hub, actor: Actor, source: str, source_id: str, attributes: dict[str, Any],
           **identifiers: Any) -> Any:
    return hub.identify(actor, IdentifyRequest(P, source, source_id, identifiers, attributes))


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every key look-up the real store runs (a spy: the store method still runs)."""
    calls: list[list[str]] = []
    real = Tx.match_key_candidates

    def spy(self: Tx, tenant_id: int, entity_type: str, keys: Any, **kw: Any) -> Any:
        calls.append(list(keys))
        return real(self, tenant_id, entity_type, keys, **kw)

    monkeypatch.setattr(Tx, "match_key_candidates", spy)
    yield calls


def test_a_typo_nickname_and_swapped_date_match_the_stored_person(hub: Hub,
                                                                   actor: Actor) -> None:
    first = person(hub, actor, "crm", "c-1", JONATHAN, email="jonathan.smith@gmail.com")
    assert first.action.value == "created"
    second = person(hub, actor, "support", "s-77", JON, phone="+1 415 555 2671")
    assert second.action.value == "matched"
    assert second.id == first.id
    fuzzy = [e for e in second.evidence if e["rule"] == "fuzzy"]
    assert len(fuzzy) == 1
    ev = fuzzy[0]
    assert ev["entity"] == first.id and ev["probability"] >= 0.99
    assert ev["record"] == {"source": "crm", "source_id": "c-1"}
    levels = {c["comparison"]: c["level"] for c in ev["comparisons"]}
    assert levels["first_name"] == "same nickname group"
    assert levels["last_name"] == "sounds the same"
    assert levels["birthdate"] == "day and month transposed"
    assert levels["postcode"] == "exact"
    total = ev["prior_weight"] + sum(c["weight"] for c in ev["comparisons"])
    assert total == pytest.approx(ev["match_weight"], abs=0.01)
    # The entity holds both records; the new record's link carries the fuzzy evidence.
    with hub.store.read() as tx:
        entity = tx.entity_by_public_id(actor.tenant_id, first.id)
        assert entity is not None
        assert {r.source for r in tx.records_of([entity.id])} == {"crm", "support"}
    assert hub.get(actor, P, first.id)["phones"] == ["+14155552671"]


def test_a_look_alike_with_another_external_id_is_someone_else(hub: Hub,
                                                               actor: Actor) -> None:
    father = person(hub, actor, "crm", "c-1", JONATHAN, external_id="EXT-1")
    son = person(hub, actor, "support", "s-2", JON, external_id="EXT-2")
    assert son.action.value == "created"
    assert son.id != father.id
    refused = [e for e in son.evidence if e["rule"] == "not_linked"]
    assert refused and refused[0]["entity"] == father.id
    assert "external_id" in refused[0]["reason"]
    with hub.store.read() as tx:
        assert tx.match_candidates(actor.tenant_id) == []


def test_a_borderline_pair_goes_to_the_review_queue(hub: Hub, actor: Actor) -> None:
    first = person(hub, actor, "crm", "c-1", JONATHAN)
    borderline = {k: v for k, v in JON.items() if k != "postcode"}
    second = person(hub, actor, "support", "s-2", borderline)
    assert second.action.value == "created"
    assert second.id != first.id
    assert any(e["rule"] == "fuzzy_review" and e["entity"] == first.id
               for e in second.evidence)
    queue, _ = MatchRuns(hub.store).candidates(actor, "person")
    assert len(queue) == 1
    cand = queue[0]
    assert set(cand["entities"]) == {first.id, second.id}
    assert 0.8 <= cand["probability"] < 0.99
    assert {r["source"] for r in cand["records"]} == {"crm", "support"}
    assert cand["breakdown"]["comparisons"]


def test_nothing_alike_creates_without_review(hub: Hub, actor: Actor) -> None:
    first = person(hub, actor, "crm", "c-1", JONATHAN)
    other = person(hub, actor, "support", "s-2", {"first_name": "Jon", "last_name": "Smith",
                                                  "city": "Boston"})
    assert other.action.value == "created" and other.id != first.id
    with hub.store.read() as tx:
        assert tx.match_candidates(actor.tenant_id) == []


def test_a_record_with_only_an_email_looks_nothing_up(hub: Hub, actor: Actor,
                                                     lookups: list[list[str]]) -> None:
    person(hub, actor, "crm", "c-1", JONATHAN)
    assert len(lookups) == 1  # a name: looked up (in an empty store)
    lookups.clear()
    person(hub, actor, "widget", None, {}, email="someone.else@example.net")
    person(hub, actor, "widget", None, {"tags": ["vip"]}, email="third.person@example.net")
    assert lookups == []
    person(hub, actor, "support", "s-9", JON)
    assert len(lookups) == 1 and any(k.startswith("bk_name=") for k in lookups[0])


def test_keys_are_written_and_replaced_when_a_record_changes(hub: Hub, actor: Actor,
                                                              store: Store) -> None:
    model = person_model()
    person(hub, actor, "crm", "c-1", JONATHAN, email="jonathan.smith@gmail.com")
    with store.read() as tx:
        record = tx.record(actor.tenant_id, "person", "crm", "c-1")
        assert record is not None
        before = tx.match_keys_of(record.id)
    expected = incremental.keys_of(person_features(
        {**JONATHAN, "email": "jonathan.smith@gmail.com"}), model)
    assert before == set(expected)
    assert any(k.startswith("bk_address_last=") for k in before)
    moved = {**JONATHAN, "last_name": "Miller", "address": "9 Elm Road"}
    person(hub, actor, "crm", "c-1", moved, email="jonathan.smith@gmail.com")
    with store.read() as tx:
        after = tx.match_keys_of(record.id)
        assert tx.count_match_keys(actor.tenant_id, "person") == len(after)
    assert after == set(incremental.keys_of(person_features(
        {**moved, "email": "jonathan.smith@gmail.com"}), model))
    assert after != before and "bk_email=jonathansmith" in after
    # The old keys no longer find the record; the new ones do.
    with store.read() as tx:
        old_only = sorted(before - after)
        assert tx.match_key_candidates(actor.tenant_id, "person", old_only).records == {}
        found = tx.match_key_candidates(actor.tenant_id, "person", sorted(after))
        assert found.record_ids() == [record.id]


def test_a_key_shared_by_too_many_records_is_skipped(store: Store, hub: Hub,
                                                     actor: Actor) -> None:
    for i in range(4):
        person(hub, actor, "crm", f"c-{i}", {"first_name": "Ann", "last_name": f"Lee{i}x"
                                              if i else "Lee"}, email=f"a{i}@x.org")
    with store.read() as tx:
        ids = [r.id for r in (tx.record(actor.tenant_id, "person", "crm", f"c-{i}")
                              for i in range(4)) if r is not None]
    with store.write() as tx:
        tx.insert_match_keys((actor.tenant_id, "person", "bk_test=common", rid) for rid in ids)
        tx.insert_match_keys([(actor.tenant_id, "person", "bk_test=rare", ids[0])])
    with store.read() as tx:
        got = tx.match_key_candidates(actor.tenant_id, "person",
                                      ["bk_test=common", "bk_test=rare"], cap=3)
        assert got.skipped == {"bk_test=common": 4}
        assert got.records == {"bk_test=rare": [ids[0]]}
        # Another tenant sees nothing of these keys.
        assert tx.match_key_candidates(actor.tenant_id + 1, "person",
                                       ["bk_test=rare"]).records == {}


def test_candidates_follow_merges_to_the_survivor(hub: Hub, actor: Actor,
                                                  store: Store) -> None:
    a = person(hub, actor, "crm", "c-1", JONATHAN)
    b = person(hub, actor, "product", "p-1", {"first_name": "Zed", "last_name": "Quill"},
               email="zed@quill.example.net")
    hub.merge(actor, P, a.id, [b.id])
    with store.read() as tx:
        rec = tx.record(actor.tenant_id, "person", "product", "p-1")
        assert rec is not None
        survivor = tx.entity_by_public_id(actor.tenant_id, a.id)
        assert survivor is not None
        got = tx.match_records_by_id(actor.tenant_id, "person", [rec.id])
    assert [r.entity_id for r in got] == [survivor.id]


def test_long_key_values_are_hashed_and_short_ones_kept() -> None:
    assert incremental.key_string("bk_name", "JN|SM0") == "bk_name=JN|SM0"
    long = incremental.key_string("bk_address_first", "x" * 200)
    assert long.startswith("bk_address_first=#") and len(long) <= 64
    assert long == incremental.key_string("bk_address_first", "x" * 200)


def test_a_transposed_birthday_and_a_nickname_share_a_key() -> None:
    model = person_model()
    jonathan = set(incremental.keys_of(person_features(JONATHAN), model))
    jon = set(incremental.keys_of(person_features({**JON, "postcode": None}), model))
    assert jonathan & jon == {"bk_last_birthday=SM0|1980|03-07"}


def test_the_model_cache_sees_new_thresholds(hub: Hub, actor: Actor, store: Store) -> None:
    cache = incremental.ModelCache()
    with store.read() as tx:
        default = cache.model(tx, actor.tenant_id, "person")
        assert cache.model(tx, actor.tenant_id, "person") is default
    MatchRuns(store).set_thresholds(actor, "person", link=0.999, review=0.5)
    with store.read() as tx:
        changed = cache.model(tx, actor.tenant_id, "person")
    assert changed.thresholds.link == 0.999 and changed.thresholds.review == 0.5
    # Lower thresholds make the borderline pair a link.
    MatchRuns(store).set_thresholds(actor, "person", link=0.8, review=0.5)
    first = person(hub, actor, "crm", "c-1", JONATHAN)
    second = person(hub, actor, "support", "s-2",
                    {k: v for k, v in JON.items() if k != "postcode"})
    assert second.id == first.id and second.action.value == "matched"


def test_a_match_run_rebuilds_the_key_index(hub: Hub, actor: Actor, store: Store) -> None:
    person(hub, actor, "crm", "c-1", JONATHAN)
    person(hub, actor, "product", "p-1", {"first_name": "Zed", "last_name": "Quill"},
           email="zed@quill.example.net")
    with store.write() as tx:
        expected = tx.count_match_keys(actor.tenant_id, "person")
        tx.delete_match_keys(actor.tenant_id, "person")
    run = MatchRuns(store).run(actor, "person")
    assert run["status"] == "succeeded", run
    assert run["counts"]["keys"] == expected
    with store.read() as tx:
        assert tx.count_match_keys(actor.tenant_id, "person") == expected


def test_the_scorer_explains_exactly_as_the_model(hub: Hub, actor: Actor) -> None:
    """Scorer.explain (weights worked out once) gives MatchModel.explain's answer, and a
    match's explanation, worked out on first use, is that of its pair."""
    model = person_model()
    scorer = incremental.Scorer.of(model)
    records = [JONATHAN, JON, {**JON, "birthdate": None, "middle_name": "Q"},
               {"name": "Smith, Jonathan", "postcode": "62704"}, {}]
    feats = [person_features(r) for r in records]
    for left in feats:
        for right in feats:
            assert scorer.explain(left, right) == model.explain(left, right)
            assert scorer.explain(left, right).weight == scorer.weight(left, right)
    match = incremental.FuzzyMatch(1, 2, "crm", "c-1", 0.5, 0.0, [],
                                   (scorer, feats[0], feats[1]))
    assert match.score == model.explain(feats[0], feats[1])
    assert match.score is match.score
    assert incremental.FuzzyMatch(1, 2, "crm", "c-1", 0.5, 0.0, []).score is None


def test_candidates_are_read_with_their_json_as_stored(hub: Hub, actor: Actor,
                                                       store: Store) -> None:
    """match_records_by_id decodes the versions' JSON itself (orjson on SQLite): the same
    attributes and identifiers as the record version holds, nested values and all."""
    attributes = {**JONATHAN, "tags": ["b2b", "vip"], "address": {"line1": "12 Oak Street",
                  "city": "Springfield"}, "score": 1.5, "count": 2**40, "text": "Zoë \u2603"}
    person(hub, actor, "crm", "c-json", attributes, email="jonathan@smith.example.org")
    with store.read() as tx:
        rec = tx.record(actor.tenant_id, "person", "crm", "c-json")
        assert rec is not None
        got = tx.match_records_by_id(actor.tenant_id, "person", [rec.id])
        version = tx.versions_of_record(rec.id)[-1]
    assert len(got) == 1
    assert got[0].attributes == attributes
    assert got[0].attributes == version.attributes
    assert got[0].identifiers == version.identifiers
    assert got[0].identifiers["email"] == ["jonathan@smith.example.org"]
