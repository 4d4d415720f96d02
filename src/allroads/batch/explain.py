"""Why two customers or two records are one customer, or why not, in the terms of the
match model.

    explain_pair(store, actor, "person", "per_01J...", "per_01K...")   two entities
    explain_pair(store, actor, "account", "crm:110", "support:2101")  two records
    explain_pair(store, actor, "account", "crm:110", "acc_01K...")    a record and an entity

Each side is an entity (its public id; a merged-away id works too) or one record, named
`source:source_id` as it was sent to identify (source names hold no ':', so the first ':'
splits). It reads the sides' records (their current versions, flattened as a match run reads
them; an entity's first MAX_RECORDS, oldest first, and the answer says when there were more),
scores every pair across the two sides with the tenant's model (its estimated parameters and
thresholds, else the defaults) and returns the best-scoring pair's full breakdown (each
comparison's level, weight and the two values compared), the decision the thresholds give
it, whether protection would refuse the link (different external ids, force-apart, more
values of a trusted identifier than one customer may hold), and what people and runs
decided: the merges that joined the two (their evidence) and force-together / force-apart
decisions between them.

It works whether or not they are merged. Merged, both ids lead to one entity; its records
are split back into the two sides by the entity each record was first linked to (the two
ids' merge families), so the pair that made them one is scored again. A record side's
family is the one of the entity it was first linked to.

Errors: NotFound for an id or record that is not in the actor's tenant; InvalidInput for
one of the other type (a person record against accounts), the same id or record twice, or
a malformed `source:source_id`.

`display_names` gives the names of entities by public id, in one read (the review queue).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from allroads.batch.matching import model_for
from allroads.batch.runs import flatten_record
from allroads.domain.errors import InvalidInput, NotFound
from allroads.domain.types import Actor, EntityType, utcnow
from allroads.resolution.identify import normalize_source
from allroads.resolution.matching.model import MatchModel, PairScore, Parameters, Thresholds
from allroads.resolution.merging import Protection, protection, survivor
from allroads.resolution.unit import Unit, stored_rules
from allroads.store import EntityRow, RecordVersionRow, Store, Tx
from allroads.store.matching import MatchRecord

# Records per side that are scored (oldest first): 100 x 100 pairs score in well under a
# second; an entity holding more is rare and its first records carry its identity.
MAX_RECORDS = 100
# A fuzzy link bridges no trusted identifier: protection refuses it when the two together
# would hold more values of any unique kind than one customer may (as a match run does).
FUZZY_PRIORITY = 0
REF_HINT = ("pass an entity id (per_... or acc_...) or a record as source:source_id, "
            "e.g. crm:110")


def tenant_model(tx: Tx, tenant_id: int, entity_type: str) -> tuple[MatchModel, bool]:
    """The tenant's model of this type (thresholds and estimated parameters applied) and
    whether its parameters were estimated."""
    model = model_for(entity_type)[0]
    row = tx.match_settings(tenant_id, entity_type)
    if row is None:
        return model, False
    model = model.with_thresholds(Thresholds(link=row.link_threshold,
                                             review=row.review_threshold))
    if row.parameters:
        model = model.with_parameters(Parameters.from_json(row.parameters))
    return model, bool(row.parameters)


def explain_pair(store: Store, actor: Actor, entity_type: str, left: str, right: str
                 ) -> dict[str, Any]:
    """Why `left` and `right` (each an entity id, merged away ones too, or a record as
    `source:source_id`) are, or are not, one customer. NotFound for an id or record that is
    not in the actor's tenant; InvalidInput for one of the other type."""
    features = model_for(entity_type)[1]
    if left == right:
        raise InvalidInput(f"left and right are the same id {left!r}", field="right",
                           hint="pass two different entity ids or records")
    ref_l, ref_r = parse_ref(left, "left"), parse_ref(right, "right")
    with store.read() as tx:
        model, trained = tenant_model(tx, actor.tenant_id, entity_type)
        rules = stored_rules(tx, actor.tenant_id, EntityType(entity_type))
        side_l = _resolve(tx, actor, entity_type, ref_l)
        side_r = _resolve(tx, actor, entity_type, ref_r)
        if side_l.record is not None and side_r.record is not None \
                and side_l.record.record_id == side_r.record.record_id:
            raise InvalidInput(f"left {left!r} and right {right!r} are the same record",
                               field="right", hint="pass two different records")
        if side_l.record is None and side_r.record is None \
                and side_l.entity.id == side_r.entity.id:
            raise InvalidInput(f"left and right are the same id {side_l.ref.given!r}",
                               field="right", hint="pass two different entity ids or records")
        cur_l, cur_r = side_l.current, side_r.current
        merged = cur_l.id == cur_r.id
        if merged:
            versions = tx.current_versions([cur_l.id])
            origin = _origins(tx, [v.record_id for v in versions])
            anchor_l, anchor_r = (_anchor(s, origin) for s in (side_l, side_r))
            fam_l, fam_r = _sides(tx, anchor_l, anchor_r)
            rec_l = side_l.records(v for v in versions if origin.get(v.record_id) in fam_l)
            rec_r = side_r.records(v for v in versions if origin.get(v.record_id) in fam_r)
            merges = _joining_merges(tx, tx.merged_family([cur_l.id]), fam_l, fam_r)
            guard = None
        else:
            rec_l = side_l.records(tx.current_versions([cur_l.id]))
            rec_r = side_r.records(tx.current_versions([cur_r.id]))
            fam_l, fam_r = tx.merged_family([cur_l.id]), tx.merged_family([cur_r.id])
            merges = []
            u = Unit(tx, actor, utcnow())
            etype = EntityType(entity_type)
            guard = protection(u, etype, u.rules(etype), sorted((cur_l.id, cur_r.id)),
                               bridge_priority=FUZZY_PRIORITY)
        # A record compared with the entity holding it: not with itself.
        rec_l = [v for v in rec_l if side_r.record is None
                 or v.record_id != side_r.record.record_id]
        rec_r = [v for v in rec_r if side_l.record is None
                 or v.record_id != side_l.record.record_id]
        decisions = [d for d in tx.decisions_touching(actor.tenant_id, fam_l | fam_r)
                     if {d.entity_a, d.entity_b} & fam_l and {d.entity_a, d.entity_b} & fam_r]
        names = tx.profiles_by_id([cur_l.id, cur_r.id])
        linked_l, linked_r = _first_link(tx, side_l), _first_link(tx, side_r)
        publics = tx.entities_by_id({e for m in merges for e in m["entities"]}
                                    | {e for d in decisions for e in (d.entity_a, d.entity_b)})
    flat_l = [flatten_record(_as_match_record(v, cur_l.id), rules) for v in rec_l[:MAX_RECORDS]]
    flat_r = [flatten_record(_as_match_record(v, cur_r.id), rules) for v in rec_r[:MAX_RECORDS]]
    best: tuple[PairScore, dict[str, Any], dict[str, Any]] | None = None
    feats_r = [features(r) for r in flat_r]
    for a in flat_l:
        fa = features(a)
        for b, fb in zip(flat_r, feats_r, strict=True):
            score = model.explain(fa, fb)
            if best is None or score.weight > best[0].weight:
                best = (score, a, b)
    decided = [{"kind": d.kind, "between": [publics[d.entity_a].public_id,
                                            publics[d.entity_b].public_id],
                "actor": d.actor, "reason": d.reason, "at": d.created_at.isoformat()}
               for d in decisions]
    shown_merges = [{**{k: v for k, v in m.items() if k != "entities"},
                     "survivor": publics[m["survivor"]].public_id,
                     "merged": [publics[e].public_id for e in m["merged"]]} for m in merges]
    keys = {v.record_id: v.source_key for v in (*rec_l, *rec_r)}
    best_view = None if best is None else {
        "left": _record_view(best[1], keys), "right": _record_view(best[2], keys),
        **best[0].to_json()}
    conflict = _external_id_conflict(flat_l, flat_r)
    out = {
        "type": entity_type,
        "left": _side(side_l, names, rec_l, linked_l),
        "right": _side(side_r, names, rec_r, linked_r),
        "merged": merged,
        "entity": cur_l.public_id if merged else None,
        "thresholds": {"link": model.thresholds.link, "review": model.thresholds.review},
        "trained": trained,
        "pairs_scored": len(flat_l) * len(flat_r),
        "truncated": len(rec_l) > MAX_RECORDS or len(rec_r) > MAX_RECORDS,
        "best_pair": best_view,
        "decision": best[0].decision if best else None,
        "external_id_conflict": conflict,
        "protection": _protection(merged, conflict, guard),
        "merges": shown_merges,
        "decisions": decided,
    }
    out["verdict"] = _verdict(out)
    return out


