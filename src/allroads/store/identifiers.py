"""The identifier index: typed, normalized values pointing at records (and so entities)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.rows import IdentifierHit, IdentifierRow
from allroads.store.schema import entities, identifiers, records


class IdentifierQueries(TxBase):
    def find_identifiers(self, tenant_id: int, entity_type: str,
                         pairs: Iterable[tuple[str, str]]) -> list[IdentifierHit]:
        """Active index entries for these (kind, value) pairs, with the entity holding each."""
        wanted = sorted(set(pairs))
        if not wanted:
            return []
        idx = identifiers
        rows = self.conn.execute(
            sa.select(idx.c.kind, idx.c.value, records.c.entity_id, idx.c.record_id)
            .join(records, records.c.id == idx.c.record_id)
            .where(idx.c.tenant_id == tenant_id, idx.c.entity_type == entity_type,
                   sa.tuple_(idx.c.kind, idx.c.value).in_(wanted),
                   idx.c.removed_at.is_(None))
        )
        return [IdentifierHit(**r._mapping) for r in rows]

    def add_identifiers(self, tenant_id: int, entity_type: str, record_id: int,
                        pairs: Iterable[tuple[str, str]], now: dt.datetime,
                        blocked: Iterable[tuple[str, str]] = ()) -> None:
        flagged = set(blocked)
        values = [
            {"tenant_id": tenant_id, "entity_type": entity_type, "kind": k, "value": v,
             "record_id": record_id, "added_at": now, "blocked": (k, v) in flagged}
            for k, v in sorted(set(pairs))
        ]
        if values:
            self.conn.execute(identifiers.insert(), values)

    def remove_identifiers(self, record_id: int, pairs: Iterable[tuple[str, str]],
                           now: dt.datetime) -> None:
        for kind, value in sorted(set(pairs)):
            self.conn.execute(
                identifiers.update().where(
                    identifiers.c.record_id == record_id, identifiers.c.kind == kind,
                    identifiers.c.value == value, identifiers.c.removed_at.is_(None))
                .values(removed_at=now))

    def active_identifiers(self, record_id: int) -> set[tuple[str, str]]:
        rows = self.conn.execute(
            sa.select(identifiers.c.kind, identifiers.c.value)
            .where(identifiers.c.record_id == record_id, identifiers.c.removed_at.is_(None)))
        return {(r.kind, r.value) for r in rows}

    def identifiers_of(self, entity_ids: Iterable[int], *, include_removed: bool = False
                       ) -> list[IdentifierRow]:
        wanted = sorted(set(entity_ids))
        if not wanted:
            return []
        q = (sa.select(identifiers.c.kind, identifiers.c.value, identifiers.c.record_id,
                       records.c.source, records.c.source_key, identifiers.c.added_at,
                       identifiers.c.removed_at)
             .join(records, records.c.id == identifiers.c.record_id)
             .where(records.c.entity_id.in_(wanted))
             .order_by(identifiers.c.added_at, identifiers.c.id))
        if not include_removed:
            q = q.where(identifiers.c.removed_at.is_(None))
        return [IdentifierRow(**r._mapping) for r in self.conn.execute(q)]

    def sharing_counts(self, tenant_id: int, entity_type: str,
                       pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """How many distinct active entities hold each (kind, value)."""
        wanted = sorted(set(pairs))
        if not wanted:
            return {}
        idx = identifiers
        rows = self.conn.execute(
            sa.select(idx.c.kind, idx.c.value,
                      sa.func.count(sa.distinct(records.c.entity_id)).label("n"))
            .join(records, records.c.id == idx.c.record_id)
            .where(idx.c.tenant_id == tenant_id, idx.c.entity_type == entity_type,
                   sa.tuple_(idx.c.kind, idx.c.value).in_(wanted), idx.c.removed_at.is_(None))
            .group_by(idx.c.kind, idx.c.value))
        return {(r.kind, r.value): int(r.n) for r in rows}

    def widely_shared(self, tenant_id: int, entity_type: str, min_entities: int, limit: int
                      ) -> list[tuple[str, str, int]]:
        """Identifier values held by at least `min_entities` active entities."""
        idx = identifiers
        n = sa.func.count(sa.distinct(records.c.entity_id)).label("n")
        rows = self.conn.execute(
            sa.select(idx.c.kind, idx.c.value, n)
            .join(records, records.c.id == idx.c.record_id)
            .join(entities, entities.c.id == records.c.entity_id)
            .where(idx.c.tenant_id == tenant_id, idx.c.entity_type == entity_type,
                   idx.c.removed_at.is_(None), entities.c.status == "active")
            .group_by(idx.c.kind, idx.c.value)
            .having(n >= min_entities).order_by(n.desc(), idx.c.kind, idx.c.value).limit(limit))
        return [(r.kind, r.value, int(r.n)) for r in rows]

    def blocked_identifiers(self, tenant_id: int, entity_type: str, limit: int
                            ) -> list[tuple[str, str, int]]:
        """Identifier values that were blocked from identifying, with how many records hold them."""
        idx = identifiers
        n = sa.func.count().label("n")
        rows = self.conn.execute(
            sa.select(idx.c.kind, idx.c.value, n)
            .where(idx.c.tenant_id == tenant_id, idx.c.entity_type == entity_type,
                   idx.c.blocked.is_(True), idx.c.removed_at.is_(None))
            .group_by(idx.c.kind, idx.c.value).order_by(n.desc(), idx.c.kind, idx.c.value)
            .limit(limit))
        return [(r.kind, r.value, int(r.n)) for r in rows]

    def entities_without_kinds(self, tenant_id: int, entity_type: str, kinds: Sequence[str],
                               limit: int) -> tuple[int, list[int]]:
        """Active entities none of whose records holds any of these identifier kinds."""
        has_kind = (
            sa.select(records.c.entity_id)
            .join(identifiers, identifiers.c.record_id == records.c.id)
            .where(records.c.tenant_id == tenant_id, records.c.entity_type == entity_type,
                   identifiers.c.kind.in_(list(kinds)), identifiers.c.removed_at.is_(None))
        )
        base = (sa.select(entities.c.id)
                .where(entities.c.tenant_id == tenant_id, entities.c.entity_type == entity_type,
                       entities.c.status == "active", entities.c.id.not_in(has_kind)))
        total = int(self.conn.execute(sa.select(sa.func.count()).select_from(base.subquery()))
                    .scalar_one())
        ids = [r.id for r in self.conn.execute(base.order_by(entities.c.id).limit(limit))]
        return total, ids
