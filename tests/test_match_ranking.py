"""How a fuzzy look-up ranks its candidates, on both databases.

Every candidate is scored from the features stored with its keys; the heads (the entity a
record is in now, its current version) are read for the best ones only, until the entities
asked for are found. The answer must be the one scoring every candidate with its head read
gives: the best record of each entity (ties: the lowest record id), the entities best first
(ties: the lowest entity id), records of deleted entities and of the excluded entity left
out, a record whose stored features are behind its current version scored again.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from allroads.domain.types import Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub
from allroads.resolution.matching import incremental
from allroads.resolution.matching.model import Features, probability_of
from allroads.resolution.matching.people import person_features, person_model
from allroads.store.schema import match_features, records

P = EntityType.PERSON
FIRST = ["Jonathan", "Jon", "John", "Johnny", "Joan", "Jane"]
DATES = ["1980-03-07", "1980-07-03", "1980-03-08", "1981-03-07"]
POSTCODES = ["62704", "62705", None]


def _people() -> list[dict[str, Any]]:
    """Look-alikes sharing blocking keys: equal weights, near ones, far ones."""
    out = []
    for i in range(36):
        attributes = {"first_name": FIRST[i % len(FIRST)], "last_name": "Smith",
                      "birthdate": DATES[i % len(DATES)], "city": "Springfield"}
        postcode = POSTCODES[i % len(POSTCODES)]
        if postcode:
            attributes["postcode"] = postcode
        out.append(attributes)
    return out


def _load(hub: Hub, actor: Actor) -> list[str]:
    """The people, each with an external id of their own (so none links to another), some
    sent by a second source too: entities of one record and of two."""
    ids = []
    for i, attributes in enumerate(_people()):
        res = hub.identify(actor, IdentifyRequest(P, "crm", f"c-{i}",
                                                  {"external_id": f"EXT-{i}"}, attributes))
        assert res.action.value == "created", res
        assert res.id is not None
        ids.append(res.id)
        if i % 3 == 0:
            again = hub.identify(actor, IdentifyRequest(P, "support", f"s-{i}",
                                                        {"external_id": f"EXT-{i}"},
                                                        {**attributes, "city": "Springfeld"}))
            assert again.id == res.id
    # The first entity also gets a record like the eighth person's (and the 20th's, the
    # 32nd's): its best record has the highest id of the tie, its entity the lowest id.
    like = hub.identify(actor, IdentifyRequest(P, "web", "w-0", {"external_id": "EXT-0"},
                                               _people()[7]))
    assert like.id == ids[0]
    return ids


def _reference(hub: Hub, actor: Actor, features: Features, *, limit: int,
               exclude_entity: int | None = None, at_least: float = 0.0
               ) -> list[tuple[int, int, float]]:
    """What the look-up must answer: every candidate's head read, scored with the model's
    own gammas, the best record of each entity."""
    model = person_model()
    with hub.store.read() as tx:
        keys = incremental.keys_of(features, model)
        found = tx.match_key_candidates(actor.tenant_id, "person", keys)
        heads = incremental.FeatureCache().read(tx, actor.tenant_id, "person",
                                                found.record_ids())
    best: dict[int, tuple[float, int]] = {}
    for rid in sorted(heads):
        head, other = heads[rid]
        if head.entity_id == exclude_entity:
            continue
        weight = model.score_gammas([c.gamma(features, other) for c in model.comparisons])
        if head.entity_id not in best or weight > best[head.entity_id][0]:
            best[head.entity_id] = (weight, rid)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [(eid, rid, weight) for eid, (weight, rid) in ranked
            if probability_of(weight) >= at_least][:limit]


def _found(hub: Hub, actor: Actor, features: Features, **options: Any
           ) -> list[tuple[int, int, float]]:
    with hub.store.read() as tx:
        matches = incremental.find_matches(tx, actor.tenant_id, "person", features,
                                           person_model(), **options)
    return [(m.entity_id, m.record_id, m.match_weight) for m in matches]


def _probes() -> list[dict[str, Any]]:
    return [_people()[7], *({"first_name": f, "last_name": "Smith", "birthdate": d,
                             "city": "Springfield", "postcode": "62704"}
                            for f in ("Jonathan", "Johnny", "Jane") for d in DATES[:2])]


def _same(found: list[tuple[int, int, float]], expected: list[tuple[int, int, float]]
          ) -> None:
    assert [(e, r) for e, r, _ in found] == [(e, r) for e, r, _ in expected]
    assert [w for _, _, w in found] == pytest.approx([w for _, _, w in expected])


def test_the_ranking_is_the_one_reading_every_candidate(hub: Hub, actor: Actor) -> None:
    public = _load(hub, actor)
    with hub.store.read() as tx:
        gone = tx.entity_by_public_id(actor.tenant_id, public[1])
        assert gone is not None
    hub.delete(actor, P, public[1])  # its records are candidates no more
    for attributes in _probes():
        features = person_features(attributes)
        for limit in (1, 2, 5):
            expected = _reference(hub, actor, features, limit=limit)
            assert expected and all(e != gone.id for e, _, _ in expected)
            _same(_found(hub, actor, features, limit=limit), expected)
        top = _reference(hub, actor, features, limit=1)[0][0]
        _same(_found(hub, actor, features, limit=5, exclude_entity=top),
              _reference(hub, actor, features, limit=5, exclude_entity=top))
        for at_least in (0.5, 0.8, 0.99):
            _same(_found(hub, actor, features, limit=5, at_least=at_least),
                  _reference(hub, actor, features, limit=5, at_least=at_least))


def test_features_behind_the_record_are_scored_again(hub: Hub, actor: Actor) -> None:
    """A safety net (every write stores the features of the version it writes): a record
    whose stored features are of an older version is scored from its current one."""
    _load(hub, actor)
    probe = person_features(_probes()[0])
    best = _reference(hub, actor, probe, limit=1)[0]
    with hub.store.engine.begin() as c:
        # The best record's stored features become an older version's, and a poor match's
        # stored features become the probe's own (an older version's, as far as it says).
        poor = _reference(hub, actor, probe, limit=50)[-1]
        own = incremental.stored_features(probe)
        c.execute(match_features.update().where(match_features.c.record_id == poor[1])
                  .values(version=0, features=own))
        c.execute(match_features.update().where(match_features.c.record_id == best[1])
                  .values(version=0))
        assert c.execute(sa.select(records.c.current_version).where(
            records.c.id == best[1])).scalar_one() >= 1
    for limit in (1, 5):
        _same(_found(hub, actor, probe, limit=limit),
              _reference(hub, actor, probe, limit=limit))


def test_a_refused_best_match_gives_way_to_the_next(hub: Hub, actor: Actor) -> None:
    """Identify asks for the best entity only; when protection refuses it (another
    external id), it looks further and links the next one."""
    jon = {"first_name": "Jon", "last_name": "Smyth", "birthdate": "1980-07-03",
           "address": "12 Oak St", "city": "Springfield", "postcode": "62704"}
    first = hub.identify(actor, IdentifyRequest(P, "crm", "c-1", {"external_id": "EXT-1"},
                                                jon))
    near = {k: v for k, v in jon.items() if k != "postcode"}
    second = hub.identify(actor, IdentifyRequest(P, "crm", "c-2", {"external_id": "EXT-3"},
                                                 near))
    assert second.id != first.id  # refused: another external id
    # The second drops its external id: nothing stops a link to it any more.
    assert hub.identify(actor, IdentifyRequest(P, "crm", "c-2", {}, near)).id == second.id
    res = hub.identify(actor, IdentifyRequest(P, "support", "s-9",
                                              {"external_id": "EXT-2"}, jon))
    assert res.action.value == "matched" and res.id == second.id, res
    refused = [e for e in res.evidence if e["rule"] == "not_linked"]
    assert [e["entity"] for e in refused] == [first.id]
    fuzzy = [e for e in res.evidence if e["rule"] == "fuzzy"]
    assert fuzzy and fuzzy[0]["entity"] == second.id
