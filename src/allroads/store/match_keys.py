"""The blocking keys of the incremental matcher, and what it reads of the records they find.

Each live record has one row per blocking key its features give (``bk_name=JN|SM0``; the
resolution layer builds the strings, hashing long values, at most 64 characters). Identify
looks its new record's keys up here to find fuzzy candidates without scanning the tenant.
A key shared by more than ``cap`` records says little (and would cost a scan): it is
skipped, and named as skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import bindparam as bp

from allroads.store.base import TxBase
from allroads.store.matching import MatchRecord
from allroads.store.schema import (
    entities,
    match_features,
    match_keys,
    match_settings,
    record_versions,
    records,
)

MAX_KEY_LENGTH = 64
_LONG_DIGITS = re.compile(r"\d{19}")
_MAX_HOPS = 100

mk = match_keys
mf = match_features
_DELETE_FEATURES = mf.delete().where(mf.c.record_id == bp("b_record_id"))
_INSERT_FEATURES = mf.insert()
_KEYS_OF = sa.select(mk.c.key).where(mk.c.record_id == bp("record_id"))
_DELETE_KEY = mk.delete().where(mk.c.record_id == bp("b_record_id"), mk.c.key == bp("b_key"))
_INSERT_KEY = mk.insert()
_RECORDS_OF_KEY = sa.select(mk.c.record_id).where(
    mk.c.tenant_id == bp("tenant_id"), mk.c.entity_type == bp("entity_type"),
    mk.c.key == bp("key"))
# The look-up with its LIMIT, per cap (a literal: driver statements bind by name).
_LIMITED: dict[int, sa.Select[tuple[int]]] = {}


def _records_of_key(limit: int) -> sa.Select[tuple[int]]:
    stmt = _LIMITED.get(limit)
    if stmt is None:
        stmt = _LIMITED[limit] = (_RECORDS_OF_KEY.limit(sa.literal_column(str(int(limit))))
                                     .offset(sa.literal_column("0")))
    return stmt

_rv = record_versions
# The versions' JSON as the driver gives it (SQLite: text, decoded below with orjson, several
# times faster than SQLAlchemy's json.loads for the hundreds of candidates a look-up reads;
# PostgreSQL: psycopg decodes JSONB itself).
_ATTRIBUTES_RAW = sa.type_coerce(_rv.c.attributes, sa.Text)
_IDENTIFIERS_RAW = sa.type_coerce(_rv.c.identifiers, sa.Text)
# By primary key only: with the tenant and type in the WHERE clause as well, SQLite's planner
# (after ANALYZE, one tenant) scans the tenant's records for ten ids or more. The tenant
# and type are checked on the rows instead.
# With the features stored for the record (NULL when none, or when they are of an older
# version than the current one).
_HEADS_BY_ID = (
    sa.select(records.c.id, records.c.source, records.c.source_key, records.c.entity_id,
              entities.c.status, entities.c.merged_into, records.c.tenant_id,
              records.c.entity_type, records.c.current_version, records.c.content_hash,
              mf.c.features)
    .join(entities, entities.c.id == records.c.entity_id)
    .outerjoin(mf, sa.and_(mf.c.record_id == records.c.id,
                           mf.c.version == records.c.current_version))
    .where(records.c.id.in_(bp("ids", expanding=True))))
_CONTENTS_BY_ID = (
    sa.select(records.c.id, _ATTRIBUTES_RAW, _IDENTIFIERS_RAW)
    .join(_rv, sa.and_(_rv.c.record_id == records.c.id,
                       _rv.c.version == records.c.current_version))
    .where(records.c.id.in_(bp("ids", expanding=True))))
# Only the features: a fuzzy look-up scores every candidate from these, and reads the heads
# (records and entities) of the best ones only.
_FEATURES_BY_ID = sa.select(mf.c.record_id, mf.c.version, mf.c.features).where(
    mf.c.record_id.in_(bp("ids", expanding=True)))
_SETTINGS_VERSION = sa.select(match_settings.c.updated_at).where(
    match_settings.c.tenant_id == bp("tenant_id"),
    match_settings.c.entity_type == bp("entity_type"))
_ENTITY_HOPS = sa.select(entities.c.id, entities.c.status, entities.c.merged_into).where(
    entities.c.id.in_(bp("ids", expanding=True)))


@dataclass(frozen=True, slots=True)
class RecordHead:
    """A live record's place (the entity it is in now) and which version it is at."""

    id: int
    source: str
    source_key: str
    entity_id: int
    version: int
    content_hash: str
    # The features stored for this version (`put_match_features`), decoded; None if none.
    features: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class KeyCandidates:
    """The records each looked-up key found (record ids ascending), and the keys skipped
    because more than the cap of records share them (with how many, at least cap + 1)."""

    records: dict[str, list[int]]
    skipped: dict[str, int]

    def record_ids(self) -> list[int]:
        return sorted({r for ids in self.records.values() for r in ids})


