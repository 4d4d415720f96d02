"""Links (record → entity, with evidence), merges and people's force decisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.rows import DecisionRow, LinkRow, MergeRow
from allroads.store.schema import decisions, entities, links, merges, records, review_items

_LINK = (links.c.id, links.c.record_id, links.c.entity_id, links.c.rule, links.c.evidence,
         links.c.actor, links.c.touchpoint, links.c.merge_id, links.c.created_at,
         links.c.ended_at, records.c.source, records.c.source_key)
_INSERT_LINK = links.insert().returning(links.c.id)
_END_LINKS = links.update().where(links.c.record_id.in_(sa.bindparam("ids", expanding=True)),
                                  links.c.ended_at.is_(None)).values(
    ended_at=sa.bindparam("b_now"))
# Force decisions touching some entities, and the entities merged into some (protection reads
# both on every fuzzy link and merge; on the SQLite driver, see base.py).
_DECISIONS_TOUCHING = (
    sa.select(decisions.c.id, decisions.c.kind, decisions.c.entity_a, decisions.c.entity_b,
              decisions.c.actor, decisions.c.reason, decisions.c.created_at)
    .where(decisions.c.tenant_id == sa.bindparam("tenant_id"),
           sa.or_(decisions.c.entity_a.in_(sa.bindparam("ids_a", expanding=True)),
                  decisions.c.entity_b.in_(sa.bindparam("ids_b", expanding=True))))
    .order_by(decisions.c.id))
_MERGED_INTO = sa.select(entities.c.id).where(
    entities.c.merged_into.in_(sa.bindparam("ids", expanding=True)))
_MERGE = (merges.c.id, merges.c.public_id, merges.c.entity_type, merges.c.survivor_id,
          merges.c.merged_ids, merges.c.reason, merges.c.evidence, merges.c.actor,
          merges.c.touchpoint, merges.c.created_at, merges.c.undone_at)


class LinkQueries(TxBase):
    def add_link(self, tenant_id: int, record_id: int, entity_id: int, rule: str,
                 evidence: dict[str, Any], actor: str, touchpoint: str, now: dt.datetime,
                 merge_id: int | None = None) -> int:
        row = self._first(_INSERT_LINK, {
            "tenant_id": tenant_id, "record_id": record_id, "entity_id": entity_id,
            "rule": rule, "evidence": evidence, "actor": actor, "touchpoint": touchpoint,
            "merge_id": merge_id, "created_at": now})
        assert row is not None
        return int(row[0])

    def end_links(self, record_ids: Iterable[int], now: dt.datetime) -> None:
        ids = sorted(set(record_ids))
        if ids:
            self._run(_END_LINKS, {"ids": ids, "b_now": now})

    def current_links(self, entity_ids: Iterable[int]) -> list[LinkRow]:
        wanted = sorted(set(entity_ids))
        if not wanted:
            return []
        rows = self.conn.execute(
            sa.select(*_LINK).join(records, records.c.id == links.c.record_id)
            .where(links.c.entity_id.in_(wanted), links.c.ended_at.is_(None))
            .order_by(links.c.record_id))
        return [LinkRow(**r._mapping) for r in rows]

    def links_of_records(self, record_ids: Iterable[int]) -> list[LinkRow]:
        """Every link these records ever had, oldest first."""
        ids = sorted(set(record_ids))
        if not ids:
            return []
        rows = self.conn.execute(
            sa.select(*_LINK).join(records, records.c.id == links.c.record_id)
            .where(links.c.record_id.in_(ids)).order_by(links.c.id))
        return [LinkRow(**r._mapping) for r in rows]

    def links_of_merge(self, merge_id: int) -> list[LinkRow]:
        rows = self.conn.execute(
            sa.select(*_LINK).join(records, records.c.id == links.c.record_id)
            .where(links.c.merge_id == merge_id).order_by(links.c.id))
        return [LinkRow(**r._mapping) for r in rows]

    def previous_link(self, record_id: int, before_link_id: int) -> LinkRow | None:
        row = self.conn.execute(
            sa.select(*_LINK).join(records, records.c.id == links.c.record_id)
            .where(links.c.record_id == record_id, links.c.id < before_link_id)
            .order_by(links.c.id.desc()).limit(1)).first()
        return LinkRow(**row._mapping) if row else None

    # Merges -----------------------------------------------------------------------------
    def insert_merge(self, tenant_id: int, public_id: str, entity_type: str, survivor_id: int,
                     merged_ids: list[int], reason: str, evidence: dict[str, Any], actor: str,
                     touchpoint: str, now: dt.datetime) -> int:
        return self._insert(merges, tenant_id=tenant_id, public_id=public_id,
                            entity_type=entity_type, survivor_id=survivor_id,
                            merged_ids=merged_ids, reason=reason, evidence=evidence,
                            actor=actor, touchpoint=touchpoint, created_at=now)

    def merge_by_public_id(self, tenant_id: int, public_id: str) -> MergeRow | None:
        row = self.conn.execute(sa.select(*_MERGE).where(merges.c.tenant_id == tenant_id,
                                                         merges.c.public_id == public_id)
                                ).first()
        return MergeRow(**row._mapping) if row else None

    def merges_of(self, entity_ids: Iterable[int]) -> list[MergeRow]:
        wanted = sorted(set(entity_ids))
        if not wanted:
            return []
        rows = self.conn.execute(sa.select(*_MERGE).where(merges.c.survivor_id.in_(wanted))
                                 .order_by(merges.c.id))
        return [MergeRow(**r._mapping) for r in rows]

    def mark_merge_undone(self, merge_id: int, actor: str, now: dt.datetime) -> None:
        self.conn.execute(merges.update().where(merges.c.id == merge_id)
                          .values(undone_at=now, undone_by=actor))

    # Decisions --------------------------------------------------------------------------
    def add_decision(self, tenant_id: int, entity_type: str, kind: str, a: int, b: int,
                     actor: str, reason: str, now: dt.datetime) -> int:
        a, b = min(a, b), max(a, b)
        return self._insert(decisions, tenant_id=tenant_id, entity_type=entity_type, kind=kind,
                            entity_a=a, entity_b=b, actor=actor, reason=reason, created_at=now)

    def decisions_touching(self, tenant_id: int, entity_ids: Iterable[int]) -> list[DecisionRow]:
        wanted = sorted(set(entity_ids))
        if not wanted:
            return []
        rows = self._rows(_DECISIONS_TOUCHING, {"tenant_id": tenant_id, "ids_a": wanted,
                                                "ids_b": wanted})
        return [DecisionRow(*r) for r in rows]

    # Review items -----------------------------------------------------------------------
    def add_review_item(self, tenant_id: int, public_id: str, entity_type: str,
                        record_id: int | None, entity_ids: list[str], reason: str,
                        evidence: Any, now: dt.datetime, *, status: str = "open") -> int:
        """A decision left to a person (status open), or a record refused (rejected)."""
        return self._insert(review_items, tenant_id=tenant_id, public_id=public_id,
                            entity_type=entity_type, record_id=record_id,
                            entity_ids=entity_ids, reason=reason, evidence=evidence,
                            status=status, created_at=now)

    def review_items(self, tenant_id: int, status: str, limit: int) -> list[dict[str, Any]]:
        """The newest items with this status (open reviews, rejected records)."""
        rows = self.conn.execute(
            sa.select(review_items.c.public_id, review_items.c.entity_type,
                      review_items.c.entity_ids, review_items.c.reason,
                      review_items.c.evidence, review_items.c.created_at)
            .where(review_items.c.tenant_id == tenant_id, review_items.c.status == status)
            .order_by(review_items.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]

    def merged_family(self, entity_ids: Iterable[int]) -> set[int]:
        """These entities and every entity merged into them, however indirectly."""
        family = set(entity_ids)
        frontier = sorted(family)
        while frontier:
            rows = self._rows(_MERGED_INTO, {"ids": frontier})
            frontier = sorted({int(r[0]) for r in rows} - family)
            family.update(frontier)
        return family
