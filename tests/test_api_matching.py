"""Batch matching over the API, on both databases: POST /match-runs runs in the background
(polled to the end), the review queue (accept, reject), thresholds, explain; roles, tenant
isolation, specific errors, Idempotency-Key.

The records are loaded the way records that predate matching are: each is first seen
without the fields matching compares (names, birthdates, addresses), then updated with
them. Identify matches only new records, so nothing joins them until a match run does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from allroads.batch.matching import model_for
from allroads.batch.runner import INTERRUPTED, MatchRunner
from allroads.batch.runs import MatchRuns
from allroads.domain.errors import Conflict
from allroads.domain.types import Actor, EntityType, IdentifyRequest, Role
from allroads.resolution.hub import Hub
from api_helpers import Api, assert_problem, make_api
from test_match_runs import PEOPLE, SOURCES, WIDE, World, variants

P = EntityType.PERSON
# The fields identify's fuzzy matching compares (a record without them is not matched).
COMPARED = {"first_name", "last_name", "name", "display_name", "birthdate", "address"}


@pytest.fixture
def api(hub: Hub) -> Iterator[Api]:
    api = make_api(hub)
    yield api
    assert api.client.app.state.match_runner.stop()  # type: ignore[attr-defined]


def load(hub: Hub, actor: Actor, req: IdentifyRequest) -> str:
    """Identify a record first without the compared fields, then with them (an update)."""
    early = {k: v for k, v in req.attributes.items() if k not in COMPARED} or {"seen": 1}
    first = hub.identify(actor, IdentifyRequest(req.type, req.source, req.source_id,
                                                req.identifiers, early))
    assert first.id
    assert hub.identify(actor, req).id == first.id
    return str(first.id)


def load_account(api: Api, actor: Actor, source: str, source_id: str,
                 attributes: dict[str, Any], **identifiers: Any) -> str:
    return load(api.hub, actor, IdentifyRequest(EntityType.ACCOUNT, source, source_id,
                                                identifiers, attributes))


@pytest.fixture
def world(hub: Hub, actor: Actor, api: Api) -> World:
    """test_match_runs' people: ten held by three systems each, father and son, and two
    borderline records."""
    del api  # the tenant and its key first
    people = {(n, source): load(hub, actor, IdentifyRequest(P, source, f"{source}-{n}", {},
                                                            attributes))
              for n, person in enumerate(PEOPLE) for source, attributes in variants(person)}
    reyes = {"first_name": "Daniel", "last_name": "Reyes", "birthdate": "1960-02-11",
             "address": "9 Harbor View", "city": "Monterey"}
    father = load(hub, actor, IdentifyRequest(P, "crm", "reyes-1", {"external_id": "D-1"},
                                              {**reyes, "postcode": "93940"}))
    son = load(hub, actor, IdentifyRequest(P, "support", "reyes-2", {"external_id": "D-2"},
                                           reyes))
    elena = load(hub, actor, IdentifyRequest(P, "product", "maybe-1", {}, {
        "first_name": "Elena", "last_name": "Petrova", "city": "Fairview"}))
    hiroshi = load(hub, actor, IdentifyRequest(P, "product", "maybe-2", {}, {
        "first_name": "Hiroshi", "last_name": "Tanaka", "city": "Lakeside"}))
    assert len(set(people.values())) == len(people)
    return World(hub, actor, people, father, son, elena, hiroshi)


def run_to_end(api: Api, entity_type: str, engine: str | None = None,
               timeout: float = 120.0) -> dict[str, Any]:
    """POST a run (202, queued) and poll GET /match-runs/{id} until it ends."""
    body = {"type": entity_type, **({"engine": engine} if engine else {})}
    res = api.post("/match-runs", json=body)
    assert res.status_code == 202, res.text
    queued = res.json()
    assert queued["status"] in ("queued", "running") and queued["id"].startswith("mrun_")
    assert queued["heartbeat_at"] >= queued["created_at"]  # held by this server
    assert res.headers["Location"].endswith(f"/match-runs/{queued['id']}")
    deadline = time.monotonic() + timeout
    steps: list[str] = []
    while True:
        view: dict[str, Any] = api.ok("GET", f"/match-runs/{queued['id']}")
        steps.append(view["step"])
        if view["status"] in ("succeeded", "failed"):
            assert view["runner"] is None
            return view
        assert view["runner"] in ({"state": "queued"}, {"state": "running"})
        assert time.monotonic() < deadline, f"the run did not end in {timeout} s: {view}"
        time.sleep(0.05)


ACME = [  # (source, source id, name): one company as three systems hold it (issue 4)
    ("product", "34", "ACME Services", "https://www.acmeservices.com"),
    ("crm", "110", "ACME", "acmeservices.com"),
    ("support", "2101", "Acme Inc.", "http://acmeservices.com/contact"),
]


def test_accounts_from_three_systems_become_one_with_a_crosswalk(api: Api, actor: Actor
                                                                 ) -> None:
    """'ACME Services' (product 34), 'ACME' (crm 110) and 'Acme Inc.' (support 2101) share a
    website, a phone and a city but no identifier that links on its own: a match run makes
    them one account whose crosswalk lists all three systems' ids."""
    ids = [load_account(api, actor, source, key,
                        {"display_name": name, "website": site, "city": "Austin"},
                        phone="+1 512 555 0134")
           for source, key, name, site in ACME]
    other = load_account(api, actor, "crm", "111", {"display_name": "Globex Corporation",
                                                    "website": "globex.com",
                                                    "city": "Springfield"})
    assert len(set(ids)) == 3
    done = run_to_end(api, "account")
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == 1.0 and done["step"] == "done"
    counts = done["counts"]
    assert counts["records"] == 4 and counts["merged"] == 2 and counts["review"] == 0
    assert counts["candidate_pairs"] >= 3 and done["timings"]

    account = api.ok("GET", f"/accounts/{ids[0]}")["id"]
    assert {api.ok("GET", f"/accounts/{i}")["id"] for i in ids} == {account}
    assert api.ok("GET", f"/accounts/{other}")["id"] == other
    walk = api.ok("GET", f"/accounts/{account}/crosswalk")
    assert walk["ids"] == {"product": ["34"], "crm": ["110"], "support": ["2101"]}

    # Why are these one customer? The merge that joined them, and its evidence.
    merged_away = next(i for i in ids if i != account)
    why = api.ok("GET", "/match/explain", params={"type": "account", "left": account,
                                                   "right": merged_away})
    assert why["merged"] is True and why["entity"] == account
    assert why["verdict"].startswith(f"one customer: {account}")
    assert why["merges"] and why["merges"][0]["reason"] == "match_run"
    assert why["merges"][0]["evidence"]["match_run"] == done["id"]
    assert why["left"]["current"] == why["right"]["current"] == account
    assert len(why["left"]["records"]) + len(why["right"]["records"]) == 3
    best = why["best_pair"]
    assert best["decision"] == "link" and best["probability"] >= 0.95
    parts = {c["comparison"]: c for c in best["comparisons"]}
    assert parts["domain"]["level"] != "else" and parts["domain"]["weight"] > 0
    assert parts["domain"]["left"] == parts["domain"]["right"] == "acmeservices.com"
    defaults = model_for("account")[0].thresholds
    assert why["thresholds"] == {"link": defaults.link, "review": defaults.review}

    # And why not the other company.
    why_not = api.ok("GET", "/match/explain", params={"type": "account", "left": account,
                                                       "right": other})
    assert why_not["merged"] is False and why_not["decision"] == "none"
    assert why_not["verdict"].startswith("two customers: the best pair scores")
    assert why_not["best_pair"]["probability"] < defaults.review
    assert why_not["right"]["display_name"] == "Globex Corporation"

    listed = api.ok("GET", "/match-runs", params={"type": "account"})
    assert [r["id"] for r in listed["data"]] == [done["id"]]
    assert api.ok("GET", "/match-runs", params={"type": "person"})["data"] == []


