"""The shapes of the matching routes (match runs, the review queue, thresholds, explain), so
the OpenAPI document describes them. Outputs mirror the dicts `allroads.batch.runs.MatchRuns`
and `allroads.batch.explain` return and let unknown keys through, like the other outputs
(see schemas.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from allroads.api.schemas import EntityTypeName, Input, Output, Page

RunStatus = Literal["queued", "running", "succeeded", "failed"]
CandidateStatus = Literal["open", "accepted", "rejected"]
EngineName = Literal["duckdb", "spark"]
Decision = Literal["link", "review", "none"]


# Runs --------------------------------------------------------------------------------------
class MatchRunIn(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"type": "account"}, {"type": "person", "engine": "spark"}]})

    type: EntityTypeName = Field(description="what to match: person or account records")
    engine: EngineName = Field(default="duckdb", description="where the batch pipeline runs: "
                               "duckdb (in the server process, the default) or spark (local "
                               "mode or a cluster; needs pyspark and Java)")


class MatchRunCounts(Output):
    records: int | None = Field(default=None, description="live records read", examples=[3])
    candidate_pairs: int | None = Field(default=None, description="pairs blocking produced "
                                        "and the model scored", examples=[3])
    links: int | None = Field(default=None, description="pairs at or above the link "
                              "threshold", examples=[3])
    merged: int | None = Field(default=None, description="merges made", examples=[2])
    review: int | None = Field(default=None, description="pairs queued for review "
                               "(GET /match-candidates)", examples=[0])
    refused: int | None = Field(default=None, description="links not made: records of "
                                "different external ids, entities kept apart, merge "
                                "protection", examples=[0])


class RunnerState(Output):
    state: Literal["queued", "running"]


class MatchRunOut(Output):
    """A match run: where it stands, and what it did."""

    id: str = Field(examples=["mrun_01JA2B3C4D5E6F7G8H9J0K1M2N"])
    type: EntityTypeName
    engine: str = Field(examples=["duckdb"])
    status: RunStatus = Field(description="queued → running → succeeded or failed")
    step: str = Field(description="queued, starting, reading, features, blocking, scoring, "
                      "clustering, merging, reviewing, done (or failed)",
                      examples=["scoring"])
    progress: float = Field(description="0 to 1", examples=[0.45])
    counts: MatchRunCounts = Field(description="filled in as the run goes; final when it "
                                   "succeeded")
    timings: dict[str, float] = Field(description="seconds per pipeline step",
                                      examples=[{"features": 0.01, "blocking": 0.02,
                                                 "scoring": 0.03, "clustering": 0.001}])
    training: dict[str, Any] | None = Field(description="when the run estimated the model's "
                                            "parameters (1,000 records or more): its "
                                            "sessions and the prior")
    error: str | None = Field(description="why the run failed", examples=[None])
    created_by: str = Field(description="the API key (or CLI) that started it")
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None = Field(
        default=None, description="when the process holding the run (queued or running) "
        "last said it is alive: every 10 s; a run whose heartbeat is older than 120 s was "
        "left by a process that stopped and is ended or taken over")
    runner: RunnerState | None = Field(default=None, description="what this server's "
                                       "background runner is doing with the run, if anything")


class MatchRunList(Page):
    data: list[MatchRunOut]


# Candidates -------------------------------------------------------------------------------
class MatchComparison(Output):
    comparison: str = Field(examples=["name"])
    level: str = Field(description="which level of the comparison the pair reached; `else` "
                       "when none, `null` when a value is missing",
                       examples=["same name without generic words"])
    gamma: int = Field(description="the level's index (0: else; -1: a value is missing)",
                       examples=[3])
    weight: float = Field(description="log2(m/u): what this comparison adds to the match "
                          "weight (negative: evidence against)", examples=[6.32])
    left: Any = Field(description="the left record's value as compared (normalized)",
                      examples=["acme"])
    right: Any = Field(description="the right record's value as compared", examples=["acme"])


class MatchBreakdown(Output):
    match_weight: float = Field(description="the prior weight plus every comparison's weight",
                                examples=[21.4])
    probability: float = Field(description="the match probability the weight gives",
                               examples=[0.999999])
    decision: Decision = Field(description="under the thresholds the pair was scored with")
    prior_weight: float = Field(examples=[-13.29])
    comparisons: list[MatchComparison]


class CandidateRecord(Output):
    source: str = Field(examples=["crm"])
    source_id: str = Field(examples=["110"])


class MatchCandidateOut(Output):
    """Two customers a run scored between the review and the link threshold."""

    id: str = Field(examples=["mc_01JA2B3C4D5E6F7G8H9J0K1M2N"])
    type: EntityTypeName
    status: CandidateStatus
    entities: list[str] = Field(description="the two entities as the run saw them")
    current: list[str | None] = Field(description="the entities those ids lead to now "
                                      "(after later merges; null: deleted)")
    names: list[str | None] = Field(description="the current entities' display names",
                                    examples=[["Elena Petrova", "Elena Petrova"]])
    records: list[CandidateRecord | None] = Field(description="the best-scoring pair of "
                                                  "records, one of each entity")
    probability: float = Field(examples=[0.93])
    match_weight: float = Field(examples=[3.7])
    breakdown: MatchBreakdown
    run: str | None = Field(description="the run that queued it")
    created_at: str
    decided_at: str | None
    decided_by: str | None
    merge_id: str | None = Field(default=None, description="accepted: the merge it made "
                                 "(POST /merges/{merge_id}/undo reverts it)")


class MatchCandidateList(Page):
    data: list[MatchCandidateOut]


# Settings ---------------------------------------------------------------------------------
class MatchSettingsIn(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"link": 0.99, "review": 0.8}]})

    link: float = Field(gt=0, lt=1, description="merge automatically at or above this match "
                        "probability", examples=[0.99])
    review: float = Field(gt=0, lt=1, description="queue for review at or above this (and "
                          "below link); at most link", examples=[0.8])


class MatchSettingsOut(Output):
    type: EntityTypeName
    link_threshold: float = Field(examples=[0.99])
    review_threshold: float = Field(examples=[0.8])
    trained: bool = Field(description="whether a run estimated the model's parameters from "
                          "this tenant's records (else the defaults are used)")
    trained_at: str | None


# Explain ----------------------------------------------------------------------------------
class ExplainSide(Output):
    id: str = Field(description="the id or record asked about", examples=["acc_01JA2B3C"])
    current: str = Field(description="the entity it is now (after merges); for a record, "
                         "the entity holding it")
    display_name: str | None = Field(examples=["ACME Services"])
    record: CandidateRecord | None = Field(default=None, description="when this side is a "
                                           "record (source:source_id): that record; null "
                                           "for an entity")
    records: list[CandidateRecord] = Field(description="this side's records (a record side: "
                                           "the record itself)")
    records_total: int = Field(default=0, description="how many records this side has",
                               examples=[3])
    records_scored: int = Field(description="how many of them were compared: the first 100 "
                                "(oldest first) at most", examples=[3])
    truncated: bool = Field(default=False, description="the side has more records than "
                            "were compared (records_total > records_scored)")
    linked_by: dict[str, Any] | None = Field(default=None, description="a record side: how "
                                             "the record joined a customer (its first link: "
                                             "entity, rule, evidence, actor, at)")


class ExplainProtection(Output):
    refused: bool = Field(description="protection would refuse to link the two, whatever "
                          "the score")
    reasons: list[str] = Field(description="why: different external ids, a force-apart "
                               "decision, more values of a trusted identifier than one "
                               "customer may hold",
                               examples=[["their external ids differ (D-1 vs D-2)"]])


class ExplainPair(Output):
    left: dict[str, Any] = Field(examples=[{"record": 12, "source": "crm",
                                            "source_id": "110"}])
    right: dict[str, Any] = Field(examples=[{"record": 14, "source": "support",
                                             "source_id": "2101"}])
    match_weight: float
    probability: float
    decision: Decision
    prior_weight: float
    comparisons: list[MatchComparison]


class MatchExplainOut(Output):
    """Why two entities or records are one customer, or why not."""

    type: EntityTypeName
    left: ExplainSide
    right: ExplainSide
    merged: bool = Field(description="both sides lead to one entity")
    entity: str | None = Field(description="that entity, when merged")
    verdict: str = Field(examples=["one customer: acc_01JA2B3C holds the records of both, "
                                   "merged by mrg_01JA2B4D (match_run, by api:ak_1a2b3c4d)"])
    thresholds: dict[str, float] = Field(examples=[{"link": 0.95, "review": 0.6}])
    trained: bool = Field(description="scored with parameters estimated from this tenant's "
                          "records (else the defaults)")
    pairs_scored: int
    truncated: bool = Field(default=False, description="a side has more records than the "
                            "100 compared (see each side's records_total)")
    best_pair: ExplainPair | None = Field(description="the best-scoring pair of records, one "
                                          "of each side (for two records: that pair), with "
                                          "every comparison's level, weight and values; null "
                                          "when a side has no records")
    decision: Decision | None = Field(description="what a match run does with that pair "
                                      "under the tenant's thresholds")
    external_id_conflict: list[str] | None = Field(description="both sides' external ids, "
                                                   "when they differ (a run never merges "
                                                   "them)")
    protection: ExplainProtection | None = Field(default=None, description="whether "
                                                 "protection would refuse to link the two "
                                                 "(null when they are one already)")
    merges: list[dict[str, Any]] = Field(description="the merges that joined the two sides, "
                                         "with their evidence (a run's: the probability and "
                                         "breakdown)")
    decisions: list[dict[str, Any]] = Field(description="force-together and force-apart "
                                            "decisions between the two (kind together, "
                                            "apart, or cleared: a merge undone without "
                                            "keeping them apart)")
