"""The matching model: levels in Python and in SQL agree, features, EM, clustering, batch."""

from __future__ import annotations

import random

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allroads.batch.matching import match_records
from allroads.batch.pipeline import Options
from allroads.batch.sql import DUCKDB, gamma_sql
from allroads.resolution.matching.accounts import account_features, account_model, company_keys
from allroads.resolution.matching.clusters import cluster
from allroads.resolution.matching.estimate import Patterns, expectation_maximisation
from allroads.resolution.matching.model import (
    Comparison,
    Level,
    MatchModel,
    Parameters,
    Thresholds,
)
from allroads.resolution.matching.people import person_features, person_model

NAMES = st.text(alphabet="abcdeilmnorst ", min_size=0, max_size=12).map(
    lambda s: s.strip() or None)
DATES = st.dates().map(lambda d: d.isoformat()) | st.none()

LEVELS = Comparison("c", (
    Level("exact", "a"), Level("jw", "a", 0.9), Level("lev", "a", 2), Level("jw", "a", 0.7),
    Level("swap", "a", other="b"), Level("swap", "a", 0.8, other="b"),
), ("a",))
DATE_LEVELS = Comparison("d", (Level("exact", "d"), Level("dmy_swap", "d"),
                               Level("lev", "d", 1)), ("d",))
LIST_LEVELS = Comparison("w", (Level("overlap", "w"),), ("w",))


def _sql_gammas(comparison: Comparison, rows: list[tuple[dict[str, object], dict[str, object]]]
                ) -> list[int]:
    con = duckdb.connect()
    left = pa.Table.from_pylist([{**a, "i": i} for i, (a, _) in enumerate(rows)])
    right = pa.Table.from_pylist([{**b, "i": i} for i, (_, b) in enumerate(rows)])
    con.register("lt", left)
    con.register("rt", right)
    out = con.sql(f"SELECT {gamma_sql(comparison, DUCKDB)} FROM lt l JOIN rt r ON l.i = r.i "
                  "ORDER BY l.i").fetchall()
    return [int(g) for (g,) in out]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(NAMES, NAMES, NAMES, NAMES), min_size=1, max_size=20))
def test_string_levels_agree_in_python_and_sql(values: list[tuple[str | None, ...]]) -> None:
    rows = [({"a": a, "b": b}, {"a": c, "b": d}) for a, b, c, d in values]
    assert _sql_gammas(LEVELS, rows) == [LEVELS.gamma(left, right) for left, right in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(DATES, DATES), min_size=1, max_size=20))
def test_date_levels_agree_in_python_and_sql(values: list[tuple[str | None, str | None]]) -> None:
    # Transposed dates are rare at random: put some in.
    rows = [({"d": a}, {"d": b}) for a, b in values]
    rows += [({"d": a}, {"d": f"{a[:4]}-{a[8:10]}-{a[5:7]}"}) for a, _ in values if a]
    assert _sql_gammas(DATE_LEVELS, rows) == [DATE_LEVELS.gamma(x, y) for x, y in rows]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from("abcde"), min_size=1, max_size=3),
                          st.lists(st.sampled_from("abcde"), min_size=1, max_size=3)),
                min_size=1, max_size=20))
def test_list_levels_agree_in_python_and_sql(values: list[tuple[list[str], list[str]]]) -> None:
    rows = [({"w": a}, {"w": b}) for a, b in values]
    assert _sql_gammas(LIST_LEVELS, rows) == [LIST_LEVELS.gamma(x, y) for x, y in rows]


def test_person_features_see_nicknames_swaps_and_transposed_dates() -> None:
    model = person_model()
    bill = person_features({"first_name": "Bill", "last_name": "O'Neil",
                            "birthdate": "1980-03-07"})
    william = person_features({"first_name": "William", "last_name": "ONeil",
                               "birthdate": "1980-07-03"})
    swapped = person_features({"first_name": "ONeil", "last_name": "Bill"})
    parts = {p["comparison"]: p["level"] for p in model.explain(bill, william).parts}
    assert parts["first_name"] == "same nickname group"
    assert parts["last_name"] == "exact"
    assert parts["birthdate"] == "day and month transposed"
    parts = {p["comparison"]: p["level"] for p in model.explain(bill, swapped).parts}
    assert parts["first_name"].startswith("first_name and last_name swapped")
    assert parts["birthdate"] == "missing"
    assert bill["bk_name"] == swapped["bk_name"]  # swapped names still meet in a block


def test_company_keys_fold_suffixes_abbreviations_order_and_generic_words() -> None:
    assert company_keys("ACME Services")[2] == company_keys("Acme Inc.")[2] == "acme"
    assert company_keys("Acme Intl. Corp")[0] == "acme international"
    assert company_keys("Logistics Acme")[1] == company_keys("Acme Logistics, LLC")[1]
    assert company_keys("Acme Logistics")[2] != company_keys("Acme Foods")[2]
    feats = account_features({"name": "Acme", "website": "https://www.acme.com/about",
                              "email": "jane@gmail.com"})
    assert feats["domain"] == "acme.com"
    assert account_features({"name": "Acme", "email": "jane@gmail.com"})["domain"] is None


def test_explain_gives_each_fields_contribution_and_a_decision() -> None:
    model = account_model()
    a = account_features({"name": "ACME Services", "domain": "acme.com"})
    b = account_features({"name": "Acme Inc.", "website": "http://acme.com"})
    score = model.explain(a, b).to_json()
    by_name = {p["comparison"]: p for p in score["comparisons"]}
    assert by_name["name"]["level"] == "same name without generic words"
    assert by_name["domain"]["level"] == "exact" and by_name["domain"]["weight"] > 0
    assert by_name["phone"]["level"] == "missing" and by_name["phone"]["weight"] == 0
    assert score["decision"] == "link"
    total = score["prior_weight"] + sum(p["weight"] for p in score["comparisons"])
    assert abs(total - score["match_weight"]) < 0.01