def test_people_run_review_queue_accept_and_reject(api: Api, world: World) -> None:
    assert api.ok("PUT", "/match-settings/person", json=WIDE) == {
        "type": "person", "link_threshold": 0.99, "review_threshold": 0.3, "trained": False,
        "trained_at": None}
    done = run_to_end(api, "person")
    assert done["status"] == "succeeded", done["error"]
    assert done["counts"]["merged"] == 20 and done["counts"]["review"] == 2
    for n in range(len(PEOPLE)):
        seen = {api.ok("GET", f"/people/{world.people[(n, s)]}")["id"] for s in SOURCES}
        assert len(seen) == 1, seen

    first = api.ok("GET", "/match-candidates", params={"type": "person", "limit": 1})
    assert len(first["data"]) == 1 and first["next_cursor"]
    rest = api.ok("GET", "/match-candidates", params={"type": "person",
                                                      "cursor": first["next_cursor"]})
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    queue = {frozenset(c["current"]): c for c in [*first["data"], *rest["data"]]}
    elena = world.now(world.people[(3, "crm")])
    hiroshi = world.now(world.people[(2, "crm")])
    to_accept = queue[frozenset({elena, world.maybe_elena})]
    to_reject = queue[frozenset({hiroshi, world.maybe_hiroshi})]
    assert to_accept["status"] == "open" and to_accept["run"] == done["id"]
    assert all(name.startswith("Elena Petro") for name in to_accept["names"])
    assert to_accept["breakdown"]["comparisons"] and 0.3 <= to_accept["probability"] < 0.99
    assert api.ok("GET", f"/match-candidates/{to_accept['id']}") == to_accept

    accepted = api.ok("POST", f"/match-candidates/{to_accept['id']}/accept")
    assert accepted["status"] == "accepted" and accepted["merge_id"].startswith("mrg_")
    assert api.ok("GET", f"/people/{world.maybe_elena}")["id"] == elena
    assert_problem(api.post(f"/match-candidates/{to_accept['id']}/accept"), 409, "conflict")
    assert_problem(api.post(f"/match-candidates/{to_accept['id']}/reject"), 409, "conflict")

    rejected = api.ok("POST", f"/match-candidates/{to_reject['id']}/reject")
    assert rejected["status"] == "rejected" and rejected["decided_by"]
    assert api.ok("GET", "/match-candidates")["data"] == []
    assert [c["id"] for c in api.ok("GET", "/match-candidates",
                                    params={"status": "rejected"})["data"]] == [to_reject["id"]]

    # Why not: a person kept them apart (the reject), whatever the score.
    why_not = api.ok("GET", "/match/explain", params={
        "type": "person", "left": hiroshi, "right": world.maybe_hiroshi})
    assert why_not["merged"] is False
    assert [d["kind"] for d in why_not["decisions"]] == ["apart"]
    assert why_not["verdict"].startswith("two customers:") and "kept them apart" in \
        why_not["verdict"]
    assert why_not["best_pair"]["comparisons"]
    # Why one: the accepted candidate's merge, by a person.
    why = api.ok("GET", "/match/explain", params={"type": "person", "left": world.maybe_elena,
                                                   "right": elena})
    assert why["merged"] is True and why["merges"][0]["reason"] == "match_review"
    assert why["merges"][0]["merge_id"] == accepted["merge_id"]
    assert [d["kind"] for d in why["decisions"]] == ["together"]
    assert why["right"]["records"] and why["left"]["records"] == [
        {"source": "product", "source_id": "maybe-1"}]
    # Father and son: different external ids, never one customer.
    family = api.ok("GET", "/match/explain", params={"type": "person", "left": world.father,
                                                      "right": world.son})
    assert family["external_id_conflict"] == ["D-1", "D-2"]
    assert "external ids differ" in family["verdict"]
    # Two different people from the ten.
    strangers = api.ok("GET", "/match/explain", params={
        "type": "person", "left": world.now(world.people[(0, "crm")]),
        "right": world.now(world.people[(1, "crm")])})
    assert strangers["decision"] == "none" and strangers["best_pair"]["probability"] < 0.3

    # A second run merges nothing more and keeps the rejected pair apart.
    again = run_to_end(api, "person")
    assert again["status"] == "succeeded" and again["counts"]["merged"] == 0
    assert api.ok("GET", f"/people/{world.maybe_hiroshi}")["id"] == world.maybe_hiroshi


