"""Idempotency keys: a retried POST gets the stored response back."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.rows import StoredResponse
from allroads.store.schema import idempotency_keys


class RequestQueries(TxBase):
    def stored_response(self, tenant_id: int, key: str) -> StoredResponse | None:
        t = idempotency_keys
        row = self.conn.execute(
            sa.select(t.c.method, t.c.path, t.c.body_hash, t.c.status_code, t.c.response)
            .where(t.c.tenant_id == tenant_id, t.c.key == key)).first()
        return StoredResponse(**row._mapping) if row else None

    def store_response(self, tenant_id: int, key: str, method: str, path: str, body_hash: str,
                       status_code: int, response: str, now: dt.datetime) -> bool:
        """Keep the response; False when another request stored one for this key first."""
        if self.stored_response(tenant_id, key) is not None:
            return False
        self.conn.execute(idempotency_keys.insert().values(
            tenant_id=tenant_id, key=key, method=method, path=path, body_hash=body_hash,
            status_code=status_code, response=response, created_at=now))
        return True

    def forget_responses_before(self, cutoff: dt.datetime) -> int:
        res = self.conn.execute(idempotency_keys.delete()
                                .where(idempotency_keys.c.created_at < cutoff))
        return int(res.rowcount)
