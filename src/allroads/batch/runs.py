"""Match runs over a tenant's stored records, and the review queue they fill.

A run (``MatchRuns.start`` queues it, ``execute`` does it, ``run`` does both):

1. reads every live record of the type (its current version; identifiers flattened into the
   attribute vocabulary: the first email, phone, ...), the tenant's settings (estimated
   parameters and thresholds, else the model's defaults), the decided review candidates
   (accepted = match, rejected = non-match: labelled pairs for estimation) and the
   force-apart decisions;
2. runs the batch pipeline (``allroads.batch.pipeline.run``) on the engine named: records
   holding different external ids never cluster, records of entities kept apart neither;
3. applies the result: the estimated parameters are saved; each link the clustering kept
   that joins two entities merges them (best link first), unless protection refuses
   (force-apart, conflicting trusted identifiers: counted as refused); each review pair
   whose records are in different entities goes to the review queue;
4. rewrites the blocking keys of every record it read (``match_keys``, what identify's fuzzy
   look-ups use), so records written by batch paths are found incrementally too.

Nothing is written before step 3, so a run that fails while reading or matching changed
nothing but its own row (status failed, with the error). In step 3 each merge is its own
transaction: a failure part way leaves the merges made so far (each complete, each on the
changelog and undoable with its merge id; their evidence names the run) and marks the run
failed; the parameters and the review candidates are written after the merges, in one
transaction, so they are either all there or none.

Runs and processes: the process that queues or executes a run holds it and writes its
heartbeat every ``HEARTBEAT_SECONDS`` (a thread, while it holds any run; the progress
reports write it too). A tenant has at most one run in progress (queued, or running) per
type across every process on the database: ``start`` is a Conflict naming it while its
heartbeat is fresh. A run whose heartbeat is older than ``STALE_SECONDS`` was left by a
process that stopped (a crash, a kill): ``recover`` (each runner's start, then its poll)
ends such a running run as failed ("interrupted: the process running it stopped ...") and
takes over such a queued run, to execute it here; ``start`` ends one of its own tenant and
type before it queues the new run. A process whose run another ended meanwhile (its
heartbeat could not be written for STALE_SECONDS) stops it at its next progress report and
leaves the run as the other process ended it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from allroads.batch.matching import model_for, open_engine
from allroads.batch.pipeline import FeatureFunction, Options, Result
from allroads.batch.pipeline import run as run_pipeline
from allroads.domain.errors import AllroadsError, Conflict, InvalidInput, NotFound
from allroads.domain.types import Actor, EntityType, utcnow
from allroads.resolution.cursors import decode_cursor, encode_cursor
from allroads.resolution.ids import new_public_id
from allroads.resolution.matching import incremental
from allroads.resolution.matching.estimate import Patterns
from allroads.resolution.matching.model import MatchModel, Parameters, Thresholds
from allroads.resolution.merging import merge_entities, protection, survivor
from allroads.resolution.reblock import reblock
from allroads.resolution.rules import RuleSet
from allroads.resolution.unit import TenantSettingsCache, Unit, stored_rules
from allroads.store import EntityRow, Store, Tx
from allroads.store.matching import (
    CANDIDATE_STATUSES,
    MatchCandidateRow,
    MatchRecord,
    MatchRunRow,
    NewCandidate,
)

Progress = Callable[[str, float], None]

log = logging.getLogger("allroads.matching")

# The process holding a run in progress writes its heartbeat this often; a run whose
# heartbeat is older than STALE_SECONDS was left by a process that stopped. Stale is 12
# heartbeats: a busy database or a long transaction delays a heartbeat, it does not make
# the run look abandoned.
HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 120.0

# Share of a run's progress the pipeline takes; applying the result takes the rest.
_PIPELINE_SHARE = 0.8
# A fuzzy match bridges nothing: any trusted identifier kind outranks it in protection.
_FUZZY_PRIORITY = 0


def flatten_record(record: MatchRecord, rules: RuleSet) -> dict[str, Any]:
    """A stored record in the attribute vocabulary the matching features read (see
    ``incremental.flat_record``: the same on both paths), with its id and source; its
    identifiers without the values `rules` (the tenant's) block, as identify reads them."""
    flat = incremental.stored_flat_record(record.attributes, record.identifiers, rules)
    return {"id": record.id, "source": record.source,
            **{k: v for k, v in flat.items() if k not in ("id", "source")}}


class MatchRuns:
    """Batch match runs and the review queue of one store, for the edges (API, CLI)."""

    def __init__(self, store: Store, *, options: Options | None = None,
                 engine_settings: Mapping[str, Any] | None = None,
                 estimate_from: int | None = None,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS,
                 stale_seconds: float = STALE_SECONDS) -> None:
        if not 0 < heartbeat_seconds < stale_seconds:
            raise ValueError("need 0 < heartbeat_seconds < stale_seconds (a few heartbeats "
                             f"per stale age), got {heartbeat_seconds} and {stale_seconds}")
        self.store = store
        self.stale_seconds = stale_seconds
        self._heartbeat = _Heartbeat(store, heartbeat_seconds)
        self.options = options or Options()
        self.estimate_from = (estimate_from if estimate_from is not None
                              else self.options.estimate_from)
        self.engine_settings = dict(engine_settings or {})
        self.cache = TenantSettingsCache()

    # Settings ---------------------------------------------------------------------------
    def settings(self, actor: Actor, entity_type: str) -> dict[str, Any]:
        """The thresholds and whether (when) parameters were estimated."""
        model = self._model(entity_type)[0]
        with self.store.read() as tx:
            row = tx.match_settings(actor.tenant_id, entity_type)
        return {"type": entity_type,
                "link_threshold": row.link_threshold if row else model.thresholds.link,
                "review_threshold": row.review_threshold if row else model.thresholds.review,
                "trained": bool(row and row.parameters),
                "trained_at": _iso(row.trained_at) if row else None}

    def set_thresholds(self, actor: Actor, entity_type: str, *, link: float, review: float
                       ) -> dict[str, Any]:
        """Set the tenant's thresholds (probabilities, 0 < review <= link < 1)."""
        self._model(entity_type)
        try:
            Thresholds(link=link, review=review)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="thresholds",
                               hint="e.g. link 0.99 and review 0.8") from exc
        with self.store.write() as tx:
            row = tx.match_settings(actor.tenant_id, entity_type)
            tx.put_match_settings(actor.tenant_id, entity_type,
                                  parameters=row.parameters if row else None,
                                  link_threshold=link, review_threshold=review,
                                  trained_at=row.trained_at if row else None, now=utcnow())
        return self.settings(actor, entity_type)

    # Runs -------------------------------------------------------------------------------
    def start(self, actor: Actor, entity_type: str, engine: str = "duckdb") -> dict[str, Any]:
        """Queue a run over the tenant's stored records of this type, held by this process
        (its heartbeat kept fresh until it is executed); returns it (queued). Conflict while
        the tenant has a run of this type in progress in any process; a run of theirs that
        a stopped process left (stale heartbeat) is ended as failed instead."""
        self._model(entity_type)
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,15}", engine or ""):
            raise InvalidInput(f"invalid engine name {engine!r}", field="engine",
                               hint="use duckdb (the default) or spark")
        public_id = new_public_id("mrun")
        now = utcnow()
        stale_before = now - dt.timedelta(seconds=self.stale_seconds)
        with self.store.write() as tx:
            for other in tx.active_match_runs(actor.tenant_id, entity_type):
                if not _is_stale(other, stale_before) or not tx.end_stale_match_run(
                        other.id, other.status, stale_before,
                        _left_behind(other, superseded_by=public_id), now):
                    raise _busy(other)
                log.warning("match run %s: %s by a process that stopped; ended as failed",
                            other.public_id, other.status)
            row = tx.create_match_run(actor.tenant_id, public_id, entity_type, engine,
                                      actor.initiator, now)
            if row is None:  # another process queued one since we looked
                raise _busy(tx.active_match_runs(actor.tenant_id, entity_type)[0])
            view = _run_view(row)
        self._heartbeat.hold(public_id)
        return view

    def recover(self) -> tuple[list[MatchRunRow], list[MatchRunRow]]:
        """Clear up after processes that stopped (any tenant): runs left `running` with a
        stale heartbeat are ended as failed; runs left `queued` that no process holds are
        held here from now on, for the caller to execute. (ended, taken over), oldest
        first."""
        now = utcnow()
        stale_before = now - dt.timedelta(seconds=self.stale_seconds)
        ended: list[MatchRunRow] = []
        taken: list[MatchRunRow] = []
        with self.store.write() as tx:
            for run in tx.active_match_runs():
                if not _is_stale(run, stale_before):
                    continue
                if run.status == "running":
                    if tx.end_stale_match_run(run.id, "running", stale_before,
                                              _left_behind(run), now):
                        ended.append(run)
                elif tx.adopt_match_run(run.id, stale_before, now):
                    taken.append(run)
        for run in taken:
            self._heartbeat.hold(run.public_id)
        for run in ended:
            log.warning("match run %s: ended as failed: %s", run.public_id, _left_behind(run))
        return ended, taken

    def close(self) -> None:
        """Stop holding runs: their heartbeat stops (what a process that stops does)."""
        self._heartbeat.close()

    def get(self, actor: Actor, run_public_id: str) -> dict[str, Any]:
        with self.store.read() as tx:
            row = tx.match_run(actor.tenant_id, run_public_id)
        if row is None:
            raise NotFound(f"no match run {run_public_id!r}",
                           hint="list the runs to see their ids")
        return _run_view(row)

    def runs(self, actor: Actor, *, entity_type: str | None = None, cursor: str | None = None,
             limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
        """Runs, newest first."""
        before = decode_cursor(cursor)
        with self.store.read() as tx:
            rows = tx.match_runs(actor.tenant_id, entity_type=entity_type, before_id=before,
                                 limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [_run_view(r) for r in rows], (encode_cursor(rows[-1].id) if more else None)

    def run(self, actor: Actor, entity_type: str, engine: str = "duckdb",
            progress: Progress | None = None) -> dict[str, Any]:
        """Start and execute a run (the CLI); returns the finished run."""
        queued = self.start(actor, entity_type, engine)
        return self.execute(queued["id"], progress=progress)

    def execute(self, run_public_id: str, progress: Progress | None = None) -> dict[str, Any]:
        """Do a queued run; returns the finished run, ``status`` succeeded or failed (a
        failure's error is in ``error``; it is not raised). See the module docstring for
        what a failure part way through leaves behind. The run is held by this process
        (its heartbeat kept fresh) until it ends."""
        with self.store.write() as tx:
            row = tx.match_run_by_public_id(run_public_id)
            if row is None:
                raise NotFound(f"no match run {run_public_id!r}")
            claimed = tx.claim_match_run(row.id, utcnow())
        if not claimed:
            if row.status not in ("queued", "running"):
                self._heartbeat.release(run_public_id)  # ended by another process
            raise Conflict(f"match run {run_public_id} is {row.status}, not queued",
                           hint="start a new run")
        self._heartbeat.hold(run_public_id)
        try:
            return self._execute_claimed(row, progress)
        finally:
            self._heartbeat.release(run_public_id)

    def _execute_claimed(self, row: MatchRunRow, progress: Progress | None
                         ) -> dict[str, Any]:
        actor = Actor(row.tenant_id, row.created_by, "batch")

        def report(step: str, share: float, counts: dict[str, Any] | None = None) -> None:
            with self.store.write() as tx:
                running = tx.match_run_progress(row.id, step, share, counts, now=utcnow())
                ended = None if running else tx.match_run_by_id(row.id)
            if ended is not None:
                raise Conflict(f"match run {row.public_id} was ended by another process: "
                               f"{ended.error or ended.status}", hint="start a new run")
            if progress is not None:
                progress(step, share)

        try:
            counts, timings, training = self._execute(actor, row, report)
        except Exception as exc:  # any failure ends the run as failed
            error = str(exc) if isinstance(exc, AllroadsError) else f"{type(exc).__name__}: {exc}"
            hint = getattr(exc, "hint", None)
            with self.store.write() as tx:
                tx.finish_match_run(row.id, "failed", utcnow(),
                                    error=f"{error} ({hint})" if hint else error)
        else:
            with self.store.write() as tx:
                tx.finish_match_run(row.id, "succeeded", utcnow(), counts=counts,
                                    timings=timings, training=training)
            if progress is not None:
                progress("done", 1.0)
        with self.store.read() as tx:
            done = tx.match_run_by_id(row.id)
        assert done is not None
        return _run_view(done)

    def _execute(self, actor: Actor, run: MatchRunRow,
                 report: Callable[[str, float, dict[str, Any] | None], None]
                 ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        etype = EntityType(run.entity_type)
        base, features = self._model(run.entity_type)
        report("reading", 0.0, None)
        with self.store.read() as tx:
            stored = list(tx.records_for_matching(actor.tenant_id, etype.value))
            rules = stored_rules(tx, actor.tenant_id, etype)
            settings = tx.match_settings(actor.tenant_id, etype.value)
            decided = [c for status in ("accepted", "rejected")
                       for c in tx.match_candidates(actor.tenant_id, entity_type=etype.value,
                                                    status=status, limit=1_000_000)]
            survivors = tx.survivors(actor.tenant_id, etype.value)
            apart_entities = {
                (min(survivors[a], survivors[b]), max(survivors[a], survivors[b]))
                for a, b in tx.apart_entity_pairs(actor.tenant_id)
                if a in survivors and b in survivors and survivors[a] != survivors[b]}
        model = base
        if settings is not None:
            model = model.with_thresholds(Thresholds(link=settings.link_threshold,
                                                     review=settings.review_threshold))
            if settings.parameters:
                model = model.with_parameters(Parameters.from_json(settings.parameters))
        flat = [flatten_record(r, rules) for r in stored]
        index = {r.id: i for i, r in enumerate(stored)}
        labelled = _labelled(model, features, flat, index, decided)
        exclusive = {i: {"external_id": str(r["external_id"])} for i, r in enumerate(flat)
                     if r.get("external_id") not in (None, "")}
        apart = _apart_records(stored, apart_entities)

        if not stored:
            report("done", 1.0, None)
            return ({"records": 0, "candidate_pairs": 0, "links": 0, "merged": 0, "review": 0,
                     "refused": 0, "keys": 0}, {}, None)
        options = replace(self.options, estimate_from=self.estimate_from)
        engine = open_engine(run.engine, **self.engine_settings)
        try:
            result = run_pipeline(
                flat, model, features, engine, options=options, labelled=labelled,
                exclusive=exclusive, apart=apart,
                progress=lambda step, share: report(step, share * _PIPELINE_SHARE, None))
        finally:
            engine.close()
        trained = model.with_parameters(result.parameters)
        counts: dict[str, Any] = {"records": len(stored),
                                  "candidate_pairs": result.candidate_pairs,
                                  "links": len(result.links), "merged": 0,
                                  "review": 0, "refused": len(result.refused)}
        report("merging", _PIPELINE_SHARE, counts)
        owner = {i: r.entity_id for i, r in enumerate(stored)}
        merged, refused = self._apply_links(actor, etype, run, trained, features, flat, owner,
                                            result)
        counts["merged"] += merged
        counts["refused"] += refused
        report("reviewing", 0.95, counts)
        counts["review"] = self._save(actor, etype, run, trained, features, flat, owner,
                                      result, apart_entities)
        report("indexing", 0.97, counts)
        counts["keys"] = self._index(actor, etype, base,
                                     incremental.features_for(etype.value), stored, flat)
        return counts, dict(result.timings), _training_view(result)

    def _apply_links(self, actor: Actor, etype: EntityType, run: MatchRunRow,
                     model: MatchModel, features: FeatureFunction, flat: list[dict[str, Any]],
                     owner: dict[int, int], result: Result) -> tuple[int, int]:
        """Merge the entities each kept link joins, best link first, one transaction each.
        `owner` (record index -> entity id) is kept current as entities merge."""
        merged = refused = 0
        into: dict[int, int] = {}

        def current(entity_id: int) -> int:
            while entity_id in into:
                entity_id = into[entity_id]
            return entity_id

        for a, b, probability in result.links:
            if result.labels[a] != result.labels[b]:
                continue  # the clustering refused this link (counted there)
            ea, eb = current(owner[a]), current(owner[b])
            if ea == eb:
                continue
            score = model.explain(features(flat[a]), features(flat[b]))
            evidence = {"match_run": run.public_id, "probability": round(probability, 6),
                        "records": [_record_ref(flat[a]), _record_ref(flat[b])],
                        "breakdown": score.to_json()}
            with self.store.write() as tx:
                u = Unit(tx, actor, utcnow(), self.cache)
                first, second = _follow(tx, ea), _follow(tx, eb)
                if first is None or second is None or first.id == second.id:
                    continue
                group = sorted((first.id, second.id))
                guard = protection(u, etype, u.rules(etype), group,
                                   bridge_priority=_FUZZY_PRIORITY)
                if guard.blocked:
                    refused += 1
                    continue
                merge_entities(u, etype, group[0], group[1:], reason="match_run",
                               evidence=evidence)
            into[group[1]] = group[0]
            if ea != group[0]:
                into[ea] = group[0]
            if eb != group[0]:
                into[eb] = group[0]
            merged += 1
        for i, entity_id in owner.items():
            owner[i] = current(entity_id)
        return merged, refused

    def _save(self, actor: Actor, etype: EntityType, run: MatchRunRow, model: MatchModel,
              features: FeatureFunction, flat: list[dict[str, Any]], owner: dict[int, int],
              result: Result, apart: set[tuple[int, int]]) -> int:
        """Save the estimated parameters (when the run estimated them) and queue the review
        pairs, in one transaction."""
        now = utcnow()
        new: list[NewCandidate] = []
        seen: set[tuple[int, int]] = set()
        for a, b, probability in result.review:
            ea, eb = owner[a], owner[b]
            pair = (min(ea, eb), max(ea, eb))
            if ea == eb or pair in seen or pair in apart:
                continue
            seen.add(pair)
            score = model.explain(features(flat[a]), features(flat[b]))
            new.append(NewCandidate(new_public_id("mc"), ea, eb, int(flat[a]["id"]),
                                    int(flat[b]["id"]), round(probability, 6),
                                    round(score.weight, 3), score.to_json()))
        with self.store.write() as tx:
            if result.training is not None:
                tx.put_match_settings(
                    actor.tenant_id, etype.value, parameters=result.parameters.to_json(),
                    link_threshold=model.thresholds.link,
                    review_threshold=model.thresholds.review, trained_at=now, now=now)
            added = tx.add_match_candidates(actor.tenant_id, etype.value, run.id, new, now)
        return len(added)

    def _index(self, actor: Actor, etype: EntityType, model: MatchModel,
               features: FeatureFunction, stored: list[MatchRecord],
               flat: list[dict[str, Any]]) -> int:
        """Rewrite the blocking keys and stored features of every record read, in one
        transaction; how many keys the records hold."""
        with self.store.write() as tx:
            tx.delete_record_match_keys([r.id for r in stored])
            return incremental.index_records(
                tx, actor.tenant_id, etype.value,
                ((r.id, r.version, features(f)) for r, f in zip(stored, flat, strict=True)),
                model)

    def index(self, actor: Actor, entity_type: str, *, batch: int = 5000,
              progress: Callable[[int, int], None] | None = None,
              marking: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Rebuild the blocking keys and stored features of every live record of the type
        (what identify's fuzzy look-ups read), `batch` records per transaction, without a
        match run: after an upgrade that stores features, or to repair the index; then mark
        every stored value of a kind with a rule blocked or not by the rules as they are now
        (`reblock`). `progress(done, total)` after each batch of records, then
        `marking(checked, total)` after each page of values. Counts of records, keys, and
        values marked anew."""
        self._model(entity_type)
        etype = EntityType(entity_type)
        features = incremental.features_for(etype.value)
        with self.store.read() as tx:
            total = tx.count_records(actor.tenant_id, etype.value)
            rules = stored_rules(tx, actor.tenant_id, etype)
        done = keys = 0
        after = 0
        while True:
            with self.store.read() as tx:
                chunk = tx.records_after(actor.tenant_id, etype.value, after, batch)
            if not chunk:
                break
            with self.store.write() as tx:
                tx.delete_record_match_keys([r.id for r in chunk])
                keys += incremental.index_records(
                    tx, actor.tenant_id, etype.value,
                    ((r.id, r.version, features(flatten_record(r, rules))) for r in chunk))
            done += len(chunk)
            after = chunk[-1].id
            if progress is not None:
                progress(done, max(total, done))
        # and every stored value marked blocked or not as the rules say now (a repair)
        marks = reblock(self.store, actor.tenant_id, etype, rules, rules.identifiers,
                        progress=marking)
        return {"records": done, "keys": keys, "blocked": marks.blocked,
                "unblocked": marks.unblocked}

    # The review queue -------------------------------------------------------------------
    def candidates(self, actor: Actor, entity_type: str | None = None, status: str = "open",
                   cursor: str | None = None, limit: int = 50
                   ) -> tuple[list[dict[str, Any]], str | None]:
        """Review candidates with this status, oldest first; the next page's cursor."""
        if entity_type is not None:
            self._model(entity_type)
        if status not in CANDIDATE_STATUSES:
            raise InvalidInput(f"unknown candidate status {status!r}", field="status",
                               hint=f"use one of: {', '.join(CANDIDATE_STATUSES)}")
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit {limit} is out of range", field="limit",
                               hint="use 1 to 1000")
        after = decode_cursor(cursor)
        with self.store.read() as tx:
            rows = tx.match_candidates(actor.tenant_id, entity_type=entity_type,
                                       status=status, after_id=after, limit=limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            views = [self._candidate_view(tx, r) for r in rows]
        return views, (encode_cursor(rows[-1].id) if more else None)

    def candidate(self, actor: Actor, candidate_public_id: str) -> dict[str, Any]:
        with self.store.read() as tx:
            return self._candidate_view(tx, self._candidate(tx, actor, candidate_public_id))

    def accept(self, actor: Actor, candidate_public_id: str) -> dict[str, Any]:
        """They are one customer: merge the two entities (remembered as force-together, so
        later runs and protection respect it) and mark the candidate accepted."""
        with self.store.write() as tx:
            cand = self._open(tx, actor, candidate_public_id)
            u = Unit(tx, actor, utcnow(), self.cache)
            etype = EntityType(cand.entity_type)
            first, second = _follow(tx, cand.entity_a), _follow(tx, cand.entity_b)
            if first is None or second is None:
                raise Conflict(f"candidate {cand.public_id}: one of its entities was deleted",
                               hint="reject it instead")
            merge_id: str | None = None
            if first.id != second.id:
                group = sorted((first.id, second.id))
                tx.add_decision(actor.tenant_id, etype.value, "together", group[0], group[1],
                                actor.initiator, f"accepted {cand.public_id}", u.now)
                merge_id = merge_entities(
                    u, etype, group[0], group[1:], reason="match_review",
                    evidence={"candidate": cand.public_id, "accepted_by": actor.initiator,
                              "probability": cand.probability,
                              "breakdown": cand.breakdown})
            tx.decide_match_candidate(cand.id, "accepted", actor.initiator, u.now)
            view = self._candidate_view(tx, self._candidate(tx, actor, candidate_public_id))
        return {**view, "merge_id": merge_id}

    def reject(self, actor: Actor, candidate_public_id: str) -> dict[str, Any]:
        """They are two customers: remember it as force-apart (what ``Hub.keep_apart``
        records, here in the same transaction as marking the candidate rejected)."""
        with self.store.write() as tx:
            cand = self._open(tx, actor, candidate_public_id)
            first, second = _follow(tx, cand.entity_a), _follow(tx, cand.entity_b)
            now = utcnow()
            if first is not None and second is not None:
                if first.id == second.id:
                    raise Conflict(f"candidate {cand.public_id}: {first.public_id} holds both "
                                   "records now (merged since)",
                                   hint=f"undo that merge first (see the changelog of "
                                   f"{first.public_id})")
                tx.add_decision(actor.tenant_id, cand.entity_type, "apart", first.id,
                                second.id, actor.initiator, f"rejected {cand.public_id}", now)
            tx.decide_match_candidate(cand.id, "rejected", actor.initiator, now)
            return self._candidate_view(tx, self._candidate(tx, actor, candidate_public_id))

    # Helpers ----------------------------------------------------------------------------
    def _model(self, entity_type: str) -> tuple[MatchModel, FeatureFunction]:
        return model_for(entity_type)

    def _candidate(self, tx: Tx, actor: Actor, public_id: str) -> MatchCandidateRow:
        row = tx.match_candidate(actor.tenant_id, public_id)
        if row is None:
            raise NotFound(f"no match candidate {public_id!r}",
                           hint="list the open candidates to see their ids")
        return row

    def _open(self, tx: Tx, actor: Actor, public_id: str) -> MatchCandidateRow:
        row = self._candidate(tx, actor, public_id)
        if row.status != "open":
            raise Conflict(f"match candidate {public_id} was {row.status} already"
                           + (f" by {row.decided_by}" if row.decided_by else ""),
                           hint="nothing to do")
        return row

    def _candidate_view(self, tx: Tx, row: MatchCandidateRow) -> dict[str, Any]:
        ents = tx.entities_by_id([row.entity_a, row.entity_b])
        now_a, now_b = _follow(tx, row.entity_a), _follow(tx, row.entity_b)
        rec_a, rec_b = tx.record_by_id(row.record_a), tx.record_by_id(row.record_b)
        run = tx.match_run_by_id(row.run_id) if row.run_id is not None else None
        return {
            "id": row.public_id, "type": row.entity_type, "status": row.status,
            "entities": [ents[row.entity_a].public_id, ents[row.entity_b].public_id],
            "current": [now_a.public_id if now_a else None, now_b.public_id if now_b else None],
            "records": [{"source": r.source, "source_id": r.source_key} if r else None
                        for r in (rec_a, rec_b)],
            "probability": row.probability, "match_weight": row.match_weight,
            "breakdown": row.breakdown, "run": run.public_id if run else None,
            "created_at": _iso(row.created_at), "decided_at": _iso(row.decided_at),
            "decided_by": row.decided_by,
        }


def _follow(tx: Tx, entity_id: int) -> EntityRow | None:
    """The active entity this one is now (through merges), or None (deleted)."""
    entity = tx.entity(entity_id)
    if entity is None:
        return None
    entity = survivor(tx, entity)
    return entity if entity.status == "active" else None


def _labelled(model: MatchModel, features: FeatureFunction, flat: list[dict[str, Any]],
              index: Mapping[int, int], decided: Iterable[MatchCandidateRow]
              ) -> tuple[Patterns, Patterns] | None:
    """Accepted pairs as matches, rejected as non-matches (their gamma patterns), for the
    pairs whose two records are still live."""
    width = len(model.comparisons)
    matches: list[tuple[int, ...]] = []
    non_matches: list[tuple[int, ...]] = []
    for cand in decided:
        if cand.record_a not in index or cand.record_b not in index:
            continue
        gammas = tuple(model.gammas(features(flat[index[cand.record_a]]),
                                    features(flat[index[cand.record_b]])))
        (matches if cand.status == "accepted" else non_matches).append(gammas)
    if not matches and not non_matches:
        return None
    return (Patterns.of(matches, [1.0] * len(matches), width),
            Patterns.of(non_matches, [1.0] * len(non_matches), width))


def _apart_records(stored: list[MatchRecord], apart: set[tuple[int, int]]
                   ) -> list[tuple[int, int]]:
    """Every pair of records (dense indexes) across two entities kept apart."""
    if not apart:
        return []
    by_entity: dict[int, list[int]] = {}
    for i, record in enumerate(stored):
        by_entity.setdefault(record.entity_id, []).append(i)
    return [(i, j) for a, b in sorted(apart)
            for i in by_entity.get(a, ()) for j in by_entity.get(b, ())]


def _record_ref(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"record": record["id"], "source": record.get("source")}


def _training_view(result: Result) -> dict[str, Any] | None:
    if result.training is None:
        return None
    return {"sessions": result.training.sessions,
            "prior": result.parameters.prior}


def _run_view(row: MatchRunRow) -> dict[str, Any]:
    return {"id": row.public_id, "type": row.entity_type, "engine": row.engine,
            "status": row.status, "step": row.step, "progress": round(row.progress, 4),
            "counts": row.counts, "timings": row.timings, "training": row.training,
            "error": row.error, "created_by": row.created_by,
            "created_at": _iso(row.created_at), "started_at": _iso(row.started_at),
            "finished_at": _iso(row.finished_at), "heartbeat_at": _iso(row.heartbeat_at)}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _is_stale(run: MatchRunRow, stale_before: dt.datetime) -> bool:
    return run.heartbeat_at is None or run.heartbeat_at < stale_before


def _left_behind(run: MatchRunRow, *, superseded_by: str | None = None) -> str:
    """The error of a run a stopped process left."""
    beat = f"last heartbeat {_iso(run.heartbeat_at)}" if run.heartbeat_at else "no heartbeat"
    if run.status == "running":
        what = f"interrupted: the process running it stopped ({beat})"
    else:
        what = f"interrupted: the process that queued it stopped before it ran ({beat})"
    return f"{what}; " + (f"superseded by {superseded_by}" if superseded_by
                          else "start a new run")


def _busy(run: MatchRunRow) -> Conflict:
    return Conflict(f"a {run.entity_type} match run is already {run.status}: {run.public_id}",
                    hint=f"poll GET /api/v1/match-runs/{run.public_id} until it ends, then "
                    "start another")


class _Heartbeat:
    """Keeps the heartbeat of the runs this process holds fresh: a daemon thread writes it
    every `every` seconds while any is held (and ends when none is)."""

    def __init__(self, store: Store, every: float) -> None:
        self.store = store
        self.every = every
        self._held: set[str] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def hold(self, public_id: str) -> None:
        with self._cond:
            self._held.add(public_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, daemon=True,
                                                name="allroads-match-heartbeat")
                self._thread.start()

    def release(self, public_id: str) -> None:
        with self._cond:
            self._held.discard(public_id)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._held.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.every + 30.0)

    def _beat(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: not self._held, timeout=self.every)
                held = sorted(self._held)
                if not held:
                    self._thread = None
                    return
            try:
                with self.store.write() as tx:
                    tx.beat_match_runs(held, utcnow())
            except Exception as exc:  # a busy or unreachable database: try again next time
                log.warning("match runs %s: heartbeat not written: %s", ", ".join(held), exc)


__all__ = ["MatchRuns", "flatten_record"]
