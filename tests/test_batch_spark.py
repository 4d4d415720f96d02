"""Batch matching on Spark (local mode) gives what it gives on DuckDB.

Needs pyspark and Java: without them these tests are skipped locally and fail under CI=true
(.ci/run installs Java when the machine lacks it).
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
from collections.abc import Iterator
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allroads.batch.matching import MatchOutput, match_records
from allroads.batch.pipeline import Options
from allroads.resolution.matching.people import person_model

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

FIRST = ["William", "Robert", "Elizabeth", "Katherine", "Margaret", "Jonathan", "Michael",
         "Christopher", "Alexander", "Patricia", "Jennifer", "Thomas", "Richard", "Susan",
         "Joseph", "Daniel", "Barbara", "Anthony", "Deborah", "Nicholas", "Gregory", "Samantha",
         "Vincent", "Theodore", "Rosalind", "Ignatius"]
NICK = {"William": "Bill", "Robert": "Bob", "Elizabeth": "Liz", "Katherine": "Kate",
        "Margaret": "Peggy", "Jonathan": "Jon", "Michael": "Mike", "Christopher": "Chris",
        "Alexander": "Alex", "Patricia": "Pat", "Jennifer": "Jen", "Thomas": "Tom",
        "Richard": "Dick", "Susan": "Sue", "Joseph": "Joe", "Daniel": "Dan", "Barbara": "Barb",
        "Anthony": "Tony", "Deborah": "Debbie", "Nicholas": "Nick"}
LAST = ["Hargreaves", "Okonkwo", "Lindqvist", "Castellano", "Pemberton", "Abernathy",
        "Vasquez", "Thornbury", "Kowalczyk", "Fitzgerald", "Nakamura", "Oyelaran", "Delacroix",
        "Brennan", "Whitlock", "Sorensen", "Mbeki", "Achterberg", "Quintero", "Holloway",
        "Stavros", "Yilmaz", "Carmichael", "Ferreira", "Lockhart", "Duquesne", "Ingersoll",
        "Rasmussen", "Villanueva", "Tremblay"]
STREETS = ["Elm", "Maple", "Harbour", "Kingsway", "Mill", "Orchard", "Station", "Church"]
CITIES = ["Leeds", "Bristol", "Norwich", "Exeter", "Durham", "Bath"]


def _typo(word: str, rng: random.Random) -> str:
    """One adjacent transposition inside the word (keeps the first letter)."""
    at = rng.randrange(1, len(word) - 2)
    return word[:at] + word[at + 1] + word[at] + word[at + 2:]


def people(seed: int = 7) -> tuple[list[dict[str, Any]], list[set[str]], list[str]]:
    """20 people, each in crm, support (typos, nicknames) and shop (swapped names, a
    transposed birthdate, a changed phone), and 10 unrelated people; the true groups."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    groups: list[set[str]] = []
    singles: list[str] = []
    for n in range(30):
        first, last = FIRST[n % len(FIRST)], LAST[n]
        day, month = rng.randint(13, 28), rng.randint(1, 12)
        dob = f"{rng.randint(1950, 2000)}-{month:02d}-{day:02d}"
        email = f"{first.lower()}.{last.lower()}@{rng.choice(['mail.test', 'post.test'])}"
        phone = f"+44 7700 9{n:02d}{rng.randint(100, 999)}"
        address = f"{rng.randint(1, 99)} {rng.choice(STREETS)} Road"
        city = rng.choice(CITIES)
        postcode = f"LS{rng.randint(1, 29)} {rng.randint(1, 9)}AB"
        crm = {"id": f"crm-{n}", "source": "crm", "first_name": first, "last_name": last,
               "birthdate": dob, "email": email, "phone": phone, "address": address,
               "city": city, "postcode": postcode}
        if n >= 20:  # unrelated: only in the CRM
            records.append(crm)
            singles.append(crm["id"])
            continue
        support = {"id": f"support-{n}", "source": "support",
                   "first_name": NICK.get(first, first) if n % 2 else first,
                   "last_name": _typo(last, rng) if n % 3 and n % 4 else last,
                   "birthdate": dob, "email": email.upper(), "phone": phone,
                   "city": city}
        shop = {"id": f"shop-{n}", "source": "shop",
                "first_name": last if n % 4 == 0 else _typo(first, rng) if n % 4 == 1 else first,
                "last_name": first if n % 4 == 0 else last,
                "birthdate": f"{dob[:4]}-{day:02d}-{month:02d}" if month <= 12 < day and n % 2
                else dob,
                "email": f"{first[0].lower()}{last.lower()}@shop.test",
                "address": address.upper(), "city": city, "postcode": postcode.replace(" ", "")}
        records += [crm, support, shop]
        groups.append({crm["id"], support["id"], shop["id"]})
    return records, groups, singles


