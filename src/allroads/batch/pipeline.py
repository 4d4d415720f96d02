"""Batch matching, engine-agnostic: features -> blocking -> gammas -> EM -> scores -> clusters.

1. features: each record's comparison features and blocking keys (Python, the same functions
   the incremental path uses), loaded into the engine as table ``f`` with a dense index ``i``;
2. blocking: pairs of records that share a blocking key, a key shared by more than
   ``max_block`` records being skipped (it says little and costs n^2);
3. gammas: every candidate pair's level per comparison (``allroads.batch.sql``);
4. estimation: EM on the pattern counts, u started from random pairs;
5. scoring: the match weight of every candidate pair; those at or above the review
   threshold come back, with the pairs scored far below (they keep clusters apart);
6. clustering: links best first, without chaining across conflicts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from allroads.batch.engines import Engine
from allroads.batch.sql import gamma_columns, gammas_select, weight_sql
from allroads.resolution.matching.clusters import Clustering, cluster
from allroads.resolution.matching.estimate import Patterns, Session, Training, train
from allroads.resolution.matching.model import (
    BlockingKey,
    MatchModel,
    Parameters,
    probability_of,
)

Progress = Callable[[str, float], None]
FeatureFunction = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Options:
    link_only: bool = False
    max_block: int = 1_000
    random_pairs: int = 1_000_000
    seed: int = 42
    estimate: bool = True
    # Fewer records than this score with the parameters given: EM on a few dozen pairs
    # learns noise (it linked a stranger's record in a trial on 30 people).
    estimate_from: int = 1_000
    # A pair this far (in match weight, log2 units) below the review threshold keeps the
    # clusters of its records apart.
    apart_margin: float = 4.0


@dataclass
class Result:
    """Every record's cluster, the links and review pairs, what was estimated, and timings."""

    ids: list[str]
    labels: list[int]
    links: list[tuple[int, int, float]]
    review: list[tuple[int, int, float]]
    refused: list[tuple[int, int, str]]
    parameters: Parameters
    training: Training | None
    candidate_pairs: int
    timings: dict[str, float] = field(default_factory=dict)


def _features_table(records: Sequence[Mapping[str, Any]], features: FeatureFunction
                    ) -> tuple[pa.Table, list[str]]:
    """The features of every record as columns (a list per feature, not a dict per record:
    a quarter of the memory for a big tenant)."""
    ids: list[str] = []
    columns: dict[str, list[Any]] = {}
    for record in records:
        row = features(record)
        if not columns:
            columns = {name: [] for name in row}
        for name, column in columns.items():
            column.append(row[name])
        ids.append(str(record["id"]))
    columns["i"] = list(range(len(ids)))
    columns["source"] = [record.get("source") for record in records]
    if not ids:
        columns = {name: [] for name in features({})} | {"i": [], "source": []}
    return pa.table(columns), ids


def _blocking_sql(model: MatchModel, options: Options) -> str:
    across = " AND a.source <> b.source" if options.link_only else ""
    parts = []
    for bit, block in enumerate(_batch_keys(model)):
        key = block.column
        parts.append(
            f"SELECT a.i AS l, b.i AS r, {1 << bit} AS k FROM f a JOIN f b ON a.{key} = b.{key} "
            f"AND a.i < b.i{across} WHERE a.{key} IN (SELECT {key} FROM f WHERE {key} IS NOT "
            f"NULL GROUP BY {key} HAVING count(*) <= {options.max_block})")
    return ("SELECT l, r, bit_or(k) AS keys FROM (" + " UNION ALL ".join(parts)
            + ") GROUP BY l, r")


def _batch_keys(model: MatchModel) -> list[BlockingKey]:
    return [key for key in model.blocking_keys if key.batch]


def _patterns(engine: Engine, model: MatchModel, table: str, where: str = "") -> Patterns:
    cols = gamma_columns(model)
    grouped = engine.fetch(
        f"SELECT {', '.join(cols)}, count(*) AS n FROM {table} {where} "
        f"GROUP BY {', '.join(cols)}")
    if grouped.num_rows == 0:
        return Patterns.empty(len(cols))
    gammas = np.column_stack([grouped.column(c).to_numpy() for c in cols]).astype(np.int64)
    return Patterns(gammas, grouped.column("n").to_numpy().astype(np.float64))


