"""Batch matching: match runs, the review queue they fill, thresholds, and explanations.

    POST /match-runs                       {type, engine?} → 202, queued; runs in the background
    GET  /match-runs                       the tenant's runs, newest first (?type= &cursor=)
    GET  /match-runs/{id}                  status, step, progress, counts, timings, error
    GET  /match-candidates                 the review queue (?type= &status= &cursor=)
    GET  /match-candidates/{id}            one candidate, with its score breakdown
    POST /match-candidates/{id}/accept     one customer: merge them (remembered)
    POST /match-candidates/{id}/reject     two customers: keep them apart (remembered)
    GET  /match-settings/{type}            the tenant's thresholds
    PUT  /match-settings/{type}            {link, review}
    GET  /match/explain?type=&left=&right= why two customers are one, or why not: each side
                                           an entity id or a record as source:source_id

Viewer keys read; editor (and admin) keys start runs, decide candidates and set thresholds.
The work is in `allroads.batch` (`MatchRuns`, `MatchRunner`, `explain_pair`); this module
parses and shapes.
"""

# No `from __future__ import annotations`: the page size's bound (settings.page_limit_max) is
# known only when the router is built, and FastAPI reads it from the annotation at runtime.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from allroads.api.deps import EditorKey, ReaderKey
from allroads.api.idempotency import IdempotencyDep, IdempotentRoute, created_location
from allroads.api.match_schemas import (
    CandidateStatus,
    MatchCandidateList,
    MatchCandidateOut,
    MatchExplainOut,
    MatchRunIn,
    MatchRunList,
    MatchRunOut,
    MatchSettingsIn,
    MatchSettingsOut,
)
from allroads.api.schemas import EntityTypeName
from allroads.batch.explain import display_names, explain_pair
from allroads.batch.runner import MatchRunner
from allroads.batch.runs import MatchRuns
from allroads.domain.types import Actor
from allroads.settings import Settings

DEFAULT_LIMIT = 50


async def get_match_runs(request: Request) -> MatchRuns:
    runs: MatchRuns = request.app.state.match_runs
    return runs


async def get_match_runner(request: Request) -> MatchRunner:
    runner: MatchRunner = request.app.state.match_runner
    return runner


RunsDep = Annotated[MatchRuns, Depends(get_match_runs)]
RunnerDep = Annotated[MatchRunner, Depends(get_match_runner)]
RunId = Annotated[str, Path(max_length=64, description="the run's id (mrun_...)",
                            examples=["mrun_01JA2B3C4D5E6F7G8H9J0K1M2N"])]
CandidateId = Annotated[str, Path(max_length=64, description="the candidate's id (mc_...)",
                                  examples=["mc_01JA2B3C4D5E6F7G8H9J0K1M2N"])]
TypePath = Annotated[EntityTypeName, Path(description="person or account",
                                          examples=["person"])]
TypeFilter = Annotated[EntityTypeName | None, Query(description="only this type")]
Cursor = Annotated[str | None, Query(max_length=32, description="next_cursor of the previous "
                                                                 "page")]
EntityRef = Annotated[str, Query(
    min_length=1, max_length=320, description="an entity id (per_... or acc_...; a merged-away "
    "id works too), or a record as source:source_id, the way it was sent to identify",
    examples=["crm:110"])]