def _spark_available() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed"
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "no Java runtime (java on PATH or JAVA_HOME)"
    return None


def _unavailable(missing: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {missing}: the Spark tests must run in CI (see .ci/run)")
    pytest.skip(f"Spark not available: {missing}")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local Spark session for the module: an engine that starts (and at the end stops) it."""
    missing = _spark_available()
    if missing:
        _unavailable(missing)
    from allroads.batch.spark import SparkEngine

    engine = SparkEngine(master="local[2]")
    yield engine
    engine.close()


def _same(duck: MatchOutput, spark: MatchOutput) -> None:
    assert spark.candidate_pairs == duck.candidate_pairs
    assert spark.clusters == duck.clusters
    assert [(a, b) for a, b, _ in spark.links] == [(a, b) for a, b, _ in duck.links]
    assert [(a, b) for a, b, _ in spark.review] == [(a, b) for a, b, _ in duck.review]


def test_spark_and_duckdb_give_the_same_matches(spark: Any) -> None:
    records, groups, singles = people()
    options = Options(random_pairs=50_000, estimate_from=10)  # 70 records: estimate anyway
    on_spark = match_records(records, engine="spark", options=options)
    # Each engine estimates u from its own random pairs: the parameters differ a little,
    # the decisions do not.
    duck = match_records(records, engine="duckdb", options=options)
    _same(duck, on_spark)
    assert on_spark.parameters.prior == pytest.approx(duck.parameters.prior, rel=0.05)
    # With the parameters Spark estimated, DuckDB scores every pair as Spark did.
    fixed = match_records(records, engine="duckdb", options=Options(estimate=False),
                          model=person_model().with_parameters(on_spark.parameters))
    _same(fixed, on_spark)
    for (_, _, p), (_, _, q) in zip(fixed.links + fixed.review,
                                    on_spark.links + on_spark.review, strict=True):
        assert q == pytest.approx(p, abs=1e-9)

    clusters = on_spark.clusters
    for group in groups:
        assert len({clusters[r] for r in group}) == 1, sorted(group)
    members: dict[str, int] = {}
    for label in clusters.values():
        members[label] = members.get(label, 0) + 1
    assert all(members[clusters[r]] == 1 for r in singles)
    assert len(set(clusters.values())) == len(groups) + len(singles)


def test_materialized_tables_are_computed_once(spark: Any) -> None:
    from allroads.batch.spark import SparkEngine

    engine = SparkEngine(session=spark.session)
    engine.materialize("noise", "SELECT id, rand() AS x FROM range(1000)")
    first = engine.fetch("SELECT * FROM noise ORDER BY id")
    assert engine.fetch("SELECT * FROM noise ORDER BY id").equals(first)
    engine.materialize("noise", "SELECT id, rand() AS x FROM range(10)")
    assert engine.fetch("SELECT count(*) AS n FROM noise").column("n").to_pylist() == [10]

    engine.load("people", pa.table({"i": [0, 1], "names": [["bill", "william"], None],
                                    "nothing": [None, None]}))
    loaded = engine.fetch("SELECT * FROM people ORDER BY i")
    assert loaded.schema.field("names").type == pa.list_(pa.string())
    assert loaded.column("names").to_pylist() == [["bill", "william"], None]
    engine.close()
    # The handed-in session lives on without the engine's views.
    assert not spark.session.catalog.tableExists("noise")
    assert spark.session.sql("SELECT 1 AS one").collect()[0]["one"] == 1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.text("abcdeilmnorst", max_size=12)),
                          st.one_of(st.none(), st.text("abcdeilmnorst", max_size=12))),
                max_size=20))
def test_jaro_winkler_agrees_with_duckdb(pairs: list[tuple[str | None, str | None]]) -> None:
    if importlib.util.find_spec("pyspark") is None:
        _unavailable("pyspark is not installed")
    from allroads.batch.spark import jaro_winkler

    left = pd.Series([a for a, _ in pairs], dtype=object)
    right = pd.Series([b for _, b in pairs], dtype=object)
    ours = jaro_winkler(left, right)
    theirs = duckdb.execute(
        "SELECT jaro_winkler_similarity(a, b) AS s FROM (SELECT unnest($a) AS a, "
        "unnest($b) AS b)", {"a": left.tolist(), "b": right.tolist()},
    ).fetchall() if pairs else []
    for got, (want,) in zip(ours.tolist(), theirs, strict=True):
        if want is None:
            assert pd.isna(got)
        else:
            assert got == pytest.approx(want, abs=1e-12)


def test_without_java_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("pyspark") is None:
        _unavailable("pyspark is not installed")
    from allroads.batch import spark
    from allroads.domain.errors import InvalidInput

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InvalidInput, match="needs a Java runtime") as raised:
        spark._start("local[1]", "allroads-test", {})
    assert raised.value.hint is not None and "default-jre-headless" in raised.value.hint
