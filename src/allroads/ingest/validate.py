"""Validation, the first phase of an import: read the file, check every row, stage it.

Every row is checked three ways, and every problem is kept with a stable code:
  1. its cells, by the profile's field specs (`values.check_value`): corrections become
     warnings, bad values errors; mandatory fields and the template's unique identifier;
  2. against the rest of the file: a duplicate email, mobile, external id or user id rejects
     every row that holds it, each pointing to the others (known after the last row);
  3. against the store (`lookups.check_batch`): who the row updates, values registered to a
     different customer, a changed mobile, an inactive or fraud customer, unknown stores.
A row with an error is staged `rejected`; the others `valid`, with the action a commit would
take (create, update or unchanged). Nothing outside the import's staging is written.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from allroads.domain.errors import InvalidInput
from allroads.domain.types import Actor, utcnow
from allroads.ingest.columns import ColumnMap, map_columns
from allroads.ingest.issues import Issue, Severity
from allroads.ingest.lookups import check_batch
from allroads.ingest.profiles import FieldSpec, ImportProfile
from allroads.ingest.reading import RawRow, ReadLimits, open_table
from allroads.ingest.rowplan import ENTITY_PROFILES, match_field
from allroads.ingest.templates import Template
from allroads.ingest.values import ValueContext, check_value
from allroads.store import ImportRow, StagedRow, Store, Tx

# Fields whose values must be unique within one file, with the issue code of a repeat.
DUPLICATE_CODES = {"email": "DUPLICATE_EMAIL_IN_FILE", "mobile": "DUPLICATE_MOBILE_IN_FILE",
                   "external_id": "DUPLICATE_EXTERNAL_ID_IN_FILE",
                   "user_id": "DUPLICATE_USER_ID_IN_FILE"}
MAX_RELATED = 20  # rows named in one duplicate issue


@dataclass
class Progress:
    phase: str            # "validate" or "commit"
    done: int
    total: int | None     # None while unknown
    started: float = field(default_factory=time.monotonic)


ProgressFn = Callable[[Progress], None]


@dataclass
class CheckedRow:
    number: int
    cells: list[str]
    fields: dict[str, Any]
    custom: dict[str, Any]
    issues: list[Issue]
    empty: list[str] = field(default_factory=list)
    key: str | None = None
    target: str | None = None
    action: str = "create"

    @property
    def rejected(self) -> bool:
        for issue in self.issues:  # noqa: SIM110 (a loop: any() and its generator cost more)
            if issue.severity is Severity.ERROR:
                return True
        return False

    def staged(self) -> StagedRow:
        data: dict[str, Any] = {"fields": self.fields}
        if self.custom:
            data["custom"] = self.custom
        if self.empty:
            data["empty"] = self.empty
        if self.key is not None:
            data["key"] = self.key
        if self.target is not None:
            data["target"] = self.target
        rejected = self.rejected
        return StagedRow(self.number, "rejected" if rejected else "valid",
                         "rejected" if rejected else self.action, data, self.cells,
                         [i.to_dict() for i in self.issues], self.target)


class RowChecker:
    """Checks rows of one file against its profile and template (no store access)."""

    def __init__(self, profile: ImportProfile, template: Template, columns: ColumnMap,
                 headers: Sequence[str], ctx: ValueContext) -> None:
        self.profile = profile
        self.template = template
        self.columns = columns
        self.headers = list(headers)
        self.ctx = ctx
        self.specs = {i: profile.field(name) for i, name in columns.fields.items()}
        self.keep_custom = template.options.keep_unmapped_as_custom and profile.custom_fields
        unmapped = set(columns.unmapped)
        self.custom_columns = [i for i, h in enumerate(self.headers) if h in unmapped]
        needed = [s.name for s in profile.fields if s.mandatory]
        matched = match_field(profile, template.match_on)
        if matched is not None:
            needed.append(matched)
        self.needed = list(dict.fromkeys(needed))
        self._columns = [_Column(i, spec, self.headers[i]) for i, spec in self.specs.items()]

    def check(self, raw: RawRow) -> CheckedRow:
        cells = raw.cells
        issues: list[Issue] = []
        if len(cells) > len(self.headers) and any(c.strip() for c in cells[len(self.headers):]):
            issues.append(Issue("TOO_MANY_CELLS", f"row has {len(cells)} cells but the header "
                                f"has {len(self.headers)} columns; check the delimiter and "
                                "quoting of this row"))
        fields: dict[str, Any] = {}
        empty: list[str] = []
        failed: set[str] = set()
        for column in self._columns:
            text = cells[column.index] if column.index < len(cells) else ""
            found, ok, value = column.check(text, self.ctx)
            if found:
                issues.extend(found)
            if not ok:
                failed.add(column.name)
            elif value is not None:
                fields[column.name] = list(value) if type(value) is list else value
            else:
                empty.append(column.name)
        for name in self.needed:
            if name not in fields and name not in failed:
                spec = self.profile.field(name)
                issues.append(Issue("MANDATORY_MISSING",
                                    f"{spec.label} is mandatory and empty in this row",
                                    field=name, column=self._column_of(name)))
        for group in self.profile.one_of:
            if not any(name in fields or name in failed for name in group):
                labels = ", ".join(self.profile.field(n).label for n in group)
                issues.append(Issue("MANDATORY_MISSING",
                                    f"at least one of {labels} is needed in each row",
                                    field=group[0]))
        custom: dict[str, Any] = {}
        if self.keep_custom:
            for i in self.custom_columns:
                text = cells[i].strip() if i < len(cells) else ""
                if text:
                    custom[self.headers[i]] = text
        return CheckedRow(raw.number, list(cells), fields, custom, issues, empty)

    def _column_of(self, name: str) -> str | None:
        for i, field_name in self.columns.fields.items():
            if field_name == name:
                return self.headers[i]
        return None


# What one cell's check gives: its issues, whether it is free of errors, its value as staged
# (None when empty or rejected).
CellOutcome = tuple[tuple[Issue, ...], bool, Any]
CACHE_TRIAL = 2000     # cells looked at before deciding whether a column's cache pays
CACHE_MIN_HITS = 0.2   # the share of repeated values that keeps a column's cache
CACHE_MAX = 50_000     # outcomes kept per column (cleared when full)


class _Column:
    """One mapped column: its field spec, and the outcomes of values seen before when the
    column repeats its values (names, stores, tiers, dates of a small range). A cell's
    check is pure (`check_value`), so a repeated value gets the same outcome."""

    __slots__ = ("cache", "header", "hits", "index", "looked", "name", "spec")

    def __init__(self, index: int, spec: FieldSpec, header: str) -> None:
        self.index, self.spec, self.header, self.name = index, spec, header, spec.name
        self.cache: dict[str, CellOutcome] | None = {}
        self.hits = self.looked = 0

    def check(self, text: str, ctx: ValueContext) -> CellOutcome:
        cache = self.cache
        if cache is not None:
            self.looked += 1
            found = cache.get(text)
            if found is not None:
                self.hits += 1
                return found
            if self.looked >= CACHE_TRIAL and self.hits < self.looked * CACHE_MIN_HITS:
                self.cache = cache = None  # values (nearly) all different: caching costs more
        cell = check_value(self.spec, text, ctx, column=self.header)
        ok = cell.ok
        outcome = (cell.issues, ok,
                   plain(cell.value) if ok and cell.value is not None else None)
        if cache is not None:
            if len(cache) >= CACHE_MAX:
                cache.clear()
            cache[text] = outcome
        return outcome


def duplicate_issues(tx: Tx, job: ImportRow, profile: ImportProfile,
                     columns: dict[str, str | None]) -> dict[int, list[dict[str, Any]]]:
    """In-file duplicates: every row holding a value another row holds too, for each field
    that must be unique within a file of customers (other profiles may name one customer
    on many rows), each issue naming the other rows."""
    names = {s.name for s in profile.fields} if profile.name in ENTITY_PROFILES else set()
    out: dict[int, list[dict[str, Any]]] = {}
    for name in (f for f in DUPLICATE_CODES if f in names):
        label = profile.field(name).label
        for value, rows in tx.repeated_values(job.id, name).items():
            for n in rows:
                others = tuple(r for r in rows if r != n)
                shown = ", ".join(str(r) for r in others[:MAX_RELATED])
                more = f" and {len(others) - MAX_RELATED} more" if len(
                    others) > MAX_RELATED else ""
                out.setdefault(n, []).append(Issue(
                    DUPLICATE_CODES[name],
                    f"{label} {value!r} appears in {len(rows)} rows of the file (also "
                    f"row{'s' if len(others) > 1 else ''} {shown}{more}): all of them "
                    "are rejected; keep one row per customer",
                    field=name, column=columns.get(name),
                    related_rows=others[:MAX_RELATED]).to_dict())
    return out


def validate_job(store: Store, actor: Actor, job: ImportRow, profile: ImportProfile,
                 template: Template, ctx: ValueContext, *, limits: ReadLimits,
                 batch_size: int = 2000, progress: ProgressFn | None = None,
                 total_hint: int | None = None, workers: int = 0) -> dict[str, Any]:
    """Check and stage every row of the job's file; returns the columns report (and how
    many rows had values corrected: `corrected_rows`). Staging
    is cleared first, so a validation that was interrupted simply starts again.
    `workers` > 0 checks the cells of upcoming batches in that many processes meanwhile
    (the checks are pure; the results are the same)."""
    with store.write() as tx:
        tx.clear_staged(job.id)
    with open_table(job.file_path, limits, filename=job.filename) as table:
        headers = table.info.headers
        columns = map_columns(headers, profile, template.mapping or None)
        mapping = {headers[i]: f for i, f in sorted(columns.fields.items())}
        report: dict[str, Any] = {"headers": headers,
                  "mapping": mapping,
                  "unmapped": columns.unmapped, "recognized": columns.recognized,
                  "missing_mandatory": columns.missing_mandatory,
                  "issues": [i.to_dict() for i in columns.issues]}
        file_info = {"format": table.info.format, "compression": table.info.compression,
                     "encoding": table.info.encoding, "delimiter": table.info.delimiter}
        with store.write() as tx:
            tx.update_import(job.id, columns=report, file_info=file_info)
        _check_columns(profile, template, columns)
        checker = RowChecker(profile, template, columns, headers, ctx)
        progress_state = Progress("validate", 0, total_hint)
        done = 0
        corrected = 0
        for checked in _checked(checker, _chunks(table.rows(), batch_size), workers):
            for row in checked:
                corrected += any(i.severity is Severity.WARNING for i in row.issues)
            with store.read() as tx:
                check_batch(tx, actor, job, profile, template, checked)
            with store.write() as tx:
                tx.stage_rows(job.id, [row.staged() for row in checked])
                done += len(checked)
                tx.update_import(job.id, validated_rows=done, heartbeat_at=utcnow(),
                                 updated_at=utcnow())
            if progress is not None:
                progress_state.done = done
                progress(progress_state)
    report["corrected_rows"] = corrected
    column_of: dict[str, str | None] = {f: h for h, f in mapping.items()}
    with store.write() as tx:
        tx.reject_rows(job.id, duplicate_issues(tx, job, profile, column_of))
    return report


def _check_columns(profile: ImportProfile, template: Template, columns: ColumnMap) -> None:
    """A file without a column for a mandatory field cannot be imported at all."""
    missing = list(columns.missing_mandatory)
    name = match_field(profile, template.match_on)
    if name is not None and name not in columns.fields.values() and name not in missing:
        missing.append(name)
    labels = ", ".join(f"{profile.field(n).label} ({n})" for n in missing)
    for group in profile.one_of:
        if not set(group) & set(columns.fields.values()):
            one_of = " or ".join(profile.field(n).label for n in group)
            labels = f"{labels}, one of {one_of}" if labels else f"one of {one_of}"
    if labels:
        raise InvalidInput(f"the file has no column for the mandatory field(s) {labels}",
                           field="file",
                           hint="rename the columns as in the profile's sample CSV, or map "
                           "them in the template's mapping (column → field)")
    errors = [i for i in columns.issues if i.severity is Severity.ERROR]
    if errors:
        raise InvalidInput("; ".join(i.message for i in errors), field="mapping",
                           hint="fix the template's mapping so each field has one column")


_worker_checker: RowChecker | None = None


def _start_worker(checker: RowChecker, parent: int) -> None:
    global _worker_checker
    _worker_checker = checker
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """A worker whose importing process died (killed, not shut down) ends too, instead of
    waiting for work forever with the parent's pipes (its stdout) open."""
    while os.getppid() == parent:  # an orphan is adopted by another process
        time.sleep(every)
    os._exit(1)


def _check_in_worker(batch: list[RawRow]) -> list[CheckedRow]:
    assert _worker_checker is not None
    return [_worker_checker.check(raw) for raw in batch]


def _checked(checker: RowChecker, batches: Iterator[list[RawRow]], workers: int
             ) -> Iterator[list[CheckedRow]]:
    """Each batch's rows checked, in file order: here, or in `workers` processes that
    work ahead while this one talks to the store."""
    if workers <= 0:
        for batch in batches:
            yield [checker.check(raw) for raw in batch]
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(checker, os.getpid())) as pool:
        pending: deque[Future[list[CheckedRow]]] = deque()
        for batch in batches:
            pending.append(pool.submit(_check_in_worker, batch))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def plain(value: Any) -> Any:
    """A checked value as JSON holds it: dates in ISO 8601, decimals as numbers."""
    if type(value) is str:
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _chunks(rows: Iterator[RawRow], size: int) -> Iterator[list[RawRow]]:
    batch: list[RawRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
