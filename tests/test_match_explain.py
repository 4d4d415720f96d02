"""GET /match/explain and `allroads match explain` with records named directly
(`source:source_id`) beside entity ids, on both databases: a record pair's breakdown, the
decision and protection (different external ids, conflicting trusted identifiers,
force-apart), a record against an entity (its own too), entities of more than 100 records
(said, not silent), and the errors: unknown or another tenant's record (404), the other type
(422 with a hint), malformed names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from allroads.batch.explain import MAX_RECORDS
from allroads.batch.matching import model_for
from allroads.cli.main import app
from allroads.domain.types import Actor, EntityType, IdentifyRequest, Role
from allroads.resolution.hub import Hub
from api_helpers import Api, assert_problem, make_api
from test_api_matching import ACME, load, load_account, run_to_end

P, A = EntityType.PERSON, EntityType.ACCOUNT
ELENA = {"first_name": "Elena", "last_name": "Petrova", "birthdate": "1985-03-14",
         "city": "Fairview"}


@pytest.fixture
def api(hub: Hub) -> Iterator[Api]:
    api = make_api(hub)
    yield api
    assert api.client.app.state.match_runner.stop()  # type: ignore[attr-defined]


def explain(api: Api, left: str, right: str, type: str = "account") -> dict[str, Any]:
    view: dict[str, Any] = api.ok("GET", "/match/explain",
                                  params={"type": type, "left": left, "right": right})
    return view


def acme(api: Api, actor: Actor) -> list[str]:
    return [load_account(api, actor, source, key,
                         {"display_name": name, "website": site, "city": "Austin"},
                         phone="+1 512 555 0134")
            for source, key, name, site in ACME]


def test_two_records_of_three_systems_before_and_after_a_run(api: Api, actor: Actor) -> None:
    """'ACME' (crm 110) and 'Acme Inc.' (support 2101): why one customer, record by record,
    before a run (two entities, the run would link them) and after (one, by the run's merge).
    """
    ids = acme(api, actor)
    other = load_account(api, actor, "crm", "111", {"display_name": "Globex Corporation",
                                                    "website": "globex.com",
                                                    "city": "Springfield"})
    defaults = model_for("account")[0].thresholds
    before = explain(api, "crm:110", "support:2101")
    assert before["merged"] is False and before["entity"] is None
    assert before["left"]["record"] == {"source": "crm", "source_id": "110"}
    assert before["right"]["record"] == {"source": "support", "source_id": "2101"}
    assert before["left"]["current"] == ids[1] and before["right"]["current"] == ids[2]
    assert before["left"]["records"] == [{"source": "crm", "source_id": "110"}]
    assert before["left"]["linked_by"]["entity"] == ids[1]
    assert before["pairs_scored"] == 1 and before["truncated"] is False
    best = before["best_pair"]
    assert best["left"]["source_id"] == "110" and best["right"]["source_id"] == "2101"
    assert best["decision"] == before["decision"] == "link"
    assert best["probability"] >= defaults.link
    parts = {c["comparison"]: c for c in best["comparisons"]}
    assert parts["domain"]["left"] == parts["domain"]["right"] == "acmeservices.com"
    assert parts["domain"]["weight"] > 0 and parts["domain"]["level"] != "else"
    assert {"level", "weight", "gamma"} <= set(parts["domain"])
    assert before["protection"] == {"refused": False, "reasons": []}
    assert before["verdict"].startswith("likely one customer: the best pair scores")
    # Case and spaces in the source are normalized as identify does.
    assert explain(api, " CRM:110", "support:2101")["best_pair"] == best
    not_acme = explain(api, "crm:110", "crm:111")
    assert not_acme["decision"] == "none" and not_acme["verdict"].startswith("two customers")
    assert not_acme["right"]["display_name"] == "Globex Corporation"
    # A record against an entity: the record and each of the entity's records.
    mixed = explain(api, "crm:110", other)
    assert mixed["left"]["record"] and mixed["right"]["record"] is None
    assert mixed["right"]["records"] == [{"source": "crm", "source_id": "111"}]

    done = run_to_end(api, "account")
    assert done["status"] == "succeeded" and done["counts"]["merged"] == 2
    account = api.ok("GET", f"/accounts/{ids[0]}")["id"]
    after = explain(api, "crm:110", "support:2101")
    assert after["merged"] is True and after["entity"] == account
    assert after["left"]["current"] == after["right"]["current"] == account
    assert after["protection"] is None
    assert after["merges"] and after["merges"][0]["reason"] == "match_run"
    assert after["merges"][0]["evidence"]["match_run"] == done["id"]
    assert after["verdict"].startswith(f"one customer: {account}")
    assert after["best_pair"]["comparisons"] == best["comparisons"]
    # The record against the entity that holds it: compared with its other records only.
    own = explain(api, "product:34", account)
    assert own["merged"] is True
    assert {(r["source"], r["source_id"]) for r in own["right"]["records"]} == {
        ("crm", "110"), ("support", "2101")}
    assert own["pairs_scored"] == 2 and own["best_pair"]["decision"] == "link"


def test_protection_would_refuse(api: Api, actor: Actor, hub: Hub) -> None:
    """Father and son (different external ids), two Elenas with different user refs (a
    trusted identifier one person holds once), and a pair a person kept apart: the score
    may say link; the answer says protection refuses, and why."""
    reyes = {"first_name": "Daniel", "last_name": "Reyes", "birthdate": "1960-02-11",
             "address": "9 Harbor View", "city": "Monterey"}
    load(hub, actor, IdentifyRequest(P, "crm", "reyes-1", {"external_id": "D-1"}, reyes))
    load(hub, actor, IdentifyRequest(P, "support", "reyes-2", {"external_id": "D-2"}, reyes))
    family = explain(api, "crm:reyes-1", "support:reyes-2", "person")
    assert family["best_pair"]["decision"] == "link"
    assert family["external_id_conflict"] == ["D-1", "D-2"]
    assert family["protection"]["refused"] is True
    assert family["protection"]["reasons"][0] == "their external ids differ (D-1 vs D-2)"
    assert any("external_id" in r for r in family["protection"]["reasons"][1:])
    assert "external ids differ" in family["verdict"]

    first = load(hub, actor, IdentifyRequest(P, "product", "u-1", {"user_ref": "U-1"}, ELENA))
    second = load(hub, actor, IdentifyRequest(P, "support", "u-2", {"user_ref": "U-2"},
                                              ELENA))
    assert first != second
    trusted = explain(api, "product:u-1", "support:u-2", "person")
    assert trusted["best_pair"]["decision"] == "link" and trusted["external_id_conflict"] is None
    assert trusted["protection"]["refused"] is True
    reason = trusted["protection"]["reasons"][0]
    assert "2 values of user_ref" in reason and "U-1" in reason and "U-2" in reason
    assert trusted["verdict"].startswith("two customers: protection refuses to link them")

    third = load(hub, actor, IdentifyRequest(P, "crm", "e-3", {}, ELENA))
    linkable = explain(api, "product:u-1", "crm:e-3", "person")
    assert linkable["protection"] == {"refused": False, "reasons": []}
    api.ok("POST", f"/people/{third}/keep-apart", json={"ids": [first], "reason": "twins"})
    apart = explain(api, "product:u-1", "crm:e-3", "person")
    assert apart["protection"]["refused"] is True
    assert "force-apart" in apart["protection"]["reasons"][0]
    assert [d["kind"] for d in apart["decisions"]] == ["apart"]
    assert "kept them apart (twins)" in apart["verdict"]


def test_more_than_a_hundred_records_is_said(api: Api, actor: Actor, hub: Hub) -> None:
    """An entity of 101 records (one email joins them): the first 100 are compared, and the
    answer says so (each side's records_total, truncated, the verdict)."""
    big = {hub.identify(actor, IdentifyRequest(P, "shop", f"o-{n}",
                                               {"email": "elena@petrova.io"},
                                               ELENA)).id for n in range(MAX_RECORDS + 1)}
    assert len(big) == 1
    many = str(big.pop())
    single = load(hub, actor, IdentifyRequest(P, "crm", "one", {}, {
        "first_name": "Hiroshi", "last_name": "Tanaka", "city": "Lakeside"}))
    view = explain(api, many, single, "person")
    left = view["left"]
    assert left["records_total"] == MAX_RECORDS + 1 and left["records_scored"] == MAX_RECORDS
    assert left["truncated"] is True and view["truncated"] is True
    assert view["right"]["truncated"] is False and view["right"]["records_total"] == 1
    assert view["pairs_scored"] == MAX_RECORDS
    assert f"only the first {MAX_RECORDS} records of each side were compared: " \
           f"{MAX_RECORDS + 1} of {many}" in view["verdict"]
    # One of its records against it: the other 100, all compared.
    own = explain(api, "shop:o-0", many, "person")
    assert own["right"]["records_total"] == MAX_RECORDS and own["truncated"] is False
    assert own["merged"] is True and own["pairs_scored"] == MAX_RECORDS
    assert own["verdict"].startswith(f"one customer: {many} holds the records of both")
    assert "only the first" not in own["verdict"]


def test_errors(api: Api, actor: Actor, hub: Hub) -> None:
    ids = acme(api, actor)
    person = load(hub, actor, IdentifyRequest(P, "crm", "p-1", {}, ELENA))

    def problem(status: int, left: str, right: str, type: str = "account") -> dict[str, Any]:
        return assert_problem(api.get("/match/explain", params={
            "type": type, "left": left, "right": right}), status)

    body = problem(404, "crm:110", "crm:999")
    assert body["detail"] == "no account record crm:999 (right)"
    assert "source:source_id" in body["hint"]
    assert problem(404, "nosuch:110", ids[0])["detail"] == "no account record nosuch:110 (left)"
    # Mixing types: a person record, or a person id, where accounts are compared.
    body = problem(422, "crm:p-1", "crm:110")
    assert body["detail"] == "left 'crm:p-1' is a person record, not an account record"
    assert "type=person" in body["hint"]
    body = problem(422, "crm:110", person)
    assert body["detail"] == f"right {person!r} is a person, not an account"
    body = problem(422, "crm:p-1", ids[0], "person")
    assert body["detail"] == f"right {ids[0]!r} is an account, not a person"
    assert "type=account" in body["hint"]
    # Malformed and repeated names.
    assert "invalid source" in problem(422, ":110", ids[0])["detail"]
    assert "invalid source" in problem(422, "c r m:110", ids[0])["detail"]
    assert "no source id after the ':'" in problem(422, "crm:", ids[0])["detail"]
    assert "same record" in problem(422, "CRM:110", "crm:110")["detail"]
    assert "same id" in problem(422, "crm:110", "crm:110")["detail"]
    assert "same id" in problem(422, ids[0], f" {ids[0]}")["detail"]

    # Another tenant's record or entity is a 404 too, named as asked, nothing of acme's.
    hub.ensure_tenant("globex", default_region="US")
    globex = api.with_role(Role.VIEWER, tenant="globex")
    for left, right in (("crm:110", "support:2101"), (ids[0], "crm:110")):
        body = assert_problem(globex.get("/match/explain", params={
            "type": "account", "left": left, "right": right}), 404, "not_found")
        assert "(left)" in body["detail"] and "acme" not in body["detail"]
        assert ids[1] not in json.dumps(body)


# The CLI ---------------------------------------------------------------------------------
runner = CliRunner()


def said(text: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(text.split())


def test_cli_explains_records(store_url: str, api: Api, actor: Actor, hub: Hub) -> None:
    ids = acme(api, actor)
    env = {"ALLROADS_DATABASE_URL": store_url, "ALLROADS_TENANT": "acme"}
    shown = runner.invoke(app, ["match", "explain", "crm:110", "support:2101", "--type",
                                "account"], env=env)
    assert shown.exit_code == 0, shown.output
    out = said(shown.stdout)
    assert "likely one customer" in out and "crm:110" in out and "support:2101" in out
    assert "domain" in out and "acmeservices.com" in out
    as_json = json.loads(runner.invoke(app, ["match", "explain", "crm:110", ids[0], "--type",
                                             "account", "--json"], env=env).stdout)
    assert as_json["left"]["record"] == {"source": "crm", "source_id": "110"}
    assert as_json["right"]["current"] == ids[0] and as_json["protection"]["refused"] is False

    load(hub, actor, IdentifyRequest(P, "product", "u-1", {"user_ref": "U-1"}, ELENA))
    load(hub, actor, IdentifyRequest(P, "support", "u-2", {"user_ref": "U-2"}, ELENA))
    refused = runner.invoke(app, ["match", "explain", "product:u-1", "support:u-2", "--type",
                                  "person"], env=env)
    assert refused.exit_code == 0, refused.output
    assert "two customers: protection refuses to link them (together they would hold 2 " \
        "values of user_ref (U-1, U-2)" in said(refused.stdout)
    load(hub, actor, IdentifyRequest(P, "crm", "r-1", {"external_id": "D-1"}, ELENA))
    load(hub, actor, IdentifyRequest(P, "crm", "r-2", {"external_id": "D-2"}, ELENA))
    both = said(runner.invoke(app, ["match", "explain", "crm:r-1", "crm:r-2", "--type",
                                    "person"], env=env).stdout)
    assert "two customers: their external ids differ (D-1 vs D-2)" in both
    assert "Protection also refuses the link: together they would hold 2 values of " \
        "external_id" in both

    missing = runner.invoke(app, ["match", "explain", "crm:999", "crm:110", "--type",
                                  "account"], env=env)
    assert missing.exit_code == 1
    assert "no account record crm:999 (left)" in said(missing.output)
    mixed = runner.invoke(app, ["match", "explain", "product:u-1", "crm:110", "--type",
                                "person"], env=env)
    assert mixed.exit_code == 2
    assert "is an account record, not a person" in said(mixed.output)
    assert "type=account" in said(mixed.output)


def test_cli_says_when_records_were_left_out(store_url: str, actor: Actor, hub: Hub
                                              ) -> None:
    many = {hub.identify(actor, IdentifyRequest(A, "shop", f"s-{n}",
                                                {"domain": "acmeservices.com"},
                                                {"display_name": "ACME"})).id
            for n in range(MAX_RECORDS + 2)}
    assert len(many) == 1
    other = hub.identify(actor, IdentifyRequest(A, "crm", "g", {},
                                                {"display_name": "Globex"})).id
    env = {"ALLROADS_DATABASE_URL": store_url, "ALLROADS_TENANT": "acme"}
    shown = runner.invoke(app, ["match", "explain", str(many.pop()), str(other), "--type",
                                "account"], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"Only the first {MAX_RECORDS} of {MAX_RECORDS + 2} records" in said(shown.stdout)


@pytest.fixture
def store_url(hub: Hub) -> str:
    return str(hub.store.url)
