"""Records (one source's view of a customer) and their versions, never overwritten.

Statements on the hot path are built once, at import, with bind parameters: building a
SQLAlchemy statement costs several times more than running it on SQLite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam as bp

from allroads.store.base import TxBase
from allroads.store.engine import json_as_read
from allroads.store.rows import RecordRow, RecordVersionRow
from allroads.store.schema import record_versions, records

_COLUMNS = (
    records.c.id, records.c.entity_type, records.c.source, records.c.source_key,
    records.c.entity_id, records.c.current_version, records.c.content_hash,
    records.c.created_at, records.c.updated_at,
)
rv = record_versions
_VERSION_COLUMNS = (rv.c.record_id, records.c.source, records.c.source_key, rv.c.version,
                    rv.c.attributes, rv.c.identifiers, rv.c.received_at, rv.c.touchpoint,
                    rv.c.initiator)

_RECORD = sa.select(*_COLUMNS).where(
    records.c.tenant_id == bp("tenant_id"), records.c.entity_type == bp("entity_type"),
    records.c.source == bp("source"), records.c.source_key == bp("source_key"))
_RECORD_BY_ID = sa.select(*_COLUMNS).where(records.c.id == bp("id"))
_RECORDS_OF = (sa.select(*_COLUMNS).where(records.c.entity_id.in_(bp("ids", expanding=True)))
               .order_by(records.c.id))
_INSERT_RECORD = records.insert().returning(records.c.id)
_INSERT_VERSION = record_versions.insert()
_SET_CURRENT = records.update().where(records.c.id == bp("b_id")).values(
    current_version=bp("b_version"), content_hash=bp("b_hash"), updated_at=bp("b_now"))
_MOVE = records.update().where(records.c.id.in_(bp("ids", expanding=True))).values(
    entity_id=bp("b_entity"))
_CURRENT_VERSIONS = (
    sa.select(*_VERSION_COLUMNS, records.c.created_at.label("record_created_at"))
    .join(records, sa.and_(records.c.id == rv.c.record_id,
                           records.c.current_version == rv.c.version))
    .where(records.c.entity_id.in_(bp("ids", expanding=True)))
    .order_by(records.c.id))
_VERSIONS_OF = (sa.select(*_VERSION_COLUMNS).join(records, records.c.id == rv.c.record_id)
                .where(rv.c.record_id == bp("id")).order_by(rv.c.version))


class RecordQueries(TxBase):
    def record(self, tenant_id: int, entity_type: str, source: str, source_key: str
               ) -> RecordRow | None:
        row = self._first(_RECORD, {"tenant_id": tenant_id, "entity_type": entity_type,
                                    "source": source, "source_key": source_key})
        return RecordRow(*row) if row else None

    def record_by_id(self, record_id: int) -> RecordRow | None:
        row = self.conn.execute(_RECORD_BY_ID, {"id": record_id}).first()
        return RecordRow(*row) if row else None

    def records_of(self, entity_ids: Iterable[int]) -> list[RecordRow]:
        wanted = sorted(set(entity_ids))
        if not wanted:
            return []
        return [RecordRow(*r) for r in self.conn.execute(_RECORDS_OF, {"ids": wanted})]

    def insert_record(self, tenant_id: int, entity_type: str, source: str, source_key: str,
                      entity_id: int, content_hash: str, now: dt.datetime) -> int:
        row = self._first(_INSERT_RECORD, {
            "tenant_id": tenant_id, "entity_type": entity_type, "source": source,
            "source_key": source_key, "entity_id": entity_id, "current_version": 1,
            "content_hash": content_hash, "created_at": now, "updated_at": now})
        assert row is not None
        return int(row[0])

    def add_version(self, record_id: int, version: int, attributes: dict[str, Any],
                    identifiers: dict[str, Any], content_hash: str, touchpoint: str,
                    initiator: str, now: dt.datetime, import_id: str | None = None) -> None:
        self._run(_INSERT_VERSION, {
            "record_id": record_id, "version": version, "attributes": attributes,
            "identifiers": identifiers, "received_at": now, "touchpoint": touchpoint,
            "initiator": initiator, "import_id": import_id})
        if version > 1:
            self._run(_SET_CURRENT, {"b_id": record_id, "b_version": version,
                                     "b_hash": content_hash, "b_now": now})

    def version_as_read(self, attributes: dict[str, Any], identifiers: dict[str, Any]
                        ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """What `current_versions` would read back for a version just written with these
        values, when the store knows without reading: on SQLite, whose JSON columns keep
        the text as written (the engine's serializer, `json_text`), so decoding that text
        is the same. None on PostgreSQL, whose JSONB reorders keys: read it back."""
        if self.dialect.name != "sqlite":
            return None
        return json_as_read(attributes), json_as_read(identifiers)

    def move_records(self, record_ids: Iterable[int], entity_id: int) -> None:
        ids = sorted(set(record_ids))
        if ids:
            self.conn.execute(_MOVE, {"ids": ids, "b_entity": entity_id})

    def current_versions(self, entity_ids: Iterable[int]) -> list[RecordVersionRow]:
        """The current version of every record of these entities, oldest record first."""
        wanted = sorted(set(entity_ids))
        if not wanted:
            return []
        # Positional: the columns are RecordVersionRow's fields, in order.
        return [RecordVersionRow(*r) for r in self._rows(_CURRENT_VERSIONS, {"ids": wanted})]

    def versions_of_record(self, record_id: int) -> list[RecordVersionRow]:
        return [RecordVersionRow(*r) for r in self.conn.execute(_VERSIONS_OF, {"id": record_id})]
