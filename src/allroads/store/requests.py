"""Idempotency keys: a retried POST gets the stored response back.

A request first *claims* its key (an insert that does nothing when the key exists), so two
requests racing with one key never both run: the loser sees the claim. The winner then
*completes* the claim with its response, or *releases* it when it failed.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import bindparam as bp

from allroads.store.base import TxBase
from allroads.store.rows import StoredResponse
from allroads.store.schema import idempotency_keys

t = idempotency_keys
PENDING = 0  # status_code of a claim whose request is still running

_GET = sa.select(t.c.method, t.c.path, t.c.body_hash, t.c.status_code, t.c.response).where(
    t.c.tenant_id == bp("tenant_id"), t.c.key == bp("key"))
_COMPLETE = t.update().where(t.c.tenant_id == bp("b_tenant"), t.c.key == bp("b_key")).values(
    status_code=bp("b_status"), response=bp("b_response"))
_RELEASE = t.delete().where(t.c.tenant_id == bp("b_tenant"), t.c.key == bp("b_key"),
                            t.c.status_code == PENDING)


class RequestQueries(TxBase):
    def stored_response(self, tenant_id: int, key: str) -> StoredResponse | None:
        row = self.conn.execute(_GET, {"tenant_id": tenant_id, "key": key}).first()
        return StoredResponse(*row) if row else None

    def claim_request(self, tenant_id: int, key: str, method: str, path: str,
                      body_hash: str, now: dt.datetime) -> StoredResponse | None:
        """None when this request now owns the key; else what holds it (a stored response,
        or a claim with status_code PENDING)."""
        inserted = self.conn.execute(self.dialect.insert_ignore(t).values(
            tenant_id=tenant_id, key=key, method=method, path=path, body_hash=body_hash,
            status_code=PENDING, response="", created_at=now).returning(t.c.key)).first()
        return None if inserted else self.stored_response(tenant_id, key)

    def complete_request(self, tenant_id: int, key: str, status_code: int, response: str
                         ) -> None:
        self.conn.execute(_COMPLETE, {"b_tenant": tenant_id, "b_key": key,
                                      "b_status": status_code, "b_response": response})

    def release_request(self, tenant_id: int, key: str) -> None:
        self.conn.execute(_RELEASE, {"b_tenant": tenant_id, "b_key": key})

    def forget_responses_before(self, cutoff: dt.datetime) -> int:
        res = self.conn.execute(t.delete().where(t.c.created_at < cutoff))
        return int(res.rowcount)
