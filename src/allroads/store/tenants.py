"""Tenants, API keys, sources and rule sets."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.rows import ApiKeyRow, SourceRow, TenantRow
from allroads.store.schema import api_keys, rule_sets, sources, tenants

_KEY_BY_HASH = sa.select(
    api_keys.c.id, api_keys.c.tenant_id, api_keys.c.name, api_keys.c.prefix, api_keys.c.role,
    api_keys.c.created_at, api_keys.c.revoked_at).where(api_keys.c.key_hash == sa.bindparam("h"))
_TENANT = sa.select(tenants).where(tenants.c.id == sa.bindparam("id"))
_SOURCES = (sa.select(sources.c.id, sources.c.name, sources.c.priority, sources.c.description)
            .where(sources.c.tenant_id == sa.bindparam("tenant_id"))
            .order_by(sources.c.priority.desc(), sources.c.name))
_RULE_SET = sa.select(rule_sets.c.data).where(rule_sets.c.tenant_id == sa.bindparam("tenant_id"),
                                              rule_sets.c.entity_type == sa.bindparam("etype"))
# PostgreSQL: the row stays locked until the transaction ends (SQLite's writes are one at a
# time anyway, and it has no FOR UPDATE).
_RULE_SET_LOCKED = _RULE_SET.with_for_update()


class TenantQueries(TxBase):
    def create_tenant(self, slug: str, name: str, default_region: str | None,
                      now: dt.datetime) -> TenantRow:
        tid = self._insert(tenants, slug=slug, name=name, default_region=default_region,
                           created_at=now)
        return TenantRow(tid, slug, name, default_region, now)

    def tenant_by_slug(self, slug: str) -> TenantRow | None:
        row = self.conn.execute(sa.select(tenants).where(tenants.c.slug == slug)).first()
        return TenantRow(**row._mapping) if row else None

    def tenant(self, tenant_id: int) -> TenantRow | None:
        row = self.conn.execute(_TENANT, {"id": tenant_id}).first()
        return TenantRow(**row._mapping) if row else None

    def tenants(self) -> list[TenantRow]:
        """Every tenant, by slug."""
        rows = self.conn.execute(sa.select(tenants).order_by(tenants.c.slug))
        return [TenantRow(**r._mapping) for r in rows]

    def update_tenant(self, tenant_id: int, **values: Any) -> None:
        self.conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(**values))

    # API keys ---------------------------------------------------------------------------
    def create_api_key(self, tenant_id: int, name: str, role: str, prefix: str, key_hash: str,
                       now: dt.datetime) -> ApiKeyRow:
        kid = self._insert(api_keys, tenant_id=tenant_id, name=name, role=role, prefix=prefix,
                           key_hash=key_hash, created_at=now)
        return ApiKeyRow(kid, tenant_id, name, prefix, role, now, None)

    def api_key_by_hash(self, key_hash: str) -> ApiKeyRow | None:
        row = self.conn.execute(_KEY_BY_HASH, {"h": key_hash}).first()
        return ApiKeyRow(**row._mapping) if row else None

    def list_api_keys(self, tenant_id: int) -> list[ApiKeyRow]:
        rows = self.conn.execute(
            sa.select(api_keys.c.id, api_keys.c.tenant_id, api_keys.c.name, api_keys.c.prefix,
                      api_keys.c.role, api_keys.c.created_at, api_keys.c.revoked_at)
            .where(api_keys.c.tenant_id == tenant_id).order_by(api_keys.c.id)
        )
        return [ApiKeyRow(**r._mapping) for r in rows]

    def revoke_api_key(self, tenant_id: int, key_id: int, now: dt.datetime) -> bool:
        res = self.conn.execute(
            api_keys.update()
            .where(api_keys.c.tenant_id == tenant_id, api_keys.c.id == key_id,
                   api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return res.rowcount > 0

    # Sources ----------------------------------------------------------------------------
    def sources(self, tenant_id: int) -> list[SourceRow]:
        rows = self.conn.execute(_SOURCES, {"tenant_id": tenant_id})
        return [SourceRow(**r._mapping) for r in rows]

    def upsert_source(self, tenant_id: int, name: str, priority: int, description: str,
                      now: dt.datetime) -> None:
        updated = self.conn.execute(
            sources.update().where(sources.c.tenant_id == tenant_id, sources.c.name == name)
            .values(priority=priority, description=description)
        ).rowcount
        if not updated:
            self._insert(sources, tenant_id=tenant_id, name=name, priority=priority,
                         description=description, created_at=now)

    def add_source_if_missing(self, tenant_id: int, name: str, priority: int,
                              now: dt.datetime) -> None:
        exists = self.conn.execute(
            sa.select(sources.c.id).where(sources.c.tenant_id == tenant_id,
                                          sources.c.name == name)
        ).first()
        if not exists:
            self._insert(sources, tenant_id=tenant_id, name=name, priority=priority,
                         description="", created_at=now)

    # Rule sets --------------------------------------------------------------------------
    def rule_set(self, tenant_id: int, entity_type: str, *, lock: bool = False
                 ) -> dict[str, Any] | None:
        """The stored rule set; `lock`: held until this transaction ends, so no other can
        save the rules meanwhile."""
        row = self.conn.execute(_RULE_SET_LOCKED if lock else _RULE_SET,
                                {"tenant_id": tenant_id, "etype": entity_type}).first()
        return dict(row.data) if row else None

    def put_rule_set(self, tenant_id: int, entity_type: str, data: dict[str, Any],
                     now: dt.datetime) -> None:
        updated = self.conn.execute(
            rule_sets.update().where(rule_sets.c.tenant_id == tenant_id,
                                     rule_sets.c.entity_type == entity_type)
            .values(data=data, updated_at=now)
        ).rowcount
        if not updated:
            self.conn.execute(rule_sets.insert().values(tenant_id=tenant_id,
                                                        entity_type=entity_type, data=data,
                                                        updated_at=now))
