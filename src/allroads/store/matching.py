"""Batch matching: the model's settings per tenant and type, match runs, and the review queue
of match candidates (two entities a run scored between the thresholds).

A candidate names its two entities smaller id first (``entity_a < entity_b``); a tenant has at
most one open candidate per pair (a partial unique index). The records a run reads
(`records_for_matching`) are the live ones: those whose entity, followed through merges to
its survivor, is active.

A run in progress (queued or running) is held by one process, which keeps its
``heartbeat_at`` fresh; a tenant has at most one run in progress per type (a partial unique
index). The statements that move a run on name the status they expect, so a process whose
run was ended meanwhile by another (its heartbeat gone stale) changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.schema import (
    decisions,
    entities,
    match_candidates,
    match_runs,
    match_settings,
    record_versions,
    records,
)

# Statuses of a run, in order; `failed` ends a run too.
RUN_STATUSES = ("queued", "running", "succeeded", "failed")
# A run in one of these is in progress: held by a process, at most one per tenant and type.
ACTIVE_RUN_STATUSES = ("queued", "running")
CANDIDATE_STATUSES = ("open", "accepted", "rejected")

_Id = TypeVar("_Id", int, str)


@dataclass(frozen=True, slots=True)
class MatchSettingsRow:
    tenant_id: int
    entity_type: str
    parameters: dict[str, Any] | None
    link_threshold: float
    review_threshold: float
    trained_at: dt.datetime | None
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class MatchRunRow:
    id: int
    tenant_id: int
    public_id: str
    entity_type: str
    engine: str
    status: str
    step: str
    progress: float
    counts: dict[str, Any]
    timings: dict[str, Any]
    training: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class MatchCandidateRow:
    id: int
    tenant_id: int
    public_id: str
    entity_type: str
    entity_a: int
    entity_b: int
    record_a: int
    record_b: int
    probability: float
    match_weight: float
    breakdown: dict[str, Any]
    status: str
    run_id: int | None
    created_at: dt.datetime
    decided_at: dt.datetime | None
    decided_by: str | None


@dataclass(frozen=True, slots=True)
class NewCandidate:
    """A pair to put in the review queue (any entity order: the store puts the smaller first)."""

    public_id: str
    entity_a: int
    entity_b: int
    record_a: int
    record_b: int
    probability: float
    match_weight: float
    breakdown: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """A live record as a match run reads it: its current version, and the entity it is in
    now (followed through merges to the survivor)."""

    id: int
    source: str
    source_key: str
    entity_id: int
    attributes: dict[str, Any]
    identifiers: dict[str, Any]
    version: int = 1  # the current version's number


class MatchQueries(TxBase):
    # Settings ---------------------------------------------------------------------------
    def match_settings(self, tenant_id: int, entity_type: str) -> MatchSettingsRow | None:
        row = self.conn.execute(sa.select(match_settings).where(
            match_settings.c.tenant_id == tenant_id,
            match_settings.c.entity_type == entity_type)).first()
        return MatchSettingsRow(**row._mapping) if row else None

    def put_match_settings(self, tenant_id: int, entity_type: str, *,
                           parameters: dict[str, Any] | None, link_threshold: float,
                           review_threshold: float, trained_at: dt.datetime | None,
                           now: dt.datetime) -> MatchSettingsRow:
        """Replace the settings of this tenant and type (the caller passes what it keeps)."""
        key = (match_settings.c.tenant_id == tenant_id,
               match_settings.c.entity_type == entity_type)
        values = {"parameters": parameters, "link_threshold": link_threshold,
                  "review_threshold": review_threshold, "trained_at": trained_at,
                  "updated_at": now}
        changed = self.conn.execute(match_settings.update().where(*key).values(**values))
        if changed.rowcount == 0:
            self.conn.execute(match_settings.insert().values(
                tenant_id=tenant_id, entity_type=entity_type, **values))
        row = self.match_settings(tenant_id, entity_type)
        assert row is not None
        return row

    # Runs -------------------------------------------------------------------------------
    def create_match_run(self, tenant_id: int, public_id: str, entity_type: str, engine: str,
                         created_by: str, now: dt.datetime) -> MatchRunRow | None:
        """A queued run (its heartbeat `now`); None when the tenant has a run of this type in
        progress already (the caller checks first: this is the race with another process)."""
        values = {"tenant_id": tenant_id, "public_id": public_id, "entity_type": entity_type,
                  "engine": engine, "status": "queued", "step": "queued", "progress": 0.0,
                  "counts": {}, "timings": {}, "created_by": created_by, "created_at": now,
                  "heartbeat_at": now}
        try:
            if self.dialect.name == "sqlite":  # a failed statement leaves the transaction be
                new_id = self._insert(match_runs, **values)
            else:
                with self.conn.begin_nested():
                    new_id = self._insert(match_runs, **values)
        except sa.exc.IntegrityError:
            if self.active_match_runs(tenant_id, entity_type):
                return None
            raise
        row = self._match_run_where(match_runs.c.id == new_id)
        assert row is not None
        return row

    def claim_match_run(self, run_id: int, now: dt.datetime) -> bool:
        """queued → running; False when the run is not queued (another worker has it)."""
        result = self.conn.execute(match_runs.update().where(
            match_runs.c.id == run_id, match_runs.c.status == "queued").values(
            status="running", step="starting", started_at=now, heartbeat_at=now))
        return result.rowcount == 1

    def match_run_progress(self, run_id: int, step: str, progress: float,
                           counts: dict[str, Any] | None = None, *,
                           now: dt.datetime | None = None) -> bool:
        """Step and progress of a running run (and its heartbeat, given `now`); False when
        the run is not running any more (ended by another process)."""
        values: dict[str, Any] = {"step": step, "progress": min(max(progress, 0.0), 1.0)}
        if counts is not None:
            values["counts"] = counts
        if now is not None:
            values["heartbeat_at"] = now
        result = self.conn.execute(match_runs.update().where(
            match_runs.c.id == run_id, match_runs.c.status == "running").values(**values))
        return result.rowcount == 1

    def beat_match_runs(self, public_ids: Sequence[str], now: dt.datetime) -> int:
        """The heartbeat of these runs, those still in progress; how many."""
        changed = 0
        for chunk in _chunks(public_ids):
            result = self.conn.execute(match_runs.update().where(
                match_runs.c.public_id.in_(chunk),
                match_runs.c.status.in_(ACTIVE_RUN_STATUSES)).values(heartbeat_at=now))
            changed += result.rowcount
        return changed

    def active_match_runs(self, tenant_id: int | None = None, entity_type: str | None = None
                          ) -> list[MatchRunRow]:
        """Runs in progress (queued or running), oldest first; of one tenant (and type)."""
        q = sa.select(match_runs).where(match_runs.c.status.in_(ACTIVE_RUN_STATUSES))
        if tenant_id is not None:
            q = q.where(match_runs.c.tenant_id == tenant_id)
        if entity_type is not None:
            q = q.where(match_runs.c.entity_type == entity_type)
        return [MatchRunRow(**r._mapping) for r in self.conn.execute(q.order_by(match_runs.c.id))]

    def end_stale_match_run(self, run_id: int, status: str, stale_before: dt.datetime,
                            error: str, now: dt.datetime) -> bool:
        """End a run in `status` as failed with `error`, if its heartbeat is older than
        `stale_before` (or missing); False when it is not (its process is alive after all,
        or another ended it first)."""
        result = self.conn.execute(match_runs.update().where(
            match_runs.c.id == run_id, match_runs.c.status == status,
            _stale(stale_before)).values(status="failed", step="failed", error=error,
                                         finished_at=now))
        return result.rowcount == 1

    def adopt_match_run(self, run_id: int, stale_before: dt.datetime, now: dt.datetime
                        ) -> bool:
        """Hold a queued run no process holds (heartbeat older than `stale_before`, or
        missing): its heartbeat becomes `now`; False when another process holds it."""
        result = self.conn.execute(match_runs.update().where(
            match_runs.c.id == run_id, match_runs.c.status == "queued",
            _stale(stale_before)).values(heartbeat_at=now))
        return result.rowcount == 1

    def finish_match_run(self, run_id: int, status: str, now: dt.datetime, *,
                         counts: dict[str, Any] | None = None,
                         timings: dict[str, Any] | None = None,
                         training: dict[str, Any] | None = None,
                         error: str | None = None) -> bool:
        """running (or queued) → succeeded | failed; False when the run had ended already
        (another process ended it: what it wrote stays)."""
        if status not in ("succeeded", "failed"):
            raise ValueError(f"a run finishes as succeeded or failed, not {status!r}")
        values: dict[str, Any] = {"status": status, "finished_at": now, "error": error,
                                  "step": "done" if status == "succeeded" else "failed"}
        if status == "succeeded":
            values["progress"] = 1.0
        if counts is not None:
            values["counts"] = counts
        if timings is not None:
            values["timings"] = timings
        if training is not None:
            values["training"] = training
        result = self.conn.execute(match_runs.update().where(
            match_runs.c.id == run_id, match_runs.c.status.in_(ACTIVE_RUN_STATUSES))
            .values(**values))
        return result.rowcount == 1

    def match_run(self, tenant_id: int, public_id: str) -> MatchRunRow | None:
        return self._match_run_where(match_runs.c.tenant_id == tenant_id,
                                     match_runs.c.public_id == public_id)

    def match_run_by_public_id(self, public_id: str) -> MatchRunRow | None:
        """Any tenant's run (a worker executing it; edges use `match_run`)."""
        return self._match_run_where(match_runs.c.public_id == public_id)

    def match_run_by_id(self, run_id: int) -> MatchRunRow | None:
        return self._match_run_where(match_runs.c.id == run_id)

    def match_runs(self, tenant_id: int, *, entity_type: str | None = None,
                   before_id: int | None = None, limit: int = 50) -> list[MatchRunRow]:
        """The tenant's runs, newest first; `before_id` continues a page."""
        q = sa.select(match_runs).where(match_runs.c.tenant_id == tenant_id)
        if entity_type is not None:
            q = q.where(match_runs.c.entity_type == entity_type)
        if before_id is not None:
            q = q.where(match_runs.c.id < before_id)
        rows = self.conn.execute(q.order_by(match_runs.c.id.desc()).limit(limit))
        return [MatchRunRow(**r._mapping) for r in rows]

    def _match_run_where(self, *cond: sa.ColumnElement[bool]) -> MatchRunRow | None:
        row = self.conn.execute(sa.select(match_runs).where(*cond)).first()
        return MatchRunRow(**row._mapping) if row else None

    # Candidates -------------------------------------------------------------------------
    def add_match_candidates(self, tenant_id: int, entity_type: str, run_id: int | None,
                             new: Iterable[NewCandidate], now: dt.datetime) -> list[str]:
        """Queue these pairs, skipping a pair that already has an open candidate or whose
        newest decision is force-apart (and repeats within `new`); the public ids added."""
        pending: dict[tuple[int, int], NewCandidate] = {}
        for c in new:
            if c.entity_a == c.entity_b:
                continue
            pair = (min(c.entity_a, c.entity_b), max(c.entity_a, c.entity_b))
            if pair not in pending:
                pending[pair] = c
        if not pending:
            return []
        ids = sorted({e for pair in pending for e in pair})
        skip = self._open_pairs(tenant_id, ids) | self.apart_entity_pairs(tenant_id, ids)
        added: list[str] = []
        rows: list[dict[str, Any]] = []
        for pair, c in pending.items():
            if pair in skip:
                continue
            flip = c.entity_a > c.entity_b
            rows.append({
                "tenant_id": tenant_id, "public_id": c.public_id, "entity_type": entity_type,
                "entity_a": pair[0], "entity_b": pair[1],
                "record_a": c.record_b if flip else c.record_a,
                "record_b": c.record_a if flip else c.record_b,
                "probability": c.probability, "match_weight": c.match_weight,
                "breakdown": c.breakdown, "status": "open", "run_id": run_id,
                "created_at": now})
            added.append(c.public_id)
        if rows:
            self.conn.execute(match_candidates.insert(), rows)
        return added

    def _open_pairs(self, tenant_id: int, entity_ids: Sequence[int]) -> set[tuple[int, int]]:
        mc = match_candidates
        out: set[tuple[int, int]] = set()
        # One look-up per side by its entity index, the status checked here: with the tenant
        # and status in the query SQLite took the (tenant, status) index and scanned every
        # open candidate of the tenant. Entity ids belong to one tenant.
        for chunk in _chunks(entity_ids):
            for side in (mc.c.entity_a, mc.c.entity_b):
                rows = self.conn.execute(sa.select(
                    mc.c.entity_a, mc.c.entity_b, mc.c.status, mc.c.tenant_id).where(
                    side.in_(chunk)))
                out.update((int(a), int(b)) for a, b, status, tenant in rows
                           if status == "open" and tenant == tenant_id)
        return out

    def apart_entity_pairs(self, tenant_id: int, entity_ids: Sequence[int] | None = None
                           ) -> set[tuple[int, int]]:
        """Pairs (smaller id first) whose newest decision is force-apart, as the decisions
        name them (not followed through merges), among `entity_ids` (None: all)."""
        q = (sa.select(decisions.c.entity_a, decisions.c.entity_b, decisions.c.kind)
             .where(decisions.c.tenant_id == tenant_id))
        latest: dict[tuple[int, int], str] = {}
        chunks: Iterable[Sequence[int] | None] = (
            [None] if entity_ids is None else list(_chunks(entity_ids)))
        for chunk in chunks:
            cq = q if chunk is None else q.where(sa.or_(decisions.c.entity_a.in_(chunk),
                                                        decisions.c.entity_b.in_(chunk)))
            for a, b, kind in self.conn.execute(cq.order_by(decisions.c.id)):
                latest[(min(a, b), max(a, b))] = kind
        return {pair for pair, kind in latest.items() if kind == "apart"}

    def match_candidates(self, tenant_id: int, *, entity_type: str | None = None,
                         status: str | None = "open", after_id: int | None = None,
                         limit: int = 50) -> list[MatchCandidateRow]:
        """Candidates oldest first; `after_id` continues a page."""
        mc = match_candidates
        q = sa.select(mc).where(mc.c.tenant_id == tenant_id)
        if entity_type is not None:
            q = q.where(mc.c.entity_type == entity_type)
        if status is not None:
            q = q.where(mc.c.status == status)
        if after_id is not None:
            q = q.where(mc.c.id > after_id)
        rows = self.conn.execute(q.order_by(mc.c.id).limit(limit))
        return [MatchCandidateRow(**r._mapping) for r in rows]

    def match_candidate(self, tenant_id: int, public_id: str) -> MatchCandidateRow | None:
        row = self.conn.execute(sa.select(match_candidates).where(
            match_candidates.c.tenant_id == tenant_id,
            match_candidates.c.public_id == public_id)).first()
        return MatchCandidateRow(**row._mapping) if row else None

    def decide_match_candidate(self, candidate_id: int, status: str, decided_by: str,
                               now: dt.datetime) -> bool:
        """open → accepted | rejected; False when it was decided already."""
        if status not in ("accepted", "rejected"):
            raise ValueError(f"a candidate is accepted or rejected, not {status!r}")
        result = self.conn.execute(match_candidates.update().where(
            match_candidates.c.id == candidate_id, match_candidates.c.status == "open")
            .values(status=status, decided_at=now, decided_by=decided_by))
        return result.rowcount == 1

    # What a run reads ---------------------------------------------------------------------
    def records_for_matching(self, tenant_id: int, entity_type: str, *, batch: int = 5000
                             ) -> Iterator[MatchRecord]:
        """Every live record of this tenant and type with its current version's attributes
        and identifiers, and its entity followed through merges to the survivor; in id
        order, read in batches of `batch` records."""
        survivors = self.survivors(tenant_id, entity_type)
        after = 0
        while True:
            rows = self._records_after(tenant_id, entity_type, after, batch)
            for row in rows:
                current = survivors.get(row.entity_id)
                if current is not None:
                    yield replace(row, entity_id=current)
            if len(rows) < batch:
                return
            after = rows[-1].id

    def records_after(self, tenant_id: int, entity_type: str, after: int, limit: int
                      ) -> list[MatchRecord]:
        """At most `limit` records of this tenant and type with ids above `after`, in id
        order, at their current version; each with the entity it is filed under (not
        followed through merges), deleted entities' records included."""
        return self._records_after(tenant_id, entity_type, after, limit)

    def count_records(self, tenant_id: int, entity_type: str) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(records).where(
            records.c.tenant_id == tenant_id, records.c.entity_type == entity_type))
            .scalar_one())

    def _records_after(self, tenant_id: int, entity_type: str, after: int, limit: int
                       ) -> list[MatchRecord]:
        rv = record_versions
        q = (sa.select(records.c.id, records.c.source, records.c.source_key,
                       records.c.entity_id, rv.c.attributes, rv.c.identifiers, rv.c.version)
             .join(rv, sa.and_(rv.c.record_id == records.c.id,
                               rv.c.version == records.c.current_version))
             .where(records.c.tenant_id == tenant_id, records.c.entity_type == entity_type,
                    records.c.id > after)
             .order_by(records.c.id).limit(limit))
        return [MatchRecord(int(rid), source, key, int(entity_id), dict(attributes or {}),
                            dict(identifiers or {}), int(version))
                for rid, source, key, entity_id, attributes, identifiers, version
                in self.conn.execute(q)]

    def survivors(self, tenant_id: int, entity_type: str) -> dict[int, int]:
        """Each entity of this tenant and type that is active or merged, and the active
        entity it is now (itself, or the survivor its merges lead to); entities whose chain
        ends anywhere but an active entity are left out."""
        rows = self.conn.execute(
            sa.select(entities.c.id, entities.c.status, entities.c.merged_into).where(
                entities.c.tenant_id == tenant_id, entities.c.entity_type == entity_type,
                entities.c.status.in_(("active", "merged"))))
        status: dict[int, str] = {}
        into: dict[int, int | None] = {}
        for eid, st, merged_into in rows:
            status[int(eid)] = st
            into[int(eid)] = int(merged_into) if merged_into is not None else None
        out: dict[int, int] = {}
        for eid in status:
            current, hops = eid, 0
            while status.get(current) == "merged" and into.get(current) is not None \
                    and hops < 100:
                nxt = into[current]
                assert nxt is not None
                current, hops = nxt, hops + 1
            if status.get(current) == "active":
                out[eid] = current
        return out


def _stale(before: dt.datetime) -> sa.ColumnElement[bool]:
    """A run's heartbeat is older than `before`, or it has none (a run from before 0005)."""
    return sa.or_(match_runs.c.heartbeat_at.is_(None), match_runs.c.heartbeat_at < before)


def _chunks(ids: Sequence[_Id], size: int = 500) -> Iterator[Sequence[_Id]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]
