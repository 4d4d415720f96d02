"""Import jobs, their staging rows, templates and settings; what an import wrote.

Staging rows are written and read in batches (`stage_rows` uses the bulk writer: COPY on
PostgreSQL, executemany on SQLite). Row numbers are the file's: the header is row 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from allroads.store.bulk import BulkQueries
from allroads.store.engine import json_text
from allroads.store.schema import (
    changelog,
    identifiers,
    import_rows,
    import_settings,
    import_templates,
    imports,
    links,
    match_candidates,
    match_features,
    match_keys,
    merges,
    record_versions,
    records,
    review_items,
)

# Statuses of an import job, in order; `failed` and `undone` end a job too.
JOB_STATUSES = ("uploaded", "validating", "validated", "committing", "committed", "failed",
                "undone")


@dataclass(frozen=True, slots=True)
class ImportRow:
    id: int
    tenant_id: int
    public_id: str
    profile: str
    source: str
    template_name: str | None
    template: dict[str, Any]
    filename: str
    file_path: str
    file_sha256: str
    size_bytes: int
    file_info: dict[str, Any]
    status: str
    dry_run: bool
    auto_commit: bool
    attempts: int
    total_rows: int
    validated_rows: int
    committed_rows: int
    counts: dict[str, Any]
    columns: dict[str, Any]
    error: str | None
    initiator: str
    created_at: dt.datetime
    updated_at: dt.datetime
    heartbeat_at: dt.datetime | None
    validated_at: dt.datetime | None
    committed_at: dt.datetime | None
    undone_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class StagedRow:
    row_number: int
    status: str          # valid | rejected | committed | failed
    action: str          # create | update | unchanged | rejected, then what commit did
    data: dict[str, Any]
    cells: list[str]
    issues: list[dict[str, Any]]
    entity_public_id: str | None = None


@dataclass(frozen=True, slots=True)
class ImportedVersion:
    """A record version an import wrote, and where that record stands now."""

    record_id: int
    version: int
    current_version: int
    entity_id: int
    entity_type: str
    source: str
    source_key: str


@dataclass(frozen=True, slots=True)
class TemplateRow:
    id: int
    tenant_id: int
    profile: str
    name: str
    data: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


_STAGED = (import_rows.c.row_number, import_rows.c.status, import_rows.c.action,
           import_rows.c.data, import_rows.c.cells, import_rows.c.issues,
           import_rows.c.entity_public_id)


class ImportQueries(BulkQueries):
    # Jobs -------------------------------------------------------------------------------
    def create_import(self, **values: Any) -> ImportRow:
        values.setdefault("counts", {})
        values.setdefault("columns", {})
        new_id = self._insert(imports, **values)
        row = self.import_by_id(new_id)
        assert row is not None
        return row

    def import_by_id(self, import_id: int) -> ImportRow | None:
        row = self.conn.execute(sa.select(imports).where(imports.c.id == import_id)).first()
        return ImportRow(**row._mapping) if row else None

    def import_by_public_id(self, tenant_id: int, public_id: str) -> ImportRow | None:
        row = self.conn.execute(sa.select(imports).where(
            imports.c.tenant_id == tenant_id, imports.c.public_id == public_id)).first()
        return ImportRow(**row._mapping) if row else None

    def list_imports(self, tenant_id: int, *, before_id: int | None, limit: int
                     ) -> list[ImportRow]:
        q = sa.select(imports).where(imports.c.tenant_id == tenant_id)
        if before_id is not None:
            q = q.where(imports.c.id < before_id)
        rows = self.conn.execute(q.order_by(imports.c.id.desc()).limit(limit))
        return [ImportRow(**r._mapping) for r in rows]

    def imports_with_status(self, statuses: Sequence[str], *, tenant_id: int | None = None
                            ) -> list[ImportRow]:
        q = sa.select(imports).where(imports.c.status.in_(list(statuses)))
        if tenant_id is not None:
            q = q.where(imports.c.tenant_id == tenant_id)
        return [ImportRow(**r._mapping) for r in self.conn.execute(q.order_by(imports.c.id))]

    def update_import(self, import_id: int, **values: Any) -> None:
        self.conn.execute(imports.update().where(imports.c.id == import_id).values(**values))

    def claim_import(self, import_id: int, from_statuses: Sequence[str], to_status: str,
                     now: dt.datetime, *, stale_before: dt.datetime | None = None) -> bool:
        """Move the job to `to_status` if it is in one of `from_statuses` (and, when
        `stale_before` is given, its heartbeat is older): True if this caller got it."""
        cond = [imports.c.id == import_id, imports.c.status.in_(list(from_statuses))]
        if stale_before is not None:
            cond.append(sa.or_(imports.c.heartbeat_at.is_(None),
                               imports.c.heartbeat_at < stale_before))
        result = self.conn.execute(imports.update().where(*cond).values(
            status=to_status, heartbeat_at=now, updated_at=now))
        return result.rowcount == 1

    # Staging rows -----------------------------------------------------------------------
    def stage_rows(self, import_id: int, rows: Sequence[StagedRow]) -> None:
        self._write(import_rows, (
            "import_id", "row_number", "status", "action", "data", "cells", "issues",
            "entity_public_id"), [
            (import_id, r.row_number, r.status, r.action, json_text(r.data), json_text(r.cells),
             json_text(r.issues), r.entity_public_id) for r in rows])

    def staged_rows(self, import_id: int, *, after: int = 0, limit: int = 1000,
                    statuses: Sequence[str] | None = None,
                    with_issues: bool = False) -> list[StagedRow]:
        q = sa.select(*_STAGED).where(import_rows.c.import_id == import_id,
                                      import_rows.c.row_number > after)
        if statuses is not None:
            q = q.where(import_rows.c.status.in_(list(statuses)))
        if with_issues:
            q = q.where(sa.func.length(sa.cast(import_rows.c.issues, sa.Text)) > 2)
        rows = self.conn.execute(q.order_by(import_rows.c.row_number).limit(limit))
        return [StagedRow(*r) for r in rows]

    def iter_staged(self, import_id: int, *, statuses: Sequence[str] | None = None,
                    with_issues: bool = False, batch: int = 2000) -> Iterator[StagedRow]:
        after = 0
        while True:
            rows = self.staged_rows(import_id, after=after, limit=batch, statuses=statuses,
                                    with_issues=with_issues)
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].row_number

    def mark_rows(self, import_id: int, updates: Iterable[tuple[int, str, str, str | None]]
                  ) -> None:
        """(row_number, status, action, entity_public_id) for each row."""
        params = [{"b_import": import_id, "b_row": n, "b_status": s, "b_action": a,
                   "b_entity": e} for n, s, a, e in updates]
        if params:
            self.conn.execute(import_rows.update().where(
                import_rows.c.import_id == sa.bindparam("b_import"),
                import_rows.c.row_number == sa.bindparam("b_row")).values(
                status=sa.bindparam("b_status"), action=sa.bindparam("b_action"),
                entity_public_id=sa.bindparam("b_entity")), params)

    def reject_rows(self, import_id: int, rejected: dict[int, list[dict[str, Any]]]) -> None:
        """Mark these rows rejected, adding the issues given to those already there."""
        if not rejected:
            return
        numbers = sorted(rejected)
        current: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(numbers), 500):
            chunk = numbers[start:start + 500]
            for n, issues in self.conn.execute(sa.select(
                    import_rows.c.row_number, import_rows.c.issues).where(
                    import_rows.c.import_id == import_id,
                    import_rows.c.row_number.in_(chunk))):
                current[n] = list(issues)
        self.conn.execute(import_rows.update().where(
            import_rows.c.import_id == sa.bindparam("b_import"),
            import_rows.c.row_number == sa.bindparam("b_row")).values(
            status="rejected", action="rejected", issues=sa.bindparam("b_issues")),
            [{"b_import": import_id, "b_row": n,
              "b_issues": current.get(n, []) + rejected[n]} for n in numbers])

    def repeated_values(self, import_id: int, field: str) -> dict[str, list[int]]:
        """Values of staged field `field` (compared lower-cased) held by more than one row
        of the import, each with its row numbers in order. Done by the database, so a
        file of millions of rows costs no memory here."""
        value = sa.func.lower(import_rows.c.data[("fields", field)].as_string())
        mine = import_rows.c.import_id == import_id
        repeated = (sa.select(value).where(mine, value.is_not(None))
                    .group_by(value).having(sa.func.count() > 1).subquery())
        rows = self.conn.execute(sa.select(value, import_rows.c.row_number).where(
            mine, value.in_(sa.select(repeated.c[0]))).order_by(value, import_rows.c.row_number))
        out: dict[str, list[int]] = {}
        for v, n in rows:
            out.setdefault(v, []).append(int(n))
        return out

    def staged_counts(self, import_id: int) -> dict[tuple[str, str], int]:
        rows = self.conn.execute(sa.select(
            import_rows.c.status, import_rows.c.action, sa.func.count()).where(
            import_rows.c.import_id == import_id).group_by(
            import_rows.c.status, import_rows.c.action))
        return {(s, a): int(n) for s, a, n in rows}

    def clear_staged(self, import_id: int) -> None:
        self.conn.execute(import_rows.delete().where(import_rows.c.import_id == import_id))

    # What an import wrote -----------------------------------------------------------------
    def versions_by_import(self, public_id: str) -> list[ImportedVersion]:
        rv = record_versions
        rows = self.conn.execute(sa.select(
            rv.c.record_id, rv.c.version, records.c.current_version, records.c.entity_id,
            records.c.entity_type, records.c.source, records.c.source_key).join(
            records, records.c.id == rv.c.record_id).where(rv.c.import_id == public_id)
            .order_by(rv.c.record_id, rv.c.version))
        return [ImportedVersion(*r) for r in rows]

    def merges_by_import(self, tenant_id: int, public_id: str) -> list[str]:
        """Public ids of the merges this import's changes caused, newest first."""
        rows = self.conn.execute(sa.select(changelog.c.merge_public_id).where(
            changelog.c.tenant_id == tenant_id, changelog.c.import_id == public_id,
            changelog.c.merge_public_id.is_not(None)).distinct())
        ids = [r[0] for r in rows]
        if not ids:
            return []
        done = self.conn.execute(sa.select(merges.c.public_id).where(
            merges.c.public_id.in_(ids), merges.c.undone_at.is_(None)).order_by(
            merges.c.id.desc()))
        return [r[0] for r in done]

    def delete_record(self, record_id: int) -> None:
        """Remove a record an import created, with its versions, index rows, links, blocking
        keys, stored features and review-queue pairs (the undo of that import; the row
        stays in the import's staging)."""
        for table in (identifiers, links, record_versions, review_items, match_keys,
                      match_features):
            self.conn.execute(table.delete().where(table.c.record_id == record_id))
        # Review-queue pairs about the record go with it (decided ones too: they were
        # labels about a record that no longer exists).
        self.conn.execute(match_candidates.delete().where(sa.or_(
            match_candidates.c.record_a == record_id, match_candidates.c.record_b == record_id)))
        self.conn.execute(records.delete().where(records.c.id == record_id))

    # Templates and settings -----------------------------------------------------------------
    def save_template(self, tenant_id: int, profile: str, name: str, data: dict[str, Any],
                      now: dt.datetime) -> TemplateRow:
        existing = self.template(tenant_id, profile, name)
        if existing is None:
            self._insert(import_templates, tenant_id=tenant_id, profile=profile, name=name,
                         data=data, created_at=now, updated_at=now)
        else:
            self.conn.execute(import_templates.update().where(
                import_templates.c.id == existing.id).values(data=data, updated_at=now))
        row = self.template(tenant_id, profile, name)
        assert row is not None
        return row

    def template(self, tenant_id: int, profile: str, name: str) -> TemplateRow | None:
        row = self.conn.execute(sa.select(import_templates).where(
            import_templates.c.tenant_id == tenant_id, import_templates.c.profile == profile,
            import_templates.c.name == name)).first()
        return TemplateRow(**row._mapping) if row else None

    def templates(self, tenant_id: int, profile: str | None = None) -> list[TemplateRow]:
        q = sa.select(import_templates).where(import_templates.c.tenant_id == tenant_id)
        if profile is not None:
            q = q.where(import_templates.c.profile == profile)
        rows = self.conn.execute(q.order_by(import_templates.c.profile,
                                            import_templates.c.name))
        return [TemplateRow(**r._mapping) for r in rows]

    def delete_template(self, tenant_id: int, profile: str, name: str) -> bool:
        result = self.conn.execute(import_templates.delete().where(
            import_templates.c.tenant_id == tenant_id, import_templates.c.profile == profile,
            import_templates.c.name == name))
        return result.rowcount == 1

    def import_settings(self, tenant_id: int) -> dict[str, Any]:
        row = self.conn.execute(sa.select(import_settings.c.data).where(
            import_settings.c.tenant_id == tenant_id)).first()
        return dict(row[0]) if row else {}

    def set_import_settings(self, tenant_id: int, data: dict[str, Any],
                            now: dt.datetime) -> None:
        self.conn.execute(import_settings.delete().where(
            import_settings.c.tenant_id == tenant_id))
        self.conn.execute(import_settings.insert().values(tenant_id=tenant_id, data=data,
                                                          updated_at=now))
