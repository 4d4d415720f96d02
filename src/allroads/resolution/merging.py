"""Merges and their undo, and the protection that stops a merge that should not happen.

A merge moves the records of the merged-away entities onto the survivor (new links that name
the merge); the merged-away IDs redirect to the survivor. Undo moves those records back to
the entity each came from, revives the merged-away IDs, and rebuilds every profile, so the
profiles and identifiers are exactly what they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from allroads.domain.errors import Conflict, NotFound
from allroads.domain.types import EntityType
from allroads.resolution.ids import new_public_id
from allroads.resolution.rules import RuleSet
from allroads.resolution.unit import Unit
from allroads.store import EntityRow, Tx

MAX_REDIRECTS = 100


@dataclass(frozen=True)
class Protection:
    blocked: bool
    reason: str = ""


def survivor(tx: Tx, entity: EntityRow) -> EntityRow:
    """Where a merged-away entity's id redirects: the entity it was merged into, followed
    to the end (at most MAX_REDIRECTS hops); the entity itself when it was not merged."""
    hops = 0
    while entity.status == "merged" and entity.merged_into is not None and \
            hops < MAX_REDIRECTS:
        into = tx.entity(entity.merged_into)
        if into is None:
            break
        entity, hops = into, hops + 1
    return entity


def latest_decisions(u: Unit, entity_ids: Iterable[int]) -> dict[frozenset[int], str]:
    """The newest decision between current entities: "together", "apart", or "cleared" (a
    merge undone without keeping them apart: neither in force)."""
    tx = u.tx
    wanted = set(entity_ids)
    family = tx.merged_family(wanted)
    decisions = tx.decisions_touching(u.actor.tenant_id, family)
    if not decisions:
        return {}
    ents = tx.entities_by_id({d.entity_a for d in decisions} | {d.entity_b for d in decisions})

    def current(eid: int) -> int:
        seen = 0
        while ents.get(eid) is not None and ents[eid].merged_into is not None and seen < 100:
            nxt = ents[eid].merged_into
            assert nxt is not None
            if nxt not in ents:
                ents.update(tx.entities_by_id([nxt]))
            eid, seen = nxt, seen + 1
        return eid

    out: dict[frozenset[int], str] = {}
    for d in decisions:
        pair = frozenset((current(d.entity_a), current(d.entity_b)))
        if len(pair) == 2 and pair <= wanted:
            out[pair] = d.kind
    return out


def protection(u: Unit, etype: EntityType, rules: RuleSet, group: Sequence[int], *,
               incoming: Mapping[str, Sequence[str]] | None = None,
               bridge_priority: int) -> Protection:
    """May these entities (and an incoming record) be one customer, joined by an identifier
    of `bridge_priority`? Not when a person said they are apart, nor when together they
    would hold more values of a more trusted identifier kind than one customer may."""
    decisions = latest_decisions(u, group)
    ents = u.tx.entities_by_id(group)
    members = list(group)
    for i, a in enumerate(members):
        for b in members[i + 1:]:
            if decisions.get(frozenset((a, b))) == "apart":
                return Protection(True, f"{ents[a].public_id} and {ents[b].public_id} were "
                                  "marked as different customers (force-apart)")
    held: dict[str, set[str]] = {}
    for row in u.tx.identifiers_of(group):
        held.setdefault(row.kind, set()).add(row.value)
    for kind, sent in (incoming or {}).items():
        held.setdefault(kind, set()).update(sent)
    for kind, values in sorted(held.items()):
        rule = rules.rule(kind)
        if kind == "source_id" or not rule.unique:
            continue
        if len(values) > rule.max_per_entity and rule.priority > bridge_priority:
            shown = ", ".join(sorted(values)[:5])
            return Protection(True, f"together they would hold {len(values)} values of "
                              f"{kind} ({shown}), more than the {rule.max_per_entity} one "
                              f"customer may have; {kind} (priority {rule.priority}) outranks "
                              f"the identifier that links them (priority {bridge_priority})")
    return Protection(False)


def merge_entities(u: Unit, etype: EntityType, survivor_id: int, merged_ids: Sequence[int], *,
                   reason: str, evidence: dict[str, Any]) -> str:
    """Merge `merged_ids` into `survivor_id`; returns the merge's public id (mrg_…)."""
    tx, tenant = u.tx, u.actor.tenant_id
    ids = sorted(set(merged_ids) - {survivor_id})
    u.entities_changed([survivor_id, *ids])
    tx.lock_entities([survivor_id, *ids])
    ents = tx.entities_by_id([survivor_id, *ids])
    survivor = ents[survivor_id]
    public = new_public_id("mrg")
    moved_members: dict[str, list[int]] = {}
    if etype is EntityType.ACCOUNT:
        for eid in ids:
            moved_members[str(eid)] = tx.members(eid, limit=1_000_000)
    account_from: int | None = None
    if etype is EntityType.PERSON and survivor.account_id is None:
        account_from = next((ents[e].account_id for e in ids if ents[e].account_id), None)
    merge_id = tx.insert_merge(tenant, public, etype.value, survivor_id, ids, reason,
                               {**evidence, "moved_members": moved_members,
                                "account_from": account_from},
                               u.actor.initiator, u.actor.touchpoint, u.now)
    for eid in ids:
        records = tx.records_of([eid])
        rec_ids = [r.id for r in records]
        tx.end_links(rec_ids, u.now)
        for r in records:
            tx.add_link(tenant, r.id, survivor_id, "merge",
                        {"merge": public, "from": ents[eid].public_id, "reason": reason},
                        u.actor.initiator, u.actor.touchpoint, u.now, merge_id=merge_id)
        tx.move_records(rec_ids, survivor_id)
        tx.set_entity_state(eid, status="merged", merged_into=survivor_id, now=u.now)
        tx.delete_profile(eid)
        for person in moved_members.get(str(eid), []):
            tx.set_account(person, survivor_id, u.now)
            u.log(person, "account", ents[eid].public_id, survivor.public_id,
                  merge_public_id=public)
        u.log(eid, "merged_into", None, survivor.public_id, merge_public_id=public)
        u.log(survivor_id, "merged", None, ents[eid].public_id, merge_public_id=public)
    if account_from is not None:
        acc = tx.entity(account_from)
        tx.set_account(survivor_id, account_from, u.now)
        u.log(survivor_id, "account", None, acc.public_id if acc else None,
              merge_public_id=public)
    u.dirty.add(survivor_id)
    u.finish(merge_public_id=public)
    return public


