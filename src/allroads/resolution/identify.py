"""Identify: take one source's record of a customer, find or create its entity, say why.

    1. normalize the identifiers (every bad value reported at once);
    2. drop the values the rules block, and those shared by too many entities;
    3. find the entity of this (source, source_id) record, and the entities holding the values;
    4. decide: create, attach, merge (unless protected), review or reject, per the policy;
    5. write the record version, the index, the link with its evidence, and the profiles.

When no identifier matched and the record would make a new entity, fuzzy matching has its
say first (`allroads.resolution.matching.incremental`): a candidate found through the
blocking keys at or above the tenant's link threshold takes the record (rule "fuzzy", with
each field's contribution as evidence); in the review band the new entity is created and
the pair queued for review. Every record written keeps its blocking keys current.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from allroads.domain.errors import IdentifierConflict, InvalidIdentifier, InvalidInput
from allroads.domain.identifiers import normalize_identifier
from allroads.domain.normalize.email import email_domain
from allroads.domain.normalize.website import is_free_mail_domain, normalize_domain
from allroads.domain.types import Action, EntityType, IdentifyRequest, IdentifyResult, Policy
from allroads.resolution.ids import new_public_id
from allroads.resolution.matching import incremental
from allroads.resolution.merging import Protection, merge_entities, protection
from allroads.resolution.rules import RuleSet
from allroads.resolution.unit import Unit
from allroads.store import EntityRow, RecordRow
from allroads.store.matching import NewCandidate

SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
MAX_VALUES_PER_KIND = 50
# A bridge between two existing entities needs an identifier at least this trusted.
MIN_MERGE_PRIORITY = 50

REJECT_MESSAGES = {
    "email": "Email is already present for some other registered user",
    "phone": "Mobile number is already registered for a different user",
    "external_id": "External ID / Card number is already registered for a different user",
    "card_number": "External ID / Card number is already registered for a different user",
}


@dataclass
class Prepared:
    """A request after normalization: what the record will hold and what may match."""

    source: str
    source_key: str
    identifiers: dict[str, list[str]]
    usable: list[tuple[str, str]]
    blocked: list[tuple[str, str]]
    evidence: list[dict[str, Any]]
    content_hash: str
    attributes: dict[str, Any]
    received: dict[str, Any] = field(default_factory=dict)
    _features: dict[str, Any] | None = None
    _flat: dict[str, Any] | None = None

    def flat(self) -> dict[str, Any]:
        """The record in the attribute vocabulary the matching features read."""
        if self._flat is None:
            blocked = set(self.blocked)  # a blocked value (info@...) says nothing of anyone
            usable = {k: [v for v in vs if (k, v) not in blocked]
                      for k, vs in self.identifiers.items()} if blocked else self.identifiers
            self._flat = incremental.flat_record(self.attributes, usable)
        return self._flat

    def features(self, etype: EntityType) -> dict[str, Any]:
        """The record's matching features (computed once)."""
        if self._features is None:
            self._features = incremental.features_for(etype.value)(self.flat())
        return self._features


def normalize_source(name: str) -> str:
    source = (name or "").strip().lower()
    if not SOURCE_NAME.match(source):
        raise InvalidInput(f"invalid source {name!r}", field="source",
                           hint="use a short lower-case name such as crm, support or product")
    return source


def normalize_all(raw: Mapping[str, Any], region: str | None) -> tuple[
        dict[str, list[str]], dict[str, list[Any]]]:
    """Normalize every identifier; raise one InvalidInput naming every bad value."""
    out: dict[str, list[str]] = {}
    received: dict[str, list[Any]] = {}
    problems: list[InvalidIdentifier] = []
    for kind, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if len(values) > MAX_VALUES_PER_KIND:
            raise InvalidInput(f"identifiers.{kind}: {len(values)} values, at most "
                               f"{MAX_VALUES_PER_KIND} allowed", field=f"identifiers.{kind}")
        for v in values:
            if v is None or v == "":
                continue
            try:
                norm = normalize_identifier(kind, v, region=region)
            except InvalidIdentifier as exc:
                problems.append(exc)
                continue
            bucket = out.setdefault(kind, [])
            if norm not in bucket:
                bucket.append(norm)
            if norm != v:
                received.setdefault(kind, []).append(v)
    if problems:
        first = problems[0]
        message = "; ".join(p.message for p in problems)
        raise InvalidInput(message, field=f"identifiers.{first.kind}", hint=first.hint
                           or "fix or leave out the values named")
    return out, received


