"""Commit, the second phase of an import: apply the staged valid rows, batch by batch.

Each batch is one transaction: the rows' changes and their `committed` mark land together,
so a process killed in the middle loses no row and applies none twice; the next run picks
up the rows still `valid`. Every write carries touchpoint `import` and the import's id (on
each record version and changelog row). New customers are written in bulk as `seed` writes
them (resolution/bulk.py: exactly what identify would store); every other row goes through
`identify` itself, so the resolution rules, merge protection and the changelog work as for
the API. New customers are fuzzy-matched as identify matches them (their name, birthdate or
address looked up by blocking keys, the whole batch at once): a row that might link or go
to review is identified one by one, so identify decides (unless the template says
`skip_fuzzy_matching`). A row that fails at commit (the store changed since validation) is
marked `failed` with its error; the batch goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from allroads.domain.errors import AllroadsError
from allroads.domain.types import Action, Actor, EntityType, IdentifyRequest, utcnow
from allroads.ingest.issues import Issue
from allroads.ingest.profiles import ImportProfile
from allroads.ingest.rowplan import (
    ENTITY_PROFILES,
    REFERENCE_PROFILES,
    entity_type,
    reference_key,
    row_request,
)
from allroads.ingest.templates import Template, TemplateOptions
from allroads.ingest.validate import Progress, ProgressFn
from allroads.resolution.bulk import BatchWriter
from allroads.resolution.identify import identify
from allroads.resolution.merging import survivor
from allroads.resolution.unit import TenantSettingsCache, Unit
from allroads.store import EntityRow, ImportRow, StagedRow, Store, Tx

Mark = tuple[int, str, str, str | None]  # row number, status, action, entity public id
# identify's action -> what the row did
_ACTIONS = {"created": "created", "matched": "updated", "merged": "merged",
            "unchanged": "unchanged"}


class _Writer:
    """The bulk writer of one commit, collecting the rows it could not write."""

    def __init__(self, store: Store, actor: Actor, *, fuzzy: bool) -> None:
        self.errors: dict[int, list[dict[str, Any]]] = {}
        self.batch = BatchWriter(store, actor, self._error, fuzzy=fuzzy)

    def _error(self, index: int, exc: AllroadsError) -> None:
        self.errors[index] = [Issue("COMMIT_FAILED", exc.message).to_dict()]


def commit_job(store: Store, actor: Actor, job: ImportRow, profile: ImportProfile,
               template: Template, *, batch_size: int = 1000,
               progress: ProgressFn | None = None) -> None:
    """Apply every row still `valid`; safe to call again after a crash or a failure."""
    cache = TenantSettingsCache()
    writer = _Writer(store, actor, fuzzy=not template.options.skip_fuzzy_matching)
    with store.read() as tx:
        counts = tx.staged_counts(job.id)
    total = sum(n for (status, _), n in counts.items() if status in ("valid", "committed"))
    done = sum(n for (status, _), n in counts.items() if status == "committed")
    state = Progress("commit", done, total)
    after = 0
    while True:
        with store.write(bulk=True) as tx:
            rows = tx.staged_rows(job.id, after=after, limit=batch_size, statuses=["valid"])
            if not rows:
                break
            marks, failures = _apply(tx, actor, job, profile, template, rows, cache, writer)
            tx.mark_rows(job.id, marks)
            if failures:
                tx.reject_rows(job.id, failures)
                tx.mark_rows(job.id, [(n, "failed", "failed", None) for n in failures])
            done += len(rows)
            now = utcnow()
            tx.update_import(job.id, committed_rows=done, heartbeat_at=now, updated_at=now)
        after = rows[-1].row_number
        if progress is not None:
            state.done = done
            progress(state)


def _apply(tx: Tx, actor: Actor, job: ImportRow, profile: ImportProfile, template: Template,
           rows: Sequence[StagedRow], cache: TenantSettingsCache, writer: _Writer
           ) -> tuple[list[Mark], dict[int, list[dict[str, Any]]]]:
    if profile.name in REFERENCE_PROFILES:
        return _apply_references(tx, actor, job, profile, rows), {}
    if profile.name == "id_map":
        return _rowwise(tx, actor, rows, lambda u, row: _apply_id_map(u, job, row), cache)
    fresh = [r for r in rows if r.action == "create" and not r.data.get("target")
             and profile.name in ENTITY_PROFILES]
    marks, failures = (_bulk(tx, writer, job, profile, template.options, fresh) if fresh
                       else ([], {}))
    bulk = {r.row_number for r in fresh}
    rest = [r for r in rows if r.row_number not in bulk]
    more, more_failures = _rowwise(
        tx, actor, rest, lambda u, row: _apply_customer(u, job, profile, template, row), cache)
    return marks + more, {**failures, **more_failures}


def _bulk(tx: Tx, writer: _Writer, job: ImportRow, profile: ImportProfile,
          options: TemplateOptions, rows: Sequence[StagedRow]
          ) -> tuple[list[Mark], dict[int, list[dict[str, Any]]]]:
    """New customers: written in bulk (as `seed` writes them), in this transaction."""
    failures: dict[int, list[dict[str, Any]]] = {}
    writer.errors = failures
    outcomes = writer.batch.write(tx, [
        (r.row_number, row_request(profile, job.source, r.data, None, options)) for r in rows])
    marks: list[Mark] = []
    for row in rows:
        if row.row_number in failures:
            continue
        action, public_id = outcomes[row.row_number]
        if action in (Action.REJECTED.value, Action.REVIEW.value):
            failures[row.row_number] = [Issue("COMMIT_REJECTED", f"identify answered {action}: "
                                              "a value is held by another customer").to_dict()]
            continue
        marks.append((row.row_number, "committed", _ACTIONS.get(action, action), public_id))
    return marks, failures


def _rowwise(tx: Tx, actor: Actor, rows: Sequence[StagedRow], apply: Any,
             cache: TenantSettingsCache
             ) -> tuple[list[Mark], dict[int, list[dict[str, Any]]]]:
    marks: list[Mark] = []
    failures: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        u = Unit(tx, actor, utcnow(), cache)
        try:
            with tx.savepoint():
                action, public_id, problem = apply(u, row)
        except AllroadsError as exc:
            failures[row.row_number] = [Issue("COMMIT_FAILED", f"{exc.message} (the data "
                                              "changed since validation; validate again)"
                                              ).to_dict()]
            continue
        if problem is not None:
            failures[row.row_number] = [problem.to_dict()]
            continue
        marks.append((row.row_number, "committed", action, public_id))
    return marks, failures


def _target(u: Unit, public_id: str | None, etype: EntityType) -> EntityRow | None:
    if not public_id:
        return None
    entity = u.tx.entity_by_public_id(u.actor.tenant_id, public_id)
    entity = survivor(u.tx, entity) if entity is not None else None
    if entity is None or entity.status != "active" or entity.entity_type != etype.value:
        raise AllroadsError(f"customer {public_id} is gone (deleted or of another type)")
    return entity


def _apply_customer(u: Unit, job: ImportRow, profile: ImportProfile, template: Template,
                    row: StagedRow) -> tuple[str, str | None, Issue | None]:
    etype = entity_type(profile) if profile.entity_type else EntityType.PERSON
    target = _target(u, row.data.get("target"), etype)
    key = row.data.get("key")
    record = None if key is None else u.tx.record(u.actor.tenant_id, etype.value, job.source,
                                                   str(key))
    base = u.tx.versions_of_record(record.id)[-1] if record is not None else None
    req = row_request(profile, job.source, row.data, base, template.options)
    if req.account is None and etype is EntityType.PERSON:
        req.attributes.pop("account", None)
    result = identify(u, req, into=target)
    if result.action in (Action.REJECTED, Action.REVIEW):
        return "rejected", result.id, Issue(
            "COMMIT_REJECTED", result.message or f"identify answered {result.action.value}")
    if result.action is Action.CREATED:
        return "created", result.id, None
    if record is not None and result.action is Action.MATCHED:
        after = u.tx.record_by_id(record.id)
        if after is not None and after.current_version == record.current_version:
            return "unchanged", result.id, None
    return ("merged" if result.action is Action.MERGED else "updated"), result.id, None


def _apply_id_map(u: Unit, job: ImportRow, row: StagedRow
                  ) -> tuple[str, str | None, Issue | None]:
    """Record each other system's id on the entity (the crosswalk `PUT`, by file)."""
    fields: dict[str, Any] = row.data.get("fields", {})
    entity = u.tx.entity_by_public_id(u.actor.tenant_id, str(fields["allroads_id"]))
    assert entity is not None
    etype = EntityType(entity.entity_type)
    for name, value in sorted(fields.items()):
        if name.startswith("source:") and value:
            identify(u, IdentifyRequest(etype, name[len("source:"):], str(value), {}, {},
                                        touchpoint="import"), into=entity)
    del job
    return "updated", entity.public_id, None


