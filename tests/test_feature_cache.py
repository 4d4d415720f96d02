"""Candidates' matching features, on both databases: each write stores a record's features
with its keys (identify, bulk seed, a match run, `MatchRuns.index`), and a look-up reads
them; a record without stored features of its current version and revision (written
before features were stored) is worked out from the record and cached; a new version is
never served from the cache; a full cache starts again empty."""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from allroads.batch.runs import MatchRuns
from allroads.domain.types import Actor, EntityType, IdentifyRequest
from allroads.resolution.bulk import bulk_seed
from allroads.resolution.hub import Hub
from allroads.resolution.matching import incremental
from allroads.resolution.matching.incremental import FeatureCache
from allroads.store import Store
from allroads.store.schema import match_features, records


def _send(hub: Hub, actor: Actor, key: str, first: str) -> str:
    result = hub.identify(actor, _request(key, first))
    assert result.id is not None
    return result.id


def _request(key: str, first: str) -> IdentifyRequest:
    return IdentifyRequest(EntityType.PERSON, "crm", key,
                           {"email": f"{key}@mail.acme-corp.net"},
                           {"first_name": first, "last_name": "Smith",
                            "birthdate": "1980-03-07"})


def _record_id(hub: Hub, key: str) -> int:
    with hub.store.engine.connect() as c:
        return int(c.execute(sa.select(records.c.id).where(records.c.source_key == key))
                   .scalar_one())


def _computed(hub: Hub, actor: Actor, rid: int) -> dict[str, object]:
    """The record's features worked out from its current version, as stored."""
    with hub.store.read() as tx:
        attributes, identifiers = tx.match_record_contents([rid])[rid]
    features = incremental.features_for("person")(
        incremental.flat_record(attributes, identifiers))
    return dict(orjson.loads(incremental.stored_features(features)))


def _stored(store: Store) -> dict[int, tuple[int, dict[str, object]]]:
    with store.engine.connect() as c:
        return {int(r[0]): (int(r[1]), orjson.loads(r[2]))
                for r in c.execute(sa.select(match_features))}


def _forget_features(store: Store) -> None:
    """As a record written before features were stored."""
    with store.engine.begin() as c:
        c.execute(match_features.delete())


def test_identify_stores_features_and_a_lookup_reads_them(hub: Hub, actor: Actor) -> None:
    _send(hub, actor, "c1", "Jon")
    rid = _record_id(hub, "c1")
    assert _stored(hub.store)[rid] == (1, _computed(hub, actor, rid))
    cache = FeatureCache()
    with hub.store.read() as tx:
        got = cache.read(tx, actor.tenant_id, "person", [rid])
    assert got[rid][1] == _computed(hub, actor, rid)
    assert got[rid][1]["first_name"] == "jon" and got[rid][1]["birthdate"] == "1980-03-07"
    assert cache._entries == {}  # stored: nothing worked out
    _send(hub, actor, "c1", "Mary")  # a new version: its features replace the old
    assert _stored(hub.store)[rid] == (2, _computed(hub, actor, rid))
    with hub.store.read() as tx:
        assert cache.read(tx, actor.tenant_id, "person", [rid])[rid][1]["first_name"] == "mary"


def test_without_stored_features_a_new_version_is_read_again(hub: Hub, actor: Actor) -> None:
    cache = FeatureCache()
    _send(hub, actor, "c1", "Jon")
    rid = _record_id(hub, "c1")
    _forget_features(hub.store)
    with hub.store.read() as tx:
        first = cache.read(tx, actor.tenant_id, "person", [rid])
        again = cache.read(tx, actor.tenant_id, "person", [rid])
    assert first[rid][1]["first_name"] == "jon"
    assert again[rid][1] is first[rid][1]  # served from the cache
    _send(hub, actor, "c1", "Mary")  # a new version of the same record
    _forget_features(hub.store)
    with hub.store.read() as tx:
        after = cache.read(tx, actor.tenant_id, "person", [rid])
    assert after[rid][1]["first_name"] == "mary"


def test_stale_or_older_revision_features_are_not_used(hub: Hub, actor: Actor) -> None:
    _send(hub, actor, "c1", "Jon")
    rid = _record_id(hub, "c1")
    with hub.store.engine.begin() as c:  # features of another version, then revision
        c.execute(match_features.update().values(
            version=7,
            features=f'{{"first_name": "zed", "_rev": {incremental.FEATURES_REVISION}}}'))
    with hub.store.read() as tx:
        assert FeatureCache().read(tx, actor.tenant_id, "person", [rid])[rid][1][
            "first_name"] == "jon"
    with hub.store.engine.begin() as c:
        c.execute(match_features.update().values(
            version=1, features='{"first_name": "zed", "_rev": 0}'))
    with hub.store.read() as tx:
        assert FeatureCache().read(tx, actor.tenant_id, "person", [rid])[rid][1][
            "first_name"] == "jon"


def test_other_tenants_and_types_are_not_read(hub: Hub, actor: Actor) -> None:
    cache = FeatureCache()
    _send(hub, actor, "c1", "Jon")
    rid = _record_id(hub, "c1")
    with hub.store.read() as tx:
        assert cache.read(tx, actor.tenant_id + 1, "person", [rid]) == {}
        assert cache.read(tx, actor.tenant_id, "account", [rid]) == {}


def test_a_full_cache_starts_again(hub: Hub, actor: Actor) -> None:
    cache = FeatureCache(size=2)
    for key in ("c1", "c2", "c3"):
        _send(hub, actor, key, "Jon")
    _forget_features(hub.store)
    ids = [_record_id(hub, k) for k in ("c1", "c2", "c3")]
    with hub.store.read() as tx:
        assert len(cache.read(tx, actor.tenant_id, "person", ids[:2])) == 2
        assert len(cache.read(tx, actor.tenant_id, "person", ids)) == 3
    assert len(cache._entries) == 1  # emptied, then the one it lacked


def test_bulk_seed_a_match_run_and_index_store_features(hub: Hub, actor: Actor) -> None:
    assert bulk_seed(hub.store, actor, [_request(f"s{i}", name) for i, name in
                                        enumerate(("Ann", "Bob", "Cy"))]) == 3
    ids = [_record_id(hub, f"s{i}") for i in range(3)]
    expected = {rid: (1, _computed(hub, actor, rid)) for rid in ids}
    assert _stored(hub.store) == expected
    runs = MatchRuns(hub.store)
    _forget_features(hub.store)
    assert runs.run(actor, "person")["status"] == "succeeded"
    assert _stored(hub.store) == expected
    _forget_features(hub.store)
    with hub.store.engine.begin() as c:  # and the keys: the index rebuilds both
        c.execute(sa.text("DELETE FROM match_keys"))
    seen: list[tuple[int, int]] = []
    counts = runs.index(actor, "person", batch=2, progress=lambda d, t: seen.append((d, t)))
    assert _stored(hub.store) == expected
    with hub.store.read() as tx:
        assert counts == {"records": 3, "keys": tx.count_match_keys(actor.tenant_id, "person"),
                          "blocked": 0, "unblocked": 0}
    assert counts["keys"] > 0 and seen == [(2, 3), (3, 3)]