def prepare(u: Unit, req: IdentifyRequest, rules: RuleSet) -> Prepared:
    return prepare_request(u.actor.region, req, rules)


def prepare_request(region: str | None, req: IdentifyRequest, rules: RuleSet) -> Prepared:
    """Normalize and classify a request (no store access); `region`: the tenant's default
    phone region."""
    source = normalize_source(req.source)
    if not isinstance(req.attributes, dict):
        raise InvalidInput("attributes must be an object", field="attributes")
    _check_finite(req.attributes, "attributes")
    if req.normalized:
        idents = {k: [str(v) for v in (vs if isinstance(vs, list) else [vs]) if v]
                  for k, vs in (req.identifiers or {}).items()}
        received: dict[str, list[Any]] = {}
    else:
        idents, received = normalize_all(req.identifiers or {}, region)
    if req.source_id is not None and str(req.source_id).strip():
        source_key = str(req.source_id).strip()
        if len(source_key) > 255:
            raise InvalidInput("source_id is longer than 255 characters", field="source_id")
    else:
        derived = _derived_key(idents, rules)
        if derived is None:
            raise InvalidInput("nothing to identify by: send a source_id or at least one "
                               "identifier (email, phone, external_id, ...)",
                               field="identifiers",
                               hint='e.g. {"source": "widget", "identifiers": '
                               '{"email": "jane@acme.com"}}')
        source_key = derived
    own = f"{source}:{source_key}"
    refs = idents.setdefault("source_id", [])
    if own not in refs:
        refs.insert(0, own)
    evidence: list[dict[str, Any]] = []
    usable: list[tuple[str, str]] = []
    blocked: list[tuple[str, str]] = []
    for kind, values in idents.items():
        rule = rules.rule(kind)
        for v in values:
            reason = rule.blocked_reason(v)
            if reason:
                blocked.append((kind, v))
                evidence.append({"rule": "blocked", "kind": kind, "value": v, "reason": reason})
            elif rule.unique:
                usable.append((kind, v))
    attributes = dict(req.attributes)
    content = {"a": attributes, "i": idents,
               "acc": _account_ref(req)}
    digest = hashlib.sha256(_canonical_json(content)).hexdigest()
    return Prepared(source, source_key, idents, usable, blocked, evidence, digest, attributes,
                    received)