def test_em_recovers_known_parameters_from_simulated_pairs() -> None:
    model = Comparison("x", (Level("exact", "x"),), ("x",))
    true_m = {"a": [0.1, 0.9], "b": [0.2, 0.8], "c": [0.05, 0.95]}
    true_u = {"a": [0.9, 0.1], "b": [0.7, 0.3], "c": [0.95, 0.05]}
    rng = np.random.default_rng(3)
    n, share = 200_000, 0.2
    is_match = rng.random(n) < share
    cols = []
    for name in ("a", "b", "c"):
        p_agree = np.where(is_match, true_m[name][1], true_u[name][1])
        cols.append((rng.random(n) < p_agree).astype(np.int64))
    gammas = np.column_stack(cols)
    rows, counts = np.unique(gammas, axis=0, return_counts=True)
    start = Parameters(m={k: [0.3, 0.7] for k in true_m}, u={k: [0.6, 0.4] for k in true_u},
                       prior=0.5)
    mm = MatchModel("test", tuple(Comparison(k, model.levels, model.null_columns)
                                  for k in ("a", "b", "c")), (), start)
    est = expectation_maximisation(mm, Patterns(rows, counts.astype(float)), fix_u=False,
                                   prior_pairs=0.0, start_prior=0.5)
    assert est.converged
    assert abs(est.parameters.prior - share) < 0.02
    for k in true_m:
        assert abs(est.parameters.m[k][1] - true_m[k][1]) < 0.03
        assert abs(est.parameters.u[k][1] - true_u[k][1]) < 0.03


def test_clustering_does_not_chain_across_a_conflict() -> None:
    # a-b and b-c are links; a and c hold different external ids: c stays apart.
    result = cluster(3, [(0, 1), (1, 2)], exclusive={0: {"external_id": "X1"},
                                                     2: {"external_id": "X2"}})
    assert result.labels[0] == result.labels[1] != result.labels[2]
    assert result.refused == [(1, 2, "different external_id")]
    # A pair scored far below (or ruled apart) across two clusters keeps them apart.
    result = cluster(4, [(0, 1), (2, 3), (1, 2)], apart=[(0, 3)])
    assert result.labels[0] == result.labels[1] != result.labels[2] == result.labels[3]
    assert cluster(3, [(0, 1), (1, 2)]).labels == [cluster(3, [(0, 1), (1, 2)]).labels[0]] * 3


def _people(seed: int) -> tuple[list[dict[str, object]], dict[str, int]]:
    """40 people as three systems hold them, with typos, nicknames and a twin look-alike."""
    rng = random.Random(seed)
    firsts = ["William", "Robert", "Elizabeth", "Katherine", "Jonathan", "Margaret", "Thomas",
              "Jennifer", "Michael", "Patricia"]
    nick = {"William": "Bill", "Robert": "Bob", "Elizabeth": "Liz", "Katherine": "Kate",
            "Jonathan": "Jon", "Margaret": "Maggie", "Thomas": "Tom", "Michael": "Mike"}
    lasts = ["Okafor", "Lindqvist", "Moreau", "Takahashi", "Castellanos", "Brennan",
             "Abernathy", "Villanueva", "Kowalczyk", "Hargreaves"]
    records: list[dict[str, object]] = []
    truth: dict[str, int] = {}
    for p in range(40):
        first, last = firsts[p % 10], lasts[(p * 7) % 10]
        dob = f"19{50 + p}-{1 + p % 12:02d}-{10 + p % 18:02d}"
        street = f"{10 + p} {rng.choice(['Oak', 'Elm', 'Pine', 'Cedar'])} Street"
        for s, source in enumerate(("crm", "support", "shop")):
            f, surname, d = first, last, dob
            if s == 1:
                f = nick.get(first, first)
            if s == 2 and p % 3 == 0:
                surname = surname[:2] + surname[3] + surname[2] + surname[4:]  # transposed
            if s == 2 and p % 4 == 1:
                d = f"{dob[:4]}-{dob[8:10]}-{dob[5:7]}"
            rid = f"{source}-{p}"
            records.append({"id": rid, "source": source, "first_name": f, "last_name": surname,
                            "birthdate": d, "address": street, "postcode": f"{9000 + p}"})
            truth[rid] = p
    return records, truth


@pytest.mark.parametrize("estimate_from", [1_000, 10])
def test_batch_matching_on_duckdb_joins_each_person_and_nobody_else(estimate_from: int) -> None:
    """With the default parameters (120 records are too few to estimate from by default) and
    with parameters estimated from these records."""
    records, truth = _people(1)
    out = match_records(records, entity_type="person",
                        options=Options(estimate_from=estimate_from))
    assert (out.result.training is not None) == (estimate_from == 10)
    clusters: dict[str, set[int]] = {}
    for rid, label in out.clusters.items():
        clusters.setdefault(label, set()).add(truth[rid])
    assert all(len(people) == 1 for people in clusters.values())  # precision
    assert len(clusters) == 40  # every person's three records in one cluster
    assert set(out.timings) >= {"features", "blocking", "comparing", "estimating", "scoring"}


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="review <= link"):
        Thresholds(link=0.5, review=0.9)
    assert Thresholds().decide(0.995) == "link"
    assert Thresholds().decide(0.9) == "review"
    assert Thresholds().decide(0.1) == "none"