def _gammas_of(model: MatchModel, engine: Engine, pairs: str) -> str:
    return (f"SELECT p.*, {gammas_select(model, engine.dialect)} FROM {pairs} p "
            "JOIN f l ON l.i = p.l JOIN f r ON r.i = p.r")


def run(
    records: Sequence[Mapping[str, Any]],
    model: MatchModel,
    features: FeatureFunction,
    engine: Engine,
    *,
    options: Options | None = None,
    labelled: tuple[Patterns, Patterns] | None = None,
    exclusive: Mapping[int, Mapping[str, str]] | None = None,
    apart: Iterable[tuple[int, int]] = (),
    progress: Progress | None = None,
) -> Result:
    """Match every record against every other (or, link_only, across sources)."""
    options = options or Options()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str, share: float) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now
        if progress is not None:
            progress(name, share)

    table, ids = _features_table(records, features)
    engine.load("f", table)
    step("features", 0.2)
    engine.materialize("pairs", _blocking_sql(model, options))
    step("blocking", 0.4)
    engine.materialize("gammas", _gammas_of(model, engine, "pairs"))
    candidates = _patterns(engine, model, "gammas")
    step("comparing", 0.6)
    training: Training | None = None
    if options.estimate and len(ids) >= options.estimate_from and len(candidates.counts):
        engine.random_pairs("random_pairs", len(ids), options.random_pairs, options.seed)
        engine.materialize("random_gammas", _gammas_of(
            model, engine, "(SELECT l, r FROM random_pairs WHERE l <> r)"))
        random = _patterns(engine, model, "random_gammas")
        matches, non_matches = labelled or (None, None)
        names = [c.name for c in model.comparisons]
        sessions = [Session(block.column, _patterns(engine, model, "gammas",
                                                    f"WHERE (keys & {1 << bit}) <> 0"),
                            tuple(names.index(c) for c in block.comparisons))
                    for bit, block in enumerate(_batch_keys(model))]
        training = train(model, sessions, random, _possible_pairs(records, options),
                         matches=matches, non_matches=non_matches)
        model = model.with_parameters(training.parameters)
    step("estimating", 0.7)
    review_weight = _weight_of(model.thresholds.review)
    link_weight = _weight_of(model.thresholds.link)
    engine.materialize("scored", f"SELECT l, r, {weight_sql(model)} AS w FROM gammas")
    engine.materialize("linked", f"SELECT l AS i FROM scored WHERE w >= {link_weight!r} "
                       f"UNION SELECT r AS i FROM scored WHERE w >= {link_weight!r}")
    scored = engine.fetch(f"SELECT l, r, w FROM scored WHERE w >= {review_weight!r} "
                          "ORDER BY w DESC, l, r")
    left = scored.column("l").to_pylist()
    right = scored.column("r").to_pylist()
    weight = scored.column("w").to_pylist()
    far = engine.fetch(
        f"SELECT l, r FROM scored WHERE w < {review_weight - options.apart_margin!r} "
        "AND l IN (SELECT i FROM linked) AND r IN (SELECT i FROM linked)")
    step("scoring", 0.85)
    links = [(a, b, w) for a, b, w in zip(left, right, weight, strict=True) if w >= link_weight]
    review = [(a, b, w) for a, b, w in zip(left, right, weight, strict=True) if w < link_weight]
    apart_pairs = list(zip(far.column("l").to_pylist(), far.column("r").to_pylist(), strict=True))
    result: Clustering = cluster(len(ids), ((a, b) for a, b, _ in links),
                                 apart=[*apart_pairs, *apart], exclusive=exclusive)
    step("clustering", 1.0)
    return Result(ids=ids, labels=result.labels,
                  links=[(a, b, probability_of(w)) for a, b, w in links],
                  review=[(a, b, probability_of(w)) for a, b, w in review],
                  refused=result.refused, parameters=model.parameters, training=training,
                  candidate_pairs=int(candidates.counts.sum()), timings=timings)


def _possible_pairs(records: Sequence[Mapping[str, Any]], options: Options) -> float:
    n = len(records)
    if not options.link_only:
        return n * (n - 1) / 2
    per_source: dict[Any, int] = {}
    for record in records:
        per_source[record.get("source")] = per_source.get(record.get("source"), 0) + 1
    same = sum(c * (c - 1) / 2 for c in per_source.values())
    return n * (n - 1) / 2 - same


def _weight_of(probability: float) -> float:
    return float(np.log2(probability / (1.0 - probability)))
