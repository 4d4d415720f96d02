"""Entities (people and accounts), their merge redirects and their account membership."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import bindparam as bp

from allroads.store.base import TxBase
from allroads.store.rows import EntityRow
from allroads.store.schema import entities, records

_COLUMNS = (
    entities.c.id, entities.c.tenant_id, entities.c.entity_type, entities.c.public_id,
    entities.c.status, entities.c.merged_into, entities.c.account_id, entities.c.created_at,
    entities.c.updated_at,
)
_INSERT = entities.insert().returning(entities.c.id)
_BY_ID = sa.select(*_COLUMNS).where(entities.c.id == bp("id"))
_BY_IDS = sa.select(*_COLUMNS).where(entities.c.id.in_(bp("ids", expanding=True)))
_BY_PUBLIC = sa.select(*_COLUMNS).where(entities.c.tenant_id == bp("tenant_id"),
                                        entities.c.public_id == bp("public_id"))
_BY_PUBLICS = sa.select(*_COLUMNS).where(entities.c.tenant_id == bp("tenant_id"),
                                         entities.c.public_id.in_(bp("ids", expanding=True)))
_SET_STATE = entities.update().where(entities.c.id == bp("b_id")).values(
    status=bp("b_status"), merged_into=bp("b_into"), updated_at=bp("b_now"))
_TOUCH = entities.update().where(entities.c.id == bp("b_id")).values(updated_at=bp("b_now"))
_SET_ACCOUNT = entities.update().where(entities.c.id == bp("b_id")).values(
    account_id=bp("b_account"), updated_at=bp("b_now"))
# The entity of a record stored with this content: identify's common case in one statement.
UNCHANGED_RECORD = (sa.select(entities.c.public_id)
              .join(records, records.c.entity_id == entities.c.id)
              .where(records.c.tenant_id == bp("tenant_id"),
                     records.c.entity_type == bp("entity_type"),
                     records.c.source == bp("source"), records.c.source_key == bp("source_key"),
                     records.c.content_hash == bp("content_hash")))
_MEMBERS = (sa.select(entities.c.id).where(entities.c.account_id == bp("account_id"),
                                           entities.c.status == "active")
            .order_by(entities.c.id).limit(bp("limit")))


class EntityQueries(TxBase):
    def create_entity(self, tenant_id: int, entity_type: str, public_id: str,
                      now: dt.datetime) -> int:
        row = self._first(_INSERT, {
            "tenant_id": tenant_id, "entity_type": entity_type, "public_id": public_id,
            "status": "active", "created_at": now, "updated_at": now})
        assert row is not None
        return int(row[0])

    def entity(self, entity_id: int) -> EntityRow | None:
        row = self._first(_BY_ID, {"id": entity_id})
        return EntityRow(*row) if row else None

    def entity_of_unchanged_record(self, tenant_id: int, entity_type: str, source: str,
                                   source_key: str, content_hash: str) -> str | None:
        """The public id of the entity holding the record (source, source_key) when its
        current content hash is `content_hash`; None when there is no such record or its
        content differs."""
        row = self._first(UNCHANGED_RECORD, {
            "tenant_id": tenant_id, "entity_type": entity_type, "source": source,
            "source_key": source_key, "content_hash": content_hash})
        return str(row[0]) if row else None

    def entity_by_public_id(self, tenant_id: int, public_id: str) -> EntityRow | None:
        row = self._first(_BY_PUBLIC, {"tenant_id": tenant_id, "public_id": public_id})
        return EntityRow(*row) if row else None

    def entities_by_id(self, ids: Iterable[int]) -> dict[int, EntityRow]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return {r[0]: EntityRow(*r) for r in self._rows(_BY_IDS, {"ids": wanted})}

    def entities_by_public_id(self, tenant_id: int, public_ids: Iterable[str]
                              ) -> dict[str, EntityRow]:
        wanted = sorted(set(public_ids))
        if not wanted:
            return {}
        rows = self.conn.execute(_BY_PUBLICS, {"tenant_id": tenant_id, "ids": wanted})
        return {r.public_id: EntityRow(*r) for r in rows}

    def set_entity_state(self, entity_id: int, *, status: str, merged_into: int | None,
                         now: dt.datetime) -> None:
        self._run(_SET_STATE, {"b_id": entity_id, "b_status": status,
                               "b_into": merged_into, "b_now": now})

    def touch_entity(self, entity_id: int, now: dt.datetime) -> None:
        self._run(_TOUCH, {"b_id": entity_id, "b_now": now})

    def set_account(self, person_id: int, account_id: int | None, now: dt.datetime) -> None:
        self._run(_SET_ACCOUNT, {"b_id": person_id, "b_account": account_id, "b_now": now})

    def members(self, account_id: int, *, limit: int = 1000) -> list[int]:
        return [r.id for r in self.conn.execute(_MEMBERS, {"account_id": account_id,
                                                           "limit": limit})]

    def lock_entities(self, ids: Iterable[int]) -> None:
        self.dialect.lock_rows(self.conn, entities, ids)

    def lock_keys(self, keys: Iterable[str]) -> None:
        self.dialect.lock_keys(self.conn, keys)