def router(settings: Settings) -> APIRouter:
    most = settings.page_limit_max
    default = min(DEFAULT_LIMIT, most)
    Limit = Annotated[int, Query(ge=1, le=most, description=f"page size, at most {most}")]

    def list_runs(principal: ReaderKey, runs: RunsDep, runner: RunnerDep,
                  type: TypeFilter = None, cursor: Cursor = None, limit: Limit = default
                  ) -> dict[str, Any]:
        states = runner.states()
        items, next_cursor = runs.runs(principal.actor(), entity_type=type, cursor=cursor,
                                       limit=limit)
        return {"data": [_with_runner(item, states.get(item["id"])) for item in items],
                "next_cursor": next_cursor}

    def list_candidates(principal: ReaderKey, runs: RunsDep, type: TypeFilter = None,
                        status: Annotated[CandidateStatus, Query(
                            description="open (to decide), accepted or rejected")] = "open",
                        cursor: Cursor = None, limit: Limit = default) -> dict[str, Any]:
        actor = principal.actor()
        items, next_cursor = runs.candidates(actor, type, status, cursor, limit)
        return {"data": _named(runs, actor, items), "next_cursor": next_cursor}

    r = APIRouter(tags=["Matching"], route_class=IdempotentRoute)
    r.add_api_route(
        "/match-runs", start_run, methods=["POST"], status_code=202,
        response_model=MatchRunOut, summary="Start a match run",
        description="Scores all of the tenant's records of the type against each other "
        "(blocking, the match model, clustering), in the background: poll GET "
        "/match-runs/{id} until `succeeded` or `failed`. Pairs at or above the link threshold "
        "are merged (each merge with its evidence, undoable); pairs between the review and "
        "the link threshold go to the review queue (GET /match-candidates). Force-apart "
        "decisions, merge protection and differing external ids are always respected. 409 "
        "while a run of the same type is queued or running.")
    r.add_api_route("/match-runs", list_runs, methods=["GET"], response_model=MatchRunList,
                    summary="List match runs", description="Newest first.")
    r.add_api_route("/match-runs/{id}", get_run, methods=["GET"], response_model=MatchRunOut,
                    summary="Get a match run",
                    description="Status, the step it is in, progress (0 to 1), counts so "
                    "far, timings per step, and the error of a failed run.")
    r.add_api_route(
        "/match-candidates", list_candidates, methods=["GET"],
        response_model=MatchCandidateList, summary="List the review queue",
        description="Pairs of customers a run scored between the review and the link "
        "threshold, oldest first, each with the best-scoring pair of records and every "
        "comparison's contribution to the score.")
    r.add_api_route("/match-candidates/{id}", get_candidate, methods=["GET"],
                    response_model=MatchCandidateOut, summary="Get a review candidate")
    r.add_api_route(
        "/match-candidates/{id}/accept", accept, methods=["POST"],
        response_model=MatchCandidateOut, summary="Accept: they are one customer",
        description="Merges the two entities (the oldest survives; `merge_id` undoes it) and "
        "remembers the decision as force-together. 409 when it was decided already.")
    r.add_api_route(
        "/match-candidates/{id}/reject", reject, methods=["POST"],
        response_model=MatchCandidateOut, summary="Reject: they are two customers",
        description="Remembered as force-apart: no run, identifier or import merges them "
        "automatically, and the pair is not queued again. 409 when it was decided already, "
        "or when the two were merged since (undo that merge first).")
    r.add_api_route("/match-settings/{type}", get_settings, methods=["GET"],
                    response_model=MatchSettingsOut, summary="Get the match thresholds",
                    description="The tenant's thresholds (else the model's defaults) and "
                    "whether the parameters were estimated from its records.")
    r.add_api_route("/match-settings/{type}", put_settings, methods=["PUT"],
                    response_model=MatchSettingsOut, summary="Set the match thresholds",
                    description="`link`: merge automatically at or above this match "
                    "probability; `review`: queue for review at or above this. Both between 0 "
                    "and 1, review at most link. Used by the next run.")
    r.add_api_route(
        "/match/explain", explain, methods=["GET"], response_model=MatchExplainOut,
        summary="Explain why two customers or records are (or are not) one",
        description="`left` and `right` are each an entity id (`per_...`, `acc_...`) or one "
        "record as `source:source_id` (`crm:110`), of the given type. Scores every pair of "
        "the two sides' records (an entity's first 100; `truncated` says when it has more) "
        "with the tenant's model and shows the best pair's breakdown (each comparison's "
        "level, weight and values), the decision under the tenant's thresholds, whether "
        "protection would refuse the link (different external ids, force-apart, conflicting "
        "trusted identifiers), and what made or kept them one or two: the merges that joined "
        "them (with their evidence), force-together and force-apart decisions. Works whether "
        "or not they are merged. 404 for an id or record this tenant does not have; 422 for "
        "one of the other type.")
    return r


def start_run(request: Request, response: Response, principal: EditorKey,
              _idempotency: IdempotencyDep, runner: RunnerDep, body: MatchRunIn
              ) -> dict[str, Any]:
    view = runner.submit(principal.actor(), body.type, body.engine)
    view["runner"] = runner.state(view["id"])
    response.headers["Location"] = created_location(request.url.path, view) or ""
    return view


def get_run(id: RunId, principal: ReaderKey, runs: RunsDep, runner: RunnerDep
            ) -> dict[str, Any]:
    # The runner first, then the row: the runner drops a run only after its row says it
    # ended, so a row still running with no runner state is a run of another process.
    state = runner.state(id)
    return _with_runner(runs.get(principal.actor(), id), state)


def _with_runner(view: dict[str, Any], state: dict[str, Any] | None) -> dict[str, Any]:
    view["runner"] = None if view["status"] in ("succeeded", "failed") else state
    return view


def get_candidate(id: CandidateId, principal: ReaderKey, runs: RunsDep) -> dict[str, Any]:
    actor = principal.actor()
    return _named(runs, actor, [runs.candidate(actor, id)])[0]


def accept(id: CandidateId, principal: EditorKey, _idempotency: IdempotencyDep,
           runs: RunsDep) -> dict[str, Any]:
    actor = principal.actor()
    return _named(runs, actor, [runs.accept(actor, id)])[0]


def reject(id: CandidateId, principal: EditorKey, _idempotency: IdempotencyDep,
           runs: RunsDep) -> dict[str, Any]:
    actor = principal.actor()
    return _named(runs, actor, [runs.reject(actor, id)])[0]


def get_settings(type: TypePath, principal: ReaderKey, runs: RunsDep) -> dict[str, Any]:
    return runs.settings(principal.actor(), type)


def put_settings(type: TypePath, principal: EditorKey, _idempotency: IdempotencyDep,
                 runs: RunsDep, body: MatchSettingsIn) -> dict[str, Any]:
    return runs.set_thresholds(principal.actor(), type, link=body.link, review=body.review)


def explain(principal: ReaderKey, runs: RunsDep, type: Annotated[EntityTypeName, Query(
                description="person or account")],
            left: EntityRef, right: EntityRef) -> dict[str, Any]:
    return explain_pair(runs.store, principal.actor(), type, left, right)


def _named(runs: MatchRuns, actor: Actor, items: list[dict[str, Any]]
           ) -> list[dict[str, Any]]:
    """The candidates with their current entities' display names (one read for the page)."""
    names = display_names(runs.store, actor, (p for c in items for p in c["current"]))
    for c in items:
        c["names"] = [names.get(p) if p else None for p in c["current"]]
    return items
