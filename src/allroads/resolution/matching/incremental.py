"""Fuzzy matching one record at a time: the incremental path of the matching model.

Every live record keeps its blocking keys in the store (``match_keys``: one row per key its
features give, ``bk_name=JN|SM0``). For a new record, ``find_matches``

1. builds its keys (``keys_of``) and looks them up: the records that share any key are the
   candidates (a key shared by more than ``cap`` records is skipped: it says little);
2. reads the candidates' features, stored with their keys (``match_features``; a record
   without them is read and turned into features with the same functions the batch path
   uses: ``flat_record``, then ``person_features`` / ``account_features``);
3. scores every candidate with its gammas and the model's weights (cheap), and walks them
   best first, reading the heads (the entity each record is in now, followed to the
   survivor; its current version) of the best ones only, until ``limit`` entities have
   their best record. Those below ``at_least`` are not walked: identify and imports ask
   for the review threshold, and a new customer's candidates are mostly below it, so most
   look-ups read no head at all;
4. returns them best first, explained when asked (each comparison's level and weight: the
   evidence stored with a fuzzy link). ``decide`` applies the tenant's thresholds: link,
   review, none.

Measured at 1M people (SQLite, a new person's look-up, about 42 candidates): 2.0 ms
before the features-first walk, about 1.2 ms with it (heads read: 0.004 ms against 1.2 ms).

The tenant's model (estimated parameters and thresholds from ``match_settings``) is kept by
a ``ModelCache``: one small read of the settings' ``updated_at`` per call tells whether
the copy is current, so a match run that saves new parameters is seen at once.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import orjson

from allroads.domain.normalize.person_name import split_full_name
from allroads.domain.types import EntityType
from allroads.resolution.matching.accounts import account_features, account_model
from allroads.resolution.matching.model import (
    Features,
    MatchModel,
    PairScore,
    Parameters,
    Thresholds,
    probability_of,
)
from allroads.resolution.matching.people import person_features, person_model
from allroads.resolution.rules import RuleSet
from allroads.resolution.unit import stored_rules
from allroads.store import Tx
from allroads.store.match_keys import RecordHead

FeatureFunction = Callable[[Mapping[str, Any]], dict[str, Any]]

# A key value longer than this is stored as a hash (keeps the index small; 64 at most).
HASH_OVER = 40
# A key held by more records than this is skipped (see docs/matching.md: max_block).
MAX_BLOCK = 1000
# At most this many candidate records are scored: those found by the most keys first, then
# those found by the rarest keys (a small block says more than a big one).
MAX_CANDIDATES = 600
# The best entities explained and returned.
MAX_MATCHES = 5

# What makes a record worth a fuzzy look-up: without one of these fields (in the attribute
# vocabulary) the record can only match on identifiers, which identify handles exactly.
FUZZY_FIELDS: dict[str, frozenset[str]] = {
    "person": frozenset({"first_name", "last_name", "name", "birthdate", "address"}),
    "account": frozenset({"name", "display_name"}),
}

# Stored features (``stored_features``) carry this revision. Bump it when person_features
# or account_features change what they give: features stored by older code are then not
# used (worked out from the record again until `allroads match index` stores them anew).
FEATURES_REVISION = 1

# Identifier kinds that are not customer attributes (the record's own key).
_NOT_ATTRIBUTES = frozenset({"source_id"})
# Attribute names some sources use, and the name the matching features read.
ALIASES = {"dob": "birthdate", "date_of_birth": "birthdate", "birth_date": "birthdate",
           "zip": "postcode", "zip_code": "postcode", "postal_code": "postcode",
           "given_name": "first_name", "family_name": "last_name", "surname": "last_name",
           "company": "name", "company_name": "name"}
_ADDRESS_PARTS = ("line1", "street", "address1", "line2", "address2")


# Records in the attribute vocabulary ---------------------------------------------------------
def flat_record(attributes: Mapping[str, Any], identifiers: Mapping[str, Any]
                ) -> dict[str, Any]:
    """A record in the attribute vocabulary the matching features read: attributes as
    stored (aliases renamed, an address object split into address, city, postcode), then the
    first value of each identifier kind the attributes do not already hold."""
    flat: dict[str, Any] = {}
    for key, value in attributes.items():
        if key.startswith("_") or value is None:
            continue
        name = ALIASES.get(key, key)
        if isinstance(value, Mapping) and name == "address":
            _flatten_address(value, flat)
        elif name not in flat:
            flat[name] = value
    for kind, values in identifiers.items():
        if kind in _NOT_ATTRIBUTES or kind in flat:
            continue
        first = values[0] if isinstance(values, list) and values else values
        if first not in (None, [], ""):
            flat[kind] = first
    return flat


def stored_flat_record(attributes: Mapping[str, Any], identifiers: Mapping[str, Any],
                       rules: RuleSet) -> dict[str, Any]:
    """A stored record as matching reads it: `flat_record` of its identifiers without the
    values the tenant's `rules` block now, as identify reads a record it receives. The match
    runs, `match index`, re-marking after a rule change and the fallback for a record
    without stored features all read stored records so."""
    return flat_record(attributes, rules.without_blocked(identifiers))


def _flatten_address(address: Mapping[str, Any], flat: dict[str, Any]) -> None:
    lines = [str(address[k]) for k in _ADDRESS_PARTS if address.get(k)]
    if lines:
        flat["address"] = " ".join(lines)
    for key, name in (("city", "city"), ("postcode", "postcode"), ("zip", "postcode"),
                      ("postal_code", "postcode"), ("state", "state")):
        if address.get(key) and name not in flat:
            flat[name] = address[key]


def features_for(entity_type: str) -> FeatureFunction:
    """The feature function of the type (for people: full names split once, cached; the
    features are exactly ``person_features``')."""
    if entity_type == "person":
        return _person_features_presplit
    if entity_type == "account":
        return account_features
    raise ValueError(f"no matching model for entity type {entity_type!r}; "
                     "use person or account")


def default_model(entity_type: str) -> MatchModel:
    if entity_type == "person":
        return person_model()
    if entity_type == "account":
        return account_model()
    raise ValueError(f"no matching model for entity type {entity_type!r}; "
                     "use person or account")


@cache
def key_model(entity_type: str) -> MatchModel:
    """The model whose blocking keys records are indexed by: the type's default (keys do not
    depend on a tenant's estimated parameters)."""
    return default_model(entity_type)


def wants_fuzzy(entity_type: str, flat: Mapping[str, Any]) -> bool:
    """Whether the record holds a field fuzzy matching compares (a name, a birthdate, an
    address...); without one no look-up is worth its cost."""
    fields = FUZZY_FIELDS.get(entity_type, frozenset())
    return any(flat.get(f) not in (None, "") for f in fields)


# Keys ------------------------------------------------------------------------------------
def key_string(column: str, value: Any) -> str:
    """'bk_name=JN|SM0'; a long value as the first 20 hex digits of its SHA-1."""
    text = str(value)
    if len(text) > HASH_OVER:
        text = "#" + hashlib.sha1(text.encode()).hexdigest()[:20]
    return f"{column}={text}"


def keys_of(features: Features, model: MatchModel) -> list[str]:
    """The record's blocking keys as stored: one per key column of the model with a value."""
    out: list[str] = []
    for key in model.blocking_keys:
        value = features.get(key.column)
        if value not in (None, ""):
            out.append(key_string(key.column, value))
    return out


def stored_features(features: Features) -> str:
    """The features as stored beside a record's keys: JSON text of the compared ones
    (without the blocking keys, which are stored as keys, or empty values), with the
    revision they were worked out by."""
    kept = {k: v for k, v in features.items() if v is not None and not k.startswith("bk_")}
    kept["_rev"] = FEATURES_REVISION
    return orjson.dumps(kept).decode()


# Scores ----------------------------------------------------------------------------------
@dataclass
class FuzzyMatch:
    """The best-scoring record of one candidate entity, and how it scored."""

    entity_id: int
    record_id: int
    source: str
    source_key: str
    probability: float
    match_weight: float
    keys: list[str]
    # What explains it, on demand: identify needs the explanation of one or two of the
    # matches at most (the one it links or queues), not of every entity returned.
    pair: tuple[Scorer, Features, Features] | None = field(default=None, repr=False,
                                                           compare=False)
    _score: PairScore | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def score(self) -> PairScore | None:
        """Each comparison's level and weight (worked out on first use)."""
        if self._score is None and self.pair is not None:
            scorer, left, right = self.pair
            self._score = scorer.explain(left, right)
        return self._score

    def decision(self, thresholds: Thresholds) -> str:
        return thresholds.decide(self.probability)

    def evidence(self) -> dict[str, Any]:
        """The evidence of a fuzzy link: the probability, the weight and each field's
        level and contribution."""
        return {"rule": "fuzzy", "probability": round(self.probability, 6),
                "match_weight": round(self.match_weight, 3),
                "record": {"source": self.source, "source_id": self.source_key},
                "keys": self.keys,
                "prior_weight": round(self.score.prior_weight, 3) if self.score else None,
                "comparisons": self.score.parts if self.score else []}


@dataclass(frozen=True)
class Scorer:
    """A model with its weights worked out once: scoring a candidate is a table look-up
    per comparison (``MatchModel.score_gammas`` recomputes the weights every call)."""

    model: MatchModel
    weights: tuple[tuple[float, ...], ...]
    prior: float

    @classmethod
    def of(cls, model: MatchModel) -> Scorer:
        table = model.weights()
        return cls(model, tuple(tuple(table[c.name]) for c in model.comparisons),
                   model.prior_weight())

    def weight(self, left: Features, right: Features) -> float:
        return self.weigher(left)(right)

    def weigher(self, left: Features) -> Callable[[Features], float]:
        """`weight(left, ·)` for the candidates of one record: the comparisons whose
        columns `left` lacks are missing for every candidate (weight 0), so they are left
        out once instead of checked per candidate. (Binding each level to left's values as
        well saved 15% a candidate, but cost more than that for an import's rows, most of
        which have a few candidates or none.)"""
        active = [(comp.gamma, weights)
                  for comp, weights in zip(self.model.comparisons, self.weights, strict=True)
                  if all(left.get(c) is not None for c in comp.null_columns)]
        prior = self.prior

        def weight(right: Features) -> float:
            total = prior
            for gamma, weights in active:
                g = gamma(left, right)
                if g >= 0:
                    total += weights[g]
            return total

        return weight

    def explain(self, left: Features, right: Features) -> PairScore:
        return self.model.explain(left, right)


@dataclass
class _Entry:
    version: dt.datetime | None
    generation: int
    scorer: Scorer


@dataclass
class ModelCache:
    """The tenant's model per entity type (its estimated parameters and thresholds, else the
    defaults), kept until the settings' ``updated_at`` changes or ``invalidate`` is called."""

    _entries: dict[tuple[int, str], _Entry] = field(default_factory=dict)
    _generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def scorer(self, tx: Tx, tenant_id: int, entity_type: str) -> Scorer:
        version = tx.match_settings_version(tenant_id, entity_type)
        key = (tenant_id, entity_type)
        entry = self._entries.get(key)
        if entry is not None and entry.version == version \
                and entry.generation == self._generation:
            return entry.scorer
        scorer = Scorer.of(tenant_model(tx, tenant_id, entity_type))
        with self._lock:
            self._entries[key] = _Entry(version, self._generation, scorer)
        return scorer

    def model(self, tx: Tx, tenant_id: int, entity_type: str) -> MatchModel:
        return self.scorer(tx, tenant_id, entity_type).model


MODELS = ModelCache()


def tenant_model(tx: Tx, tenant_id: int, entity_type: str) -> MatchModel:
    """The default model of the type with the tenant's thresholds and estimated parameters."""
    model = default_model(entity_type)
    settings = tx.match_settings(tenant_id, entity_type)
    if settings is not None:
        model = model.with_thresholds(Thresholds(link=settings.link_threshold,
                                                 review=settings.review_threshold))
        if settings.parameters:
            model = model.with_parameters(Parameters.from_json(settings.parameters))
    return model


# Candidates' features ----------------------------------------------------------------------
class FeatureCache:
    """The features of stored records: those stored with the record's keys for its current
    version (``stored_features``); else worked out from the record (a record written
    before features were stored; its identifiers without the values the tenant's rules
    block, as identify reads a record it receives) and kept, keyed by (record id, version,
    content hash): a version never changes, so neither do its features. When full (`size`
    entries) the cache starts again empty."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._entries: dict[tuple[int, int, str], dict[str, Any]] = {}

    def read(self, tx: Tx, tenant_id: int, entity_type: str, record_ids: Iterable[int]
             ) -> dict[int, tuple[RecordHead, dict[str, Any]]]:
        """These live records (the entity each is in now) with their features; records
        whose entity is deleted are left out."""
        heads = tx.match_record_heads(tenant_id, entity_type, record_ids)
        entries = self._entries
        out: dict[int, tuple[RecordHead, dict[str, Any]]] = {}
        missing: list[RecordHead] = []
        for head in heads:
            stored = head.features
            if stored is not None and stored.get("_rev") == FEATURES_REVISION:
                out[head.id] = (head, stored)
                continue
            features = entries.get((head.id, head.version, head.content_hash))
            if features is None:
                missing.append(head)
            else:
                out[head.id] = (head, features)
        if missing:
            featurize = features_for(entity_type)
            rules = stored_rules(tx, tenant_id, EntityType(entity_type))
            contents = tx.match_record_contents([h.id for h in missing])
            if len(entries) + len(missing) > self.size:
                entries.clear()
            for head in missing:
                if head.id in contents:
                    attributes, identifiers = contents[head.id]
                    features = featurize(stored_flat_record(attributes, identifiers, rules))
                    entries[(head.id, head.version, head.content_hash)] = features
                    out[head.id] = (head, features)
        return out


FEATURES = FeatureCache()


# Finding matches -----------------------------------------------------------------------------
def find_matches(tx: Tx, tenant_id: int, entity_type: str, features: Features,
                 model: MatchModel | Scorer, *, exclude_entity: int | None = None,
                 exclude_records: Iterable[int] = (), cap: int = MAX_BLOCK,
                 limit: int = MAX_MATCHES, keys: Sequence[str] | None = None,
                 at_least: float = 0.0) -> list[FuzzyMatch]:
    """The entities whose records share a blocking key with `features`, each with its best
    record's score (explained), best first; at most `limit`, each with a probability of
    `at_least` or more. `exclude_entity`: the entity the record is in already;
    `exclude_records`: the record itself."""
    scorer = model if isinstance(model, Scorer) else Scorer.of(model)
    wanted = list(keys) if keys is not None else keys_of(features, scorer.model)
    return find_matches_many(tx, tenant_id, entity_type, [(features, wanted)], scorer,
                             exclude_entity=exclude_entity, exclude_records=exclude_records,
                             cap=cap, limit=limit, at_least=at_least)[0]


def find_matches_many(tx: Tx, tenant_id: int, entity_type: str,
                      items: Sequence[tuple[Features, Sequence[str]]], model: MatchModel | Scorer,
                      *, exclude_entity: int | None = None, exclude_records: Iterable[int] = (),
                      cap: int = MAX_BLOCK, limit: int = MAX_MATCHES, at_least: float = 0.0
                      ) -> list[list[FuzzyMatch]]:
    """`find_matches` for many records at once (features with their keys): each key is
    looked up once, and each candidate record read and turned into features once, however
    many of the records it is a candidate of. Each record's answer is the one
    `find_matches` gives it alone."""
    scorer = model if isinstance(model, Scorer) else Scorer.of(model)
    out: list[list[FuzzyMatch]] = [[] for _ in items]
    wanted = {k for _, keys in items for k in keys}
    if not wanted:
        return out
    found = tx.match_key_candidates(tenant_id, entity_type, wanted, cap=cap)
    size = {k: len(ids) for k, ids in found.records.items()}
    excluded = set(exclude_records)
    chosen: list[tuple[dict[int, list[str]], list[int]]] = []
    union: set[int] = set()
    for _, keys in items:
        hits: dict[int, list[str]] = {}
        for key in sorted(set(keys)):
            for rid in found.records.get(key, ()):
                if rid not in excluded:
                    hits.setdefault(rid, []).append(key)
        picked = sorted(hits)
        if len(picked) > MAX_CANDIDATES:
            # those found by the most keys first, then by the rarest keys
            picked = sorted(sorted(picked, key=lambda r: (-len(hits[r]),
                                                          min(size[k] for k in hits[r]), r))
                            [:MAX_CANDIDATES])
        chosen.append((hits, picked))
        union.update(picked)
    if not union:
        return out
    # Every candidate is scored from its stored features; the heads (which entity each
    # record is in now, which version it is at) are read for the best ones only, best
    # first, until `limit` entities are found (`_Ranking`).
    stored = {rid: (version, feats) for rid, (version, feats)
              in tx.stored_match_features(union).items()
              if feats.get("_rev") == FEATURES_REVISION}
    heads = _Heads(tx, tenant_id, entity_type, stored)
    heads.read(union - stored.keys())  # no stored features: worked out from the record
    rankings = [_Ranking(scorer, features, picked, heads, exclude_entity, limit, at_least)
                for (features, _), (_, picked) in zip(items, chosen, strict=True)]
    while True:  # the heads every unfinished ranking needs next, in one read
        wanted_heads = {rid for ranking in rankings for rid in ranking.next_heads()}
        if not wanted_heads:
            break
        heads.read(wanted_heads)
    for i, ((features, _), (hits, _), ranking) in enumerate(
            zip(items, chosen, rankings, strict=True)):
        out[i] = [FuzzyMatch(head.entity_id, head.id, head.source, head.source_key,
                             probability_of(weight), weight, sorted(hits[head.id]),
                             (scorer, features, other))
                  for weight, head, other in ranking.best()]
    return out


@dataclass
class _Heads:
    """What one look-up has read of its candidates: `stored`, each record's stored features
    (of the version they were stored for, which its head tells is current or not), and
    `heads`, the heads read so far with the record's current features (None: the record is
    not live, or not of this tenant and type)."""

    tx: Tx
    tenant_id: int
    entity_type: str
    stored: dict[int, tuple[int, dict[str, Any]]]
    heads: dict[int, tuple[RecordHead, dict[str, Any]] | None] = field(default_factory=dict)

    def features(self, rid: int) -> dict[str, Any] | None:
        got = self.heads.get(rid)
        if got is not None:
            return got[1]
        held = self.stored.get(rid)
        return held[1] if held is not None and rid not in self.heads else None

    def read(self, record_ids: Iterable[int]) -> None:
        wanted = [rid for rid in record_ids if rid not in self.heads]
        if not wanted:
            return
        found = FEATURES.read(self.tx, self.tenant_id, self.entity_type, wanted)
        for rid in wanted:
            self.heads[rid] = found.get(rid)

    def stale(self, rid: int) -> bool:
        """Whether the record was scored from features of a version behind its current
        one (its head is read)."""
        got, held = self.heads.get(rid), self.stored.get(rid)
        return got is not None and held is not None and held[0] != got[0].version


class _Ranking:
    """One record's candidates, best first, walked until `limit` entities have their best
    record: the same entities and order as scoring every candidate with its head read."""

    def __init__(self, scorer: Scorer, features: Features, picked: Sequence[int],
                 heads: _Heads, exclude_entity: int | None, limit: int,
                 at_least: float = 0.0) -> None:
        self.heads = heads
        self.exclude_entity = exclude_entity
        self.limit = limit
        scored = [(rid, other) for rid in picked if (other := heads.features(rid)) is not None]
        # An import's rows mostly have a few candidates or none: no weigher for none.
        self.weigh = scorer.weigher(features) if scored else None
        # the first of equal weights: the lowest record id
        order = sorted((-self.weigh(other), rid) for rid, other in scored) if self.weigh \
            else []
        if at_least > 0.0:  # those below it are not asked for: their heads are not read
            cut = 0
            while cut < len(order) and probability_of(-order[cut][0]) >= at_least:
                cut += 1
            del order[cut:]
        self.order = order
        self.at_least = at_least
        self.pos = 0
        self.rescored: set[int] = set()
        self.found: dict[int, tuple[float, RecordHead, dict[str, Any]]] = {}

    def next_heads(self) -> list[int]:
        """Walk as far as the heads read allow; the records whose heads are needed to go
        on (none: done)."""
        heads, order = self.heads, self.order
        while self.pos < len(order):
            weight, rid = -order[self.pos][0], order[self.pos][1]
            if len(self.found) >= self.limit and weight < min(
                    w for w, _, _ in self.found.values()):
                break  # ties with the last entity found are still walked
            if rid not in heads.heads:
                # the next few: most entities hold one record or two
                return [r for _, r in order[self.pos:self.pos + self.limit + 2]
                        if r not in heads.heads]
            got = heads.heads[rid]
            if got is not None and rid not in self.rescored and heads.stale(rid):
                # Scored from an older version's features (a safety net: every write keeps
                # them current): scored again, and walked in its new place.
                assert self.weigh is not None  # a walked record was scored
                self.rescored.add(rid)
                del order[self.pos]
                rescored = self.weigh(got[1])
                if rescored < weight:
                    if probability_of(rescored) >= self.at_least:
                        bisect.insort(order, (-rescored, rid), lo=self.pos)
                    continue
                weight = rescored
            else:
                self.pos += 1
            if got is None or got[0].entity_id == self.exclude_entity:
                continue
            held = self.found.get(got[0].entity_id)
            if held is None or weight > held[0] or (weight == held[0] and rid < held[1].id):
                self.found[got[0].entity_id] = (weight, got[0], got[1])
        return []

    def best(self) -> list[tuple[float, RecordHead, dict[str, Any]]]:
        """The best record of each of the best `limit` entities, best first."""
        ranked = sorted(self.found.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return [found for _, found in ranked[:self.limit]]


# Splitting a full name (nameparser) costs about a millisecond, and the same stored names
# come back as candidates again and again: split each once, as person_features would.
_split_name = lru_cache(maxsize=65_536)(split_full_name)


def _person_features_presplit(flat: Mapping[str, Any]) -> dict[str, Any]:
    full = flat.get("name")
    if full and not flat.get("first_name") and not flat.get("last_name") \
            and isinstance(full, str) and full.strip():
        first, last = _split_name(full.strip())
        flat = {**flat, "first_name": first, "last_name": last}
    return person_features(flat)


@dataclass(frozen=True)
class FuzzyDecision:
    """What the best match says under the thresholds: link, review or none."""

    action: str
    best: FuzzyMatch | None

    @property
    def linked(self) -> bool:
        return self.action == "link"


def decide(matches: Sequence[FuzzyMatch], thresholds: Thresholds) -> FuzzyDecision:
    if not matches:
        return FuzzyDecision("none", None)
    top = matches[0]
    return FuzzyDecision(thresholds.decide(top.probability), top)


def index_record(tx: Tx, tenant_id: int, entity_type: str, record_id: int, version: int,
                 features: Features, *, new: bool = False) -> None:
    """Store the record's blocking keys and features as of `version` (replacing what it
    held). `new`: the record was just inserted."""
    tx.replace_match_keys(tenant_id, entity_type, record_id,
                          keys_of(features, key_model(entity_type)), new=new)
    tx.put_match_features(record_id, version, stored_features(features), new=new)


def index_records(tx: Tx, tenant_id: int, entity_type: str,
                  records: Iterable[tuple[int, int, Features]],
                  model: MatchModel | None = None) -> int:
    """`index_record` in bulk for records holding no keys or features yet: (record id,
    version, features) each; how many keys were written."""
    model = model or key_model(entity_type)
    items = list(records)
    written = tx.insert_match_keys((tenant_id, entity_type, k, rid)
                                   for rid, _, features in items
                                   for k in keys_of(features, model))
    tx.insert_match_features((rid, version, stored_features(features))
                             for rid, version, features in items)
    return written


__all__ = ["MODELS", "FuzzyDecision", "FuzzyMatch", "ModelCache", "Scorer", "decide",
           "find_matches", "find_matches_many", "flat_record", "index_record", "index_records",
           "key_model", "keys_of", "stored_features", "stored_flat_record", "tenant_model",
           "wants_fuzzy"]