def parse_ref(value: str, field: str) -> Ref:
    """An entity id as given, or a record as `source:source_id` (split at the first ':',
    the source normalized as identify does)."""
    given = value.strip()
    source, colon, key = given.partition(":")
    if not colon:
        if not given:
            raise InvalidInput(f"{field} is empty", field=field, hint=REF_HINT)
        return Ref(field, given)
    try:
        source = normalize_source(source)
    except InvalidInput as exc:
        raise InvalidInput(f"{field} {value!r}: invalid source {source.strip()!r} (a letter, "
                           "then letters, digits, '_', '.' or '-')", field=field,
                           hint=REF_HINT) from exc
    if not key:
        raise InvalidInput(f"{field} {value!r}: no source id after the ':'", field=field,
                           hint=REF_HINT)
    return Ref(field, given, source, key)


def display_names(store: Store, actor: Actor, public_ids: Iterable[str | None]
                  ) -> dict[str, str]:
    """The display name of each of these entities that has one (one read)."""
    wanted = sorted({p for p in public_ids if p})
    if not wanted:
        return {}
    with store.read() as tx:
        ents = tx.entities_by_public_id(actor.tenant_id, wanted)
        profiles = tx.profiles_by_id(e.id for e in ents.values())
    return {pid: profiles[e.id].display_name for pid, e in ents.items()
            if e.id in profiles and profiles[e.id].display_name}


