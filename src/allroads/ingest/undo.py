"""Undo a whole import: revert what it changed, except where a record changed since.

In one transaction:
  1. the merges its rows caused are undone (newest first);
  2. each record it wrote is put back: a record it created is removed (with its index rows
     and links; a customer left with no record is deleted), a record it updated gets a new
     version equal to the one before the import;
  3. rows it created in the reference tables (stores, cards, ...) are deleted.
A record with a version newer than the import's, a merge whose survivor was merged since,
and a reference row changed by a later import are left as they are and listed in the
report. The staged rows stay, so the import can be looked at (not replayed) afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from allroads.domain.errors import Conflict
from allroads.domain.types import Actor, EntityType, IdentifyRequest, utcnow
from allroads.resolution.identify import identify
from allroads.resolution.merging import undo_merge
from allroads.resolution.unit import Unit
from allroads.store import ImportedVersion, ImportRow, Store, Tx
from allroads.store.references import REFERENCE_TABLES


def undo_job(store: Store, actor: Actor, job: ImportRow) -> dict[str, Any]:
    undo_actor = Actor(actor.tenant_id, f"{actor.initiator} (undo of {job.public_id})",
                       "import", actor.region)
    report: dict[str, Any] = {"records_removed": 0, "records_reverted": 0,
                              "entities_deleted": 0, "merges_undone": [],
                              "references_deleted": 0, "not_reverted": []}
    with store.write() as tx:
        now = utcnow()
        u = Unit(tx, undo_actor, now)
        for merge_id in tx.merges_by_import(actor.tenant_id, job.public_id):
            try:
                with tx.savepoint():
                    undo_merge(u, merge_id, keep_apart=False)
                report["merges_undone"].append(merge_id)
            except Conflict as exc:
                report["not_reverted"].append({"merge": merge_id, "reason": exc.message})
        by_record: dict[int, list[ImportedVersion]] = defaultdict(list)
        for v in tx.versions_by_import(job.public_id):
            by_record[v.record_id].append(v)
        emptied: set[int] = set()
        for record_id, versions in sorted(by_record.items()):
            first, last = versions[0], versions[-1]
            current = tx.record_by_id(record_id)
            assert current is not None
            if current.current_version > last.version:
                report["not_reverted"].append({
                    "source": first.source, "source_id": first.source_key,
                    "reason": f"changed since the import (version {current.current_version} "
                              f"is newer than the import's {last.version})"})
                continue
            if first.version == 1:
                tx.delete_record(record_id)
                emptied.add(current.entity_id)
                u.dirty.add(current.entity_id)
                report["records_removed"] += 1
            else:
                _restore(u, tx, current.entity_id, first)
                report["records_reverted"] += 1
        for entity_id in sorted(emptied):
            if not tx.records_of([entity_id]):
                tx.set_entity_state(entity_id, status="deleted", merged_into=None, now=now)
                tx.delete_profile(entity_id)
                u.log(entity_id, "deleted", None, True)
                report["entities_deleted"] += 1
        for kind in REFERENCE_TABLES:
            deleted, kept = tx.delete_references_by_import(kind, actor.tenant_id,
                                                           job.public_id)
            report["references_deleted"] += deleted
            if kept:
                report["not_reverted"].append({"table": kind, "rows": kept,
                                               "reason": "changed by a later import"})
        u.finish()
        counts = dict(job.counts)
        counts["undo"] = report
        tx.update_import(job.id, status="undone", undone_at=now, updated_at=now,
                         counts=counts)
    return report


def _restore(u: Unit, tx: Tx, entity_id: int, first: ImportedVersion) -> None:
    """Write the version the record had before the import as its newest version."""
    before = tx.versions_of_record(first.record_id)[first.version - 2]
    entity = tx.entity(entity_id)
    identifiers = {k: list(v) for k, v in before.identifiers.items() if k != "source_id"}
    attributes = {k: v for k, v in before.attributes.items() if not k.startswith("_")}
    identify(u, IdentifyRequest(EntityType(first.entity_type), first.source, first.source_key,
                                identifiers, attributes, touchpoint="import"), into=entity)
