"""Batched look-ups and inserts for bulk loading: thousands of rows per statement.

Used by `resolution.bulk` inside one `store.write()` transaction per batch:

    with store.write() as tx:
        known = tx.existing_records(tenant, "person", keys)        # one statement
        hits = tx.identifier_hits(tenant, "person", pairs)         # one statement
        entity_ids = tx.insert_entities(new_entities)              # ids in input order
        ...

Look-ups pass the whole batch as one parameter (a JSON array read by `json_each` on SQLite,
two text arrays read by `unnest` on PostgreSQL), so one statement serves any batch size,
far below SQLite's limit on bound parameters, and probes the unique indexes row by row.

Inserts get their ids allocated up front (`_allocate_ids`: on SQLite the next rowids, under
the writer lock; on PostgreSQL a block of `nextval`s), which keeps them in input order and
needs no RETURNING. The rows then go below SQLAlchemy's per-value type processing, which
cost more than the database itself: values are converted here exactly as the column types
of schema.py store them (UTC times, JSON text, booleans) and written by the driver, with
`executemany` on SQLite and `COPY` on PostgreSQL. benchmarks/bulk_ids_bench.py measures this
against SQLAlchemy's `INSERT ... RETURNING id` executemany.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.engine import json_as_read, json_text
from allroads.store.rows import IdentifierHit, NewChange
from allroads.store.schema import (
    changelog,
    entities,
    identifiers,
    links,
    profiles,
    record_versions,
    records,
)


@dataclass(slots=True)
class NewEntity:
    tenant_id: int
    entity_type: str
    public_id: str
    account_id: int | None
    now: dt.datetime


@dataclass(slots=True)
class NewRecord:
    tenant_id: int
    entity_type: str
    source: str
    source_key: str
    entity_id: int
    content_hash: str
    now: dt.datetime


@dataclass(slots=True)
class NewVersion:
    record_id: int
    attributes: dict[str, Any]
    identifiers: dict[str, list[str]]
    touchpoint: str
    initiator: str
    now: dt.datetime
    version: int = 1
    import_id: str | None = None


@dataclass(slots=True)
class NewIdentifier:
    tenant_id: int
    entity_type: str
    kind: str
    value: str
    record_id: int
    blocked: bool
    now: dt.datetime


@dataclass(slots=True)
class NewLink:
    tenant_id: int
    record_id: int
    entity_id: int
    rule: str
    evidence: dict[str, Any]
    actor: str
    touchpoint: str
    now: dt.datetime


@dataclass(slots=True)
class NewProfile:
    entity_id: int
    tenant_id: int
    entity_type: str
    display_name: str
    data: dict[str, Any]
    provenance: dict[str, Any]
    search_text: str
    now: dt.datetime


class BulkQueries(TxBase):
    # Look-ups ---------------------------------------------------------------------------
    def existing_records(self, tenant_id: int, entity_type: str,
                         keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The stored (source, source_key) among `keys`, each with its content hash."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        r = "SELECT r.source, r.source_key, r.content_hash FROM "
        cond = ("r.tenant_id = :tenant AND r.entity_type = :etype "
                "AND r.source = j.a AND r.source_key = j.b")
        rows = self.conn.execute(*self._pair_join(r, "records AS r", cond, wanted,
                                                  tenant=tenant_id, etype=entity_type))
        return {(row.source, row.source_key): row.content_hash for row in rows}

    def identifier_hits(self, tenant_id: int, entity_type: str,
                        pairs: Iterable[tuple[str, str]]) -> list[IdentifierHit]:
        """Active index entries for these (kind, value) pairs, with the entity holding each:
        `find_identifiers` for a whole batch in one statement."""
        wanted = sorted(set(pairs))
        if not wanted:
            return []
        head = "SELECT i.kind, i.value, r.entity_id, i.record_id FROM "
        cond = ("i.tenant_id = :tenant AND i.entity_type = :etype AND i.kind = j.a "
                "AND i.value = j.b AND i.removed_at IS NULL")
        rows = self.conn.execute(*self._pair_join(
            head, "identifiers AS i", cond, wanted, tail=" JOIN records AS r ON r.id = i.record_id",
            tenant=tenant_id, etype=entity_type))
        return [IdentifierHit(row.kind, row.value, row.entity_id, row.record_id)
                for row in rows]

    def _pair_join(self, head: str, table: str, cond: str, pairs: Sequence[tuple[str, str]],
                   tail: str = "", **params: Any) -> tuple[sa.TextClause, dict[str, Any]]:
        """`head` FROM <the pairs as rows j(a, b)> JOIN `table` ON `cond`, in one parameter."""
        if self.dialect.name == "postgresql":
            source = "unnest(CAST(:a AS text[]), CAST(:b AS text[])) AS j(a, b)"
            params.update(a=[p[0] for p in pairs], b=[p[1] for p in pairs])
        else:
            # CROSS JOIN keeps the pairs as the outer loop, so each probes the index.
            source = ("(SELECT json_extract(value, '$[0]') AS a, json_extract(value, '$[1]') "
                      "AS b FROM json_each(:pairs)) AS j")
            params["pairs"] = orjson.dumps(pairs).decode()
        join = "JOIN" if self.dialect.name == "postgresql" else "CROSS JOIN"
        return sa.text(f"{head}{source} {join} {table} ON {cond}{tail}"), params

    # Inserts ----------------------------------------------------------------------------
    def insert_entities(self, rows: Sequence[NewEntity]) -> list[int]:
        """Insert active entities; their ids, in the order given."""
        ids = self._allocate_ids(entities, len(rows))
        ts = self._ts
        self._write(entities, ("id", "tenant_id", "entity_type", "public_id", "status",
                               "account_id", "created_at", "updated_at"),
                    [(i, r.tenant_id, r.entity_type, r.public_id, "active", r.account_id,
                      ts(r.now), ts(r.now)) for i, r in zip(ids, rows, strict=True)])
        return ids

    def insert_records(self, rows: Sequence[NewRecord]) -> list[int]:
        """Insert records at version 1; their ids, in the order given."""
        ids = self._allocate_ids(records, len(rows))
        ts = self._ts
        self._write(records, ("id", "tenant_id", "entity_type", "source", "source_key",
                              "entity_id", "current_version", "content_hash", "created_at",
                              "updated_at"),
                    [(i, r.tenant_id, r.entity_type, r.source, r.source_key, r.entity_id, 1,
                      r.content_hash, ts(r.now), ts(r.now))
                     for i, r in zip(ids, rows, strict=True)])
        return ids

    def insert_versions(self, rows: Sequence[NewVersion]) -> None:
        ts, js = self._ts, json_text
        self._write(record_versions, ("record_id", "version", "attributes", "identifiers",
                                      "received_at", "touchpoint", "initiator", "import_id"),
                    [(r.record_id, r.version, js(r.attributes), js(r.identifiers), ts(r.now),
                      r.touchpoint, r.initiator, r.import_id) for r in rows])

    def stored_versions(self, rows: Sequence[NewVersion]) -> dict[int, tuple[Any, Any]]:
        """record id -> (attributes, identifiers) of these just-inserted versions exactly as
        `current_versions` would read them back. SQLite keeps the JSON text as written, so
        decoding that text is the same; PostgreSQL's JSONB normalizes it (key order), so
        those are read back."""
        if self.dialect.name != "postgresql":
            return {r.record_id: (json_as_read(r.attributes), json_as_read(r.identifiers))
                    for r in rows}
        out: dict[int, tuple[Any, Any]] = {}
        ids = [r.record_id for r in rows]
        for start in range(0, len(ids), 5000):
            chunk = ids[start:start + 5000]
            rv = record_versions
            for row in self.conn.execute(
                    sa.select(rv.c.record_id, rv.c.attributes, rv.c.identifiers)
                    .where(rv.c.record_id.in_(chunk), rv.c.version == 1)):
                out[row.record_id] = (row.attributes, row.identifiers)
        return out

    def insert_identifier_rows(self, rows: Sequence[NewIdentifier]) -> None:
        ts = self._ts
        flag = bool if self.dialect.name == "postgresql" else int
        self._write(identifiers, ("tenant_id", "entity_type", "kind", "value", "record_id",
                                  "added_at", "blocked"),
                    [(r.tenant_id, r.entity_type, r.kind, r.value, r.record_id, ts(r.now),
                      flag(r.blocked)) for r in rows])

    def insert_links(self, rows: Sequence[NewLink]) -> None:
        ts, js = self._ts, json_text
        self._write(links, ("tenant_id", "record_id", "entity_id", "rule", "evidence", "actor",
                            "touchpoint", "created_at"),
                    [(r.tenant_id, r.record_id, r.entity_id, r.rule, js(r.evidence), r.actor,
                      r.touchpoint, ts(r.now)) for r in rows])

    def insert_profiles(self, rows: Sequence[NewProfile]) -> None:
        """Profiles of entities that have none yet (`put_profile` for new entities)."""
        ts, js = self._ts, json_text
        self._write(profiles, ("entity_id", "tenant_id", "entity_type", "display_name", "data",
                               "provenance", "search_text", "updated_at"),
                    [(r.entity_id, r.tenant_id, r.entity_type, r.display_name[:500],
                      js(r.data), js(r.provenance), r.search_text, ts(r.now)) for r in rows])

    def insert_changes(self, tenant_id: int, changes: Sequence[NewChange]) -> None:
        """`append_changes` for thousands of rows."""
        ts, js = self._ts, json_text
        self._write(changelog, ("tenant_id", "entity_id", "at", "touchpoint", "initiator",
                                "field", "old", "new", "merge_public_id", "import_id"),
                    [(tenant_id, c.entity_id, ts(c.at), c.touchpoint, c.initiator, c.field,
                      js(c.old), js(c.new), c.merge_public_id, c.import_id) for c in changes])

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo what runs inside if it raises, and keep the rest of the transaction. On
        SQLite the SAVEPOINT statements go to the driver (SQLAlchemy's nested transaction
        cost more than the row an import commits inside it)."""
        if self.dialect.name != "sqlite":
            with self.conn.begin_nested():
                yield
            return
        raw = self.conn.connection.driver_connection
        depth = self.__dict__.get("_savepoints", 0) + 1
        self.__dict__["_savepoints"] = depth
        name = f"allroads_sp{depth}"
        raw.execute(f"SAVEPOINT {name}").close()  # type: ignore[union-attr]
        try:
            yield
        except BaseException:
            raw.execute(f"ROLLBACK TO {name}").close()  # type: ignore[union-attr]
            raw.execute(f"RELEASE {name}").close()  # type: ignore[union-attr]
            raise
        else:
            raw.execute(f"RELEASE {name}").close()  # type: ignore[union-attr]
        finally:
            self.__dict__["_savepoints"] = depth - 1

    # How rows reach the database (see the module docstring) --------------------------
    def _ts(self, value: dt.datetime) -> Any:
        # A row's many columns share one time: convert it once.
        last = self.__dict__.get("_ts_last")
        if last is not None and last[0] is value:
            return last[1]
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        utc = value.astimezone(dt.UTC)
        if self.dialect.name == "postgresql":
            out: Any = utc
        else:
            # SQLAlchemy's SQLite DATETIME storage format; compared as text, so it must match.
            out = utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        self.__dict__["_ts_last"] = (value, out)
        return out

    def _write(self, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
               ) -> None:
        if not rows:
            return
        names = ", ".join(columns)
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.dialect.name == "postgresql":
                with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})",
                                   rows)
        finally:
            cursor.close()

    def _allocate_ids(self, table: sa.Table, n: int) -> list[int]:
        """`n` fresh ids for `table`, ascending. SQLite: the rowids an insert would get, safe
        because the write transaction holds the one writer lock. PostgreSQL: a block from the
        table's sequence, safe beside concurrent writers."""
        if n == 0:
            return []
        name = table.name
        if self.dialect.name == "postgresql":
            rows = self.conn.execute(
                sa.text(f"SELECT nextval(pg_get_serial_sequence('{name}', 'id')) "
                        "FROM generate_series(1, :n)"), {"n": n})
            return sorted(int(r[0]) for r in rows)
        top = self.conn.execute(sa.text(f"SELECT max(id) FROM {name}")).scalar()
        start = int(top or 0) + 1
        return list(range(start, start + n))