def _check_finite(value: Any, path: str) -> None:
    """NaN and the infinities are not JSON numbers: PostgreSQL's JSONB refuses them, and a
    record must be stored the same on both databases."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{path}: {value} is not a number JSON can hold", field=path,
                               hint="send a finite number, or null for no value")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{path}[{i}]")


def _canonical_json(content: Any) -> bytes:
    """The content as JSON with sorted keys, for its hash: orjson, or json for what orjson
    refuses (an integer beyond 64 bits). The same content always takes the same path."""
    try:
        return orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:
        return json.dumps(content, sort_keys=True, default=str, separators=(",", ":"),
                          ensure_ascii=False).encode()


def _derived_key(idents: Mapping[str, list[str]], rules: RuleSet) -> str | None:
    """A record key for sources that send no id of their own: their best identifier."""
    best = sorted(((rules.rule(k).priority, k, vs[0]) for k, vs in idents.items()
                   if vs and k != "source_id" and rules.rule(k).unique),
                  key=lambda t: (-t[0], t[1]))
    return f"{best[0][1]}:{best[0][2]}" if best else None


def _account_ref(req: IdentifyRequest) -> Any:
    if req.account is None:
        return None
    return {"source": req.account.source, "source_id": req.account.source_id,
            "identifiers": req.account.identifiers, "attributes": req.account.attributes}


def unchanged_result(u: Unit, req: IdentifyRequest, p: Prepared,
                     account: IdentifyResult | None = None,
                     record: RecordRow | None = None) -> IdentifyResult | None:
    """The answer for a record already stored with exactly this content, else None."""
    if record is None:
        public_id = u.tx.entity_of_unchanged_record(u.actor.tenant_id, req.type.value,
                                                    p.source, p.source_key, p.content_hash)
    elif record.content_hash == p.content_hash:
        ent = u.tx.entity(record.entity_id)
        public_id = ent.public_id if ent else None
    else:
        public_id = None
    return unchanged_answer(req, p, public_id, account)


def unchanged_answer(req: IdentifyRequest, p: Prepared, public_id: str | None,
                     account: IdentifyResult | None = None) -> IdentifyResult | None:
    """The answer for a record stored unchanged in entity `public_id` (None: not so)."""
    if public_id is None:
        return None
    return IdentifyResult(public_id, req.type, Action.MATCHED, [
        {"rule": "source_record", "source": p.source, "source_id": p.source_key,
         "unchanged": True}, *p.evidence], account=account)


def identify(u: Unit, req: IdentifyRequest, *, strict: bool = False,
             into: EntityRow | None = None, public_id: str | None = None,
             prepared: Prepared | None = None) -> IdentifyResult:
    """Resolve one record. `strict`: an identifier held by another entity is an error (409),
    never a merge (used by create and update). `into`: the record belongs to this entity.
    `public_id`: the id a newly created entity gets. `prepared`: `prepare`'s result, when
    the caller already has it."""
    etype = EntityType(req.type)
    rules = u.rules(etype)
    account_result = _account_of(u, req.account) if (
        req.account is not None and etype is EntityType.PERSON) else None
    p = prepared or prepare(u, req, rules)
    tx, tenant = u.tx, u.actor.tenant_id
    tx.lock_keys(f"{tenant}:{etype.value}:{k}:{v}" for k, v in p.usable)
    record = tx.record(tenant, etype.value, p.source, p.source_key)
    unchanged = unchanged_result(u, req, p, account_result, record) if record else None
    if unchanged is not None:
        return unchanged
    u.ensure_source(p.source)
    decision = _decide(u, etype, rules, p, record, strict, into, public_id)
    if decision.rejected is not None:
        return IdentifyResult(None, etype, Action.REJECTED, decision.evidence,
                              message=decision.rejected, account=account_result)
    target = decision.target
    if etype is EntityType.PERSON:  # before the link is written: it keeps the evidence
        _attach_account(u, target, p, account_result, decision.evidence)
    record_id = _write_record(u, etype, p, record, target, decision.evidence)
    incremental.index_record(tx, tenant, etype.value, record_id,
                             1 if record is None else record.current_version + 1,
                             p.features(etype), new=record is None)
    if decision.fuzzy_review is not None:
        review = decision.fuzzy_review
        tx.add_match_candidates(tenant, etype.value, None, [NewCandidate(
            new_public_id("mc"), target.id, review.entity_id, record_id, review.record_id,
            round(review.probability, 6), round(review.match_weight, 3),
            review.score.to_json() if review.score else {})], u.now)
    u.finish()
    return IdentifyResult(target.public_id, etype, decision.action, decision.evidence,
                          account=account_result, merge_id=decision.merge_id,
                          review_id=decision.review_id)


def _account_of(u: Unit, req: IdentifyRequest) -> IdentifyResult:
    """The account a person's record names: a bare (source, source_id) is a reference to an
    account already sent by that source; anything more is identified like any record."""
    if req.source_id and not req.identifiers and not req.attributes:
        record = u.tx.record(u.actor.tenant_id, EntityType.ACCOUNT.value,
                             normalize_source(req.source), str(req.source_id).strip())
        ent = u.tx.entity(record.entity_id) if record else None
        if ent is not None:
            return IdentifyResult(ent.public_id, EntityType.ACCOUNT, Action.MATCHED, [
                {"rule": "source_record", "source": record.source if record else "",
                 "source_id": record.source_key if record else "", "reference": True}])
    return identify(u, IdentifyRequest(EntityType.ACCOUNT, req.source, req.source_id,
                                       req.identifiers, req.attributes, None, req.touchpoint))


@dataclass
class Decision:
    target: EntityRow
    action: Action
    evidence: list[dict[str, Any]]
    rejected: str | None = None
    merge_id: str | None = None
    review_id: str | None = None
    fuzzy_review: incremental.FuzzyMatch | None = None


def _decide(u: Unit, etype: EntityType, rules: RuleSet, p: Prepared, record: RecordRow | None,
            strict: bool, into: EntityRow | None, public_id: str | None) -> Decision:
    tx, tenant = u.tx, u.actor.tenant_id
    evidence = list(p.evidence)
    hits = [h for h in tx.find_identifiers(tenant, etype.value, p.usable)
            if record is None or h.record_id != record.id]
    counts = tx.sharing_counts(tenant, etype.value, {(h.kind, h.value) for h in hits})
    matched: dict[int, list[tuple[int, str, str]]] = {}
    shared: set[tuple[str, str]] = set()
    for h in hits:
        n = counts.get((h.kind, h.value), 0)
        rule = rules.rule(h.kind)
        if n > rule.shared_limit:
            if (h.kind, h.value) not in shared:  # said once, however many records hold it
                shared.add((h.kind, h.value))
                evidence.append({"rule": "shared_value", "kind": h.kind, "value": h.value,
                                 "entities": n, "reason": f"held by {n} entities (limit "
                                 f"{rule.shared_limit}): it no longer identifies anyone"})
            continue
        matched.setdefault(h.entity_id, []).append((rule.priority, h.kind, h.value))
    anchor = record.entity_id if record else (into.id if into else None)
    trusted = [rules.rule(k).priority for k, _ in p.usable if k != "source_id"]
    best_sent = max(trusted, default=0)
    if best_sent >= MIN_MERGE_PRIORITY:
        # A record that carries a trusted identifier is not claimed by low-trust ones alone.
        for eid in [e for e, why in matched.items() if why[0][0] < MIN_MERGE_PRIORITY
                    and all(w[0] < MIN_MERGE_PRIORITY for w in why)]:
            for prio, kind, value in matched.pop(eid):
                evidence.append({"rule": "not_linked", "kind": kind, "value": value,
                                 "reason": f"{kind} (priority {prio}) is low trust and the "
                                 "record carries a more trusted identifier that did not match"})
    ents = tx.entities_by_id([*matched, *([anchor] if anchor else [])])
    for eid in matched:
        matched[eid].sort(key=lambda t: (-t[0], t[1], t[2]))
    if record is not None:
        evidence.insert(0, {"rule": "source_record", "source": p.source,
                            "source_id": p.source_key, "entity": ents[record.entity_id].public_id})
    for eid, why in sorted(matched.items()):
        for prio, kind, value in why:
            evidence.append({"rule": "identifier", "kind": kind, "value": value,
                             "priority": prio, "entity": ents[eid].public_id})
    strangers = {e: why for e, why in matched.items() if e != anchor}
    if strict and strangers:
        eid, why = sorted(strangers.items(), key=lambda kv: (-kv[1][0][0], kv[0]))[0]
        raise _conflict_error(why[0][1], why[0][2], ents[eid].public_id)
    if anchor is not None:
        primary = anchor
    elif matched:
        primary = min(matched, key=lambda e: (-matched[e][0][0], e))
        # A record whose high-trust identifier differs from the entity's is someone else.
        bridge_prio = matched[primary][0][0]
        outranking = {k: vs for k, vs in p.identifiers.items()
                      if k != "source_id" and rules.rule(k).priority > bridge_prio}
        prot = protection(u, etype, rules, [primary], incoming=outranking,
                          bridge_priority=bridge_prio) if outranking else Protection(False)
        if prot.blocked:
            evidence.append({"rule": "not_linked", "entity": ents[primary].public_id,
                             "reason": prot.reason})
            others = [e for e in matched if e != primary]
            matched = {}
            primary = 0
            for eid in others:
                evidence.append({"rule": "not_linked", "entity": ents[eid].public_id,
                                 "reason": "the best match was protected; no lower match used"})
    else:
        primary = 0
    queued: incremental.FuzzyMatch | None = None
    if not primary and record is None and not strict and into is None and public_id is None \
            and incremental.wants_fuzzy(etype.value, p.flat()):
        found, queued = _fuzzy(u, etype, rules, p, evidence)
        if found is not None:
            return Decision(found, Action.MATCHED, evidence)
    if not primary:
        public = public_id or new_public_id(etype.prefix)
        new_id = tx.create_entity(tenant, etype.value, public, u.now)
        ent = EntityRow(new_id, tenant, etype.value, public, "active", None, None, u.now, u.now)
        u.entity_created(ent)
        evidence.append({"rule": "new_entity", "entity": public})
        return Decision(ent, Action.CREATED, evidence, fuzzy_review=queued)
    others = sorted(e for e in matched if e != primary)
    if not others:
        return Decision(ents[primary], Action.MATCHED, evidence)
    policy = rules.policy(u.actor.touchpoint)
    if policy is Policy.REJECT:
        eid = others[0]
        kind = matched[eid][0][1]
        message = REJECT_MESSAGES.get(kind, f"{kind.replace('_', ' ').capitalize()} is "
                                      "already registered for a different customer")
        evidence.append({"rule": "rejected", "policy": "reject", "kind": kind,
                         "entity": ents[eid].public_id, "reason": message})
        # Refused, but not forgotten: the decision and its evidence are kept.
        tx.add_review_item(tenant, new_public_id("rej"), etype.value, None,
                           [ents[primary].public_id, *(ents[e].public_id for e in others)],
                           message, {"source": p.source, "source_id": p.source_key,
                                     "evidence": evidence}, u.now, status="rejected")
        return Decision(ents[primary], Action.REJECTED, evidence, rejected=message)
    if policy is Policy.REVIEW:
        review = new_public_id("rev")
        tx.add_review_item(tenant, review, etype.value, None,
                           [ents[primary].public_id, *(ents[e].public_id for e in others)],
                           "identifiers point at more than one entity", evidence, u.now)
        evidence.append({"rule": "review", "review": review,
                         "entities": [ents[e].public_id for e in others]})
        return Decision(ents[primary], Action.REVIEW, evidence, review_id=review)
    mergeable: list[int] = []
    for eid in others:
        bridge = matched[eid][0]
        if bridge[0] < MIN_MERGE_PRIORITY:
            evidence.append({"rule": "not_merged", "entity": ents[eid].public_id,
                             "reason": f"{bridge[1]} has priority {bridge[0]}, below "
                             f"{MIN_MERGE_PRIORITY}: a low-trust identifier never joins two "
                             "customers"})
            continue
        guard = protection(u, etype, rules, [primary, *mergeable, eid],
                           incoming=p.identifiers, bridge_priority=bridge[0])
        if guard.blocked:
            evidence.append({"rule": "not_merged", "entity": ents[eid].public_id,
                             "reason": guard.reason})
            continue
        mergeable.append(eid)
    if not mergeable:
        return Decision(ents[primary], Action.MATCHED, evidence)
    group = sorted([primary, *mergeable])
    survivor = group[0]  # the oldest entity keeps its ID
    merge = merge_entities(u, etype, survivor, group[1:], reason="identify",
                           evidence={"matched": [e for e in evidence
                                                 if e["rule"] == "identifier"]})
    evidence.append({"rule": "merged", "merge": merge, "survivor": ents[survivor].public_id,
                     "merged": [ents[e].public_id for e in group[1:]]})
    target = tx.entity(survivor)
    assert target is not None
    return Decision(target, Action.MERGED, evidence, merge_id=merge)


def _fuzzy(u: Unit, etype: EntityType, rules: RuleSet, p: Prepared,
           evidence: list[dict[str, Any]]
           ) -> tuple[EntityRow | None, incremental.FuzzyMatch | None]:
    """The entity a fuzzy match links the record to (its evidence appended), else None;
    and the match to queue for review, if the best one is in the review band. A candidate
    that protection refuses (force-apart, a conflicting trusted identifier) is passed over."""
    tx, tenant = u.tx, u.actor.tenant_id
    scorer = incremental.MODELS.scorer(tx, tenant, etype.value)
    thresholds = scorer.model.thresholds
    incoming = {k: vs for k, vs in p.identifiers.items() if k != "source_id"}
    # The best entity at or above the review threshold decides, unless protection refuses
    # it: then the next ones, up to MAX_MATCHES (looked up again: rare, and the common case
    # reads less).
    passed = 0
    for limit in (1, incremental.MAX_MATCHES):
        matches = incremental.find_matches(tx, tenant, etype.value, p.features(etype), scorer,
                                           limit=limit, at_least=thresholds.review)
        if len(matches) <= passed:
            break
        ents = tx.entities_by_id(m.entity_id for m in matches[passed:])
        for match in matches[passed:]:
            decision = match.decision(thresholds)  # link or review (at_least)
            entity = ents[match.entity_id]
            guard = protection(u, etype, rules, [match.entity_id], incoming=incoming,
                               bridge_priority=0)
            if guard.blocked:
                evidence.append({"rule": "not_linked", "entity": entity.public_id,
                                 "probability": round(match.probability, 6),
                                 "reason": f"fuzzy match refused: {guard.reason}"})
                passed += 1
                continue
            if decision == "link":
                evidence.append({**match.evidence(), "entity": entity.public_id})
                return entity, None
            evidence.append({"rule": "fuzzy_review", "entity": entity.public_id,
                             "probability": round(match.probability, 6),
                             "match_weight": round(match.match_weight, 3)})
            return None, match
        if len(matches) < limit:
            break  # no more entities to look at
    return None, None


def _conflict_error(kind: str, value: str, public_id: str) -> IdentifierConflict:
    message = REJECT_MESSAGES.get(kind, f"{kind} is already registered for a different customer")
    return IdentifierConflict(f"{message}: {kind} {value!r} belongs to {public_id}",
                              field=f"identifiers.{kind}",
                              hint=f"update {public_id} instead, or merge the two")


def _write_record(u: Unit, etype: EntityType, p: Prepared, record: RecordRow | None,
                  target: EntityRow, evidence: list[dict[str, Any]]) -> int:
    """Write the record (new, or a new version); its id."""
    tx, tenant = u.tx, u.actor.tenant_id
    attributes = dict(p.attributes)
    if p.received:
        attributes["_received"] = p.received
    blocked = set(p.blocked)
    link_evidence = {"evidence": evidence}
    if record is None:
        record_id = tx.insert_record(tenant, etype.value, p.source, p.source_key, target.id,
                                     p.content_hash, u.now)
        tx.add_version(record_id, 1, attributes, p.identifiers, p.content_hash,
                       u.actor.touchpoint, u.actor.initiator, u.now, u.actor.import_id)
        tx.add_identifiers(tenant, etype.value, record_id, _pairs(p.identifiers), u.now,
                           blocked)
        tx.add_link(tenant, record_id, target.id, _rule_of(evidence), link_evidence,
                    u.actor.initiator, u.actor.touchpoint, u.now)
        u.record_written(target.id, record_id, p.source, p.source_key, attributes,
                         p.identifiers)
    else:
        tx.add_version(record.id, record.current_version + 1, attributes, p.identifiers,
                       p.content_hash, u.actor.touchpoint, u.actor.initiator, u.now,
                       u.actor.import_id)
        before = tx.active_identifiers(record.id)
        after = set(_pairs(p.identifiers))
        tx.remove_identifiers(record.id, before - after, u.now)
        tx.add_identifiers(tenant, etype.value, record.id, after - before, u.now, blocked)
        if record.entity_id != target.id:
            current = tx.entity(record.entity_id)
            # Unless this call merged that entity away (the merge moved the record already):
            if current is None or current.status != "merged":
                tx.end_links([record.id], u.now)
                tx.add_link(tenant, record.id, target.id, _rule_of(evidence), link_evidence,
                            u.actor.initiator, u.actor.touchpoint, u.now)
                tx.move_records([record.id], target.id)
                u.entities_changed([record.entity_id, target.id])
                u.dirty.add(record.entity_id)
    u.dirty.add(target.id)
    return record_id if record is None else record.id


def _pairs(idents: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, vs in idents.items() for v in vs]


def _rule_of(evidence: list[dict[str, Any]]) -> str:
    for item in evidence:
        if item["rule"] in ("source_record", "identifier", "fuzzy", "new_entity"):
            return str(item["rule"])
    return "identify"


@lru_cache(maxsize=100_000)
def account_domain(domain: str) -> str | None:
    """An email's domain as account domains are stored (`normalize_domain`: IDNA punycode,
    no www.), or None when it names no company: a free-mail domain, or not a domain at all.
    Domains repeat (gmail.com, the company's own): each is worked out once."""
    try:
        normal = normalize_domain(domain)
    except InvalidIdentifier:
        return None
    return None if is_free_mail_domain(normal) else normal


def account_evidence(account: str, by: str, value: str | None = None) -> dict[str, Any]:
    """Why a person joins `account` (acc_...): `by` the account sent along ("account"),
    org_ref, external_id or email_domain, and the value that matched (identify and the bulk
    seed store the same item)."""
    item: dict[str, Any] = {"rule": "account", "by": by}
    if value is not None:
        item["value"] = value
    item["account"] = account
    return item


AccountHits = Mapping[tuple[str, str], Iterable[int]]


def account_lookups(p: Prepared, *, by_domain: bool = True
                    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """What a person's record finds its account by, as (kind, value) pairs of the account's
    identifiers: its org_ref or external_id (the person's org_ref, or account_external_id),
    and (with `by_domain`) its domain (each email's, free mail left out)."""
    refs = list(p.identifiers.get("org_ref", []))
    if p.attributes.get("account_external_id"):
        refs.append(str(p.attributes["account_external_id"]))
    domains = [d for d in (account_domain(email_domain(e))
                           for e in p.identifiers.get("email", [])) if d] if by_domain else []
    return ([(kind, ref) for ref in refs for kind in ("org_ref", "external_id")],
            [("domain", d) for d in domains])


def choose_account(by_ref: list[tuple[str, str]], by_domain: list[tuple[str, str]],
                   hits: AccountHits) -> tuple[int, str, str] | None:
    """The account a person joins, given the accounts holding each pair looked up (`hits`):
    by org_ref before external_id, the lowest account id first; else by email domain, when
    one account holds them all. (account id, by, the value that matched), or None."""
    ref_hits = sorted((kind != "org_ref", eid, value, kind) for kind, value in by_ref
                      for eid in hits.get((kind, value), ()))
    if ref_hits:
        _, eid, value, kind = ref_hits[0]
        return eid, kind, value
    owners = {eid for pair in by_domain for eid in hits.get(pair, ())}
    if len(owners) == 1:
        return owners.pop(), "email_domain", min(d for kind, d in by_domain if (kind, d) in hits)
    return None


def _attach_account(u: Unit, person: EntityRow, p: Prepared,
                    account_result: IdentifyResult | None,
                    evidence: list[dict[str, Any]]) -> None:
    """People attach to accounts: the account sent along, org_ref or the account's external
    id, else the email domain (for a person in no account yet). The decision's evidence is
    appended to `evidence`."""
    tx, tenant = u.tx, u.actor.tenant_id
    chosen: tuple[int, dict[str, Any]] | None = None
    if account_result is not None and account_result.id:
        acc = tx.entity_by_public_id(tenant, account_result.id)
        if acc is not None:
            chosen = (acc.id, account_evidence(acc.public_id, "account"))
    if chosen is None:
        by_ref, by_domain = account_lookups(p, by_domain=person.account_id is None)
        if by_ref or by_domain:
            hits: dict[tuple[str, str], set[int]] = {}
            for h in tx.find_identifiers(tenant, "account", by_ref + by_domain):
                hits.setdefault((h.kind, h.value), set()).add(h.entity_id)
            found = choose_account(by_ref, by_domain, hits)
            if found is not None:
                acc = tx.entity(found[0])
                assert acc is not None
                chosen = (acc.id, account_evidence(acc.public_id, found[1], found[2]))
    if chosen is None or chosen[0] == person.account_id:
        return
    old = tx.entity(person.account_id) if person.account_id else None
    tx.set_account(person.id, chosen[0], u.now)
    u.log(person.id, "account", old.public_id if old else None, chosen[1]["account"])
    evidence.append(chosen[1])
