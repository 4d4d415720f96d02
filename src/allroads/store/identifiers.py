"""The identifier index: typed, normalized values pointing at records (and so entities)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import bindparam as bp

from allroads.store.base import TxBase
from allroads.store.rows import IdentifierHit, IdentifierRow
from allroads.store.schema import entities, identifiers, records

idx = identifiers
# kind IN (...) AND value IN (...), then the exact pairs are kept in Python: SQLite does not
# use the index for a row-value IN ((kind, value), ...) and would scan the tenant's index.
_PAIRS = sa.and_(idx.c.kind.in_(bp("kinds", expanding=True)),
                 idx.c.value.in_(bp("values", expanding=True)))
_FIND = (sa.select(idx.c.kind, idx.c.value, records.c.entity_id, idx.c.record_id)
         .join(records, records.c.id == idx.c.record_id)
         .where(idx.c.tenant_id == bp("tenant_id"), idx.c.entity_type == bp("entity_type"),
                _PAIRS, idx.c.removed_at.is_(None)))
_COUNTS = (sa.select(idx.c.kind, idx.c.value,
                     sa.func.count(sa.distinct(records.c.entity_id)).label("n"))
           .join(records, records.c.id == idx.c.record_id)
           .where(idx.c.tenant_id == bp("tenant_id"), idx.c.entity_type == bp("entity_type"),
                  _PAIRS, idx.c.removed_at.is_(None))
           .group_by(idx.c.kind, idx.c.value))
_INSERT = identifiers.insert()
_REMOVE = identifiers.update().where(
    idx.c.record_id == bp("b_record"), idx.c.kind == bp("b_kind"), idx.c.value == bp("b_value"),
    idx.c.removed_at.is_(None)).values(removed_at=bp("b_now"))
_ACTIVE = sa.select(idx.c.kind, idx.c.value).where(idx.c.record_id == bp("record_id"),
                                                   idx.c.removed_at.is_(None))
_OF = (sa.select(idx.c.kind, idx.c.value, idx.c.record_id, records.c.source,
                 records.c.source_key, idx.c.added_at, idx.c.removed_at)
       .join(records, records.c.id == idx.c.record_id)
       .where(records.c.entity_id.in_(bp("ids", expanding=True)))
       .order_by(idx.c.added_at, idx.c.id))
_OF_ACTIVE = _OF.where(idx.c.removed_at.is_(None))
_KIND = (idx.c.tenant_id == bp("tenant_id"), idx.c.entity_type == bp("entity_type"),
         idx.c.kind == bp("kind"))
# A kind's active values in (value, id) order, from just after a given one: the look-up
# index's order, so each page is a range of it.
_OF_KIND = (sa.select(idx.c.id, idx.c.value, idx.c.record_id, idx.c.blocked)
            .where(*_KIND, idx.c.removed_at.is_(None),
                   idx.c.value >= bp("after_value"),  # the index range; then past ties
                   sa.or_(idx.c.value > bp("after_value"), idx.c.id > bp("after_id")))
            .order_by(idx.c.value, idx.c.id).limit(bp("limit")))
# Removed values too: the look-up index alone answers (a million in 0.05 s, where reading
# each row for its removed_at took 1.4 s).
_COUNT_OF_KIND = sa.select(sa.func.count()).select_from(identifiers).where(*_KIND)
_SET_BLOCKED = (identifiers.update().where(idx.c.id.in_(bp("ids", expanding=True)))
                .values(blocked=bp("blocked")))


def _split(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    return {"kinds": sorted({k for k, _ in pairs}), "values": sorted({v for _, v in pairs})}


class IdentifierQueries(TxBase):
    def find_identifiers(self, tenant_id: int, entity_type: str,
                         pairs: Iterable[tuple[str, str]]) -> list[IdentifierHit]:
        """Active index entries for these (kind, value) pairs, with the entity holding each."""
        wanted = sorted(set(pairs))
        if not wanted:
            return []
        rows = self._rows(_FIND, {"tenant_id": tenant_id, "entity_type": entity_type,
                                  **_split(wanted)})
        keep = set(wanted)
        return [IdentifierHit(*r) for r in rows if (r[0], r[1]) in keep]

    def add_identifiers(self, tenant_id: int, entity_type: str, record_id: int,
                        pairs: Iterable[tuple[str, str]], now: dt.datetime,
                        blocked: Iterable[tuple[str, str]] = ()) -> None:
        flagged = set(blocked)
        values = [
            {"tenant_id": tenant_id, "entity_type": entity_type, "kind": k, "value": v,
             "record_id": record_id, "added_at": now, "blocked": (k, v) in flagged}
            for k, v in sorted(set(pairs))
        ]
        self._run_many(_INSERT, values)

    def remove_identifiers(self, record_id: int, pairs: Iterable[tuple[str, str]],
                           now: dt.datetime) -> None:
        params = [{"b_record": record_id, "b_kind": k, "b_value": v, "b_now": now}
                  for k, v in sorted(set(pairs))]
        self._run_many(_REMOVE, params)

    def identifiers_of_kind(self, tenant_id: int, entity_type: str, kind: str,
                            after: tuple[str, int] = ("", 0), limit: int = 5000
                            ) -> list[tuple[int, str, int, bool]]:
        """A page of the kind's active values, (id, value, record id, blocked) each, in
        (value, id) order after `after` (the last row's value and id)."""
        rows = self.conn.execute(_OF_KIND, {"tenant_id": tenant_id, "entity_type": entity_type,
                                            "kind": kind, "after_value": after[0],
                                            "after_id": after[1], "limit": limit})
        return [(int(r[0]), str(r[1]), int(r[2]), bool(r[3])) for r in rows]

    def count_identifiers_of_kind(self, tenant_id: int, entity_type: str, kind: str) -> int:
        """How many values of the kind are stored, removed ones too: at least as many as
        `identifiers_of_kind` pages through."""
        return int(self.conn.execute(_COUNT_OF_KIND, {
            "tenant_id": tenant_id, "entity_type": entity_type, "kind": kind}).scalar_one())

    def set_identifiers_blocked(self, ids: Iterable[int], blocked: bool) -> None:
        """Mark these index entries blocked (or not)."""
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), 500):
            self._run(_SET_BLOCKED, {"ids": wanted[start:start + 500], "blocked": blocked})

    def active_identifiers(self, record_id: int) -> set[tuple[str, str]]:
        return {(r[0], r[1]) for r in self._rows(_ACTIVE, {"record_id": record_id})}

    def identifiers_of(self, entity_ids: Iterable[int], *, include_removed: bool = False
                       ) -> list[IdentifierRow]:
        wanted = sorted(set(entity_ids))
        if not wanted:
            return []
        q = _OF if include_removed else _OF_ACTIVE
        return [IdentifierRow(*r) for r in self._rows(q, {"ids": wanted})]

    def sharing_counts(self, tenant_id: int, entity_type: str,
                       pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """How many distinct active entities hold each (kind, value)."""
        wanted = sorted(set(pairs))
        if not wanted:
            return {}
        rows = self._rows(_COUNTS, {"tenant_id": tenant_id, "entity_type": entity_type,
                                    **_split(wanted)})
        keep = set(wanted)
        return {(r[0], r[1]): int(r[2]) for r in rows if (r[0], r[1]) in keep}

    def widely_shared(self, tenant_id: int, entity_type: str, min_entities: int, limit: int
                      ) -> list[tuple[str, str, int]]:
        """Identifier values held by at least `min_entities` active entities."""
        n = sa.func.count(sa.distinct(records.c.entity_id)).label("n")
        rows = self.conn.execute(
            sa.select(idx.c.kind, idx.c.value, n)
            .join(records, records.c.id == idx.c.record_id)
            .join(entities, entities.c.id == records.c.entity_id)
            .where(idx.c.tenant_id == tenant_id, idx.c.entity_type == entity_type,
                   idx.c.removed_at.is_(None), idx.c.blocked.is_(False),
                   entities.c.status == "active")
            .group_by(idx.c.kind, idx.c.value)
            .having(n >= min_entities).order_by(n.desc(), idx.c.kind, idx.c.value).limit(limit))
        return [(r.kind, r.value, int(r.n)) for r in rows]

    def blocked_identifiers(self, tenant_id: int, entity_type: str, limit: int
                            ) -> list[tuple[str, str, int]]:
        """Identifier values blocked from identifying, with how many records hold them."""
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
