"""Why two entities are one customer, or why not, in the terms of the match model.

    explain_pair(store, actor, "person", "per_01J...", "per_01K...")

reads both entities' records (their current versions, flattened as a match run reads them),
scores every pair across the two sides with the tenant's model (its estimated parameters and
thresholds, else the defaults) and returns the best-scoring pair's full breakdown (each
comparison's level, weight and the two values compared), the decision the thresholds give
it, and what people and runs decided: the merges that joined the two (their evidence) and
force-together / force-apart decisions between them.

It works whether or not they are merged. Merged, both ids lead to one entity; its records
are split back into the two sides by the entity each record was first linked to (the two
ids' merge families), so the pair that made them one is scored again.

`display_names` gives the names of entities by public id, in one read (the review queue).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from allroads.batch.matching import model_for
from allroads.batch.runs import flatten_record
from allroads.domain.errors import InvalidInput, NotFound
from allroads.domain.types import Actor
from allroads.resolution.matching.model import MatchModel, PairScore, Parameters, Thresholds
from allroads.resolution.merging import survivor
from allroads.store import EntityRow, RecordVersionRow, Store, Tx
from allroads.store.matching import MatchRecord

# Records per side that are scored (oldest first): 100 x 100 pairs score in well under a
# second; an entity holding more is rare and its first records carry its identity.
MAX_RECORDS = 100


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
    """Why `left` and `right` (entity ids, merged away ones too) are, or are not, one
    customer. NotFound for an id that is not an entity of this type in the actor's tenant."""
    features = model_for(entity_type)[1]
    if left == right:
        raise InvalidInput(f"left and right are the same id {left!r}", field="right",
                           hint="pass two different entity ids")
    with store.read() as tx:
        model, trained = tenant_model(tx, actor.tenant_id, entity_type)
        ent_l = _entity(tx, actor, entity_type, left, "left")
        ent_r = _entity(tx, actor, entity_type, right, "right")
        cur_l, cur_r = _current(tx, ent_l), _current(tx, ent_r)
        merged = cur_l.id == cur_r.id
        fam_l, fam_r = _sides(tx, ent_l.id, ent_r.id)
        if merged:
            versions = tx.current_versions([cur_l.id])
            origin = _origins(tx, [v.record_id for v in versions])
            rec_l = [v for v in versions if origin.get(v.record_id) in fam_l]
            rec_r = [v for v in versions if origin.get(v.record_id) in fam_r]
            merges = _joining_merges(tx, tx.merged_family([cur_l.id]), fam_l, fam_r)
        else:
            rec_l = tx.current_versions([cur_l.id])
            rec_r = tx.current_versions([cur_r.id])
            merges = []
        both_l = fam_l if merged else tx.merged_family([cur_l.id])
        both_r = fam_r if merged else tx.merged_family([cur_r.id])
        decisions = [d for d in tx.decisions_touching(actor.tenant_id, both_l | both_r)
                     if {d.entity_a, d.entity_b} & both_l and {d.entity_a, d.entity_b} & both_r]
        names = tx.profiles_by_id([cur_l.id, cur_r.id])
        publics = tx.entities_by_id({e for m in merges for e in m["entities"]}
                                    | {e for d in decisions for e in (d.entity_a, d.entity_b)})
    flat_l = [flatten_record(_as_match_record(v, cur_l.id)) for v in rec_l[:MAX_RECORDS]]
    flat_r = [flatten_record(_as_match_record(v, cur_r.id)) for v in rec_r[:MAX_RECORDS]]
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
    best_view = None if best is None else {
        "left": _record_view(best[1]), "right": _record_view(best[2]), **best[0].to_json()}
    conflict = _external_id_conflict(flat_l, flat_r)
    out = {
        "type": entity_type,
        "left": _side(left, cur_l, names, rec_l),
        "right": _side(right, cur_r, names, rec_r),
        "merged": merged,
        "entity": cur_l.public_id if merged else None,
        "thresholds": {"link": model.thresholds.link, "review": model.thresholds.review},
        "trained": trained,
        "pairs_scored": len(flat_l) * len(flat_r),
        "best_pair": best_view,
        "decision": best[0].decision if best else None,
        "external_id_conflict": conflict,
        "merges": shown_merges,
        "decisions": decided,
    }
    out["verdict"] = _verdict(out)
    return out


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
def _entity(tx: Tx, actor: Actor, entity_type: str, public_id: str, field: str) -> EntityRow:
    entity = tx.entity_by_public_id(actor.tenant_id, public_id)
    if entity is None or entity.entity_type != entity_type:
        raise NotFound(f"no {entity_type} {public_id!r} ({field})",
                       hint=f"pass the id of a {entity_type} of this tenant "
                       f"({'per_' if entity_type == 'person' else 'acc_'}...)")
    return entity


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
                       dict(version.attributes or {}), dict(version.identifiers or {}))


def _side(given: str, current: EntityRow, names: dict[int, Any],
          records: Sequence[RecordVersionRow]) -> dict[str, Any]:
    profile = names.get(current.id)
    return {"id": given, "current": current.public_id,
            "display_name": profile.display_name if profile else None,
            "records": [{"source": r.source, "source_id": r.source_key} for r in records],
            "records_scored": min(len(records), MAX_RECORDS)}


def _record_view(flat: dict[str, Any]) -> dict[str, Any]:
    return {"record": flat["id"], "source": flat.get("source")}


def _external_id_conflict(left: list[dict[str, Any]], right: list[dict[str, Any]]
                          ) -> list[str] | None:
    """Both sides' external ids when they hold different ones (a run never joins them)."""
    ids_l = {str(r["external_id"]) for r in left if r.get("external_id") not in (None, "")}
    ids_r = {str(r["external_id"]) for r in right if r.get("external_id") not in (None, "")}
    if ids_l and ids_r and not ids_l & ids_r:
        return [", ".join(sorted(ids_l)), ", ".join(sorted(ids_r))]
    return None


def _verdict(view: dict[str, Any]) -> str:
    best, limits = view["best_pair"], view["thresholds"]
    if view["merged"]:
        how = "; ".join(f"{m['merge_id']} ({m['reason']}, by {m['actor']})"
                        for m in view["merges"])
        return (f"one customer: {view['entity']} holds the records of both"
                + (f", merged by {how}" if how else ""))
    apart = [d for d in view["decisions"] if d["kind"] == "apart"]
    if apart and view["decisions"][-1]["kind"] == "apart":
        last = apart[-1]
        return (f"two customers: {last['actor']} kept them apart"
                + (f" ({last['reason']})" if last["reason"] else "")
                + "; no run merges them")
    if view["external_id_conflict"]:
        a, b = view["external_id_conflict"]
        return f"two customers: their external ids differ ({a} vs {b}); no run merges them"
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


__all__ = ["MAX_RECORDS", "display_names", "explain_pair", "tenant_model"]
