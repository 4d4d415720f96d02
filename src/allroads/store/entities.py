"""Entities (people and accounts), their merge redirects and their account membership."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.rows import EntityRow
from allroads.store.schema import entities

_COLUMNS = (
    entities.c.id, entities.c.tenant_id, entities.c.entity_type, entities.c.public_id,
    entities.c.status, entities.c.merged_into, entities.c.account_id, entities.c.created_at,
    entities.c.updated_at,
)


class EntityQueries(TxBase):
    def create_entity(self, tenant_id: int, entity_type: str, public_id: str,
                      now: dt.datetime) -> int:
        return self._insert(entities, tenant_id=tenant_id, entity_type=entity_type,
                            public_id=public_id, status="active", created_at=now,
                            updated_at=now)

    def entity(self, entity_id: int) -> EntityRow | None:
        row = self.conn.execute(sa.select(*_COLUMNS).where(entities.c.id == entity_id)).first()
        return EntityRow(**row._mapping) if row else None

    def entity_by_public_id(self, tenant_id: int, public_id: str) -> EntityRow | None:
        row = self.conn.execute(
            sa.select(*_COLUMNS).where(entities.c.tenant_id == tenant_id,
                                       entities.c.public_id == public_id)
        ).first()
        return EntityRow(**row._mapping) if row else None

    def entities_by_id(self, ids: Iterable[int]) -> dict[int, EntityRow]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self.conn.execute(sa.select(*_COLUMNS).where(entities.c.id.in_(wanted)))
        return {r.id: EntityRow(**r._mapping) for r in rows}

    def entities_by_public_id(self, tenant_id: int, public_ids: Iterable[str]
                              ) -> dict[str, EntityRow]:
        wanted = sorted(set(public_ids))
        if not wanted:
            return {}
        rows = self.conn.execute(
            sa.select(*_COLUMNS).where(entities.c.tenant_id == tenant_id,
                                       entities.c.public_id.in_(wanted))
        )
        return {r.public_id: EntityRow(**r._mapping) for r in rows}

    def set_entity_state(self, entity_id: int, *, status: str, merged_into: int | None,
                         now: dt.datetime) -> None:
        self.conn.execute(entities.update().where(entities.c.id == entity_id)
                          .values(status=status, merged_into=merged_into, updated_at=now))

    def touch_entity(self, entity_id: int, now: dt.datetime) -> None:
        self.conn.execute(entities.update().where(entities.c.id == entity_id)
                          .values(updated_at=now))

    def set_account(self, person_id: int, account_id: int | None, now: dt.datetime) -> None:
        self.conn.execute(entities.update().where(entities.c.id == person_id)
                          .values(account_id=account_id, updated_at=now))

    def move_members(self, from_account: int, to_account: int) -> list[int]:
        """Point the people of one account at another; returns the people moved."""
        ids = [r.id for r in self.conn.execute(
            sa.select(entities.c.id).where(entities.c.account_id == from_account))]
        if ids:
            self.conn.execute(entities.update().where(entities.c.id.in_(ids))
                              .values(account_id=to_account))
        return ids

    def members(self, account_id: int, *, limit: int = 1000) -> list[int]:
        rows = self.conn.execute(
            sa.select(entities.c.id).where(entities.c.account_id == account_id,
                                           entities.c.status == "active")
            .order_by(entities.c.id).limit(limit))
        return [r.id for r in rows]

    def lock_entities(self, ids: Iterable[int]) -> None:
        self.dialect.lock_rows(self.conn, entities, ids)

    def lock_keys(self, keys: Iterable[str]) -> None:
        self.dialect.lock_keys(self.conn, keys)
