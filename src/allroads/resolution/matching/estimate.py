"""Estimating m, u and the prior without labels (EM), and improving them from review decisions.

EM works on *pattern counts*: the candidate pairs grouped by their gamma vector. A tenant's
million candidate pairs make a few thousand patterns, so each iteration is a handful of
array operations whatever the data size.

- u starts from random pairs (almost all non-matches): how often two unrelated records agree.
- m starts from the model's current values; EM then re-estimates m, u and the share of
  matches among candidates, assuming fields agree independently given match status.
- Reviewed pairs (accepted = match, rejected = non-match) enter with their class fixed.
- The current parameters act as a prior worth ``prior_pairs`` pairs, so a few reviews move
  the model a little and a big batch moves it a lot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from allroads.resolution.matching.model import MatchModel, Parameters

FLOOR = 1e-6
# Rounds of (u from random pairs weighted by their chance of being non-matches, then m).
ROUNDS = 3
# Pseudo-pairs added to every level's count among random pairs, so a level never seen among
# them (a nickname, a transposed date) gets a large but finite weight.
SMOOTHING = 0.5
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Patterns:
    """Distinct gamma vectors (rows, one column per comparison) and how many pairs have each."""

    gammas: IntArray
    counts: FloatArray

    @classmethod
    def empty(cls, width: int) -> Patterns:
        return cls(np.zeros((0, width), dtype=np.int64), np.zeros(0, dtype=np.float64))

    @classmethod
    def of(cls, rows: list[tuple[int, ...]], counts: list[float], width: int) -> Patterns:
        if not rows:
            return cls.empty(width)
        return cls(np.asarray(rows, dtype=np.int64).reshape(len(rows), width),
                   np.asarray(counts, dtype=np.float64))


@dataclass(frozen=True)
class Estimate:
    parameters: Parameters
    iterations: int
    converged: bool
    candidate_pairs: float


def _level_share(gammas: IntArray, weights: FloatArray, size: int) -> FloatArray:
    """Per level (gamma 0..size-1), the weighted share among pairs where the field is present."""
    present = gammas >= 0
    totals = np.bincount(gammas[present], weights=weights[present], minlength=size)[:size]
    return np.asarray(totals, dtype=np.float64)


def u_from_random(model: MatchModel, random_pairs: Patterns) -> dict[str, list[float]]:
    """u per comparison from the gamma patterns of random pairs (almost all non-matches)."""
    out: dict[str, list[float]] = {}
    for k, comp in enumerate(model.comparisons):
        size = len(comp.levels) + 1
        counts = _level_share(random_pairs.gammas[:, k], random_pairs.counts, size)
        if counts.sum() <= 0:
            out[comp.name] = list(model.parameters.u[comp.name])
            continue
        share = (counts + SMOOTHING) / (counts + SMOOTHING).sum()
        out[comp.name] = [float(x) for x in share]
    return out


def expectation_maximisation(
    model: MatchModel,
    candidates: Patterns,
    *,
    random_pairs: Patterns | None = None,
    matches: Patterns | None = None,
    non_matches: Patterns | None = None,
    prior_pairs: float = 50.0,
    fix_u: bool = True,
    start_prior: float | None = None,
    max_iterations: int = 200,
    tolerance: float = 1e-7,
) -> Estimate:
    """Estimate m, u and the share of matches among candidate pairs."""
    width = len(model.comparisons)
    sizes = [len(c.levels) + 1 for c in model.comparisons]
    names = [c.name for c in model.comparisons]
    m = {n: np.asarray(model.parameters.m[n], dtype=np.float64) for n in names}
    u_start = (u_from_random(model, random_pairs) if random_pairs is not None
               and len(random_pairs.counts) else model.parameters.u)
    u = {n: np.asarray(u_start[n], dtype=np.float64) for n in names}
    prior_m = {n: m[n] / m[n].sum() for n in names}
    prior_u = {n: u[n] / u[n].sum() for n in names}
    matches = matches if matches is not None else Patterns.empty(width)
    non_matches = non_matches if non_matches is not None else Patterns.empty(width)
    gammas = np.vstack([candidates.gammas, matches.gammas, non_matches.gammas])
    counts = np.concatenate([candidates.counts, matches.counts, non_matches.counts])
    n_free = len(candidates.counts)
    fixed = np.concatenate([np.ones(len(matches.counts)), np.zeros(len(non_matches.counts))])
    total = float(counts.sum())
    lam = start_prior if start_prior is not None else model.parameters.prior
    converged = False
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007
        r = posterior(Parameters(m=m, u=u, prior=lam), names, gammas)  # type: ignore[arg-type]
        r[n_free:] = fixed
        rm, ru = r * counts, (1 - r) * counts
        new_m: dict[str, FloatArray] = {}
        new_u: dict[str, FloatArray] = {}
        for k, name in enumerate(names):
            g = gammas[:, k]
            mm = _level_share(g, rm, sizes[k]) + prior_pairs * prior_m[name]
            uu = _level_share(g, ru, sizes[k]) + prior_pairs * prior_u[name]
            new_m[name] = np.maximum(mm / mm.sum(), FLOOR)
            new_u[name] = u[name] if fix_u else np.maximum(uu / uu.sum(), FLOOR)
        new_lam = float(rm[:n_free].sum() / max(counts[:n_free].sum(), 1e-12)) if n_free else lam
        change = max(max(float(np.abs(new_m[n] - m[n]).max()) for n in names),
                     max(float(np.abs(new_u[n] - u[n]).max()) for n in names),
                     abs(new_lam - lam))
        m, u, lam = new_m, new_u, new_lam
        if change < tolerance:
            converged = True
            break
    parameters = Parameters(m={n: [float(x) for x in m[n]] for n in names},
                            u={n: [float(x) for x in u[n]] for n in names},
                            prior=float(min(max(lam, 1e-9), 1 - 1e-9)))
    return Estimate(parameters, iteration, converged, total)


@dataclass(frozen=True)
class Session:
    """The candidate pairs one blocking key found, and the comparisons that key is built from
    (they agree by construction on these pairs, so they say nothing here and are left out)."""

    key: str
    patterns: Patterns
    excluded: tuple[int, ...]


@dataclass(frozen=True)
class Training:
    parameters: Parameters
    sessions: list[dict[str, object]]


def train(
    model: MatchModel,
    sessions: list[Session],
    random_pairs: Patterns,
    possible_pairs: float,
    *,
    matches: Patterns | None = None,
    non_matches: Patterns | None = None,
) -> Training:
    """u from random pairs; m by EM per blocking-key session; the prior from the matches found.

    Each session estimates m for the comparisons its key does not fix, with u held at the
    random-pair values; a comparison's m is the mean over the sessions that estimated it.
    The prior (the chance that two random records match) is the largest number of matches
    any session found, over all possible pairs.
    """
    names = [c.name for c in model.comparisons]
    u: dict[str, list[float]] = {k: list(v) for k, v in model.parameters.u.items()}
    parameters = model.parameters
    report: list[dict[str, object]] = []
    random_weights = random_pairs.counts
    for _ in range(ROUNDS):
        if len(random_pairs.counts):
            u = u_from_random(model, Patterns(random_pairs.gammas, random_weights))
        parameters, report = _sessions(model, u, sessions, possible_pairs, matches, non_matches)
        if not len(random_pairs.counts):
            break
        # Random pairs include a few true matches (many, in small data sets): weigh each by
        # its chance of being a non-match and estimate u again.
        random_weights = random_pairs.counts * (1.0 - posterior(parameters, names,
                                                                random_pairs.gammas))
    return Training(parameters, report)


def posterior(parameters: Parameters, names: list[str], gammas: IntArray) -> FloatArray:
    """The probability that pairs with these gamma rows match."""
    lam = min(max(parameters.prior, 1e-12), 1 - 1e-12)
    log_m = np.full(len(gammas), np.log(lam))
    log_u = np.full(len(gammas), np.log(1 - lam))
    for k, name in enumerate(names):
        g = gammas[:, k]
        present = g >= 0
        log_m[present] += np.log(np.maximum(np.asarray(parameters.m[name])[g[present]], FLOOR))
        log_u[present] += np.log(np.maximum(np.asarray(parameters.u[name])[g[present]], FLOOR))
    out: FloatArray = 1.0 / (1.0 + np.exp(np.clip(log_u - log_m, -700, 700)))
    return out


def _sessions(model: MatchModel, u: dict[str, list[float]], sessions: list[Session],
              possible_pairs: float, matches: Patterns | None, non_matches: Patterns | None
              ) -> tuple[Parameters, list[dict[str, object]]]:
    base = model.with_parameters(Parameters(m=model.parameters.m, u=u, prior=0.5))
    collected: dict[str, list[list[float]]] = {c.name: [] for c in model.comparisons}
    found = 0.0
    report: list[dict[str, object]] = []
    for session in sessions:
        if not len(session.patterns.counts):
            continue
        gammas = session.patterns.gammas.copy()
        gammas[:, list(session.excluded)] = -1
        est = expectation_maximisation(
            base, Patterns(gammas, session.patterns.counts), matches=_without(
                matches, session.excluded), non_matches=_without(non_matches, session.excluded),
            start_prior=0.5, fix_u=True)
        pairs = float(session.patterns.counts.sum())
        found = max(found, est.parameters.prior * pairs)
        report.append({"key": session.key, "pairs": int(pairs), "iterations": est.iterations,
                       "match_share": round(est.parameters.prior, 6)})
        for k, comp in enumerate(model.comparisons):
            present = (gammas[:, k] >= 0) @ session.patterns.counts
            if k not in session.excluded and present > 0:
                collected[comp.name].append(est.parameters.m[comp.name])
    m = {name: ([float(x) for x in np.mean(np.asarray(vals), axis=0)] if vals
                else list(model.parameters.m[name])) for name, vals in collected.items()}
    prior = min(max(found / max(possible_pairs, 1.0), 1e-12), 0.5)
    return Parameters(m=m, u={k: list(v) for k, v in u.items()}, prior=prior), report


def _without(patterns: Patterns | None, excluded: tuple[int, ...]) -> Patterns | None:
    if patterns is None or not len(patterns.counts):
        return patterns
    gammas = patterns.gammas.copy()
    gammas[:, list(excluded)] = -1
    return Patterns(gammas, patterns.counts)
