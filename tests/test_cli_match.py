"""`allroads match`: in-process (CliRunner) on both databases: a run with its counts, the
review queue (list, accept, reject), thresholds, explain, and specific errors."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from allroads.cli.main import app
from allroads.domain.types import Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub
from allroads.store import Store
from test_api_matching import load
from test_match_runs import PEOPLE, WIDE, variants

runner = CliRunner()
P = EntityType.PERSON


@pytest.fixture
def env(store: Store, actor: Actor) -> dict[str, str | None]:
    """The environment of a CLI run against the test's database (SQLite or PostgreSQL)."""
    del actor  # the tenant acme
    return {"ALLROADS_DATABASE_URL": store.url, "ALLROADS_TENANT": "acme"}


def invoke(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def people(hub: Hub, actor: Actor) -> dict[str, str]:
    """Four people held by three systems each, and two borderline records."""
    ids = {f"{source}-{n}": load(hub, actor, IdentifyRequest(P, source, f"{source}-{n}", {},
                                                             attributes))
           for n, person in enumerate(PEOPLE[:4]) for source, attributes in variants(person)}
    ids["maybe-1"] = load(hub, actor, IdentifyRequest(P, "product", "maybe-1", {}, {
        "first_name": "Elena", "last_name": "Petrova", "city": "Fairview"}))
    ids["maybe-2"] = load(hub, actor, IdentifyRequest(P, "product", "maybe-2", {}, {
        "first_name": "Hiroshi", "last_name": "Tanaka", "city": "Lakeside"}))
    return ids


def test_run_review_and_decide(env: dict[str, str | None], hub: Hub, actor: Actor) -> None:
    ids = people(hub, actor)
    shown = invoke(env, "match", "settings", "--type", "person")
    assert shown.exit_code == 0, shown.output
    assert "Link at or above" in shown.stdout and "defaults" in shown.stdout
    set_ = invoke(env, "match", "settings", "--type", "person", "--link", str(WIDE["link"]),
                  "--review", str(WIDE["review"]), "--json")
    assert set_.exit_code == 0, set_.output
    assert json.loads(set_.stdout)["review_threshold"] == WIDE["review"]

    result = invoke(env, "match", "--type", "person")  # `run` is the default command
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "succeeded" in out and "Records" in out and "Candidate pairs" in out
    assert "Merged" in out and "Queued for review" in out and "Seconds in all" in out
    assert "Scoring pairs" in out or "Done" in out  # the progress bar's steps
    assert "allroads match candidates" in out
    crm = {n: hub.get(actor, P, ids[f"crm-{n}"])["id"] for n in range(4)}
    for n in range(4):
        assert {hub.get(actor, P, ids[f"{s}-{n}"])["id"] for s in ("support", "product")} \
            == {crm[n]}

    listed = invoke(env, "match", "candidates", "--type", "person")
    assert listed.exit_code == 0, listed.output
    assert "Open candidates" in listed.stdout and "Elena" in listed.stdout
    data = json.loads(invoke(env, "match", "candidates", "--json").stdout)["data"]
    by_pair = {frozenset(c["current"]): c["id"] for c in data}
    assert set(by_pair) == {frozenset({crm[3], ids["maybe-1"]}),
                            frozenset({crm[2], ids["maybe-2"]})}

    accepted = invoke(env, "match", "accept", by_pair[frozenset({crm[3], ids["maybe-1"]})])
    assert accepted.exit_code == 0, accepted.output
    assert "one customer" in accepted.stdout and "mrg_" in accepted.stdout
    assert hub.get(actor, P, ids["maybe-1"])["id"] == crm[3]
    rejected = invoke(env, "match", "reject", by_pair[frozenset({crm[2], ids["maybe-2"]})])
    assert rejected.exit_code == 0, rejected.output
    assert "kept apart" in rejected.stdout
    again = invoke(env, "match", "reject", by_pair[frozenset({crm[2], ids["maybe-2"]})])
    assert again.exit_code == 1 and "rejected already" in again.output
    none = invoke(env, "match", "candidates")
    assert "no open candidates" in none.stdout
    assert len(json.loads(invoke(env, "match", "candidates", "--status", "rejected",
                                 "--json").stdout)["data"]) == 1

    why = invoke(env, "match", "explain", ids["maybe-2"], crm[2], "--type", "person")
    assert why.exit_code == 0, why.output
    assert "kept them apart" in why.stdout and "last_name" in why.stdout
    same = json.loads(invoke(env, "match", "explain", ids["support-0"], ids["crm-0"],
                             "--type", "person", "--json").stdout)
    assert same["merged"] is True and same["merges"][0]["reason"] == "match_run"

    as_json = invoke(env, "match", "run", "--type", "person", "--json")
    assert as_json.exit_code == 0, as_json.output
    run = json.loads(as_json.stdout)
    assert run["status"] == "succeeded" and run["counts"]["merged"] == 0
    assert run["seconds"] > 0


def test_errors_are_specific(env: dict[str, str | None], hub: Hub, actor: Actor) -> None:
    bad = invoke(env, "match", "settings", "--type", "person", "--link", "0.5",
                 "--review", "0.9")
    assert bad.exit_code == 2 and "review <= link" in bad.output
    half = invoke(env, "match", "settings", "--type", "person", "--link", "0.9")
    assert half.exit_code == 2 and "--link and --review together" in half.output
    missing = invoke(env, "match", "accept", "mc_nope")
    assert missing.exit_code == 1 and "no match candidate 'mc_nope'" in missing.output
    assert invoke(env, "match", "--type", "robot").exit_code == 2
    assert invoke(env, "match", "--type", "person", "--engine", "oracle").exit_code == 2
    nobody = invoke({**env, "ALLROADS_TENANT": "nosuch"}, "match", "--type", "person")
    assert nobody.exit_code == 1 and "nosuch" in nobody.output
    empty = invoke(env, "match", "--type", "account")
    assert empty.exit_code == 0, empty.output
    assert "succeeded" in empty.stdout
    del hub, actor


def test_index_rebuilds_keys_and_features(env: dict[str, str | None], hub: Hub,
                                          actor: Actor, store: Store) -> None:
    people(hub, actor)
    with store.engine.begin() as c:
        keys = c.execute(sa.text("SELECT count(*) FROM match_keys")).scalar_one()
        c.execute(sa.text("DELETE FROM match_keys"))
        c.execute(sa.text("DELETE FROM match_features"))
    done = invoke(env, "match", "index", "--type", "person", "--json")
    assert done.exit_code == 0, done.output
    counts = json.loads(done.stdout)
    assert counts["records"] == 14 and counts["keys"] == keys
    with store.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM match_features")).scalar_one() == 14
    shown = invoke(env, "match", "index", "--type", "person")
    assert shown.exit_code == 0 and "Blocking keys" in shown.output, shown.output
    assert "Indexing records" in shown.output and "Marking stored values" in shown.output
    bad = invoke(env, "match", "index", "--type", "company")
    assert bad.exit_code == 2 and "company" in bad.output