def test_settings_and_specific_errors(api: Api) -> None:
    defaults = model_for("account")[0].thresholds
    assert api.ok("GET", "/match-settings/account") == {
        "type": "account", "link_threshold": defaults.link,
        "review_threshold": defaults.review, "trained": False, "trained_at": None}
    body = assert_problem(api.put("/match-settings/person", json={"link": 0.5, "review": 0.9}),
                          422, "invalid_input")
    assert "review <= link" in body["detail"] and "review=0.9" in body["detail"]
    body = assert_problem(api.put("/match-settings/person", json={"link": 1.5, "review": 0.9}),
                          422)
    assert "link" in str(body)
    assert_problem(api.put("/match-settings/person", json={"link": 0.9}), 422)
    assert_problem(api.put("/match-settings/person",
                           json={"link": 0.9, "review": 0.5, "auto": True}), 422)
    assert_problem(api.put("/match-settings/robot", json={"link": 0.9, "review": 0.5}), 422)
    assert api.ok("PUT", "/match-settings/account", json={"link": 0.9, "review": 0.5})[
        "link_threshold"] == 0.9
    assert api.ok("GET", "/match-settings/account")["review_threshold"] == 0.5

    assert_problem(api.post("/match-runs", json={"type": "robot"}), 422)
    assert_problem(api.post("/match-runs", json={"type": "person", "engine": "oracle"}), 422)
    assert_problem(api.post("/match-runs", json={}), 422)
    assert_problem(api.get("/match-candidates", params={"status": "maybe"}), 422)
    body = assert_problem(api.get("/match-candidates", params={"cursor": "nope"}), 422)
    assert "cursor" in body["detail"]
    body = assert_problem(api.get("/match-candidates", params={"typ": "person"}), 422)
    assert "type" in body.get("hint", "")
    assert_problem(api.get("/match-runs/mrun_nope"), 404, "not_found")
    assert_problem(api.get("/match-candidates/mc_nope"), 404, "not_found")
    assert_problem(api.post("/match-candidates/mc_nope/accept"), 404, "not_found")
    person = api.identify("person", "crm", "1", {"first_name": "Ann"})["id"]
    body = assert_problem(api.get("/match/explain", params={
        "type": "person", "left": person, "right": person}), 422)
    assert "same id" in body["detail"]
    body = assert_problem(api.get("/match/explain", params={
        "type": "account", "left": person, "right": "acc_nope"}), 422)
    assert f"left {person!r} is a person, not an account" in body["detail"]
    assert "type=person" in body["hint"]
    body = assert_problem(api.get("/match/explain", params={
        "type": "person", "left": person, "right": "per_nope"}), 404)
    assert "no person 'per_nope' (right)" in body["detail"]
    assert_problem(api.get("/match/explain", params={"type": "person", "left": person}), 422)


