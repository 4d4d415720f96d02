"""Records (one source's view of a customer) and their versions, never overwritten."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.rows import RecordRow, RecordVersionRow
from allroads.store.schema import record_versions, records

_COLUMNS = (
    records.c.id, records.c.entity_type, records.c.source, records.c.source_key,
    records.c.entity_id, records.c.current_version, records.c.content_hash,
    records.c.created_at, records.c.updated_at,
)


class RecordQueries(TxBase):
    def record(self, tenant_id: int, entity_type: str, source: str, source_key: str
               ) -> RecordRow | None:
        row = self.conn.execute(
            sa.select(*_COLUMNS).where(
                records.c.tenant_id == tenant_id, records.c.entity_type == entity_type,
                records.c.source == source, records.c.source_key == source_key)
        ).first()
        return RecordRow(**row._mapping) if row else None

    def record_by_id(self, record_id: int) -> RecordRow | None:
        row = self.conn.execute(sa.select(*_COLUMNS).where(records.c.id == record_id)).first()
        return RecordRow(**row._mapping) if row else None

    def records_of(self, entity_ids: Iterable[int]) -> list[RecordRow]:
        wanted = sorted(set(entity_ids))
        if not wanted:
            return []
        rows = self.conn.execute(sa.select(*_COLUMNS).where(records.c.entity_id.in_(wanted))
                                 .order_by(records.c.id))
        return [RecordRow(**r._mapping) for r in rows]

    def insert_record(self, tenant_id: int, entity_type: str, source: str, source_key: str,
                      entity_id: int, content_hash: str, now: dt.datetime) -> int:
        return self._insert(records, tenant_id=tenant_id, entity_type=entity_type, source=source,
                            source_key=source_key, entity_id=entity_id, current_version=1,
                            content_hash=content_hash, created_at=now, updated_at=now)

    def add_version(self, record_id: int, version: int, attributes: dict[str, Any],
                    identifiers: dict[str, Any], content_hash: str, touchpoint: str,
                    initiator: str, now: dt.datetime) -> None:
        self.conn.execute(record_versions.insert().values(
            record_id=record_id, version=version, attributes=attributes,
            identifiers=identifiers, received_at=now, touchpoint=touchpoint,
            initiator=initiator))
        self.conn.execute(records.update().where(records.c.id == record_id).values(
            current_version=version, content_hash=content_hash, updated_at=now))

    def move_records(self, record_ids: Iterable[int], entity_id: int) -> None:
        ids = sorted(set(record_ids))
        if ids:
            self.conn.execute(records.update().where(records.c.id.in_(ids))
                              .values(entity_id=entity_id))

    def current_versions(self, entity_ids: Iterable[int]) -> list[RecordVersionRow]:
        """The current version of every record of these entities, oldest record first."""
        wanted = sorted(set(entity_ids))
        if not wanted:
            return []
        rv = record_versions
        rows = self.conn.execute(
            sa.select(rv.c.record_id, records.c.source, records.c.source_key, rv.c.version,
                      rv.c.attributes, rv.c.identifiers, rv.c.received_at, rv.c.touchpoint,
                      rv.c.initiator, records.c.created_at.label("record_created_at"))
            .join(records, sa.and_(records.c.id == rv.c.record_id,
                                   records.c.current_version == rv.c.version))
            .where(records.c.entity_id.in_(wanted))
            .order_by(records.c.id)
        )
        return [RecordVersionRow(**r._mapping) for r in rows]

    def versions_of_record(self, record_id: int) -> list[RecordVersionRow]:
        rv = record_versions
        rows = self.conn.execute(
            sa.select(rv.c.record_id, records.c.source, records.c.source_key, rv.c.version,
                      rv.c.attributes, rv.c.identifiers, rv.c.received_at, rv.c.touchpoint,
                      rv.c.initiator)
            .join(records, records.c.id == rv.c.record_id)
            .where(rv.c.record_id == record_id).order_by(rv.c.version))
        return [RecordVersionRow(**r._mapping) for r in rows]
