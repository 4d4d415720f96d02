"""A unit of work: one store transaction, who is acting, and the profiles to rebuild at the end."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from allroads.domain.types import Actor, EntityType
from allroads.resolution.rules import RuleSet
from allroads.resolution.survivorship import SourceRecord, flatten, golden_record
from allroads.store import EntityRow, NewChange, Tx

DEFAULT_SOURCE_PRIORITIES = {"manual": 100, "product": 80, "crm": 70, "support": 60,
                             "import": 50, "widget": 40, "channel": 40}
NEW_SOURCE_PRIORITY = 50


def stored_rules(tx: Tx, tenant_id: int, entity_type: EntityType, *, lock: bool = False
                 ) -> RuleSet:
    """The tenant's rule set for the type, as stored now (the defaults if it has none);
    `lock`: no other transaction saves it until this one ends."""
    data = tx.rule_set(tenant_id, entity_type.value, lock=lock)
    return RuleSet.from_dict(entity_type, data) if data else RuleSet.default(entity_type)


class TenantSettingsCache:
    """Rule sets and source priorities per tenant, kept for a few seconds: they are read by
    every identify and change rarely. This process drops its copy when it changes them;
    other processes see a change within `ttl` seconds."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._rules: dict[tuple[int, EntityType], tuple[float, RuleSet]] = {}
        self._priorities: dict[int, tuple[float, dict[str, int]]] = {}

    def rules(self, tx: Tx, tenant_id: int, entity_type: EntityType) -> RuleSet:
        key = (tenant_id, entity_type)
        hit = self._rules.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            hit = (time.monotonic(), stored_rules(tx, tenant_id, entity_type))
            self._rules[key] = hit
        return hit[1]

    def fresh_rules(self, tenant_id: int, entity_type: EntityType) -> RuleSet | None:
        """The rule set when a copy younger than `ttl` is held, else None (no store access)."""
        hit = self._rules.get((tenant_id, entity_type))
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return None
        return hit[1]

    def priorities(self, tx: Tx, tenant_id: int) -> dict[str, int]:
        hit = self._priorities.get(tenant_id)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            hit = (time.monotonic(), {s.name: s.priority for s in tx.sources(tenant_id)})
            self._priorities[tenant_id] = hit
        return hit[1]

    def forget(self, tenant_id: int) -> None:
        self._priorities.pop(tenant_id, None)
        for key in [k for k in self._rules if k[0] == tenant_id]:
            del self._rules[key]


class Unit:
    def __init__(self, tx: Tx, actor: Actor, now: dt.datetime,
                 cache: TenantSettingsCache | None = None) -> None:
        self.tx = tx
        self.actor = actor
        self.now = now
        self.cache = cache or TenantSettingsCache(ttl=0.0)
        self.dirty: set[int] = set()
        self.created: set[int] = set()  # entities created in this unit: no profile yet
        # What this unit knows without reading it back: the rows of the entities it created
        # and, for each, the one record it was created with (None: more than one, read).
        self._known: dict[int, EntityRow] = {}
        self._fresh: dict[int, SourceRecord | None] = {}
        self.changes: list[NewChange] = []

    # Settings -------------------------------------------------------------------------
    def rules(self, entity_type: EntityType) -> RuleSet:
        return self.cache.rules(self.tx, self.actor.tenant_id, entity_type)

    def priorities(self) -> dict[str, int]:
        return self.cache.priorities(self.tx, self.actor.tenant_id)

    def ensure_source(self, name: str) -> None:
        if name not in self.priorities():
            priority = DEFAULT_SOURCE_PRIORITIES.get(name, NEW_SOURCE_PRIORITY)
            self.tx.add_source_if_missing(self.actor.tenant_id, name, priority, self.now)
            self.cache.forget(self.actor.tenant_id)

    # Changes --------------------------------------------------------------------------
    def log(self, entity_id: int, field: str, old: Any, new: Any, *,
            merge_public_id: str | None = None) -> None:
        self.changes.append(NewChange(
            entity_id=entity_id, field=field, old=old, new=new,
            touchpoint=self.actor.touchpoint, initiator=self.actor.initiator, at=self.now,
            merge_public_id=merge_public_id, import_id=self.actor.import_id))

    # What was just written --------------------------------------------------------------
    def entity_created(self, entity: EntityRow) -> None:
        """`entity` was just created by this unit."""
        self.created.add(entity.id)
        self._known[entity.id] = entity

    def record_written(self, entity_id: int, record_id: int, source: str, source_key: str,
                       attributes: dict[str, Any], identifiers: dict[str, Any]) -> None:
        """A new record of `entity_id` was written with this content: when the entity was
        created by this unit and this is its only record, `finish` builds its profile from
        it instead of reading it back."""
        if entity_id not in self._known:
            return
        stored = self.tx.version_as_read(attributes, identifiers)
        if entity_id in self._fresh or stored is None:
            self._fresh[entity_id] = None  # a second record, or unknown: read back
            return
        self._fresh[entity_id] = SourceRecord(record_id, source, source_key, 0,
                                              self.now.timestamp(), *stored)

    def entities_changed(self, entity_ids: Iterable[int]) -> None:
        """These entities changed in ways only the store knows (merged, records moved):
        forget what this unit remembered of them."""
        for entity_id in entity_ids:
            self._known.pop(entity_id, None)
            self._fresh[entity_id] = None

    def finish(self, merge_public_id: str | None = None) -> None:
        """Rebuild the profiles of every entity touched, log field changes, write the log."""
        known = {i: e for i, e in self._known.items() if i in self.dirty}
        ents = self.tx.entities_by_id(self.dirty - known.keys())
        ents.update(known)
        for entity_id in sorted(self.dirty):
            entity = ents[entity_id]
            if entity.status != "active":
                continue
            self.rebuild_profile(entity, merge_public_id=merge_public_id)
            if entity_id not in self.created:
                self.tx.touch_entity(entity_id, self.now)
        self.dirty.clear()
        self.created.clear()
        self._known.clear()
        self._fresh.clear()
        self.tx.append_changes(self.actor.tenant_id, self.changes)
        self.changes = []

    def rebuild_profile(self, entity: EntityRow, *, merge_public_id: str | None) -> None:
        etype = EntityType(entity.entity_type)
        priorities = self.priorities()
        fresh = self._fresh.get(entity.id) if entity.id in self.created else None
        if fresh is not None:
            records = [dataclasses.replace(
                fresh, priority=priorities.get(fresh.source, NEW_SOURCE_PRIORITY))]
        else:
            records = [SourceRecord(v.record_id, v.source, v.source_key,
                                    priorities.get(v.source, NEW_SOURCE_PRIORITY),
                                    v.received_at.timestamp(), v.attributes, v.identifiers)
                       for v in self.tx.current_versions([entity.id])]
        golden = golden_record(etype, entity.public_id, records)
        old = None if entity.id in self.created else self.tx.profile(entity.id)
        before = flatten(old.data) if old else {}
        after = flatten(golden.data)
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                self.log(entity.id, key, before.get(key), after.get(key),
                         merge_public_id=merge_public_id)
        self.tx.put_profile(self.actor.tenant_id, entity.id, etype.value, golden.display_name,
                            golden.data, golden.provenance, golden.search_text, self.now,
                            new=old is None)
