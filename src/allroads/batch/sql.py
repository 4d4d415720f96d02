"""The matching model as SQL: one gamma CASE per comparison, and the match weight of a pair.

The expressions read the two records of a pair as ``l`` and ``r``. They use functions that
DuckDB and Spark SQL both have (levenshtein, substr) and two that differ by name:
Jaro-Winkler similarity and list overlap. Everything else is standard SQL, so the batch
path is the same model as ``MatchModel.gammas`` in Python, on either engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from allroads.resolution.matching.model import Comparison, Level, MatchModel


@dataclass(frozen=True)
class Dialect:
    name: str
    jaro_winkler: str
    overlap: str


DUCKDB = Dialect("duckdb", "jaro_winkler_similarity", "list_has_any")
SPARK = Dialect("spark", "allroads_jaro_winkler", "arrays_overlap")


def _col(side: str, column: str) -> str:
    return f"{side}.{column}"


def level_sql(level: Level, dialect: Dialect) -> str:
    a, b = _col("l", level.column), _col("r", level.column)
    if level.kind == "exact":
        return f"{a} = {b}"
    if level.kind == "jw":
        return f"{dialect.jaro_winkler}({a}, {b}) >= {level.threshold!r}"
    if level.kind == "lev":
        return f"levenshtein({a}, {b}) <= {int(level.threshold)}"
    if level.kind == "overlap":
        return f"{dialect.overlap}({a}, {b})"
    if level.kind == "swap":
        a2, b2 = _col("l", level.other), _col("r", level.other)
        if not level.threshold:
            return f"({a} = {b2} AND {a2} = {b})"
        jw = dialect.jaro_winkler
        return (f"({jw}({a}, {b2}) >= {level.threshold!r} "
                f"AND {jw}({a2}, {b}) >= {level.threshold!r})")
    return (f"({a} <> {b} AND substr({a}, 1, 4) = substr({b}, 1, 4) "
            f"AND substr({a}, 6, 2) = substr({b}, 9, 2) AND substr({a}, 9, 2) = substr({b}, 6, 2))")


def gamma_sql(comparison: Comparison, dialect: Dialect) -> str:
    nulls = " OR ".join(f"l.{c} IS NULL OR r.{c} IS NULL" for c in comparison.null_columns)
    parts = [f"WHEN {nulls} THEN -1"] if nulls else []
    n = len(comparison.levels)
    parts += [f"WHEN {level_sql(level, dialect)} THEN {n - i}"
              for i, level in enumerate(comparison.levels)]
    return "CASE " + " ".join(parts) + " ELSE 0 END"


def gamma_columns(model: MatchModel) -> list[str]:
    return [f"g_{c.name}" for c in model.comparisons]


def gammas_select(model: MatchModel, dialect: Dialect) -> str:
    """`CAST(CASE ... END AS INT) AS g_<name>, ...` for every comparison."""
    return ", ".join(f"CAST({gamma_sql(c, dialect)} AS INT) AS g_{c.name}"
                     for c in model.comparisons)


def weight_sql(model: MatchModel) -> str:
    """The match weight of a row of gammas: the prior plus each level's log2(m/u)."""
    weights = model.weights()
    terms = [repr(round(model.prior_weight(), 9))]
    for comp in model.comparisons:
        cases = " ".join(f"WHEN {g} THEN {w!r}" for g, w in enumerate(weights[comp.name]))
        terms.append(f"(CASE g_{comp.name} {cases} ELSE 0.0 END)")
    return "CAST(" + " + ".join(terms) + " AS DOUBLE)"