def test_roles(api: Api) -> None:
    viewer, ingest, editor = (api.with_role(r) for r in (Role.VIEWER, Role.INGEST,
                                                         Role.EDITOR))
    for caller in (viewer, ingest):
        for res in (caller.post("/match-runs", json={"type": "person"}),
                    caller.put("/match-settings/person", json={"link": 0.9, "review": 0.5}),
                    caller.post("/match-candidates/mc_x/accept"),
                    caller.post("/match-candidates/mc_x/reject")):
            assert_problem(res, 403, "permission_denied")
    assert viewer.ok("GET", "/match-runs")["data"] == []
    assert viewer.ok("GET", "/match-candidates")["data"] == []
    assert viewer.ok("GET", "/match-settings/person")["link_threshold"] == \
        model_for("person")[0].thresholds.link
    assert editor.ok("PUT", "/match-settings/person", json={"link": 0.98, "review": 0.7})
    done = run_to_end(editor, "person")
    assert done["status"] == "succeeded" and done["counts"]["records"] == 0
    assert done["created_by"] == f"key:{editor.key.split('_')[1]}"
    assert viewer.ok("GET", f"/match-runs/{done['id']}")["id"] == done["id"]
    assert_problem(api.client.get("/api/v1/match-runs"), 401)


def test_tenant_isolation(api: Api, world: World, hub: Hub) -> None:
    api.ok("PUT", "/match-settings/person", json=WIDE)
    run = run_to_end(api, "person")
    candidates = api.ok("GET", "/match-candidates")["data"]
    assert candidates
    hub.ensure_tenant("globex", default_region="US")
    globex = api.with_role(Role.ADMIN, tenant="globex")
    mine = candidates[0]["id"]
    person = world.now(world.people[(0, "crm")])
    other = world.now(world.people[(1, "crm")])
    for method, path in (("GET", f"/match-runs/{run['id']}"), ("GET", f"/match-candidates/{mine}"),
                         ("POST", f"/match-candidates/{mine}/accept"),
                         ("POST", f"/match-candidates/{mine}/reject")):
        body = assert_problem(globex.request(method, path), 404, "not_found")
        assert "acme" not in body["detail"]
    body = assert_problem(globex.get("/match/explain", params={
        "type": "person", "left": person, "right": other}), 404, "not_found")
    assert "acme" not in body["detail"]
    assert globex.ok("GET", "/match-runs")["data"] == []
    assert globex.ok("GET", "/match-candidates")["data"] == []
    assert globex.ok("GET", "/match-settings/person")["review_threshold"] == \
        model_for("person")[0].thresholds.review
    # Their run reads none of acme's records; acme's candidate is still open.
    theirs = run_to_end(globex, "person")
    assert theirs["counts"]["records"] == 0
    assert api.ok("GET", f"/match-candidates/{mine}")["status"] == "open"