# Inside -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """What one side names: an entity id, or a record (`source` and `source_id` set)."""

    field: str                  # left or right
    given: str
    source: str | None = None
    source_id: str | None = None


@dataclass(frozen=True)
class _Side:
    ref: Ref
    entity: EntityRow                     # the entity named, or the one holding the record
    current: EntityRow                    # where that entity's id leads now
    record: RecordVersionRow | None = None  # a record side: its current version

    def records(self, versions: Iterable[RecordVersionRow]) -> list[RecordVersionRow]:
        """This side's records among these: all of them, or the record side's one."""
        if self.record is None:
            return list(versions)
        return [self.record]


def _resolve(tx: Tx, actor: Actor, entity_type: str, ref: Ref) -> _Side:
    if ref.source is not None:
        return _record_side(tx, actor, entity_type, ref)
    entity = _entity(tx, actor, entity_type, ref.given, ref.field)
    return _Side(ref, entity, _current(tx, entity))


def _record_side(tx: Tx, actor: Actor, entity_type: str, ref: Ref) -> _Side:
    assert ref.source is not None and ref.source_id is not None
    field = ref.field
    row = tx.record(actor.tenant_id, entity_type, ref.source, ref.source_id)
    if row is None:
        other = _other(entity_type)
        if tx.record(actor.tenant_id, other, ref.source, ref.source_id) is not None:
            raise InvalidInput(
                f"{field} {ref.given!r} is {_a(other)} record, not {_a(entity_type)} record",
                field=field, hint=f"explain compares two customers of one type: pass "
                f"type={other} with {other} records or ids on both sides, or {_a(entity_type)} "
                f"record or id as {field}")
        raise NotFound(f"no {entity_type} record {ref.source}:{ref.source_id} ({field})",
                       hint=f"pass {_a(entity_type)} record of this tenant as source:source_id, "
                       f"as it was sent to identify (e.g. crm:110), or an entity id")
    version = next((v for v in tx.versions_of_record(row.id)
                    if v.version == row.current_version), None)
    entity = tx.entity(row.entity_id)
    if version is None or entity is None:  # pragma: no cover - the schema's constraints
        raise NotFound(f"no {entity_type} record {ref.source}:{ref.source_id} ({field})")
    return _Side(ref, entity, _current(tx, entity), version)


