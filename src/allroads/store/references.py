"""Reference and loyalty tables the import profiles fill: stores, card series, cards,
coupon redemptions and life-cycle events. Each row has a natural key per tenant; an import
creates or updates rows by that key and leaves its id on them (for undo)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.schema import card_series, cards, coupon_redemptions, lifecycle_events, stores

# kind -> (table, natural key columns). Columns other than the key, tenant_id, import_id
# and the times are taken from the row dicts given (unknown keys are an error).
REFERENCE_TABLES: dict[str, tuple[sa.Table, tuple[str, ...]]] = {
    "stores": (stores, ("code",)),
    "card_series": (card_series, ("code",)),
    "cards": (cards, ("number",)),
    "coupon_redemptions": (coupon_redemptions, ("series_id", "code")),
    "lifecycle_events": (lifecycle_events, ("reference_id",)),
}

Key = tuple[str, ...]


class ReferenceQueries(TxBase):
    def reference_rows(self, kind: str, tenant_id: int, keys: Iterable[Key]
                       ) -> dict[Key, dict[str, Any]]:
        """The stored rows among these natural keys, as dicts."""
        table, key_cols = REFERENCE_TABLES[kind]
        wanted = sorted(set(keys))
        out: dict[Key, dict[str, Any]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            cond = sa.tuple_(*(table.c[c] for c in key_cols)).in_(chunk) if len(
                key_cols) > 1 else table.c[key_cols[0]].in_([k[0] for k in chunk])
            for row in self.conn.execute(sa.select(table).where(
                    table.c.tenant_id == tenant_id, cond)):
                m = dict(row._mapping)
                out[tuple(str(m[c]) for c in key_cols)] = m
        return out

    def upsert_references(self, kind: str, tenant_id: int, rows: Sequence[dict[str, Any]],
                          import_id: str | None, now: dt.datetime) -> tuple[int, int]:
        """Create or update rows by natural key; returns (created, updated)."""
        table, key_cols = REFERENCE_TABLES[kind]
        existing = self.reference_rows(kind, tenant_id,
                                       [tuple(str(r[c]) for c in key_cols) for r in rows])
        created = updated = 0
        for r in rows:
            key = tuple(str(r[c]) for c in key_cols)
            old = existing.get(key)
            if old is None:
                self.conn.execute(table.insert().values(
                    tenant_id=tenant_id, import_id=import_id, created_at=now, updated_at=now,
                    **r))
                created += 1
            elif any(old.get(c) != v for c, v in r.items()):
                self.conn.execute(table.update().where(table.c.id == old["id"]).values(
                    import_id=import_id, updated_at=now, **r))
                updated += 1
        return created, updated

    def delete_references_by_import(self, kind: str, tenant_id: int, import_id: str
                                    ) -> tuple[int, int]:
        """Undo: delete the rows this import created and still holds; returns (deleted,
        changed since: rows it created that a later import changed, which stay)."""
        table, _ = REFERENCE_TABLES[kind]
        created = sa.and_(table.c.tenant_id == tenant_id, table.c.import_id == import_id,
                          table.c.created_at == table.c.updated_at)
        deleted = self.conn.execute(table.delete().where(created)).rowcount
        kept = self.conn.execute(sa.select(sa.func.count()).select_from(table).where(
            table.c.tenant_id == tenant_id, table.c.import_id == import_id)).scalar_one()
        return int(deleted), int(kept)

    def known_stores(self, tenant_id: int, codes: Iterable[str], *, by_external_id: bool
                     ) -> set[str]:
        """Which of these store codes (or external ids) exist for the tenant."""
        col = stores.c.external_id if by_external_id else stores.c.code
        wanted = sorted(set(codes))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            found.update(r[0] for r in self.conn.execute(sa.select(col).where(
                stores.c.tenant_id == tenant_id, col.in_(wanted[start:start + 500]))))
        return found

    def count_stores(self, tenant_id: int) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(stores).where(
            stores.c.tenant_id == tenant_id)).scalar_one())