class MatchKeyQueries(TxBase):
    def match_settings_version(self, tenant_id: int, entity_type: str) -> dt.datetime | None:
        """When this tenant's match settings of this type last changed (None: never set):
        what a cache of the model checks before using its copy."""
        row = self._first(_SETTINGS_VERSION, {"tenant_id": tenant_id,
                                              "entity_type": entity_type})
        return row[0] if row else None

    def match_keys_of(self, record_id: int) -> set[str]:
        return {str(r[0]) for r in self._rows(_KEYS_OF, {"record_id": record_id})}

    def replace_match_keys(self, tenant_id: int, entity_type: str, record_id: int,
                           keys: Iterable[str], *, new: bool = False) -> None:
        """The record's keys become exactly `keys`. `new`: the record was just inserted and
        has none yet (skips reading them)."""
        wanted = set(keys)
        _check_keys(wanted)
        held = set() if new else self.match_keys_of(record_id)
        gone, added = held - wanted, wanted - held
        if gone:
            self._run_many(_DELETE_KEY, [{"b_record_id": record_id, "b_key": k}
                                         for k in sorted(gone)])
        if added:
            self._run_many(_INSERT_KEY, [
                {"tenant_id": tenant_id, "entity_type": entity_type, "key": k,
                 "record_id": record_id} for k in sorted(added)])

    def put_match_features(self, record_id: int, version: int, features: str, *,
                           new: bool = False) -> None:
        """Store the record's features (JSON text) as of `version`, replacing what it held.
        `new`: the record was just inserted and has none yet."""
        if not new:
            self._run(_DELETE_FEATURES, {"b_record_id": record_id})
        self._run(_INSERT_FEATURES, {"record_id": record_id, "version": version,
                                     "features": features})

    def insert_match_features(self, rows: Iterable[tuple[int, int, str]], *,
                              chunk: int = 50_000) -> int:
        """Add (record_id, version, features) rows in bulk (COPY on PostgreSQL, executemany
        on SQLite); the number added. The records must have none yet."""
        return self._bulk_copy("match_features", ("record_id", "version", "features"), rows,
                               chunk)

    def match_key_candidates(self, tenant_id: int, entity_type: str, keys: Iterable[str], *,
                             cap: int = 1000) -> KeyCandidates:
        """The records holding each key; a key held by more than `cap` records is skipped
        (each look-up reads at most cap + 1 index entries)."""
        found: dict[str, list[int]] = {}
        skipped: dict[str, int] = {}
        for key in sorted(set(keys)):
            rows = self._rows(_records_of_key(cap + 1), {
                "tenant_id": tenant_id, "entity_type": entity_type, "key": key})
            if len(rows) > cap:
                skipped[key] = len(rows)
            elif rows:
                found[key] = sorted(int(r[0]) for r in rows)
        return KeyCandidates(found, skipped)

    def insert_match_keys(self, rows: Iterable[tuple[int, str, str, int]], *,
                          chunk: int = 50_000) -> int:
        """Add (tenant_id, entity_type, key, record_id) rows in bulk (COPY on PostgreSQL,
        executemany on SQLite); the number added. The records must have none of these
        keys yet (a repeat is an integrity error: delete first)."""
        return self._bulk_copy("match_keys", ("tenant_id", "entity_type", "key", "record_id"),
                               rows, chunk, check=lambda batch: _check_keys(r[2] for r in batch))

    def _bulk_copy(self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]],
                   chunk: int, check: Callable[[list[tuple[Any, ...]]], None] | None = None
                   ) -> int:
        total = 0
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                total += self._copy(table, columns, batch, check)
                batch = []
        return total + self._copy(table, columns, batch, check)

    def _copy(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]],
              check: Callable[[list[tuple[Any, ...]]], None] | None) -> int:
        if not rows:
            return 0
        if check is not None:
            check(rows)
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        names = ", ".join(columns)
        try:
            if self.dialect.name == "postgresql":
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        finally:
            cursor.close()
        return len(rows)

    def delete_match_keys(self, tenant_id: int, entity_type: str) -> int:
        """Remove every key and stored feature of this tenant and type (before rebuilding
        them); how many keys."""
        of_type = sa.select(records.c.id).where(records.c.tenant_id == tenant_id,
                                                records.c.entity_type == entity_type)
        self.conn.execute(mf.delete().where(mf.c.record_id.in_(of_type)))
        result = self.conn.execute(mk.delete().where(mk.c.tenant_id == tenant_id,
                                                     mk.c.entity_type == entity_type))
        return int(result.rowcount)

    def delete_record_match_keys(self, record_ids: Sequence[int]) -> None:
        """Remove these records' keys and stored features (before writing them again)."""
        for start in range(0, len(record_ids), 500):
            chunk = list(record_ids[start:start + 500])
            self.conn.execute(mk.delete().where(mk.c.record_id.in_(chunk)))
            self.conn.execute(mf.delete().where(mf.c.record_id.in_(chunk)))

    def count_match_keys(self, tenant_id: int, entity_type: str) -> int:
        return int(self.conn.execute(
            sa.select(sa.func.count()).select_from(mk).where(
                mk.c.tenant_id == tenant_id, mk.c.entity_type == entity_type)).scalar_one())

    def match_records_by_id(self, tenant_id: int, entity_type: str, record_ids: Iterable[int]
                            ) -> list[MatchRecord]:
        """These records of this tenant and type with their current version's attributes
        and identifiers, and the entity each is in now (followed through merges to the
        active survivor); records whose entity is deleted are left out. In id order."""
        heads = self.match_record_heads(tenant_id, entity_type, record_ids)
        contents = self.match_record_contents([h.id for h in heads])
        return [MatchRecord(h.id, h.source, h.source_key, h.entity_id, *contents[h.id],
                            h.version)
                for h in heads if h.id in contents]

    def match_record_heads(self, tenant_id: int, entity_type: str, record_ids: Iterable[int]
                           ) -> list[RecordHead]:
        """`match_records_by_id` without the contents: each record's current version and
        content hash instead (what a cache of the records' features is keyed by)."""
        wanted = sorted(set(record_ids))
        rows: list[Sequence[Any]] = []
        for start in range(0, len(wanted), 500):
            rows.extend(r for r in self._rows(_HEADS_BY_ID, {"ids": wanted[start:start + 500]})
                        if int(r[6]) == tenant_id and r[7] == entity_type)
        rows.sort(key=lambda r: int(r[0]))
        current = self._survivors_of({int(r[3]): (str(r[4]), r[5]) for r in rows})
        out: list[RecordHead] = []
        for rid, source, key, entity_id, _status, _into, _t, _e, version, digest, feats in rows:
            now = current.get(int(entity_id))
            if now is not None:
                out.append(RecordHead(int(rid), source, key, now, int(version), str(digest),
                                      orjson.loads(feats) if feats else None))
        return out

    def stored_match_features(self, record_ids: Iterable[int]
                              ) -> dict[int, tuple[int, dict[str, Any]]]:
        """The features stored for these records, decoded, with the record version they
        are of (which may be behind the record's current one: `match_record_heads` tells);
        records with none are left out."""
        wanted = sorted(set(record_ids))
        out: dict[int, tuple[int, dict[str, Any]]] = {}
        for start in range(0, len(wanted), 500):
            for rid, version, feats in self._rows(_FEATURES_BY_ID,
                                                  {"ids": wanted[start:start + 500]}):
                out[int(rid)] = (int(version), orjson.loads(feats))
        return out

    def match_record_contents(self, record_ids: Sequence[int]
                              ) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
        """Each record's current attributes and identifiers."""
        out: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        for start in range(0, len(record_ids), 500):
            for rid, attributes, identifiers in self._rows(
                    _CONTENTS_BY_ID, {"ids": list(record_ids[start:start + 500])}):
                out[int(rid)] = (_json_object(attributes), _json_object(identifiers))
        return out

    def _survivors_of(self, known: dict[int, tuple[str, Any]]) -> dict[int, int]:
        """For each entity (id -> (status, merged_into)), the active entity it is now."""
        state = dict(known)
        out: dict[int, int] = {}
        for eid in known:
            current, hops = eid, 0
            while hops < _MAX_HOPS:
                status, into = state[current]
                if status != "merged" or into is None:
                    break
                nxt = int(into)
                if nxt not in state:
                    for row in self._rows(_ENTITY_HOPS, {"ids": [nxt]}):
                        state[int(row[0])] = (str(row[1]), row[2])
                    if nxt not in state:
                        break
                current, hops = nxt, hops + 1
            if state[current][0] == "active":
                out[eid] = current
        return out


def _json_object(value: Any) -> dict[str, Any]:
    """A JSON column's object: decoded from text (orjson; json for what orjson refuses, such
    as NaN, which json.dumps writes, and for any run of 19 digits or more: orjson reads an
    integer beyond 64 bits as a float), or as the driver decoded it."""
    if isinstance(value, str):
        if _LONG_DIGITS.search(value):
            value = json.loads(value)
        else:
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                value = json.loads(value)
    return dict(value or {})


def _check_keys(keys: Iterable[str]) -> None:
    for key in keys:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"match key {key!r} is empty or longer than {MAX_KEY_LENGTH} "
                             "characters; hash long values (see resolution.matching."
                             "incremental.keys_of)")