def undo_merge(u: Unit, merge_public_id: str, *, keep_apart: bool) -> list[int]:
    """Undo a merge; returns the entity ids it revived (the survivor is first)."""
    tx, tenant = u.tx, u.actor.tenant_id
    merge = tx.merge_by_public_id(tenant, merge_public_id)
    if merge is None:
        raise NotFound(f"no merge {merge_public_id!r} in this tenant")
    if merge.undone_at is not None:
        raise Conflict(f"merge {merge_public_id} was already undone at "
                       f"{merge.undone_at.isoformat()}", hint="nothing to do")
    survivor = tx.entity(merge.survivor_id)
    assert survivor is not None
    if survivor.status != "active":
        raise Conflict(f"merge {merge_public_id} cannot be undone: its survivor "
                       f"{survivor.public_id} was itself merged since",
                       hint="undo the later merge first (see the changelog of "
                       f"{survivor.public_id})")
    tx.lock_entities([merge.survivor_id, *merge.merged_ids])
    links = tx.links_of_merge(merge.id)
    records = {r.id: r for r in tx.records_of([merge.survivor_id])}
    for link in links:
        if link.record_id not in records:
            continue  # the record moved on since (to another entity); it stays there
        previous = tx.previous_link(link.record_id, link.id)
        if previous is None:
            continue
        tx.end_links([link.record_id], u.now)
        tx.add_link(tenant, link.record_id, previous.entity_id, "undo",
                    {"undo_of": merge_public_id}, u.actor.initiator, u.actor.touchpoint, u.now)
        tx.move_records([link.record_id], previous.entity_id)
    ents = tx.entities_by_id(merge.merged_ids)
    for eid in merge.merged_ids:
        tx.set_entity_state(eid, status="active", merged_into=None, now=u.now)
        u.log(eid, "merged_into", survivor.public_id, None, merge_public_id=merge_public_id)
        u.log(merge.survivor_id, "unmerged", ents[eid].public_id, None,
              merge_public_id=merge_public_id)
        u.dirty.add(eid)
    for eid_text, people in (merge.evidence.get("moved_members") or {}).items():
        eid = int(eid_text)
        for person in people:
            current = tx.entity(person)
            if current is not None and current.account_id == merge.survivor_id:
                tx.set_account(person, eid, u.now)
                u.log(person, "account", survivor.public_id, ents[eid].public_id,
                      merge_public_id=merge_public_id)
    account_from = merge.evidence.get("account_from")
    if account_from is not None and survivor.account_id == account_from:
        acc = tx.entity(account_from)
        tx.set_account(merge.survivor_id, None, u.now)
        u.log(merge.survivor_id, "account", acc.public_id if acc else None, None,
              merge_public_id=merge_public_id)
    # Kept apart, or no decision in force any more: a manual merge's force-together ends
    # with its undo (otherwise the pair, apart again, would still be "together").
    for eid in merge.merged_ids:
        tx.add_decision(tenant, merge.entity_type, "apart" if keep_apart else "cleared",
                        merge.survivor_id, eid, u.actor.initiator,
                        f"undo of {merge_public_id}", u.now)
    tx.mark_merge_undone(merge.id, u.actor.initiator, u.now)
    u.dirty.add(merge.survivor_id)
    u.finish(merge_public_id=merge_public_id)
    return [merge.survivor_id, *merge.merged_ids]
