"""Bulk seed: load many NEW customers fast, with exactly what identify would have stored.

    from allroads.resolution.bulk import bulk_seed
    n = bulk_seed(store, actor, requests, batch_size=5000, progress=print)

Seed mode is for a store or tenant that does not hold these customers yet (a first load, a
migration, a benchmark). For each request that matches nothing, one batched transaction
writes what `identify` would write for a new customer: the entity, the record and its
version 1, the identifier index rows, the link (rule `bulk_seed`, with the evidence), the
profile (the same `golden_record`, computed from the versions as stored) and one changelog
row per field. Requests are normalized by `identify.prepare`, so stored values are the ones
identify stores.

Rows that would match an existing customer are routed through the normal identify path:
a row whose (source, source_id) is already stored, whose usable identifier values are
already in the index, or repeat those of an earlier row of the input, and every person sent
with a nested `account`. They are identified one by one, in input order, inside the
batch's transaction, so duplicates end up matched or merged exactly as identify would. A
row whose record is already stored with the same content changes nothing (identify would
answer `matched` without writing): seeding the same requests twice writes nothing.

Everything happens in input order: rows get increasing timestamps and ids, and a routed
row is identified after the seeded rows before it and before those after it. Batches hold
one entity type; each commits on its own (`progress` is called after each commit).

Invalid rows (`InvalidInput` from normalization) are found before their batch writes
anything: without `on_error` the first one raises `InvalidInput` naming its position, and
the batches before it stay committed; with `on_error(index, error)` it is reported and
skipped.

`bulk_seed` returns how many requests were processed (seeded, routed or unchanged; invalid
rows skipped through `on_error` are not counted); `seed` takes the same arguments and
returns a `SeedReport` with each count and the identify actions. `workers=N` normalizes the
next batches in N processes (spawned: call it under `if __name__ == "__main__":`) while
this one writes; the results are the same.

On PostgreSQL the seeded rows take no identifier locks (a batch holds far more keys than
the server's lock table): do not seed customers that the API is receiving at the same
moment. On SQLite the writer lock covers that.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from allroads.domain.errors import AllroadsError, InvalidInput
from allroads.domain.types import Action, Actor, EntityType, IdentifyRequest, utcnow
from allroads.resolution.identify import (
    Prepared,
    account_evidence,
    account_lookups,
    choose_account,
    identify,
    prepare,
)
from allroads.resolution.ids import new_public_id
from allroads.resolution.matching import incremental
from allroads.resolution.matching.model import probability_of
from allroads.resolution.rules import RuleSet
from allroads.resolution.survivorship import SourceRecord, flatten, golden_record
from allroads.resolution.unit import (
    DEFAULT_SOURCE_PRIORITIES,
    NEW_SOURCE_PRIORITY,
    TenantSettingsCache,
    Unit,
)
from allroads.store import NewChange, Store, Tx
from allroads.store.bulk import (
    NewEntity,
    NewIdentifier,
    NewLink,
    NewProfile,
    NewRecord,
    NewVersion,
)

SEED_RULE = "bulk_seed"

ErrorHandler = Callable[[int, AllroadsError], None]


@dataclass
class SeedReport:
    """What a seed did. `processed` = seeded + unchanged + routed (invalid rows not counted)."""

    processed: int = 0
    seeded: int = 0
    unchanged: int = 0
    routed: int = 0
    invalid: int = 0
    batches: int = 0
    actions: Counter[str] = field(default_factory=Counter)


def bulk_seed(store: Store, actor: Actor, requests: Iterable[IdentifyRequest], *,
              batch_size: int = 5000, progress: Callable[[int], None] | None = None,
              on_error: ErrorHandler | None = None, workers: int = 0,
              fuzzy: bool = False) -> int:
    """Load these requests (see the module docstring); returns how many were processed.
    `workers` > 0 normalizes upcoming batches in that many processes meanwhile; `fuzzy`:
    look new customers up by their blocking keys as identify does."""
    return seed(store, actor, requests, batch_size=batch_size, progress=progress,
                on_error=on_error, workers=workers, fuzzy=fuzzy).processed


def seed(store: Store, actor: Actor, requests: Iterable[IdentifyRequest], *,
         batch_size: int = 5000, progress: Callable[[int], None] | None = None,
         on_error: ErrorHandler | None = None, workers: int = 0,
         fuzzy: bool = False) -> SeedReport:
    """`bulk_seed`, returning the full report."""
    if batch_size < 1:
        raise InvalidInput("batch_size must be at least 1", field="batch_size")
    loader = _Loader(store, actor, on_error, fuzzy=fuzzy)

    def done(batch: _Batch, prepped: list[_Prep], taken: int) -> None:
        loader.load(batch, prepped)
        if progress is not None:
            progress(taken)

    if workers <= 0:
        for batch, taken in _batches(requests, batch_size):
            done(batch, _prepare_all(loader.prep, loader.rules, [r for _, r in batch]), taken)
        return loader.report
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(actor, loader.rules)) as pool:
        pending: deque[tuple[_Batch, int, Future[list[_Prep]]]] = deque()
        for batch, taken in _batches(requests, batch_size):
            pending.append((batch, taken, pool.submit(_prepare_in_worker,
                                                      [r for _, r in batch])))
            if len(pending) > workers:
                first, first_taken, future = pending.popleft()
                done(first, future.result(), first_taken)
        while pending:
            first, first_taken, future = pending.popleft()
            done(first, future.result(), first_taken)
    return loader.report


_Batch = list[tuple[int, IdentifyRequest]]
# A row after normalization: its type and Prepared, or (None, (message, field, hint)).
_Prep = tuple[EntityType, Prepared] | tuple[None, tuple[str, str | None, str | None]]


class BatchWriter:
    """Bulk-write batches of requests in the caller's transaction (the import commit, which
    marks its staging rows in the same one): new customers are written in bulk as `seed`
    writes them, the others identified one by one. `write` returns, per request index, the
    action and the entity's public id (None for a record stored unchanged); a request that
    fails is reported to `on_error` and left out."""

    def __init__(self, store: Store, actor: Actor, on_error: ErrorHandler, *,
                 fuzzy: bool = True) -> None:
        self._loader = _Loader(store, actor, on_error, fuzzy=fuzzy)

    def write(self, tx: Tx, batch: list[tuple[int, IdentifyRequest]]
              ) -> dict[int, tuple[str, str | None]]:
        loader = self._loader
        loader.outcomes = {}
        by_type: dict[EntityType, _Batch] = {}
        for index, req in batch:
            by_type.setdefault(EntityType(req.type), []).append((index, req))
        for items in by_type.values():
            rows = loader._rows(items, _prepare_all(loader.prep, loader.rules,
                                                    [r for _, r in items]))
            if rows:
                loader.load_in(tx, rows)
        return loader.outcomes


def _batches(requests: Iterable[IdentifyRequest], size: int) -> Iterator[tuple[_Batch, int]]:
    """Batches of one entity type, at most `size` long, with how many requests were read."""
    batch: _Batch = []
    batch_type: Any = None
    for index, req in enumerate(requests):
        if batch and (len(batch) >= size or req.type != batch_type):
            yield batch, index
            batch = []
        batch.append((index, req))
        batch_type = req.type
    if batch:
        yield batch, batch[-1][0] + 1


def _prepare_all(u: Unit, rules: dict[EntityType, RuleSet], reqs: list[IdentifyRequest]
                 ) -> list[_Prep]:
    out: list[_Prep] = []
    for req in reqs:
        try:
            etype = _entity_type(req)
            p = prepare(u, req, rules[etype])
            if req.account is not None and etype is EntityType.PERSON:
                prepare(u, req.account, rules[_entity_type(req.account)])
        except InvalidInput as exc:
            # Plain values: exceptions with keyword arguments do not survive pickling.
            out.append((None, (exc.message, exc.field, exc.hint)))
            continue
        out.append((etype, p))
    return out


def _prepare_unit(actor: Actor) -> Unit:
    """A unit for `prepare`, which reads only the actor (its region) from it: no transaction."""
    return Unit(cast(Tx, None), actor, utcnow())


_worker: tuple[Unit, dict[EntityType, RuleSet]] | None = None


def _start_worker(actor: Actor, rules: dict[EntityType, RuleSet]) -> None:
    global _worker
    _worker = (_prepare_unit(actor), rules)


def _prepare_in_worker(reqs: list[IdentifyRequest]) -> list[_Prep]:
    assert _worker is not None
    return _prepare_all(_worker[0], _worker[1], reqs)


@dataclass
class _Row:
    index: int
    req: IdentifyRequest
    etype: EntityType
    actor: Actor
    p: Prepared
    now: dt.datetime
    account_id: int | None = None
    account_public_id: str | None = None
    account_evidence: dict[str, Any] | None = None  # why it joins that account


class _Loader:
    def __init__(self, store: Store, actor: Actor, on_error: ErrorHandler | None, *,
                 fuzzy: bool) -> None:
        self.store = store
        self.actor = actor
        self.on_error = on_error
        self.fuzzy = fuzzy
        self.report = SeedReport()
        # request index -> (action, entity public id; None when unchanged)
        self.outcomes: dict[int, tuple[str, str | None]] = {}
        self.last_now = dt.datetime.min.replace(tzinfo=dt.UTC)
        self.cache = TenantSettingsCache()
        with store.read() as tx:
            u = Unit(tx, actor, utcnow(), self.cache)
            self.rules = {t: u.rules(t) for t in EntityType}
        self.prep = _prepare_unit(actor)

    def _now(self) -> dt.datetime:
        """Strictly increasing times, so rows keep their input order in survivorship."""
        now = utcnow()
        if now <= self.last_now:
            now = self.last_now + dt.timedelta(microseconds=1)
        self.last_now = now
        return now

    def _rows(self, batch: _Batch, prepped: list[_Prep]) -> list[_Row]:
        rows: list[_Row] = []
        for (index, req), (etype, p) in zip(batch, prepped, strict=True):
            if etype is None:
                message, name, hint = cast(tuple[str, str | None, str | None], p)
                error = InvalidInput(f"request {index}: {message}", field=name, hint=hint)
                if self.on_error is None:
                    raise error
                self.report.invalid += 1
                self.on_error(index, error)
                continue
            actor = self.actor if not req.touchpoint else Actor(
                self.actor.tenant_id, self.actor.initiator, req.touchpoint, self.actor.region,
                self.actor.import_id)
            rows.append(_Row(index, req, etype, actor, cast(Prepared, p), self._now()))
        return rows

    # Phase 2: classify and write, in one transaction -----------------------------------
    def load(self, batch: _Batch, prepped: list[_Prep]) -> None:
        rows = self._rows(batch, prepped)
        if not rows:
            return
        with self.store.write() as tx:
            self.load_in(tx, rows)

    def load_in(self, tx: Tx, rows: list[_Row]) -> None:
        """Classify and write these rows (of one entity type) in the caller's transaction."""
        tenant = self.actor.tenant_id
        etype = rows[0].etype.value
        stored = tx.existing_records(tenant, etype,
                                     [(r.p.source, r.p.source_key) for r in rows])
        held = {(h.kind, h.value) for h in tx.identifier_hits(
            tenant, etype, [pair for r in rows for pair in r.p.usable])}
        fuzzy = _FuzzyCheck(tx, tenant, etype, [
            r for r in rows if r.req.account is None and (r.p.source, r.p.source_key)
            not in stored and not any(pair in held for pair in r.p.usable)]
        ) if self.fuzzy else None
        seen_keys: set[tuple[str, str]] = set()
        seen_pairs: set[tuple[str, str]] = set()
        run: list[_Row] = []
        for row in rows:
            p = row.p
            key = (p.source, p.source_key)
            # Stored as is: identify answers `matched` and writes nothing, whatever the
            # rows before did (unless one of them was this record).
            same = (key not in seen_keys and row.req.account is None
                    and stored.get(key) == p.content_hash)
            repeat = key in seen_keys or any(pair in seen_pairs for pair in p.usable)
            seen_keys.add(key)
            seen_pairs.update(p.usable)
            if same:
                self.report.unchanged += 1
                self.report.actions[Action.MATCHED.value] += 1
                self.outcomes[row.index] = ("unchanged", None)
            elif (repeat or row.req.account is not None or key in stored
                  or any(pair in held for pair in p.usable)
                  or (fuzzy is not None and fuzzy.may_match(row))):
                self._write_run(tx, run)
                run = []
                self._route(tx, row)
            else:
                run.append(row)
            if fuzzy is not None:
                fuzzy.seen(row)
        self._write_run(tx, run)
        self.report.processed += len(rows)
        self.report.batches += 1

    def _route(self, tx: Tx, row: _Row) -> None:
        """Identify one row the normal way (it may match, merge, be rejected...)."""
        unit = Unit(tx, row.actor, row.now, self.cache)
        try:
            if self.on_error is None:
                result = identify(unit, row.req, prepared=row.p)
            else:
                with tx.savepoint():
                    result = identify(unit, row.req, prepared=row.p)
        except AllroadsError as exc:
            if self.on_error is None:
                raise
            self.report.invalid += 1
            self.report.processed -= 1
            self.on_error(row.index, exc)
            return
        self.report.routed += 1
        self.report.actions[result.action.value] += 1
        self.outcomes[row.index] = (result.action.value, result.id)

    def _write_run(self, tx: Tx, run: list[_Row]) -> None:
        """Write a run of rows that match nothing, as identify would create them."""
        if not run:
            return
        tenant = self.actor.tenant_id
        self._ensure_sources(tx, {r.p.source for r in run}, run[0].now)
        if run[0].etype is EntityType.PERSON:
            self._find_accounts(tx, run)
        public = [new_public_id(r.etype.prefix) for r in run]
        entity_ids = tx.insert_entities([
            NewEntity(tenant, r.etype.value, pid, r.account_id, r.now)
            for r, pid in zip(run, public, strict=True)])
        record_ids = tx.insert_records([
            NewRecord(tenant, r.etype.value, r.p.source, r.p.source_key, eid, r.p.content_hash,
                      r.now) for r, eid in zip(run, entity_ids, strict=True)])
        versions: list[NewVersion] = []
        index_rows: list[NewIdentifier] = []
        link_rows: list[NewLink] = []
        for r, pid, eid, rid in zip(run, public, entity_ids, record_ids, strict=True):
            p = r.p
            attributes = dict(p.attributes)
            if p.received:
                attributes["_received"] = p.received
            versions.append(NewVersion(rid, attributes, p.identifiers, r.actor.touchpoint,
                                       r.actor.initiator, r.now,
                                       import_id=r.actor.import_id))
            blocked = set(p.blocked)
            index_rows.extend(
                NewIdentifier(tenant, r.etype.value, k, v, rid, (k, v) in blocked, r.now)
                for k, v in sorted({(k, v) for k, vs in p.identifiers.items() for v in vs}))
            evidence = [*p.evidence, {"rule": "new_entity", "entity": pid}]
            if r.account_evidence is not None:
                evidence.append(r.account_evidence)
            link_rows.append(NewLink(tenant, rid, eid, SEED_RULE, {"evidence": evidence},
                                     r.actor.initiator, r.actor.touchpoint, r.now))
        tx.insert_versions(versions)
        tx.insert_identifier_rows(index_rows)
        for etype in dict.fromkeys(r.etype for r in run):  # fuzzy matching's keys, features
            incremental.index_records(tx, tenant, etype.value, (
                (rid, 1, r.p.features(r.etype))
                for r, rid in zip(run, record_ids, strict=True) if r.etype is etype))
        tx.insert_links(link_rows)
        self._write_profiles(tx, run, public, entity_ids, record_ids, versions)
        self.report.seeded += len(run)
        self.report.actions[Action.CREATED.value] += len(run)
        for r, pid in zip(run, public, strict=True):
            self.outcomes[r.index] = (Action.CREATED.value, pid)

    def _write_profiles(self, tx: Tx, run: list[_Row], public: list[str],
                        entity_ids: list[int], record_ids: list[int],
                        versions: list[NewVersion]) -> None:
        """Profiles and changelog as `Unit.finish` writes them, from the versions as the
        database gives them back (JSON round trip, JSONB key order)."""
        tenant = self.actor.tenant_id
        priorities = self.cache.priorities(tx, tenant)
        stored = tx.stored_versions(versions)
        profile_rows: list[NewProfile] = []
        changes: list[NewChange] = []
        for r, pid, eid, rid in zip(run, public, entity_ids, record_ids, strict=True):
            attributes, identifiers = stored[rid]
            golden = golden_record(r.etype, pid, [SourceRecord(
                rid, r.p.source, r.p.source_key,
                priorities.get(r.p.source, NEW_SOURCE_PRIORITY), r.now.timestamp(),
                attributes, identifiers)])
            if r.account_public_id is not None:
                changes.append(self._change(r, eid, "account", r.account_public_id))
            for key, value in sorted(flatten(golden.data).items()):
                if value is not None:
                    changes.append(self._change(r, eid, key, value))
            profile_rows.append(NewProfile(eid, tenant, r.etype.value, golden.display_name,
                                           golden.data, golden.provenance, golden.search_text,
                                           r.now))
        tx.insert_profiles(profile_rows)
        tx.insert_changes(tenant, changes)

    @staticmethod
    def _change(r: _Row, entity_id: int, name: str, new: Any) -> NewChange:
        return NewChange(entity_id=entity_id, field=name, old=None, new=new,
                         touchpoint=r.actor.touchpoint, initiator=r.actor.initiator, at=r.now,
                         import_id=r.actor.import_id)

    def _ensure_sources(self, tx: Tx, names: set[str], now: dt.datetime) -> None:
        tenant = self.actor.tenant_id
        missing = sorted(names - set(self.cache.priorities(tx, tenant)))
        for name in missing:
            tx.add_source_if_missing(tenant, name,
                                     DEFAULT_SOURCE_PRIORITIES.get(name, NEW_SOURCE_PRIORITY), now)
        if missing:
            self.cache.forget(tenant)

    def _find_accounts(self, tx: Tx, run: list[_Row]) -> None:
        """The account each new person joins, as identify's `_attach_account` picks it (no
        account is sent along: such rows are routed)."""
        wanted: dict[int, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}
        for i, r in enumerate(run):
            by_ref, by_domain = account_lookups(r.p)
            if by_ref or by_domain:
                wanted[i] = (by_ref, by_domain)
        if not wanted:
            return
        hits: dict[tuple[str, str], set[int]] = {}
        for h in tx.identifier_hits(self.actor.tenant_id, EntityType.ACCOUNT.value,
                                    [pair for a, b in wanted.values() for pair in (*a, *b)]):
            hits.setdefault((h.kind, h.value), set()).add(h.entity_id)
        if not hits:
            return
        chosen: dict[int, tuple[int, str, str]] = {}  # row -> (account, by, value)
        for i, (by_ref, by_domain) in wanted.items():
            if (found := choose_account(by_ref, by_domain, hits)) is not None:
                chosen[i] = found
        ents = tx.entities_by_id(eid for eid, _, _ in chosen.values())
        for i, (eid, by, value) in chosen.items():
            run[i].account_id = eid
            run[i].account_public_id = ents[eid].public_id
            run[i].account_evidence = account_evidence(ents[eid].public_id, by, value)


