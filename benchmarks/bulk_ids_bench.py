"""How should a bulk insert learn the ids of new rows? Pre-allocate, or INSERT ... RETURNING.

    python benchmarks/bulk_ids_bench.py [--rows 200000] [--db sqlite|postgres|both]

Inserts `--rows` entities in batches of 5000, each batch one transaction, three ways:
  allocate     ids from max(id) (SQLite, under the writer lock) or a block of nextval()
               (PostgreSQL), then the driver's executemany (SQLite) or COPY (PostgreSQL)
               with values converted by store/bulk.py: what BulkQueries does;
  sa_many      the same allocated ids, SQLAlchemy `conn.execute(table.insert(), rows)`;
  returning    SQLAlchemy executemany of INSERT ... RETURNING id ("insertmanyvalues",
               sort_by_parameter_order=True so ids come back in input order).
Prints rows/s for each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from allroads.domain.types import utcnow
from allroads.store import Store
from allroads.store.bulk import NewEntity
from allroads.store.schema import entities

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgdb import DEFAULT_PG_URL, fresh_pg_database

BATCH = 5000


def run(store: Store, rows: int, how: str) -> float:
    tenant = _tenant(store)
    start = time.perf_counter()
    done = 0
    while done < rows:
        n = min(BATCH, rows - done)
        now = utcnow()
        batch = [NewEntity(tenant, "person", f"per_{how[:3]}{done + i:017d}", None, now)
                 for i in range(n)]
        with store.write() as tx:
            if how == "allocate":
                ids = tx.insert_entities(batch)
            elif how == "sa_many":
                ids = tx._allocate_ids(entities, n)
                tx.conn.execute(entities.insert(), [
                    {"id": i, "tenant_id": e.tenant_id, "entity_type": e.entity_type,
                     "public_id": e.public_id, "status": "active", "account_id": None,
                     "created_at": e.now, "updated_at": e.now}
                    for i, e in zip(ids, batch, strict=True)])
            else:
                result = tx.conn.execute(
                    entities.insert().returning(entities.c.id, sort_by_parameter_order=True),
                    [{"tenant_id": e.tenant_id, "entity_type": e.entity_type,
                      "public_id": e.public_id, "status": "active", "account_id": None,
                      "created_at": e.now, "updated_at": e.now} for e in batch])
                ids = [r[0] for r in result]
            assert len(ids) == n and ids == sorted(ids)
        done += n
    return rows / (time.perf_counter() - start)


def _tenant(store: Store) -> int:
    with store.write() as tx:
        tenant = tx.tenant_by_slug("ids") or tx.create_tenant("ids", "ids", None, utcnow())
    return tenant.id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = ap.parse_args()
    for backend in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        for how in ("allocate", "sa_many", "returning"):
            if backend == "sqlite":
                tmp = tempfile.mkdtemp()
                url = f"sqlite:///{tmp}/ids.db"
            else:
                url = fresh_pg_database(args.pg_url, "allroads_ids_bench")
            store = Store(url)
            store.migrate()
            rate = run(store, args.rows, how)
            with store.read() as tx:
                count = tx.conn.execute(sa.select(sa.func.count()).select_from(entities))
                assert count.scalar_one() == args.rows
            store.close()
            print(f"{backend:9} {how:10} {rate:>10,.0f} rows/s")


if __name__ == "__main__":
    main()