def _entity(tx: Tx, actor: Actor, entity_type: str, public_id: str, field: str) -> EntityRow:
    entity = tx.entity_by_public_id(actor.tenant_id, public_id)
    if entity is not None and entity.entity_type != entity_type:
        other = entity.entity_type
        raise InvalidInput(
            f"{field} {public_id!r} is {_a(other)}, not {_a(entity_type)}", field=field,
            hint=f"explain compares two customers of one type: pass type={other} with "
            f"{other} ids or records on both sides, or {_a(entity_type)} id or record as "
            f"{field}")
    if entity is None:
        raise NotFound(f"no {entity_type} {public_id!r} ({field})",
                       hint=f"pass the id of {_a(entity_type)} of this tenant "
                       f"({'per_' if entity_type == 'person' else 'acc_'}...), or one of its "
                       "records as source:source_id (e.g. crm:110)")
    return entity


def _other(entity_type: str) -> str:
    return "account" if entity_type == "person" else "person"


def _a(entity_type: str) -> str:
    return f"an {entity_type}" if entity_type[0] in "aeiou" else f"a {entity_type}"


def _anchor(side: _Side, origin: dict[int, int]) -> int:
    """The entity whose merge family is this side: the entity named, or the one the record
    was first linked to."""
    if side.record is None:
        return side.entity.id
    return origin.get(side.record.record_id, side.entity.id)


def _current(tx: Tx, entity: EntityRow) -> EntityRow:
    now = survivor(tx, entity)
    if now.status != "active":
        raise NotFound(f"{entity.public_id} was deleted", hint="nothing left to compare")
    return now


def _sides(tx: Tx, left: int, right: int) -> tuple[set[int], set[int]]:
    """Each id's merge family (itself and everything merged into it), without the other's
    when one was merged into the other."""
    fam_l, fam_r = tx.merged_family([left]), tx.merged_family([right])
    if right in fam_l:
        fam_l -= fam_r
    elif left in fam_r:
        fam_r -= fam_l
    return fam_l, fam_r


def _origins(tx: Tx, record_ids: Sequence[int]) -> dict[int, int]:
    """The entity each record was first linked to."""
    first: dict[int, tuple[int, int]] = {}
    for link in tx.links_of_records(record_ids):
        seen = first.get(link.record_id)
        if seen is None or link.id < seen[0]:
            first[link.record_id] = (link.id, link.entity_id)
    return {rid: entity for rid, (_, entity) in first.items()}


def _joining_merges(tx: Tx, family: set[int], fam_l: set[int], fam_r: set[int]
                    ) -> list[dict[str, Any]]:
    """The live merges of this family that joined something of one side to the other's."""
    out: list[dict[str, Any]] = []
    for m in tx.merges_of(family):
        if m.undone_at is not None:
            continue
        members = {m.survivor_id, *m.merged_ids}
        if members <= fam_l or members <= fam_r or not members & (fam_l | fam_r):
            continue
        out.append({"merge_id": m.public_id, "reason": m.reason, "evidence": m.evidence,
                    "actor": m.actor, "touchpoint": m.touchpoint,
                    "at": m.created_at.isoformat(), "survivor": m.survivor_id,
                    "merged": list(m.merged_ids), "entities": sorted(members)})
    return out


def _as_match_record(version: RecordVersionRow, entity_id: int) -> MatchRecord:
    return MatchRecord(version.record_id, version.source, version.source_key, entity_id,
                       dict(version.attributes or {}), dict(version.identifiers or {}),
                       version.version)


def _side(side: _Side, names: dict[int, Any], records: Sequence[RecordVersionRow],
          linked: dict[str, Any] | None) -> dict[str, Any]:
    profile = names.get(side.current.id)
    record = side.record
    out = {"id": side.ref.given, "current": side.current.public_id,
           "display_name": profile.display_name if profile else None,
           "record": None if record is None else {"source": record.source,
                                                  "source_id": record.source_key},
           "records": [{"source": r.source, "source_id": r.source_key} for r in records],
           "records_total": len(records),
           "records_scored": min(len(records), MAX_RECORDS),
           "truncated": len(records) > MAX_RECORDS}
    if record is not None:
        out["linked_by"] = linked
    return out