class _FuzzyCheck:
    """Which rows of a batch fuzzy matching might link or queue for review: those are
    identified one by one (identify makes the decision, exactly), the rest written in bulk.

    Before the batch writes anything, the rows that would be written in bulk are looked up
    together (`find_matches_many`: each blocking key once, each candidate read once). A row
    may match when its best stored candidate scores at or above the review threshold, or
    when a row before it in the batch (written meanwhile, so not in that look-up) shares a
    blocking key with it and scores so against it."""

    def __init__(self, tx: Tx, tenant_id: int, entity_type: str, rows: list[_Row]) -> None:
        self.etype = entity_type
        self.model = incremental.key_model(entity_type)
        self.scorer = incremental.MODELS.scorer(tx, tenant_id, entity_type)
        self.thresholds = self.scorer.model.thresholds
        asked = [r for r in rows if incremental.wants_fuzzy(entity_type, r.p.flat())]
        self.keys = {r.index: self._keys(r) for r in asked}
        asked = [r for r in asked if self.keys[r.index]]
        found = incremental.find_matches_many(
            tx, tenant_id, entity_type,
            [(r.p.features(r.etype), self.keys[r.index]) for r in asked], self.scorer, limit=1,
            at_least=self.thresholds.review)
        self.stored_match = {r.index for r, matches in zip(asked, found, strict=True)
                             if matches and self._close(matches[0].probability)}
        # blocking key -> the batch's rows before this one holding it
        self.earlier: dict[str, list[_Row]] = {}

    def may_match(self, row: _Row) -> bool:
        if row.index in self.stored_match:
            return True
        features = row.p.features(row.etype)
        # An earlier row is stored with its own features: what identify reads back.
        return any(self._close(probability_of(self.scorer.weight(
                       features, other.p.features(other.etype))))
                   for key in self.keys.get(row.index, ())
                   for other in self.earlier.get(key, ()))

    def seen(self, row: _Row) -> None:
        """The row is written: a later row sharing a blocking key with it is scored against
        it as identify would read it back from the store."""
        keys = self.keys.get(row.index)
        for key in self._keys(row) if keys is None else keys:
            self.earlier.setdefault(key, []).append(row)

    def _keys(self, row: _Row) -> list[str]:
        return incremental.keys_of(row.p.features(row.etype), self.model)

    def _close(self, probability: float) -> bool:
        """At or above the review threshold: identify would link or queue."""
        return self.thresholds.decide(probability) != "none"


def _entity_type(req: IdentifyRequest) -> EntityType:
    try:
        return EntityType(req.type)
    except ValueError:
        raise InvalidInput(f"invalid type {req.type!r}", field="type",
                           hint="use person or account") from None

