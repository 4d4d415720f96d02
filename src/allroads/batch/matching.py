"""``match_records``: batch-match plain records (dicts) with the default model of their type.

This is the entry point for data that is not (yet) in a tenant's store: benchmarks, a file
to check before importing it. Match runs over a tenant's stored records use the same
pipeline (``allroads.batch.runs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from allroads.batch.engines import DuckDBEngine, Engine
from allroads.batch.pipeline import FeatureFunction, Options, Progress, Result, run
from allroads.domain.errors import InvalidInput
from allroads.resolution.matching.accounts import account_features, account_model
from allroads.resolution.matching.model import MatchModel, Parameters
from allroads.resolution.matching.people import person_features, person_model

ENGINES = ("duckdb", "spark")


def model_for(entity_type: str) -> tuple[MatchModel, FeatureFunction]:
    if entity_type == "person":
        return person_model(), person_features
    if entity_type == "account":
        return account_model(), account_features
    raise InvalidInput(f"unknown entity type {entity_type!r}", field="type",
                       hint="use person or account")


def open_engine(name: str, **settings: Any) -> Engine:
    if name == "duckdb":
        return DuckDBEngine(**settings)
    if name == "spark":
        from allroads.batch.spark import SparkEngine

        spark: Engine = SparkEngine(**settings)
        return spark
    raise InvalidInput(f"unknown engine {name!r}", field="engine",
                       hint=f"use one of: {', '.join(ENGINES)}")


@dataclass
class MatchOutput:
    """Record-id level results of a batch match."""

    links: list[tuple[str, str, float]]
    review: list[tuple[str, str, float]]
    clusters: dict[str, str]
    parameters: Parameters
    candidate_pairs: int
    timings: dict[str, float]
    result: Result


def match_records(
    records: Sequence[Mapping[str, Any]],
    *,
    entity_type: str = "person",
    link_only: bool = False,
    engine: str = "duckdb",
    model: MatchModel | None = None,
    options: Options | None = None,
    progress: Progress | None = None,
    engine_settings: Mapping[str, Any] | None = None,
) -> MatchOutput:
    """Match records (each with ``id``, ``source`` and attributes) and cluster them."""
    default_model, features = model_for(entity_type)
    base = options or Options()
    if link_only != base.link_only:
        base = Options(**{**base.__dict__, "link_only": link_only})
    runner = open_engine(engine, **dict(engine_settings or {}))
    try:
        result = run(records, model or default_model, features, runner, options=base,
                     progress=progress)
    finally:
        runner.close()
    ids = result.ids
    return MatchOutput(
        links=[(ids[a], ids[b], p) for a, b, p in result.links],
        review=[(ids[a], ids[b], p) for a, b, p in result.review],
        clusters={ids[n]: ids[label] for n, label in enumerate(result.labels)},
        parameters=result.parameters,
        candidate_pairs=result.candidate_pairs,
        timings=result.timings,
        result=result,
    )