def _apply_references(tx: Tx, actor: Actor, job: ImportRow, profile: ImportProfile,
                      rows: Sequence[StagedRow]) -> list[Mark]:
    kind = REFERENCE_PROFILES[profile.name]
    now = utcnow()
    customers = {str(r.data["target"]) for r in rows if r.data.get("target")}
    ents = tx.entities_by_public_id(actor.tenant_id, customers) if customers else {}
    payload = [_reference_row(profile, r, ents) for r in rows]
    stored = tx.reference_rows(kind, actor.tenant_id,
                               [reference_key(profile, r.data.get("fields", {})) for r in rows])
    tx.upsert_references(kind, actor.tenant_id, payload, job.public_id, now)
    return [(r.row_number, "committed",
             "updated" if reference_key(profile, r.data.get("fields", {})) in stored
             else "created", r.data.get("target")) for r in rows]


def _reference_row(profile: ImportProfile, row: StagedRow, ents: dict[str, EntityRow]
                   ) -> dict[str, Any]:
    fields: dict[str, Any] = dict(row.data.get("fields", {}))
    key = reference_key(profile, fields)
    entity = ents.get(str(row.data.get("target"))) if row.data.get("target") else None
    data = dict(fields)
    if profile.name == "stores":
        return {"code": key[0], "external_id": fields.get("external_id"),
                "name": fields.get("name") or "", "city": fields.get("city") or ""}
    if profile.name == "card_series":
        return {"code": key[0], "data": data}
    if profile.name == "cards":
        return {"number": key[0], "series_code": str(fields.get("series_code", "")),
                "entity_id": entity.id if entity else None, "data": data}
    if profile.name == "coupon_redemptions":
        return {"series_id": key[0], "code": key[1],
                "entity_id": entity.id if entity else None, "data": data}
    return {"reference_id": key[0], "entity_id": entity.id if entity else None, "data": data}
