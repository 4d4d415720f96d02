"""Imports: everything the edges (API, CLI, drop folder) may ask of the import pipeline.

    imports = Imports(store, upload_dir=Path("imports"))
    job = imports.submit(actor, src, filename="customers.csv", profile="people",
                         source="shop", template_data={"match_on": "mobile"})
    imports.validate(actor, job["id"])      # phase 1: check and stage; a preview with counts
    imports.commit(actor, job["id"])        # phase 2: apply the valid rows, batch by batch
    imports.undo(actor, job["id"])          # revert it (what changed since stays, reported)

A phase that fails on a database error is retried (up to `max_attempts` in all); a file
that cannot be read or has no column for a mandatory field fails at once, with the reason.
A failed commit can be replayed by hand for `replay_days` after the upload (the Capillary
replay); the rows already committed are not applied twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from allroads.domain.errors import AllroadsError, Conflict, InvalidInput, NotFound
from allroads.domain.types import Actor, utcnow
from allroads.ingest.commit import commit_job
from allroads.ingest.issues import CODES, Severity
from allroads.ingest.profiles import PROFILES, ImportProfile, get_profile
from allroads.ingest.reading import ReadLimits, TableInfo, sniff_info
from allroads.ingest.report import write_error_report
from allroads.ingest.templates import Template
from allroads.ingest.undo import undo_job
from allroads.ingest.validate import ProgressFn, validate_job
from allroads.ingest.values import ValueContext
from allroads.resolution.identify import normalize_source
from allroads.resolution.ids import new_public_id
from allroads.settings import Settings
from allroads.store import ImportRow, Store

FIRST_ERRORS = 20
SETTINGS_KEYS = ("mobile_regex",)
RETRY_DELAYS = (1.0, 4.0)
SMALL_FILE = 5_000  # rows: below this, starting worker processes costs more than it saves
AD_HOC = "(none)"  # the name of the template an import without a saved one gets


@dataclass(frozen=True)
class ImportConfig:
    upload_dir: Path
    limits: ReadLimits = field(default_factory=ReadLimits)
    batch_size: int = 2000
    max_attempts: int = 3
    replay_days: int = 7
    workers: int = 0  # processes checking cells beside the one writing (files > SMALL_FILE)

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportConfig:
        """The pipeline's configuration from the ALLROADS_IMPORT_* settings."""
        return cls(upload_dir=Path(settings.import_dir),
                   limits=ReadLimits(max_bytes=settings.import_max_bytes,
                                     max_rows=settings.import_max_rows),
                   batch_size=max(1, settings.import_batch_rows),
                   workers=max(0, settings.import_workers))


