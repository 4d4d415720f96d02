"""The matching model as data: comparisons, their levels, blocking keys and the weights.

A model compares two records field by field. Each comparison has levels, best first
(exact, then close by Jaro-Winkler, then the same nickname or sound, ...); the first level
whose test holds gives the pair its *gamma* for that comparison: ``len(levels) - i`` for
level ``i``, 0 when no level holds ("else"), -1 when a value is missing on either side.

Each level has an m probability (how often true matches reach it) and a u probability (how
often non-matches do); a level's weight is log2(m / u), the Fellegi-Sunter weight. A pair's
match weight is the prior's log odds plus the weights of its levels; its probability follows.

The same model runs in Python (one pair at a time: the incremental path, ``score_pair``) and
as SQL (every candidate pair at once: the batch path in ``allroads.batch``). The level kinds
below are the vocabulary both understand, so the two paths agree on every pair.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from rapidfuzz.distance import JaroWinkler, Levenshtein

# Level kinds and what they test (l and r are the two records' features):
#   exact      l[col] == r[col]
#   jw         Jaro-Winkler similarity of l[col] and r[col] >= threshold
#   lev        Levenshtein distance of l[col] and r[col] <= threshold
#   overlap    the lists l[col] and r[col] share an element (nicknames)
#   swap       l[col] == r[other] and l[other] == r[col] (first and last name swapped);
#              with a threshold, both by Jaro-Winkler >= threshold (swapped, and a typo)
#   dmy_swap   dates YYYY-MM-DD with the same year and day and month swapped
LEVEL_KINDS = ("exact", "jw", "lev", "overlap", "swap", "dmy_swap")
Features = Mapping[str, Any]


@dataclass(frozen=True)
class Level:
    """One way two values can agree, with its label for evidence ('jaro-winkler >= 0.92')."""

    kind: str
    column: str
    threshold: float = 0.0
    other: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in LEVEL_KINDS:
            raise ValueError(f"unknown level kind {self.kind!r}; known: {', '.join(LEVEL_KINDS)}")
        if not self.label:
            object.__setattr__(self, "label", _default_label(self))

    def holds(self, left: Features, right: Features) -> bool:
        a, b = left.get(self.column), right.get(self.column)
        if self.kind == "swap":
            a2, b2 = left.get(self.other), right.get(self.other)
            if a is None or a2 is None or b is None or b2 is None:
                return False
            if not self.threshold:
                return bool(a == b2 and a2 == b)
            return bool(JaroWinkler.similarity(a, b2) >= self.threshold
                        and JaroWinkler.similarity(a2, b) >= self.threshold)
        if a is None or b is None:
            return False
        if self.kind == "exact":
            return bool(a == b)
        if self.kind == "jw":
            return bool(JaroWinkler.similarity(a, b) >= self.threshold)
        if self.kind == "lev":
            return bool(Levenshtein.distance(a, b) <= self.threshold)
        if self.kind == "overlap":
            return not set(a).isdisjoint(b)
        # dmy_swap
        return bool(a != b and a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7])


def _default_label(level: Level) -> str:
    if level.kind == "exact":
        return "exact"
    if level.kind == "jw":
        return f"jaro-winkler >= {level.threshold:g}"
    if level.kind == "lev":
        return f"levenshtein <= {level.threshold:g}"
    if level.kind == "overlap":
        return "same nickname group"
    if level.kind == "swap":
        return f"{level.column} and {level.other} swapped" + (
            f" (jaro-winkler >= {level.threshold:g})" if level.threshold else "")
    return "day and month transposed"


@dataclass(frozen=True)
class Comparison:
    """One field compared at several levels, best first; missing when a null column is empty."""

    name: str
    levels: tuple[Level, ...]
    null_columns: tuple[str, ...]

    def gamma(self, left: Features, right: Features) -> int:
        for column in self.null_columns:
            if left.get(column) is None or right.get(column) is None:
                return -1
        for i, level in enumerate(self.levels):
            if level.holds(left, right):
                return len(self.levels) - i
        return 0

    def level_label(self, gamma: int) -> str:
        if gamma < 0:
            return "missing"
        if gamma == 0:
            return "different"
        return self.levels[len(self.levels) - gamma].label


@dataclass(frozen=True)
class Parameters:
    """m and u per comparison, indexed by gamma (index 0 is 'else'), and the prior."""

    m: dict[str, list[float]]
    u: dict[str, list[float]]
    prior: float

    def to_json(self) -> dict[str, Any]:
        return {"m": self.m, "u": self.u, "prior": self.prior}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Parameters:
        return cls(m={k: [float(x) for x in v] for k, v in data["m"].items()},
                   u={k: [float(x) for x in v] for k, v in data["u"].items()},
                   prior=float(data["prior"]))


@dataclass(frozen=True)
class Thresholds:
    """Probabilities: at or above ``link`` link automatically; at or above ``review`` ask."""

    link: float = 0.99
    review: float = 0.80

    def __post_init__(self) -> None:
        if not 0.0 < self.review <= self.link < 1.0:
            raise ValueError("thresholds need 0 < review <= link < 1 "
                             f"(got review={self.review}, link={self.link})")

    def decide(self, probability: float) -> str:
        if probability >= self.link:
            return "link"
        return "review" if probability >= self.review else "none"


@dataclass(frozen=True)
class BlockingKey:
    """A feature column whose equal values make two records candidates, and the comparisons
    it is built from (left out when estimating m on the pairs it finds)."""

    column: str
    comparisons: tuple[str, ...]
    # False: only the incremental path looks records up by this key. One identify must find
    # a record that drifted in several fields at once; a batch run also reaches it through
    # the records between them, and some keys cost it too many pairs.
    batch: bool = True


@dataclass(frozen=True)
class MatchModel:
    """Comparisons, blocking keys (feature columns whose equal values make candidates),
    parameters and thresholds, for one entity type."""

    entity_type: str
    comparisons: tuple[Comparison, ...]
    blocking_keys: tuple[BlockingKey, ...]
    parameters: Parameters
    thresholds: Thresholds = field(default_factory=Thresholds)

    def with_parameters(self, parameters: Parameters) -> MatchModel:
        return replace(self, parameters=parameters)

    def with_thresholds(self, thresholds: Thresholds) -> MatchModel:
        return replace(self, thresholds=thresholds)

    def weights(self) -> dict[str, list[float]]:
        """log2(m/u) per comparison, indexed by gamma (0 = else); worked out once per model."""
        return self._weights

    @cached_property
    def _weights(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for comp in self.comparisons:
            m, u = self.parameters.m[comp.name], self.parameters.u[comp.name]
            out[comp.name] = [math.log2(max(mi, 1e-12) / max(ui, 1e-12))
                              for mi, ui in zip(m, u, strict=True)]
        return out

    def prior_weight(self) -> float:
        p = min(max(self.parameters.prior, 1e-12), 1 - 1e-12)
        return math.log2(p / (1 - p))

    def gammas(self, left: Features, right: Features) -> list[int]:
        return [comp.gamma(left, right) for comp in self.comparisons]

    def score_gammas(self, gammas: Sequence[int]) -> float:
        weights = self.weights()
        total = self.prior_weight()
        for comp, g in zip(self.comparisons, gammas, strict=True):
            if g >= 0:
                total += weights[comp.name][g]
        return total

    def explain(self, left: Features, right: Features) -> PairScore:
        """Score one pair with each comparison's level and weight (the evidence)."""
        weights = self.weights()
        parts: list[dict[str, Any]] = []
        total = self.prior_weight()
        for comp in self.comparisons:
            g = comp.gamma(left, right)
            w = weights[comp.name][g] if g >= 0 else 0.0
            total += w
            parts.append({"comparison": comp.name, "level": comp.level_label(g), "gamma": g,
                          "weight": round(w, 3),
                          "left": _shown(left, comp), "right": _shown(right, comp)})
        probability = probability_of(total)
        return PairScore(weight=total, probability=probability,
                         decision=self.thresholds.decide(probability), parts=parts,
                         prior_weight=self.prior_weight())


def _shown(features: Features, comp: Comparison) -> Any:
    value = features.get(comp.null_columns[0]) if comp.null_columns else None
    return list(value) if isinstance(value, (tuple, frozenset, set)) else value


def probability_of(weight: float) -> float:
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    odds: float = 2.0**weight
    return odds / (1.0 + odds)


@dataclass(frozen=True)
class PairScore:
    """A pair's match weight and probability, the decision, and each field's contribution."""

    weight: float
    probability: float
    decision: str
    parts: list[dict[str, Any]]
    prior_weight: float

    def to_json(self) -> dict[str, Any]:
        return {"match_weight": round(self.weight, 3),
                "probability": round(self.probability, 6),
                "decision": self.decision, "prior_weight": round(self.prior_weight, 3),
                "comparisons": self.parts}
