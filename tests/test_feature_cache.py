"""The cache of stored records' matching features, on both databases: a record's new version
is read again, never served from the cache; a full cache starts again empty."""

from __future__ import annotations

import sqlalchemy as sa

from allroads.domain.types import Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub
from allroads.resolution.matching.incremental import FeatureCache
from allroads.store.schema import records


def _send(hub: Hub, actor: Actor, key: str, first: str) -> str:
    result = hub.identify(actor, IdentifyRequest(
        EntityType.PERSON, "crm", key, {"email": f"{key}@example.org"},
        {"first_name": first, "last_name": "Smith"}))
    assert result.id is not None
    return result.id


def _record_id(hub: Hub, key: str) -> int:
    with hub.store.engine.connect() as c:
        return int(c.execute(sa.select(records.c.id).where(records.c.source_key == key))
                   .scalar_one())


def test_a_new_version_is_read_again(hub: Hub, actor: Actor) -> None:
    cache = FeatureCache()
    _send(hub, actor, "c1", "Jon")
    rid = _record_id(hub, "c1")
    with hub.store.read() as tx:
        first = cache.read(tx, actor.tenant_id, "person", [rid])
        again = cache.read(tx, actor.tenant_id, "person", [rid])
    assert first[rid][1]["first_name"] == "jon"
    assert again[rid][1] is first[rid][1]  # served from the cache
    _send(hub, actor, "c1", "Mary")  # a new version of the same record
    with hub.store.read() as tx:
        after = cache.read(tx, actor.tenant_id, "person", [rid])
    assert after[rid][1]["first_name"] == "mary"


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
    ids = [_record_id(hub, k) for k in ("c1", "c2", "c3")]
    with hub.store.read() as tx:
        assert len(cache.read(tx, actor.tenant_id, "person", ids[:2])) == 2
        assert len(cache.read(tx, actor.tenant_id, "person", ids)) == 3
    assert len(cache._entries) == 1  # emptied, then the one it lacked