def _first_link(tx: Tx, side: _Side) -> dict[str, Any] | None:
    """How a record side's record joined a customer: its first link (rule and evidence)."""
    if side.record is None:
        return None
    links = sorted(tx.links_of_records([side.record.record_id]), key=lambda lk: lk.id)
    if not links:
        return None
    first = links[0]
    entity = tx.entity(first.entity_id)
    return {"entity": entity.public_id if entity else None, "rule": first.rule,
            "evidence": first.evidence, "actor": first.actor,
            "at": first.created_at.isoformat()}


def _protection(merged: bool, conflict: list[str] | None, guard: Protection | None
                ) -> dict[str, Any] | None:
    """Would protection refuse to link the two (null when they are one already)?"""
    if merged:
        return None
    reasons = []
    if conflict:
        reasons.append(f"their external ids differ ({conflict[0]} vs {conflict[1]})")
    if guard is not None and guard.blocked:
        reasons.append(guard.reason)
    return {"refused": bool(reasons), "reasons": reasons}


def _record_view(flat: dict[str, Any], keys: dict[int, str]) -> dict[str, Any]:
    return {"record": flat["id"], "source": flat.get("source"),
            "source_id": keys.get(flat["id"])}


def _external_id_conflict(left: list[dict[str, Any]], right: list[dict[str, Any]]
                          ) -> list[str] | None:
    """Both sides' external ids when they hold different ones (a run never joins them)."""
    ids_l = {str(r["external_id"]) for r in left if r.get("external_id") not in (None, "")}
    ids_r = {str(r["external_id"]) for r in right if r.get("external_id") not in (None, "")}
    if ids_l and ids_r and not ids_l & ids_r:
        return [", ".join(sorted(ids_l)), ", ".join(sorted(ids_r))]
    return None


def _verdict(view: dict[str, Any]) -> str:
    why = _why(view)
    cut = [f"{side['records_total']} of {side['id']}" for side in (view["left"], view["right"])
           if side["truncated"]]
    if cut:
        why += (f" (only the first {MAX_RECORDS} records of each side were compared: "
                f"{' and '.join(cut)})")
    return why


def _why(view: dict[str, Any]) -> str:
    best, limits = view["best_pair"], view["thresholds"]
    if view["merged"]:
        how = "; ".join(f"{m['merge_id']} ({m['reason']}, by {m['actor']})"
                        for m in view["merges"])
        if how:
            return f"one customer: {view['entity']} holds the records of both, merged by {how}"
        rules = sorted({s["linked_by"]["rule"] for s in (view["left"], view["right"])
                        if s.get("linked_by")})
        return (f"one customer: {view['entity']} holds the records of both"
                + (f" (linked by {', '.join(rules)})" if rules else ""))
    apart = [d for d in view["decisions"] if d["kind"] == "apart"]
    if apart and view["decisions"][-1]["kind"] == "apart":
        last = apart[-1]
        return (f"two customers: {last['actor']} kept them apart"
                + (f" ({last['reason']})" if last["reason"] else "")
                + "; no run merges them")
    if view["external_id_conflict"]:
        a, b = view["external_id_conflict"]
        return f"two customers: their external ids differ ({a} vs {b}); no run merges them"
    guard = view["protection"]
    if guard and guard["refused"]:
        return (f"two customers: protection refuses to link them ({guard['reasons'][0]}); "
                "no run merges them")
    if best is None:
        return "not comparable: one side has no records"
    p = best["probability"]
    if best["decision"] == "link":
        return (f"likely one customer: the best pair scores {p:.4f}, at or above the link "
                f"threshold {limits['link']}; the next match run merges them")
    if best["decision"] == "review":
        return (f"maybe one customer: the best pair scores {p:.4f}, between the review "
                f"threshold {limits['review']} and the link threshold {limits['link']}; a "
                "match run queues them for review")
    return (f"two customers: the best pair scores {p:.4f}, below the review threshold "
            f"{limits['review']}")


__all__ = ["MAX_RECORDS", "Ref", "display_names", "explain_pair", "parse_ref", "tenant_model"]