def test_idempotency_key_starts_one_run(api: Api) -> None:
    headers = {"Idempotency-Key": "run-1"}
    first = api.post("/match-runs", json={"type": "account"}, headers=headers)
    again = api.post("/match-runs", json={"type": "account"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert api.client.app.state.match_runner.wait_idle()  # type: ignore[attr-defined]
    assert len(api.ok("GET", "/match-runs")["data"]) == 1
    assert_problem(api.post("/match-runs", json={"type": "person"}, headers=headers), 422)


def test_one_run_of_a_type_at_a_time_and_stop_ends_queued_runs(
        hub: Hub, actor: Actor) -> None:
    runs = MatchRuns(hub.store)
    runner = MatchRunner(runs, workers=1)
    runner.stop()  # stopped: what is submitted now waits in the queue
    queued = runner.submit(actor, "person")
    assert runner.state(queued["id"]) == {"state": "queued"}
    with pytest.raises(Conflict, match=f"already queued: {queued['id']}"):
        runner.submit(actor, "person")
    other = runner.submit(actor, "account")  # another type may run
    assert runner.stop()
    for view in (queued, other):
        done = runs.get(actor, view["id"])
        assert done["status"] == "failed" and INTERRUPTED in done["error"]
        assert runner.state(view["id"]) is None
    runner.start()
    assert runner.submit(actor, "person")["status"] == "queued"
    assert runner.wait_idle(60)
    assert runs.runs(actor, entity_type="person")[0][0]["status"] == "succeeded"
    assert runner.stop()


def test_synchronous_runner(hub: Hub, actor: Actor) -> None:
    runner = MatchRunner(MatchRuns(hub.store), workers=0)
    done = runner.submit(actor, "account")
    assert done["status"] == "succeeded" and runner.state(done["id"]) is None


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_run_on_spark(api: Api, actor: Actor) -> None:
    """The same accounts, matched on Spark (local mode): the same merge. Needs pyspark and
    Java (skipped locally without them; CI has both). Spark does not depend on the database:
    it runs on SQLite only."""
    if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI needs pyspark and Java for the Spark tests")
        pytest.skip("pyspark or Java is missing")
    ids = [load_account(api, actor, source, key,
                        {"display_name": name, "website": site, "city": "Austin"})
           for source, key, name, site in ACME]
    done = run_to_end(api, "account", engine="spark", timeout=600)
    assert done["status"] == "succeeded", done["error"]
    assert done["engine"] == "spark" and done["counts"]["merged"] == 2
    assert len({api.ok("GET", f"/accounts/{i}")["id"] for i in ids}) == 1
