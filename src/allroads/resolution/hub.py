"""The Hub: everything the edges (API, CLI, web) may ask of Allroads, one method each.

Each method runs in one store transaction and takes an `Actor` (tenant, initiator,
touchpoint). Errors are from allroads.domain.errors; the edges translate them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from allroads.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from allroads.domain.identifiers import normalize_identifier
from allroads.domain.types import (
    Actor,
    EntityType,
    IdentifyRequest,
    IdentifyResult,
    Role,
    utcnow,
)
from allroads.resolution.cursors import decode_cursor, encode_cursor
from allroads.resolution.identify import (
    Prepared,
    identify,
    normalize_source,
    prepare_request,
    unchanged_answer,
)
from allroads.resolution.ids import new_public_id
from allroads.resolution.merging import merge_entities, protection, survivor, undo_merge
from allroads.resolution.reblock import reblock
from allroads.resolution.rules import RuleSet
from allroads.resolution.unit import (
    DEFAULT_SOURCE_PRIORITIES,
    TenantSettingsCache,
    Unit,
    stored_rules,
)
from allroads.resolution.views import entity_view, fields_to_record
from allroads.store import ApiKeyRow, EntityRow, Store, StoredResponse, TenantRow, Tx

TENANT_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
AUTH_CACHE_SECONDS = 5.0


class Principal:
    """An authenticated API key: its tenant and role."""

    def __init__(self, key: ApiKeyRow, tenant: TenantRow) -> None:
        self.key = key
        self.tenant = tenant
        self.role = Role(key.role)

    def actor(self, touchpoint: str = "api") -> Actor:
        return Actor(self.tenant.id, f"key:{self.key.prefix}", touchpoint,
                     self.tenant.default_region)

    def require(self, needed: Role) -> None:
        if not self.role.allows(needed):
            raise PermissionDenied(f"this API key has the role {self.role.value}, which may "
                                   f"not do this (needs {needed.value})",
                                   hint="use a key with a stronger role")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Hub:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache = TenantSettingsCache()
        # Called with a tenant's id when its rules or source priorities change here: other
        # caches of them (the identify writer process's) forget them too.
        self.settings_listeners: list[Callable[[int], None]] = []
        self._principals: dict[str, tuple[float, Principal]] = {}

    def _unit(self, tx: Tx, actor: Actor, now: dt.datetime | None = None) -> Unit:
        return Unit(tx, actor, now or utcnow(), self.cache)

    # Tenants and keys -----------------------------------------------------------------
    def ensure_tenant(self, slug: str, *, name: str | None = None,
                      default_region: str | None = None) -> TenantRow:
        if not TENANT_SLUG.match(slug or ""):
            raise InvalidInput(f"invalid tenant name {slug!r}", field="tenant",
                               hint="use lower-case letters, digits, - and _ (e.g. acme)")
        region = default_region.upper() if default_region else None
        with self.store.write() as tx:
            tenant = tx.tenant_by_slug(slug)
            if tenant is None:
                now = utcnow()
                tenant = tx.create_tenant(slug, name or slug, region, now)
                for source, priority in DEFAULT_SOURCE_PRIORITIES.items():
                    tx.add_source_if_missing(tenant.id, source, priority, now)
            elif region and tenant.default_region != region:
                tx.update_tenant(tenant.id, default_region=region)
                tenant = tx.tenant(tenant.id) or tenant
            return tenant

    def tenant(self, slug: str) -> TenantRow:
        """The tenant named `slug`; never creates one (a typo must not make a new tenant)."""
        with self.store.read() as tx:
            tenant = tx.tenant_by_slug(slug)
        if tenant is None:
            raise NotFound(f"no tenant {slug!r}",
                           hint="check the tenant name, or create it with "
                           f"`allroads apikey create --tenant {slug} --role admin`")
        return tenant

    def create_api_key(self, tenant_slug: str, role: Role, name: str = "") -> tuple[str,
                                                                                   ApiKeyRow]:
        """A new key for the tenant (created if new). The plain key is shown only now."""
        tenant = self.ensure_tenant(tenant_slug)
        prefix = secrets.token_hex(4)
        key = f"ar_{prefix}_{secrets.token_urlsafe(24)}"
        with self.store.write() as tx:
            row = tx.create_api_key(tenant.id, name or f"{role.value} key", role.value, prefix,
                                    hash_key(key), utcnow())
        return key, row

    def authenticate(self, key: str) -> Principal | None:
        """The key's principal, or None. Known keys are remembered for AUTH_CACHE_SECONDS
        (every request authenticates); a revocation elsewhere applies within that time."""
        known = self.known_principal(key)
        if known is not None:
            return known
        digest = hash_key(key)
        with self.store.read() as tx:
            row = tx.api_key_by_hash(digest)
            if row is None or row.revoked_at is not None:
                return None
            tenant = tx.tenant(row.tenant_id)
        if tenant is None:
            return None
        principal = Principal(row, tenant)
        if len(self._principals) > 10_000:
            self._principals.clear()
        self._principals[digest] = (time.monotonic(), principal)
        return principal

    def known_principal(self, key: str) -> Principal | None:
        """The principal of a key authenticated less than AUTH_CACHE_SECONDS ago, from
        memory (no store access, so callers on an event loop may call it); else None."""
        hit = self._principals.get(hash_key(key))
        if hit is not None and time.monotonic() - hit[0] < AUTH_CACHE_SECONDS:
            return hit[1]
        return None

    def list_api_keys(self, actor: Actor) -> list[ApiKeyRow]:
        with self.store.read() as tx:
            return tx.list_api_keys(actor.tenant_id)

    def revoke_api_key(self, actor: Actor, key_id: int) -> None:
        with self.store.write() as tx:
            if not tx.revoke_api_key(actor.tenant_id, key_id, utcnow()):
                raise NotFound(f"no active API key {key_id} in this tenant")
        self._principals.clear()

    # Sources and rules ----------------------------------------------------------------
    def sources(self, actor: Actor) -> list[dict[str, Any]]:
        with self.store.read() as tx:
            return [{"name": s.name, "priority": s.priority, "description": s.description}
                    for s in tx.sources(actor.tenant_id)]

    def set_source(self, actor: Actor, name: str, priority: int, description: str = ""
                   ) -> dict[str, Any]:
        source = normalize_source(name)
        if not 0 <= priority <= 1000:
            raise InvalidInput("priority must be between 0 and 1000", field="priority")
        with self.store.write() as tx:
            tx.upsert_source(actor.tenant_id, source, priority, description, utcnow())
        self._settings_changed(actor.tenant_id)
        return {"name": source, "priority": priority, "description": description}

    def rules(self, actor: Actor, etype: EntityType) -> dict[str, Any]:
        with self.store.read() as tx:
            return stored_rules(tx, actor.tenant_id, etype).to_dict()

    def set_rules(self, actor: Actor, etype: EntityType, data: Mapping[str, Any], *,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Save the tenant's rules for the type; the saved rule set, with `remarked`: what
        it did to the values already stored (`reblock`, whose `progress` this is)."""
        rules = RuleSet.from_dict(etype, dict(data))
        stored = rules.to_dict()
        with self.store.write() as tx:
            before = stored_rules(tx, actor.tenant_id, etype, lock=True)
            tx.put_rule_set(actor.tenant_id, etype.value, stored, utcnow())
        self._settings_changed(actor.tenant_id)
        # after every process has the new rules: a value written meanwhile is read too
        remarked = reblock(self.store, actor.tenant_id, etype, rules,
                           before.kinds_blocked_differently(rules), progress=progress)
        return {**stored, "remarked": dataclasses.asdict(remarked)}

    def _settings_changed(self, tenant_id: int) -> None:
        """The tenant's rules or source priorities changed: this process's copy is dropped
        at once, and every listener's (other processes see a change within the cache's
        ttl otherwise)."""
        self.cache.forget(tenant_id)
        for listener in list(self.settings_listeners):
            listener(tenant_id)

    # Resolution -----------------------------------------------------------------------
    def identify(self, actor: Actor, req: IdentifyRequest, *, unchanged_checked: bool = False,
                 prepared: Prepared | None = None) -> IdentifyResult:
        """Resolve one record. `unchanged_checked`: the caller has just asked
        `check_unchanged` (and got no answer), so go straight to the writer; `prepared`:
        what that call prepared (normalized identifiers), not to be done twice."""
        actor = self._touchpoint_actor(actor, req)
        if req.account is None and not unchanged_checked:
            # The common case, a record sent again unchanged, is answered without waiting
            # for the writer.
            unchanged, prepared = self._check_unchanged(actor, req)
            if unchanged is not None:
                return unchanged
        with self.store.write() as tx:
            return identify(self._unit(tx, actor), req, prepared=prepared)

    def identify_group(self, calls: Sequence[tuple[Actor, IdentifyRequest, Prepared | None]]
                       ) -> list[IdentifyResult | Exception]:
        """Several identify calls in one transaction with one commit: what a single writer
        does with the calls that queued while it was busy (on SQLite a commit costs more
        than the rows of one call, and calls share the pages they change). Each call runs
        in a savepoint, in order, and sees the calls before it: an error undoes only its
        own writes and is its answer. If the commit fails, that error is every call's
        answer (nothing was stored). `prepared`: as for `identify`."""
        out: list[IdentifyResult | Exception] = []
        try:
            with self.store.write() as tx:
                for actor, req, prepared in calls:
                    unit = self._unit(tx, self._touchpoint_actor(actor, req))
                    try:
                        with tx.savepoint():
                            out.append(identify(unit, req, prepared=prepared))
                    except Exception as exc:  # the call's answer
                        out.append(exc)
        except Exception as exc:  # the commit failed: nothing is stored
            return [exc] * len(calls)
        return out

    def identify_unchanged(self, actor: Actor, req: IdentifyRequest) -> IdentifyResult | None:
        """`identify`'s answer when the record is already stored with exactly this content
        (a read transaction: it never waits for the writer); None when there is work to do
        (then call `identify(..., unchanged_checked=True)`). Invalid input raises as
        `identify` would."""
        return self.check_unchanged(actor, req)[0]

    def check_unchanged(self, actor: Actor, req: IdentifyRequest
                        ) -> tuple[IdentifyResult | None, Prepared | None]:
        """`identify_unchanged`, and when it has no answer, the request as prepared (pass it
        to `identify(..., unchanged_checked=True, prepared=...)`)."""
        if req.account is not None:
            return None, None
        return self._check_unchanged(self._touchpoint_actor(actor, req), req)

    def _check_unchanged(self, actor: Actor, req: IdentifyRequest
                         ) -> tuple[IdentifyResult | None, Prepared]:
        etype = EntityType(req.type)
        rules = self.cache.fresh_rules(actor.tenant_id, etype)
        if rules is None:
            with self.store.read() as tx:
                rules = self.cache.rules(tx, actor.tenant_id, etype)
        prepared = prepare_request(actor.region, req, rules)
        # One statement, no transaction around it (SQLite: on a connection of this thread).
        public_id = self.store.entity_of_unchanged_record(
            actor.tenant_id, etype.value, prepared.source, prepared.source_key,
            prepared.content_hash)
        return unchanged_answer(req, prepared, public_id), prepared

    @staticmethod
    def _touchpoint_actor(actor: Actor, req: IdentifyRequest) -> Actor:
        if not req.touchpoint:
            return actor
        return Actor(actor.tenant_id, actor.initiator, req.touchpoint, actor.region,
                     actor.import_id)

    def resolve(self, actor: Actor, etype: EntityType, *, kind: str | None = None,
                value: str | None = None, source: str | None = None,
                source_id: str | None = None) -> dict[str, Any]:
        with self.store.read() as tx:
            if source is not None:
                if not source_id:
                    raise InvalidInput("source_id is needed with source", field="source_id")
                record = tx.record(actor.tenant_id, etype.value, normalize_source(source),
                                   source_id)
                if record is None:
                    raise NotFound(f"no {etype.value} with {source} id {source_id!r}")
                return self._view(tx, self._follow(tx, record.entity_id))
            if not kind or value is None:
                raise InvalidInput("give one identifier, e.g. ?type=person&email=jane@acme.com, "
                                   "or ?source=crm&source_id=110", field="query")
            norm = normalize_identifier(kind, value, region=actor.region)
            hits = tx.find_identifiers(actor.tenant_id, etype.value, [(kind, norm)])
            owners = sorted({h.entity_id for h in hits})
            if not owners:
                raise NotFound(f"no {etype.value} with {kind} {norm!r}")
            if len(owners) > 1:
                ents = tx.entities_by_id(owners)
                raise Conflict(f"{kind} {norm!r} is held by {len(owners)} {etype.value}s: "
                               + ", ".join(ents[e].public_id for e in owners),
                               hint="resolve by a more specific identifier")
            return self._view(tx, self._follow(tx, owners[0]))

    # Entities -------------------------------------------------------------------------
    def get(self, actor: Actor, etype: EntityType, public_id: str) -> dict[str, Any]:
        with self.store.read() as tx:
            return self._view(tx, self._entity(tx, actor, etype, public_id))

    def list_entities(self, actor: Actor, etype: EntityType, *, cursor: str | None, limit: int,
             query: str | None = None, account: str | None = None,
             orphans_only: bool = False) -> tuple[list[dict[str, Any]], str | None]:
        after = decode_cursor(cursor)
        with self.store.read() as tx:
            account_id = None
            if account is not None:
                account_id = self._entity(tx, actor, EntityType.ACCOUNT, account).id
            rows = tx.list_profiles(actor.tenant_id, etype.value, after_id=after,
                                    limit=limit + 1, query=query, account_id=account_id,
                                    orphans_only=orphans_only)
            more = len(rows) > limit
            rows = rows[:limit]
            accounts = tx.entities_by_id({r.account_id for r in rows if r.account_id})
            items = [entity_view(r, account_public_id=accounts[r.account_id].public_id
                                 if r.account_id in accounts else None, provenance=False)
                     for r in rows]
        return items, (encode_cursor(rows[-1].entity_id) if more and rows else None)

    def create(self, actor: Actor, etype: EntityType, fields: Mapping[str, Any]
               ) -> dict[str, Any]:
        public = new_public_id(etype.prefix)
        attributes, identifiers = fields_to_record(etype, fields, {}, {})
        with self.store.write() as tx:
            u = self._unit(tx, actor)
            identify(u, IdentifyRequest(etype, "manual", public, identifiers, attributes),
                     strict=True, public_id=public)
            entity = tx.entity_by_public_id(actor.tenant_id, public)
            assert entity is not None
            if etype is EntityType.PERSON and fields.get("account"):
                self._set_account(u, entity, str(fields["account"]))
            u.finish()
            return self._view(tx, tx.entity(entity.id) or entity)

    def update(self, actor: Actor, etype: EntityType, public_id: str,
               fields: Mapping[str, Any]) -> dict[str, Any]:
        with self.store.write() as tx:
            entity = self._entity(tx, actor, etype, public_id)
            u = self._unit(tx, actor)
            base_attrs: dict[str, Any] = {}
            base_ids: dict[str, Any] = {}
            record = tx.record(actor.tenant_id, etype.value, "manual", entity.public_id)
            if record is not None:
                version = tx.versions_of_record(record.id)[-1]
                base_attrs, base_ids = version.attributes, version.identifiers
            record_fields = {k: v for k, v in fields.items() if k != "account"}
            if record_fields:
                attributes, identifiers = fields_to_record(etype, record_fields, base_attrs,
                                                           base_ids)
                identify(u, IdentifyRequest(etype, "manual", entity.public_id, identifiers,
                                            attributes), strict=True, into=entity)
            if etype is EntityType.PERSON and "account" in fields:
                self._set_account(u, entity, fields["account"])
            u.finish()
            return self._view(tx, tx.entity(entity.id) or entity)

    def delete(self, actor: Actor, etype: EntityType, public_id: str) -> None:
        """Soft delete: the entity disappears and its identifiers stop matching; its records
        and history stay."""
        with self.store.write() as tx:
            entity = self._entity(tx, actor, etype, public_id)
            now = utcnow()
            for rec in tx.records_of([entity.id]):
                tx.remove_identifiers(rec.id, tx.active_identifiers(rec.id), now)
            tx.set_entity_state(entity.id, status="deleted", merged_into=None, now=now)
            tx.delete_profile(entity.id)
            if etype is EntityType.ACCOUNT:
                for person in tx.members(entity.id, limit=1_000_000):
                    tx.set_account(person, None, now)
            u = self._unit(tx, actor, now)
            u.log(entity.id, "deleted", None, True)
            u.finish()

    def _set_account(self, u: Unit, person: EntityRow, account: str | None) -> None:
        tx = u.tx
        current = tx.entity(person.id)
        assert current is not None
        new = self._entity(tx, u.actor, EntityType.ACCOUNT, account) if account else None
        if (new.id if new else None) == current.account_id:
            return
        old = tx.entity(current.account_id) if current.account_id else None
        tx.set_account(person.id, new.id if new else None, u.now)
        u.log(person.id, "account", old.public_id if old else None,
              new.public_id if new else None)
        u.dirty.add(person.id)

    # Crosswalk ------------------------------------------------------------------------
    def crosswalk(self, actor: Actor, etype: EntityType, public_id: str) -> dict[str, Any]:
        with self.store.read() as tx:
            entity = self._entity(tx, actor, etype, public_id)
            return self._crosswalk(tx, entity)

    def _crosswalk(self, tx: Tx, entity: EntityRow) -> dict[str, Any]:
        records = tx.records_of([entity.id])
        ids: dict[str, list[str]] = {}
        for r in records:
            if r.source != "manual":
                ids.setdefault(r.source, []).append(r.source_key)
        return {"id": entity.public_id, "type": entity.entity_type, "ids": ids,
                "records": [{"source": r.source, "source_id": r.source_key,
                             "first_seen": r.created_at.isoformat(),
                             "last_seen": r.updated_at.isoformat(),
                             "versions": r.current_version} for r in records]}

    def set_crosswalk(self, actor: Actor, etype: EntityType, public_id: str,
                      ids: Mapping[str, str]) -> dict[str, Any]:
        """Say that these source ids are this entity (the Freshsuccess account map)."""
        if not ids:
            raise InvalidInput("send at least one source id, e.g. "
                               '{"ids": {"crm": "110", "support": "2101"}}', field="ids")
        with self.store.write() as tx:
            entity = self._entity(tx, actor, etype, public_id)
            u = self._unit(tx, actor)
            for source, source_id in sorted(ids.items()):
                name = normalize_source(source)
                key = str(source_id).strip()
                if not key:
                    raise InvalidInput(f"ids.{source}: empty id", field=f"ids.{source}")
                record = tx.record(actor.tenant_id, etype.value, name, key)
                if record is not None and record.entity_id != entity.id:
                    other = tx.entity(record.entity_id)
                    raise Conflict(f"{name} id {key!r} already belongs to "
                                   f"{other.public_id if other else '?'}",
                                   hint=f"merge {other.public_id if other else 'it'} into "
                                   f"{entity.public_id} instead")
                if record is None:
                    identify(u, IdentifyRequest(etype, name, key), strict=True, into=entity)
                    u.log(entity.id, f"crosswalk.{name}", None, key)
            u.finish()
            return self._crosswalk(tx, entity)

    # Merges ---------------------------------------------------------------------------
    def merge(self, actor: Actor, etype: EntityType, public_id: str, others: list[str]
              ) -> dict[str, Any]:
        """A person's merge: remembered as force-together, so it overrides protection."""
        if not others:
            raise InvalidInput("name the ids to merge in: {\"ids\": [\"per_...\"]}",
                               field="ids")
        with self.store.write() as tx:
            u = self._unit(tx, actor)
            target = self._entity(tx, actor, etype, public_id)
            merged: list[EntityRow] = []
            for other in others:
                ent = self._entity(tx, actor, etype, other)
                if ent.id != target.id and ent.id not in {m.id for m in merged}:
                    merged.append(ent)
            if not merged:
                raise InvalidInput("the ids given are already this entity", field="ids")
            rules = u.rules(etype)
            prot = protection(u, etype, rules, [target.id, *(m.id for m in merged)],
                              bridge_priority=1000)
            for m in merged:
                tx.add_decision(actor.tenant_id, etype.value, "together", target.id, m.id,
                                actor.initiator, "manual merge", u.now)
            group = sorted([target.id, *(m.id for m in merged)])
            public = merge_entities(u, etype, group[0], group[1:], reason="manual",
                                    evidence={"requested_by": actor.initiator,
                                              "requested": [public_id, *others],
                                              "overrode": prot.reason or None})
            survivor = tx.entity(group[0])
            assert survivor is not None
            return {"merge_id": public, "survivor": survivor.public_id,
                    "merged": [m.public_id for m in merged if m.id != survivor.id]
                    + ([target.public_id] if target.id != survivor.id else []),
                    "entity": self._view(tx, survivor)}

    def undo_merge(self, actor: Actor, merge_public_id: str, *, keep_apart: bool = True
                   ) -> dict[str, Any]:
        with self.store.write() as tx:
            u = self._unit(tx, actor)
            ids = undo_merge(u, merge_public_id, keep_apart=keep_apart)
            ents = tx.entities_by_id(ids)
            return {"merge_id": merge_public_id, "undone": True,
                    "entities": [self._view(tx, ents[i]) for i in ids]}

    def keep_apart(self, actor: Actor, etype: EntityType, public_id: str, others: list[str],
                   reason: str = "") -> dict[str, Any]:
        with self.store.write() as tx:
            entity = self._entity(tx, actor, etype, public_id)
            now = utcnow()
            done = []
            for other in others:
                ent = self._entity(tx, actor, etype, other)
                if ent.id == entity.id:
                    raise Conflict(f"{other} is {public_id} (merged); undo the merge first")
                tx.add_decision(actor.tenant_id, etype.value, "apart", entity.id, ent.id,
                                actor.initiator, reason or "force-apart", now)
                done.append(ent.public_id)
            return {"id": entity.public_id, "kept_apart_from": done}

    # History and explanations ---------------------------------------------------------
    def changelog(self, actor: Actor, etype: EntityType, public_id: str, *,
                  cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """The entity's changes and those of the entities merged into it, oldest first;
        each with the display name of the entity it belongs to (an entity merged away has
        no profile of its own: it is shown with this one's name)."""
        with self.store.read() as tx:
            entity = self._entity(tx, actor, etype, public_id)
            family = tx.merged_family([entity.id])
            ents = tx.entities_by_id(family)
            rows = tx.changes(family, after_id=decode_cursor(cursor), limit=limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            # One query for the page, whatever its length.
            profiles = tx.profiles_by_id({entity.id, *(r.entity_id for r in rows)})
        names = {eid: p.display_name for eid, p in profiles.items()}
        fallback = names.get(entity.id)
        items = [{"id": r.id, "entity": ents[r.entity_id].public_id,
                  "name": names.get(r.entity_id, fallback), "at": r.at.isoformat(),
                  "touchpoint": r.touchpoint, "initiator": r.initiator, "field": r.field,
                  "old": r.old, "new": r.new, "merge_id": r.merge_public_id,
                  "import_id": r.import_id} for r in rows]
        return items, (encode_cursor(rows[-1].id) if more and rows else None)

    def identifier_history(self, actor: Actor, etype: EntityType, public_id: str
                           ) -> list[dict[str, Any]]:
        with self.store.read() as tx:
            entity = self._entity(tx, actor, etype, public_id)
            rows = tx.identifiers_of([entity.id], include_removed=True)
        return [{"kind": r.kind, "value": r.value, "source": r.source,
                 "source_id": r.source_key, "added_at": r.added_at.isoformat(),
                 "removed_at": r.removed_at.isoformat() if r.removed_at else None,
                 "active": r.removed_at is None}
                for r in rows if r.kind != "source_id"]

    def explain(self, actor: Actor, etype: EntityType, public_id: str) -> dict[str, Any]:
        """Why each record belongs to this entity: its links, newest last, with evidence."""
        with self.store.read() as tx:
            entity = self._entity(tx, actor, etype, public_id)
            records = tx.records_of([entity.id])
            links = tx.links_of_records([r.id for r in records])
            ents = tx.entities_by_id({lk.entity_id for lk in links})
            merges = tx.merges_of([entity.id])
            decisions = tx.decisions_touching(actor.tenant_id, tx.merged_family([entity.id]))
            dents = tx.entities_by_id({d.entity_a for d in decisions}
                                      | {d.entity_b for d in decisions})
        out = []
        for r in records:
            history = [{"entity": ents[lk.entity_id].public_id, "rule": lk.rule,
                        "evidence": lk.evidence, "actor": lk.actor,
                        "touchpoint": lk.touchpoint, "at": lk.created_at.isoformat(),
                        "ended_at": lk.ended_at.isoformat() if lk.ended_at else None}
                       for lk in links if lk.record_id == r.id]
            out.append({"source": r.source, "source_id": r.source_key,
                        "linked_by": history[-1] if history else None, "history": history})
        return {"id": entity.public_id, "type": entity.entity_type, "records": out,
                "merges": [{"merge_id": m.public_id, "reason": m.reason,
                            "at": m.created_at.isoformat(), "actor": m.actor,
                            "undone_at": m.undone_at.isoformat() if m.undone_at else None}
                           for m in merges],
                "decisions": [{"kind": d.kind, "between": [dents[d.entity_a].public_id,
                                                            dents[d.entity_b].public_id],
                               "actor": d.actor, "reason": d.reason,
                               "at": d.created_at.isoformat()} for d in decisions]}

    def quality(self, actor: Actor, *, limit: int = 50) -> dict[str, Any]:
        with self.store.read() as tx:
            t = actor.tenant_id
            orphans = tx.list_profiles(t, "person", after_id=None, limit=limit,
                                       orphans_only=True)
            orphan_count = tx.count_profiles(t, "person", orphans_only=True)
            no_ref_count, no_ref = tx.entities_without_kinds(t, "account",
                                                             ("org_ref", "external_id"), limit)
            no_ref_profiles = tx.profiles_by_id(no_ref)
            blocked = {et: tx.blocked_identifiers(t, et, limit) for et in ("person", "account")}
            u = self._unit(tx, actor)
            identifying = {et.value: {k for k, r in u.rules(et).identifiers.items() if r.unique}
                           for et in EntityType}
            shared = {et: [row for row in tx.widely_shared(t, et, 2, limit * 4)
                           if row[0] in identifying[et] and row[0] != "source_id"][:limit]
                      for et in ("person", "account")}
            reviews = tx.review_items(t, "open", limit)
            rejected = tx.review_items(t, "rejected", limit)

        def brief(p: Any) -> dict[str, Any]:
            return {"id": p.public_id, "display_name": p.display_name}

        return {
            "people_without_account": {"count": orphan_count,
                                       "items": [brief(p) for p in orphans]},
            "accounts_without_external_ref": {
                "count": no_ref_count,
                "items": [brief(no_ref_profiles[i]) for i in no_ref if i in no_ref_profiles]},
            "blocked_identifiers": [{"type": et, "kind": k, "value": v, "records": n}
                                    for et, rows in blocked.items() for k, v, n in rows],
            "shared_identifiers": [{"type": et, "kind": k, "value": v, "entities": n}
                                   for et, rows in shared.items() for k, v, n in rows],
            "open_reviews": [{**r, "created_at": r["created_at"].isoformat()} for r in reviews],
            "recent_rejections": [{**r, "created_at": r["created_at"].isoformat()}
                                  for r in rejected],
        }

    # Idempotency ----------------------------------------------------------------------
    def claim_request(self, actor: Actor, key: str, method: str, path: str, body_hash: str
                      ) -> StoredResponse | None:
        """Claim an Idempotency-Key for this request: None when it is ours to run; else the
        stored response, or a claim still running (status_code 0)."""
        with self.store.write() as tx:
            return tx.claim_request(actor.tenant_id, key, method, path, body_hash, utcnow())

    def complete_request(self, actor: Actor, key: str, status_code: int, response: str
                         ) -> None:
        with self.store.write() as tx:
            tx.complete_request(actor.tenant_id, key, status_code, response)

    def release_request(self, actor: Actor, key: str) -> None:
        """Give a claimed key back (the request failed): a retry may run it again."""
        with self.store.write() as tx:
            tx.release_request(actor.tenant_id, key)

    # Helpers --------------------------------------------------------------------------
    def _entity(self, tx: Tx, actor: Actor, etype: EntityType, public_id: str) -> EntityRow:
        """The entity for an id, following merge redirects; NotFound in other tenants."""
        entity = tx.entity_by_public_id(actor.tenant_id, public_id)
        if entity is None or entity.entity_type != etype.value:
            raise NotFound(f"no {etype.value} {public_id!r}")
        return self._follow(tx, entity.id)

    def _follow(self, tx: Tx, entity_id: int) -> EntityRow:
        entity = tx.entity(entity_id)
        entity = survivor(tx, entity) if entity is not None else None
        if entity is None or entity.status != "active":
            raise NotFound(f"{entity.public_id if entity else 'entity'} was deleted")
        return entity

    def _view(self, tx: Tx, entity: EntityRow) -> dict[str, Any]:
        profile = tx.profile(entity.id)
        if profile is None:
            raise NotFound(f"{entity.public_id} has no profile")
        account = tx.entity(entity.account_id) if entity.account_id else None
        return entity_view(profile, account_public_id=account.public_id if account else None)