class Imports:
    def __init__(self, store: Store, config: ImportConfig) -> None:
        self.store = store
        self.config = config

    # Profiles, templates, settings --------------------------------------------------------
    @staticmethod
    def profiles() -> list[dict[str, Any]]:
        return [p.to_dict() for p in PROFILES.values()]

    @staticmethod
    def profile(name: str) -> dict[str, Any]:
        return get_profile(name).to_dict()

    @staticmethod
    def sample_csv(name: str) -> str:
        return get_profile(name).sample_csv()

    @staticmethod
    def codes() -> dict[str, str]:
        return dict(CODES)

    def templates(self, actor: Actor, profile: str | None = None) -> list[dict[str, Any]]:
        if profile is not None:
            get_profile(profile)
        with self.store.read() as tx:
            rows = tx.templates(actor.tenant_id, profile)
        return [self._template_view(r.data, r.created_at, r.updated_at) for r in rows]

    def template(self, actor: Actor, profile: str, name: str) -> dict[str, Any]:
        with self.store.read() as tx:
            row = tx.template(actor.tenant_id, get_profile(profile).name, name)
        if row is None:
            raise NotFound(f"no template {name!r} for profile {profile}",
                           hint=f"list them: GET /api/v1/import-templates?profile={profile}")
        return self._template_view(row.data, row.created_at, row.updated_at)

    def save_template(self, actor: Actor, profile: str, name: str, data: dict[str, Any]
                      ) -> dict[str, Any]:
        template = Template.from_dict({**data, "profile": profile}, name=name)
        with self.store.write() as tx:
            row = tx.save_template(actor.tenant_id, template.profile, template.name,
                                   template.to_dict(), utcnow())
        return self._template_view(row.data, row.created_at, row.updated_at)

    def delete_template(self, actor: Actor, profile: str, name: str) -> None:
        with self.store.write() as tx:
            if not tx.delete_template(actor.tenant_id, get_profile(profile).name, name):
                raise NotFound(f"no template {name!r} for profile {profile}")

    @staticmethod
    def _template_view(data: dict[str, Any], created: dt.datetime, updated: dt.datetime
                       ) -> dict[str, Any]:
        return {**data, "created_at": created.isoformat(), "updated_at": updated.isoformat()}

    def settings(self, actor: Actor) -> dict[str, Any]:
        with self.store.read() as tx:
            data = tx.import_settings(actor.tenant_id)
        return {key: data.get(key) for key in SETTINGS_KEYS}

    def set_settings(self, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(data) - set(SETTINGS_KEYS))
        if unknown:
            raise InvalidInput(f"unknown import setting {unknown[0]!r}", field=unknown[0],
                               hint=f"settings: {', '.join(SETTINGS_KEYS)}")
        regex = data.get("mobile_regex")
        if regex is not None:
            try:
                re.compile(str(regex))
            except re.error as exc:
                raise InvalidInput(f"mobile_regex is not a valid regular expression: {exc}",
                                   field="mobile_regex",
                                   hint=r"e.g. ^[6-9]\d{9}$ for Indian mobiles") from None
        with self.store.write() as tx:
            tx.set_import_settings(actor.tenant_id, {k: data.get(k) for k in SETTINGS_KEYS
                                                     if data.get(k) is not None}, utcnow())
        return self.settings(actor)

    # Jobs ---------------------------------------------------------------------------------
    def submit(self, actor: Actor, src: IO[bytes] | Path, *, filename: str, profile: str,
               source: str, template: str | None = None,
               template_data: dict[str, Any] | None = None, match_on: str | None = None,
               dry_run: bool = False, auto_commit: bool = False, move: bool = False
               ) -> dict[str, Any]:
        """Store the file and register the import (status `uploaded`). The file's format
        is checked now, so an unreadable file is refused before any work is queued.
        `move`: `src` is a file of ours (an upload just received): move it, do not copy."""
        prof = get_profile(profile)
        source_name = normalize_source(source)
        tpl = self._resolve_template(actor, prof, template, template_data, match_on)
        public_id = new_public_id("imp")
        folder = self.config.upload_dir / str(actor.tenant_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / public_id
        if move and isinstance(src, Path):
            shutil.move(src, path)
            src = path
        digest, size, line_ends = _copy(src, path, self.config.limits.max_bytes)
        try:
            info = sniff_info(path, self.config.limits, filename=filename)
        except AllroadsError:
            path.unlink(missing_ok=True)
            raise
        now = utcnow()
        with self.store.write() as tx:
            job = tx.create_import(
                tenant_id=actor.tenant_id, public_id=public_id, profile=prof.name,
                source=source_name, template_name=template, template=tpl.to_dict(),
                filename=Path(filename).name[:500], file_path=str(path), file_sha256=digest,
                size_bytes=size, file_info={"format": info.format,
                                            "compression": info.compression,
                                            "encoding": info.encoding,
                                            "delimiter": info.delimiter},
                total_rows=_estimate_rows(info, line_ends) or 0,  # the real count once validated
                status="uploaded", dry_run=dry_run, auto_commit=auto_commit and not dry_run,
                initiator=actor.initiator, created_at=now, updated_at=now)
        return self._view(job)

    def _resolve_template(self, actor: Actor, profile: ImportProfile, name: str | None,
                          data: dict[str, Any] | None, match_on: str | None) -> Template:
        if name is not None:
            with self.store.read() as tx:
                row = tx.template(actor.tenant_id, profile.name, name)
            if row is None:
                raise NotFound(f"no template {name!r} for profile {profile.name}",
                               hint="create it first (PUT /api/v1/import-templates/"
                               f"{profile.name}/{name}) or leave the template out")
            base = dict(row.data)
        else:
            base = {"profile": profile.name}
        for key, value in (data or {}).items():
            if key in ("options", "mapping") and isinstance(value, dict) and isinstance(
                    base.get(key), dict):
                base[key] = {**base[key], **value}  # over the saved template's, not instead
            elif key not in ("name", "profile"):
                base[key] = value
        if match_on is not None:
            base["match_on"] = match_on
        # No unique identifier chosen: a row matches the customer its identifiers point to
        # (as identify does), and no one column is required.
        return Template.from_dict(base, name=name or AD_HOC)

    def get(self, actor: Actor, public_id: str) -> dict[str, Any]:
        with self.store.read() as tx:
            return self._view(self._job(tx, actor, public_id), tx)

    def list_imports(self, actor: Actor, *, cursor: str | None, limit: int
             ) -> tuple[list[dict[str, Any]], str | None]:
        before = int(cursor) if cursor and cursor.isdigit() else None
        with self.store.read() as tx:
            rows = tx.list_imports(actor.tenant_id, before_id=before, limit=limit + 1)
            items = [self._view(r) for r in rows[:limit]]
        return items, (str(rows[limit - 1].id) if len(rows) > limit else None)

    def validate(self, actor: Actor, public_id: str, *, progress: ProgressFn | None = None,
                 claimed: bool = False) -> dict[str, Any]:
        """Phase 1. `claimed`: the caller moved the job to `validating` already (`claim`)."""
        job = self._claimed(actor, public_id, "validating") if claimed else self.claim(
            actor, public_id, ("uploaded", "validated", "failed"), "validating")
        return self._run(actor, job, "validate", progress)

    def commit(self, actor: Actor, public_id: str, *, progress: ProgressFn | None = None,
               claimed: bool = False) -> dict[str, Any]:
        """Phase 2. `claimed`: the caller moved the job to `committing` already."""
        job = self._claimed(actor, public_id, "committing") if claimed else self.claim(
            actor, public_id, ("validated",), "committing")
        return self._run(actor, job, "commit", progress)

    def process(self, actor: Actor, public_id: str, *, progress: ProgressFn | None = None,
                claimed: bool = False) -> dict[str, Any]:
        """Validate, then commit unless the import is a dry run or waits for a commit."""
        view = self.validate(actor, public_id, progress=progress, claimed=claimed)
        with self.store.read() as tx:
            job = self._job(tx, actor, public_id)
        if view["status"] == "validated" and job.auto_commit and not job.dry_run:
            view = self.commit(actor, public_id, progress=progress)
        return view

    def resume(self, actor: Actor, public_id: str, *, progress: ProgressFn | None = None,
               stale_seconds: float = 0.0) -> dict[str, Any]:
        """Carry on an import a crash interrupted: validation starts over (it only writes
        staging), a commit goes on with the rows not yet committed. The job is taken over
        only if no process has reported progress on it for `stale_seconds`."""
        with self.store.read() as tx:
            job = self._job(tx, actor, public_id)
        if job.status not in ("validating", "committing"):
            raise Conflict(f"import {public_id} is {job.status}; there is nothing to resume",
                           hint="replay a failed import with POST .../replay"
                           if job.status == "failed" else "see its status")
        stale = utcnow() - dt.timedelta(seconds=stale_seconds)
        with self.store.write() as tx:
            if not tx.claim_import(job.id, (job.status,), job.status, utcnow(),
                                   stale_before=stale):
                raise Conflict(f"import {public_id} is being worked on by another process "
                               f"(progress within the last {stale_seconds:g} s)",
                               hint="wait, and resume it if it stops making progress")
        if job.status == "validating":
            return self.process(actor, public_id, progress=progress, claimed=True)
        return self.commit(actor, public_id, progress=progress, claimed=True)

    def check_replayable(self, actor: Actor, public_id: str) -> ImportRow:
        """The import, if it can be replayed now; Conflict saying why not otherwise."""
        with self.store.read() as tx:
            job = self._job(tx, actor, public_id)
        if job.status != "failed":
            raise Conflict(f"import {public_id} is {job.status}; only a failed import can be "
                           "replayed", hint="see GET /api/v1/imports/{id} for its status")
        until = job.created_at + dt.timedelta(days=self.config.replay_days)
        if utcnow() > until:
            raise Conflict(f"import {public_id} can no longer be replayed: replay is "
                           f"available for {self.config.replay_days} days after the upload "
                           f"(until {until.isoformat()})", hint="upload the file again")
        return job

    def replay(self, actor: Actor, public_id: str, *, progress: ProgressFn | None = None
               ) -> dict[str, Any]:
        """Run a failed import again (the Capillary replay): from validation if it never
        finished it, else the commit of the rows not yet committed."""
        job = self.check_replayable(actor, public_id)
        with self.store.write() as tx:
            tx.update_import(job.id, attempts=0, error=None, updated_at=utcnow())
        if job.validated_at is None:
            return self.process(actor, public_id, progress=progress)
        self.claim(actor, public_id, ("failed",), "committing")
        return self.commit(actor, public_id, progress=progress, claimed=True)

    def undo(self, actor: Actor, public_id: str) -> dict[str, Any]:
        with self.store.read() as tx:
            job = self._job(tx, actor, public_id)
        if job.status not in ("committed", "failed"):
            raise Conflict(f"import {public_id} is {job.status}; only a committed (or "
                           "failed) import can be undone", hint="nothing was applied yet"
                           if job.status in ("uploaded", "validating", "validated") else
                           "wait for the commit to finish")
        report = undo_job(self.store, self._actor(actor, job), job)
        view = self.get(actor, public_id)
        view["undo"] = report
        return view

    def error_report(self, actor: Actor, public_id: str, out: TextIO) -> int:
        with self.store.read() as tx:  # streamed: one page of staged rows at a time
            job = self._job(tx, actor, public_id)
            headers = list(job.columns.get("headers") or [])
            return int(write_error_report(out, headers, (
                (r.row_number, r.cells, [_Issue.of(i) for i in r.issues])
                for r in tx.iter_staged(job.id, with_issues=True))))

    def rows(self, actor: Actor, public_id: str, *, status: str | None, after: int,
             limit: int) -> list[dict[str, Any]]:
        with self.store.read() as tx:
            job = self._job(tx, actor, public_id)
            rows = tx.staged_rows(job.id, after=after, limit=limit,
                                  statuses=[status] if status else None)
        return [{"row_number": r.row_number, "status": r.status, "action": r.action,
                 "id": r.entity_public_id, "fields": r.data.get("fields", {}),
                 "issues": r.issues} for r in rows]

    def pending(self, *, stale_seconds: float = 60.0) -> list[tuple[Actor, str]]:
        """Jobs a crashed process left unfinished (no heartbeat for `stale_seconds`):
        (actor, public id) for each, to `resume`."""
        cutoff = utcnow() - dt.timedelta(seconds=stale_seconds)
        out: list[tuple[Actor, str]] = []
        with self.store.read() as tx:
            for job in tx.imports_with_status(("validating", "committing")):
                if job.heartbeat_at is None or job.heartbeat_at < cutoff:
                    tenant = tx.tenant(job.tenant_id)
                    out.append((Actor(job.tenant_id, job.initiator, "import",
                                      tenant.default_region if tenant else None),
                                job.public_id))
        return out

    # Running a phase ----------------------------------------------------------------------
    def claim(self, actor: Actor, public_id: str, from_statuses: tuple[str, ...],
              to_status: str) -> ImportRow:
        """Move the job to `to_status` if it is in one of `from_statuses` (atomically: one
        caller wins); Conflict saying why not otherwise."""
        with self.store.write() as tx:
            job = self._job(tx, actor, public_id)
            if job.dry_run and to_status == "committing":
                raise Conflict(f"import {public_id} is a dry run; it cannot be committed",
                               hint="upload the file again without dry_run")
            if not tx.claim_import(job.id, from_statuses, to_status, utcnow()):
                raise Conflict(f"import {public_id} is {job.status}; it cannot be "
                               f"{'validated' if to_status == 'validating' else 'committed'}"
                               " now", hint="see GET /api/v1/imports/{id} for its status")
            claimed = tx.import_by_id(job.id)
            assert claimed is not None
            return claimed

    def _claimed(self, actor: Actor, public_id: str, status: str) -> ImportRow:
        with self.store.read() as tx:
            job = self._job(tx, actor, public_id)
        if job.status != status:
            raise Conflict(f"import {public_id} is {job.status}, not {status}",
                           hint="claim it first (Imports.claim)")
        return job

    def _run(self, actor: Actor, job: ImportRow, phase: str, progress: ProgressFn | None
             ) -> dict[str, Any]:
        act = self._actor(actor, job)
        attempts = job.attempts
        while True:
            attempts += 1
            try:
                if phase == "validate":
                    self._validate(act, job, progress)
                else:
                    self._commit(act, job, progress)
                break
            except InvalidInput as exc:  # the file itself: retrying cannot help
                self._fail(job, attempts, exc.message + (f" ({exc.hint})" if exc.hint else ""))
                break
            except Exception as exc:
                message = exc.message if isinstance(exc, AllroadsError) else repr(exc)
                if attempts >= self.config.max_attempts:
                    self._fail(job, attempts, f"{phase} failed after {attempts} attempts: "
                               f"{message}")
                    break
                with self.store.write() as tx:
                    tx.update_import(job.id, attempts=attempts, error=message,
                                     updated_at=utcnow())
                time.sleep(RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)])
        return self.get(actor, job.public_id)

    def _validate(self, actor: Actor, job: ImportRow, progress: ProgressFn | None) -> None:
        profile = get_profile(job.profile)
        template = _template(job)
        with self.store.read() as tx:
            settings = tx.import_settings(actor.tenant_id)
        ctx = ValueContext(region=actor.region, today=utcnow().date(),
                           options=template.options,
                           mobile_regex=settings.get("mobile_regex"))
        estimate = job.total_rows or None
        small = estimate is not None and estimate < SMALL_FILE
        report = validate_job(self.store, actor, job, profile, template, ctx,
                     limits=self.config.limits, batch_size=self.config.batch_size,
                     progress=progress, total_hint=estimate,
                     workers=0 if small else self.config.workers)
        now = utcnow()
        with self.store.write() as tx:
            counts = _preview_counts(tx.staged_counts(job.id))
            counts["corrected"] = report["corrected_rows"]
            tx.update_import(job.id, status="validated", validated_at=now, updated_at=now,
                             total_rows=counts["rows"], counts=counts, error=None)

    def _commit(self, actor: Actor, job: ImportRow, progress: ProgressFn | None) -> None:
        profile = get_profile(job.profile)
        template = _template(job)
        commit_job(self.store, actor, job, profile, template,
                   batch_size=max(1, self.config.batch_size // 2), progress=progress)
        now = utcnow()
        with self.store.write() as tx:
            current = tx.import_by_id(job.id)
            assert current is not None
            counts = dict(current.counts)
            counts["committed"] = _commit_counts(tx.staged_counts(job.id))
            tx.update_import(job.id, status="committed", committed_at=now, updated_at=now,
                             counts=counts, error=None)

    def _fail(self, job: ImportRow, attempts: int, message: str) -> None:
        with self.store.write() as tx:
            tx.update_import(job.id, status="failed", attempts=attempts, error=message,
                             updated_at=utcnow())

    @staticmethod
    def _actor(actor: Actor, job: ImportRow) -> Actor:
        return Actor(actor.tenant_id, actor.initiator, "import", actor.region, job.public_id)

    @staticmethod
    def _job(tx: Any, actor: Actor, public_id: str) -> ImportRow:
        job: ImportRow | None = tx.import_by_public_id(actor.tenant_id, public_id)
        if job is None:
            raise NotFound(f"no import {public_id!r} in this tenant",
                           hint="list imports: GET /api/v1/imports")
        return job

    def _view(self, job: ImportRow, tx: Any = None) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": job.public_id, "status": job.status, "profile": job.profile,
            "source": job.source, "template": job.template, "filename": job.filename,
            "size_bytes": job.size_bytes, "sha256": job.file_sha256, "file": job.file_info,
            "dry_run": job.dry_run, "auto_commit": job.auto_commit, "attempts": job.attempts,
            "error": job.error,
            "progress": {"validated_rows": job.validated_rows,
                         "committed_rows": job.committed_rows, "total_rows": job.total_rows},
            "counts": job.counts, "columns": job.columns, "initiator": job.initiator,
            "created_at": job.created_at.isoformat(), "updated_at": job.updated_at.isoformat(),
            "validated_at": _iso(job.validated_at), "committed_at": _iso(job.committed_at),
            "undone_at": _iso(job.undone_at),
            "replayable_until": (job.created_at + dt.timedelta(
                days=self.config.replay_days)).isoformat() if job.status == "failed" else None,
        }
        if tx is not None:
            view["first_errors"] = [
                {"row_number": r.row_number, **issue}
                for r in tx.staged_rows(job.id, limit=FIRST_ERRORS, with_issues=True,
                                        statuses=["rejected", "failed"])
                for issue in r.issues if issue.get("severity", "error") == "error"
            ][:FIRST_ERRORS]
            view["first_warnings"] = [
                {"row_number": r.row_number, **issue}
                for r in tx.staged_rows(job.id, limit=FIRST_ERRORS, with_issues=True,
                                        statuses=["valid", "committed"])
                for issue in r.issues
            ][:FIRST_ERRORS]
        return view


@dataclass(frozen=True)
class _Issue:
    column: str | None
    severity: str
    code: str
    message: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> _Issue:
        return cls(data.get("column"), data.get("severity", Severity.ERROR.value),
                   data.get("code", ""), data.get("message", ""))


def _template(job: ImportRow) -> Template:
    return Template.from_dict(job.template, name=job.template.get("name") or AD_HOC)


def _preview_counts(staged: dict[tuple[str, str], int]) -> dict[str, Any]:
    counts = {"rows": sum(staged.values()), "create": 0, "update": 0, "unchanged": 0,
              "rejected": 0}
    for (status, action), n in staged.items():
        key = "rejected" if status == "rejected" else action
        if key in counts:
            counts[key] += n
    return counts


def _commit_counts(staged: dict[tuple[str, str], int]) -> dict[str, int]:
    out = {"created": 0, "updated": 0, "merged": 0, "unchanged": 0, "failed": 0}
    for (status, action), n in staged.items():
        if status == "committed":
            key = "unchanged" if action == "unchanged" else action
            out[key] = out.get(key, 0) + n
        elif status == "failed":
            out["failed"] += n
    return out


def _copy(src: IO[bytes] | Path, path: Path, max_bytes: int) -> tuple[str, int, int]:
    """Copy the upload to `path` in chunks (when `src` is `path` itself, moved there
    already, only read it), hashing it and counting its line ends; refuse it past
    `max_bytes`. Returns (sha256, size, line ends)."""
    digest = hashlib.sha256()
    size = line_ends = 0
    opened = src.open("rb") if isinstance(src, Path) else contextlib.nullcontext(src)
    writing = contextlib.nullcontext(None) if src == path else path.open("wb")
    with opened as reader, writing as out:
        while chunk := reader.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                break
            digest.update(chunk)
            line_ends += chunk.count(b"\n")
            if out is not None:
                out.write(chunk)
    return (*_checked_size(path, digest.hexdigest(), size, max_bytes), line_ends)


def _checked_size(path: Path, digest: str, size: int, max_bytes: int) -> tuple[str, int]:
    if size > max_bytes:
        path.unlink(missing_ok=True)
        raise InvalidInput(f"the file is larger than the limit of "
                           f"{max_bytes // (1024 * 1024)} MB", field="file",
                           hint="split it, compress it with gzip, or raise "
                           "ALLROADS_IMPORT_MAX_BYTES")
    if size == 0:
        path.unlink(missing_ok=True)
        raise InvalidInput("the file is empty", field="file",
                           hint="export the data again; the first line must be the header")
    return digest, size


def _estimate_rows(info: TableInfo, line_ends: int) -> int | None:
    """Rows of a plain CSV file from its line ends (quoted line breaks aside); None for
    formats whose bytes do not say (gzip, XLSX, UTF-16)."""
    if info.format != "csv" or info.compression or (info.encoding or "").startswith("utf-16"):
        return None
    return max(line_ends - 1, 0)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
