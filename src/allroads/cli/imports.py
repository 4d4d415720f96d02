"""`allroads import`: bulk imports from the command line.

    allroads import FILE --profile people --source shop     validate, preview, commit
    allroads import status|list|commit|resume|replay|undo|errors ID
    allroads import profiles | sample PROFILE | template set|list

`allroads import FILE ...` is short for `allroads import run FILE ...`: a first argument that
is not a subcommand is the file (a file called like a subcommand: `allroads import run ./status`).
The work is in `allroads.ingest.service.Imports`; this module parses and renders.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from allroads.cli import runtime
from allroads.cli.errors import EXIT_FAILED, err_console
from allroads.cli.options import JsonOpt, TenantOpt
from allroads.cli.render import console, print_json, table
from allroads.domain.errors import InvalidInput
from allroads.domain.types import Actor
from allroads.ingest.service import ImportConfig, Imports
from allroads.ingest.templates import TemplateOptions
from allroads.ingest.validate import Progress, ProgressFn

FIRST_ERRORS_SHOWN = 10
EXIT_INTERRUPTED = 130


class ImportGroup(TyperGroup):
    """A group whose default command is `run`: `allroads import FILE` runs an import."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return list(super().parse_args(ctx, args))


app = typer.Typer(cls=ImportGroup, no_args_is_help=True, help="""Import customers from files:
    validate with a preview, commit, undo, replay.

    `allroads import FILE` is `allroads import run FILE`. See docs/cli.md.

    Example:

        allroads import customers.csv --profile people --source shop --tenant acme

        allroads import status imp_01J9Z... --tenant acme
    """)
template_app = typer.Typer(no_args_is_help=True, help="""Save and list import templates.

    A template (per tenant and profile) keeps a column mapping, the identifier to match on
    and the profile's options, for files of the same shape (and for `allroads watch`).

    Example:

        allroads import template set people shopify --match-on email --tenant acme
    """)
app.add_typer(template_app, name="template")


# Shared options ---------------------------------------------------------------------------
ImportIdArg = Annotated[str, typer.Argument(metavar="ID", show_default=False,
                                            help="The import's id (imp_...).")]
ProfileOpt = Annotated[str, typer.Option(
    "--profile", "-p", metavar="PROFILE", show_default=False,
    help="What the file holds: people, accounts, cards, ... (`allroads import profiles`).")]
MatchOnOpt = Annotated[str | None, typer.Option(
    "--match-on", metavar="FIELD", show_default=False,
    help="The unique identifier rows are matched on: mobile, email, external_id, user_id.")]
OptionOpt = Annotated[list[str] | None, typer.Option(
    "--option", "-o", metavar="KEY=VALUE", show_default=False,
    help="A template option, e.g. append_country_code=true, update_fields=email,first_name "
    "(repeat it; KEY alone means true).")]
MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", "-m", metavar="COLUMN=FIELD", show_default=False,
    help='Map a column to a field, e.g. "Mobile No.=mobile" ("Notes=" ignores the column; '
    "repeat it).")]
YesOpt = Annotated[bool, typer.Option(
    "--yes", "-y", help="Do not ask for confirmation (without a terminal nobody is asked).")]


@contextmanager
def session(tenant: str, *, initiator: str = runtime.CLI_INITIATOR
            ) -> Iterator[tuple[Imports, Actor]]:
    """The import service over the configured, migrated store, and the acting tenant."""
    config = runtime.settings()
    with runtime.hub_session(config) as hub:
        actor = runtime.cli_actor(hub, tenant)
        if initiator != actor.initiator:
            actor = dataclasses.replace(actor, initiator=initiator)
        yield Imports(hub.store, ImportConfig.from_settings(config)), actor


# Parsing ----------------------------------------------------------------------------------
_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}
_OPTION_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TemplateOptions)}


def parse_options(items: Sequence[str] | None) -> dict[str, Any]:
    """`--option KEY=VALUE` values as template options (booleans, lists, text)."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, eq, raw = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        value = raw.strip()
        if key not in _OPTION_DEFAULTS:
            raise InvalidInput(f"--option {item!r}: unknown option {key!r}", field="option",
                               hint=f"options: {', '.join(_OPTION_DEFAULTS)} (which apply "
                               "depends on the profile: `allroads import profiles --json`)")
        default = _OPTION_DEFAULTS[key]
        if isinstance(default, bool):
            if not eq or value.lower() in _TRUE:
                out[key] = True
            elif value.lower() in _FALSE:
                out[key] = False
            else:
                raise InvalidInput(f"--option {item!r}: expected true or false",
                                   field=f"options.{key}", hint=f"e.g. --option {key}=true")
        elif key == "update_fields":
            out[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif not value:
            raise InvalidInput(f"--option {item!r}: give a value", field=f"options.{key}",
                               hint=f"e.g. --option {key}=STORE01")
        else:
            out[key] = value
    return out


def parse_mapping(items: Sequence[str] | None) -> dict[str, str]:
    """`--map "COLUMN=FIELD"` values (split at the last `=`, so a header may hold one)."""
    out: dict[str, str] = {}
    for item in items or ():
        column, eq, field_name = item.rpartition("=")
        if not eq or not column.strip():
            raise InvalidInput(f"--map {item!r}: expected COLUMN=FIELD", field="mapping",
                               hint='e.g. --map "Mobile No.=mobile", or --map "Notes=" to '
                               "ignore a column")
        out[column.strip()] = field_name.strip()
    return out


def template_data(imports: Imports, actor: Actor, profile: str, template: str | None,
                  options: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any] | None:
    """What the command line adds to the template: options and mappings are merged into the
    saved template's (the service replaces whole keys)."""
    if not options and not mapping:
        return None
    saved = imports.template(actor, profile, template) if template else {}
    data: dict[str, Any] = {}
    if options:
        data["options"] = {**(saved.get("options") or {}), **options}
    if mapping:
        data["mapping"] = {**(saved.get("mapping") or {}), **mapping}
    return data


# Progress ---------------------------------------------------------------------------------
class RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate")
        return Text(f"{rate:,.0f} rows/s" if rate else "", style="progress.data.speed")


class RowProgress:
    """A Rich progress bar per phase (validate, commit), fed by the pipeline's callbacks."""

    LABELS = {"validate": "Validating", "commit": "Committing"}

    def __init__(self, out: Console) -> None:
        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("rows"), RowsPerSecond(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=out, transient=False)
        self.tasks: dict[str, tuple[TaskID, int, float]] = {}

    def __call__(self, p: Progress) -> None:
        if p.phase not in self.tasks:
            task = self.bar.add_task(self.LABELS.get(p.phase, p.phase), total=p.total,
                                     completed=p.done)
            self.tasks[p.phase] = (task, p.done, time.monotonic())
        task, first, since = self.tasks[p.phase]
        elapsed = time.monotonic() - since
        rate = (p.done - first) / elapsed if elapsed > 0 else 0.0
        self.bar.update(task, completed=p.done, total=p.total, rate=rate)

    @contextmanager
    def shown(self) -> Iterator[ProgressFn]:
        with self.bar:
            yield self


# Rendering --------------------------------------------------------------------------------
def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else ("-" if value is None else str(value))


def preview_table(view: Mapping[str, Any]) -> Table:
    counts = view.get("counts") or {}
    return table("Preview", ("Rows", "Create", "Update", "Unchanged", "Rejected"),
                 [tuple(_n(counts.get(k, 0)) for k in
                        ("rows", "create", "update", "unchanged", "rejected"))])


def summary_table(view: Mapping[str, Any], seconds: float | None) -> Table:
    """What the commit did, one line per outcome (fits a narrow terminal)."""
    counts = view.get("counts") or {}
    done = counts.get("committed") or {}
    rows = int(counts.get("rows") or 0)
    lines: list[tuple[str, str]] = [("Rows in the file", _n(rows))]
    lines += [(label, _n(done.get(key, 0))) for key, label in (
        ("created", "Created"), ("updated", "Updated"), ("merged", "Merged"),
        ("unchanged", "Unchanged"))]
    lines += [("Rejected (see the error report)", _n(counts.get("rejected", 0))),
              ("Failed at commit", _n(done.get("failed", 0)))]
    if seconds:
        lines += [("Seconds", f"{seconds:,.1f}"), ("Rows/s", f"{rows / seconds:,.0f}")]
    return table(f"Import {view['id']}: {view['status']}", ("", "Rows"), lines)


def columns_note(view: Mapping[str, Any]) -> str | None:
    columns = view.get("columns") or {}
    lines = []
    if columns.get("recognized"):
        lines.append(f"Recognized export: [bold]{escape(str(columns['recognized']))}[/]")
    if columns.get("unmapped"):
        lines.append("Unmapped columns (ignored): "
                     + escape(", ".join(str(c) for c in columns["unmapped"])))
    return "\n".join(lines) or None


def errors_table(view: Mapping[str, Any]) -> Table | None:
    first = list(view.get("first_errors") or [])
    if not first:
        return None
    rejected = (view.get("counts") or {}).get("rejected") or len(first)
    title = f"First errors ({_n(rejected)} rows rejected)" if rejected else "First errors"
    return table(title, ("Row", "Column", "Code", "Message"),
                 [(e.get("row_number"), e.get("column"), e.get("code"), e.get("message"))
                  for e in first[:FIRST_ERRORS_SHOWN]])


def status_panel(view: Mapping[str, Any]) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    info = view.get("file") or {}
    fmt = ", ".join(str(info[k]) for k in ("format", "compression", "encoding") if info.get(k))
    progress = view.get("progress") or {}
    template = view.get("template") or {}
    rows: list[tuple[str, Any]] = [
        ("Status", view["status"]),
        ("Profile", view["profile"]), ("Source", view["source"]),
        ("Template", template.get("name")), ("Match on", template.get("match_on")),
        ("File", f"{view['filename']} ({_n(view['size_bytes'])} bytes{', ' + fmt if fmt else ''})"),
        ("Progress", f"{_n(progress.get('validated_rows'))} validated, "
                     f"{_n(progress.get('committed_rows'))} committed of "
                     f"{_n(progress.get('total_rows'))} rows"),
        ("Dry run", "yes" if view.get("dry_run") else None),
        ("Error", view.get("error")), ("Attempts", view.get("attempts") or None),
        ("Created", view.get("created_at")), ("Validated", view.get("validated_at")),
        ("Committed", view.get("committed_at")), ("Undone", view.get("undone_at")),
        ("Replayable until", view.get("replayable_until")),
    ]
    for label, value in rows:
        if value not in (None, ""):
            grid.add_row(label, escape(str(value)))
    return Panel(grid, title=f"[bold]Import {escape(str(view['id']))}[/]", title_align="left",
                 expand=False)


def json_summary(view: Mapping[str, Any], seconds: dict[str, float],
                 report: tuple[Path, int] | None) -> dict[str, Any]:
    counts = dict(view.get("counts") or {})
    total = round(sum(seconds.values()), 3)
    rows = int(counts.get("rows") or 0)
    return {"id": view["id"], "status": view["status"], "profile": view["profile"],
            "source": view["source"], "filename": view["filename"],
            "template": (view.get("template") or {}).get("name"),
            "dry_run": view.get("dry_run"), "rows": rows, "counts": counts,
            "seconds": total, "phases": {k: round(v, 3) for k, v in seconds.items()},
            "rows_per_s": round(rows / total, 1) if total > 0 else None,
            "error_report": str(report[0]) if report else None,
            "error_report_issues": report[1] if report else 0,
            "columns": {k: (view.get("columns") or {}).get(k)
                        for k in ("recognized", "unmapped", "mapping")},
            "first_errors": list(view.get("first_errors") or [])[:FIRST_ERRORS_SHOWN],
            "error": view.get("error")}


def default_report_path(file: Path) -> Path:
    """`customers.csv` -> `customers.errors.csv` beside it (`.csv.gz`, `.xlsx` likewise)."""
    name = file.name
    for ext in (".csv.gz", ".tsv.gz", ".txt.gz", ".gz", ".csv", ".tsv", ".txt", ".xlsx",
                ".xls"):
        if name.lower().endswith(ext):
            name = name[:-len(ext)]
            break
    return file.with_name(f"{name}.errors.csv")


def write_report(imports: Imports, actor: Actor, import_id: str, path: Path, *,
                 keep_empty: bool) -> int:
    """The error report as CSV at `path` (streamed through a temporary file beside it, so a
    report of a million rows is never held in memory); an empty one is not kept unless
    asked for."""
    partial = path.with_name(f".{path.name}.part")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            written = imports.error_report(actor, import_id, out)
        if written or keep_empty:
            partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return written


# Commands ---------------------------------------------------------------------------------
@app.command("run")
def run(
    file: Annotated[Path, typer.Argument(
        metavar="FILE", show_default=False, exists=True, dir_okay=False, readable=True,
        help="CSV, TSV, XLSX, or gzip of one; UTF-8 (with or without BOM), UTF-16 or cp1252; "
        "comma, semicolon or tab.")],
    profile: ProfileOpt,
    source: Annotated[str, typer.Option(
        "--source", "-s", metavar="SOURCE", show_default=False,
        help="The system the file comes from (crm, support, shop, ...): its ids become that "
        "source's ids, and a newer export of it updates rather than duplicates.")],
    tenant: TenantOpt,
    template: Annotated[str | None, typer.Option(
        "--template", metavar="NAME", show_default=False,
        help="A saved template (`allroads import template list`).")] = None,
    match_on: MatchOnOpt = None,
    option: OptionOpt = None,
    mapping: MapOpt = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Validate and preview only; commit nothing.")] = False,
    errors: Annotated[Path | None, typer.Option(
        "--errors", metavar="PATH", show_default=False, dir_okay=False,
        help="Where to write the error report (default: FILE's name + .errors.csv, beside "
        "it; written when a row has an error or warning).")] = None,
    yes: YesOpt = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON summary on stdout (progress and preview on stderr).")
    ] = False,
) -> None:
    """Import a file: validate every row (with a preview), then commit.

    Validation stages the rows and shows a preview: rows to create, update, leave unchanged
    and reject, the first errors, the columns that map to nothing. The error report (every
    row with a problem: its cells, the column, a code and a message) is written beside the
    file. Then the valid rows are committed, in batches. On a terminal you are asked first
    (--yes skips the question); without a terminal (scripts, cron) it commits.

    `allroads import FILE` is short for `allroads import run FILE`. Exit codes: 0 committed
    (or validated, with --dry-run), 1 failed or not committed, 2 bad usage or file.

    Example:

        allroads import customers.csv --profile people --source shop --tenant acme

        allroads import run customers.csv --profile people --source shop

        allroads import export.csv.gz -p people -s crm --match-on email --dry-run -t acme

        allroads import shop.csv -p people -s shop -o append_country_code -m "Handy=mobile"

        allroads import customers.csv -p people -s shop -t acme --yes --json | jq .rows_per_s
    """
    out = err_console if as_json else console
    options = parse_options(option)
    columns = parse_mapping(mapping)
    report_path = errors or default_report_path(file)
    if errors is not None and not errors.parent.is_dir():
        raise InvalidInput(f"--errors {errors}: the folder {errors.parent} does not exist",
                           field="errors", hint="create it, or name a file in another folder")
    interactive = not yes and sys.stdin.isatty()
    seconds: dict[str, float] = {}
    with session(tenant) as (imports, actor):
        data = template_data(imports, actor, profile, template, options, columns)
        job = imports.submit(actor, file, filename=file.name, profile=profile, source=source,
                             template=template, template_data=data, match_on=match_on,
                             dry_run=dry_run, auto_commit=not dry_run and not interactive)
        import_id = str(job["id"])
        out.print(f"Import [bold]{import_id}[/]: {escape(file.name)} as "
                  f"{escape(job['profile'])} from {escape(job['source'])}"
                  + (f" (template {escape(template)})" if template else ""))
        view = _phase(out, seconds, "validate", lambda p: imports.validate(
            actor, import_id, progress=p), import_id)
        _print_preview(out, view)
        report: tuple[Path, int] | None = None
        if view["status"] == "validated" or view.get("first_errors"):
            written: int | None = None
            try:
                written = write_report(imports, actor, import_id, report_path,
                                       keep_empty=errors is not None)
            except OSError as exc:
                err_console.print(f"[yellow]Warning:[/] the error report could not be written "
                                  f"to {escape(str(report_path))}: {escape(str(exc))}; get it "
                                  f"with `allroads import errors {import_id} --output PATH`")
            if written is not None and (written or errors is not None):
                report = (report_path, written)
                out.print(f"Error report: {escape(str(report_path))} ({_n(written)} issues)",
                          soft_wrap=True)
        if view["status"] != "validated":
            _finish(out, view, seconds, report, as_json)
        if dry_run:
            out.print("Dry run: nothing was committed.")
            _finish(out, view, seconds, report, as_json)
        if interactive and not _confirm(view):
            out.print(f"Not committed. The import stays validated: commit it with "
                      f"`allroads import commit {import_id} --tenant {tenant}`.")
            if as_json:
                print_json(json_summary(view, seconds, report))
            raise typer.Exit(EXIT_FAILED)
        view = _phase(out, seconds, "commit", lambda p: imports.commit(
            actor, import_id, progress=p), import_id)
        _finish(out, view, seconds, report, as_json)


def _confirm(view: Mapping[str, Any]) -> bool:
    counts = view.get("counts") or {}
    valid = int(counts.get("rows") or 0) - int(counts.get("rejected") or 0)
    return typer.confirm(f"Commit {valid:,} rows ({counts.get('create', 0):,} new, "
                         f"{counts.get('update', 0):,} updates, {counts.get('unchanged', 0):,}"
                         " unchanged)?", default=True, err=True)


def _phase(out: Console, seconds: dict[str, float], name: str,
           work: Callable[[ProgressFn], dict[str, Any]], import_id: str) -> dict[str, Any]:
    """Run one phase under a progress bar; Ctrl+C leaves the import resumable."""
    started = time.monotonic()
    try:
        with RowProgress(out).shown() as progress:
            view = work(progress)
    except KeyboardInterrupt:
        err_console.print(f"Interrupted. Carry on with `allroads import resume {import_id}`.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    seconds[name] = time.monotonic() - started
    return view


def _print_preview(out: Console, view: Mapping[str, Any]) -> None:
    if view["status"] != "validated" and not (view.get("counts") or {}).get("rows"):
        return
    out.print(preview_table(view))
    note = columns_note(view)
    if note:
        out.print(note)
    errors = errors_table(view)
    if errors is not None:
        out.print(errors)


def _finish(out: Console, view: Mapping[str, Any], seconds: dict[str, float],
            report: tuple[Path, int] | None, as_json: bool) -> NoReturn:
    """Print the summary (a table, or JSON on stdout) and exit: 0 when the import is
    committed (or validated, for a dry run), 1 otherwise."""
    ok = view["status"] == "committed" or (view["status"] == "validated" and view["dry_run"])
    if as_json:
        print_json(json_summary(view, seconds, report))
    elif view["status"] == "committed":
        out.print(summary_table(view, sum(seconds.values()) or None))
    if not ok:
        err_console.print(f"[bold red]Error:[/] import {escape(str(view['id']))} "
                          f"{escape(str(view['status']))}: {escape(str(view.get('error') or ''))}")
        if view["status"] == "failed":
            err_console.print(f"[dim]Hint: fix the cause, then `allroads import replay "
                              f"{escape(str(view['id']))}` (within the replay window)[/]")
    raise typer.Exit(0 if ok else EXIT_FAILED)


@app.command("status")
def status(import_id: ImportIdArg, tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Show an import: status, progress, counts, the first errors.

    Example:

        allroads import status imp_01J9ZK3W --tenant acme

        allroads import status imp_01J9ZK3W --tenant acme --json | jq .progress
    """
    with session(tenant) as (imports, actor):
        view = imports.get(actor, import_id)
    if as_json:
        print_json(view)
        return
    console.print(status_panel(view))
    if (view.get("counts") or {}).get("rows") is not None:
        console.print(preview_table(view))
        if (view.get("counts") or {}).get("committed"):
            console.print(summary_table(view, None))
    errors = errors_table(view)
    if errors is not None:
        console.print(errors)


@app.command("list")
def list_imports(
    tenant: TenantOpt,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500,
                                       help="How many, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List a tenant's imports, newest first.

    Example:

        allroads import list --tenant acme --limit 5
    """
    with session(tenant) as (imports, actor):
        items, _ = imports.list_imports(actor, cursor=None, limit=limit)
    if as_json:
        print_json(items)
        return
    console.print(table(f"Imports of {tenant}",
                        ("ID", "Status", "Profile", "Source", "File", "Rows", "Created"),
                        ((v["id"], v["status"], v["profile"], v["source"], v["filename"],
                          _n((v.get("counts") or {}).get("rows")), v["created_at"][:19])
                         for v in items), empty="no imports"))


def _rerun(tenant: str, import_id: str, as_json: bool,
           work: Callable[[Imports, Actor, ProgressFn], dict[str, Any]]) -> None:
    out = err_console if as_json else console
    seconds: dict[str, float] = {}
    with session(tenant) as (imports, actor):
        view = _phase(out, seconds, "run", lambda p: work(imports, actor, p), import_id)
    if view["status"] == "validated" and not view["dry_run"]:
        _print_preview(out, view)
        out.print(f"Validated. Commit it with `allroads import commit {import_id} "
                  f"--tenant {tenant}`.")
        if as_json:
            print_json(json_summary(view, seconds, None))
        raise typer.Exit(0)
    _finish(out, view, seconds, None, as_json)


@app.command("commit")
def commit(import_id: ImportIdArg, tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Commit a validated import (one whose commit you declined at the question).

    Example:

        allroads import commit imp_01J9ZK3W --tenant acme
    """
    _rerun(tenant, import_id, as_json,
           lambda imports, actor, p: imports.commit(actor, import_id, progress=p))


@app.command("resume")
def resume(import_id: ImportIdArg, tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Carry on an import a crash or Ctrl+C interrupted.

    Validation starts over (it only writes staging); a commit goes on with the rows not yet
    committed, so no row is lost or applied twice.

    Example:

        allroads import resume imp_01J9ZK3W --tenant acme
    """
    _rerun(tenant, import_id, as_json,
           lambda imports, actor, p: imports.resume(actor, import_id, progress=p))


@app.command("replay")
def replay(import_id: ImportIdArg, tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Run a failed import again (for 7 days after its upload), e.g. after the database
    came back. Rows already committed are not applied twice.

    Example:

        allroads import replay imp_01J9ZK3W --tenant acme
    """
    _rerun(tenant, import_id, as_json,
           lambda imports, actor, p: imports.replay(actor, import_id, progress=p))


@app.command("undo")
def undo(import_id: ImportIdArg, tenant: TenantOpt, yes: YesOpt = False,
         as_json: JsonOpt = False) -> None:
    """Undo a committed import: revert its records, merges and reference rows.

    A record changed since the import is left as it is and listed. On a terminal you are
    asked first (--yes skips the question).

    Example:

        allroads import undo imp_01J9ZK3W --tenant acme --yes
    """
    with session(tenant) as (imports, actor):
        if not yes and sys.stdin.isatty():
            view = imports.get(actor, import_id)
            if not typer.confirm(f"Undo import {import_id} ({view['filename']}, "
                                 f"{view['status']})?", default=False, err=True):
                raise typer.Exit(EXIT_FAILED)
        view = imports.undo(actor, import_id)
    report = view["undo"]
    if as_json:
        print_json(view)
        return
    console.print(table(f"Undo of {import_id}", ("", "Count"), [
        ("Records removed", _n(report["records_removed"])),
        ("Records reverted", _n(report["records_reverted"])),
        ("Customers deleted", _n(report["entities_deleted"])),
        ("Merges undone", _n(len(report["merges_undone"]))),
        ("Reference rows deleted", _n(report["references_deleted"])),
        ("Not reverted (changed since)", _n(len(report["not_reverted"])))]))
    if report["not_reverted"]:
        console.print(table("Not reverted (changed since the import)", ("What", "Why"),
                            [(_what(item), item.get("reason")) for item in
                             report["not_reverted"][:50]]))


def _what(item: Mapping[str, Any]) -> str:
    if item.get("merge") is not None:
        return f"merge {item['merge']}"
    if item.get("source"):
        return f"{item['source']} {item.get('source_id')}"
    return ", ".join(f"{k}={v}" for k, v in item.items() if k != "reason")


@app.command("errors")
def errors_report(
    import_id: ImportIdArg, tenant: TenantOpt,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="PATH", dir_okay=False, show_default=False,
        help="Write the CSV here (default: stdout).")] = None,
) -> None:
    """Write an import's error report: the rows with a problem, their original cells, and
    the row number, column, code and message of each problem (CSV, safe to open in Excel).

    Example:

        allroads import errors imp_01J9ZK3W --tenant acme --output errors.csv
    """
    with session(tenant) as (imports, actor):
        if output is None:
            imports.error_report(actor, import_id, sys.stdout)
            return
        written = write_report(imports, actor, import_id, output, keep_empty=True)
    err_console.print(f"Wrote {written:,} issues to {output}")


@app.command("profiles")
def profiles(as_json: JsonOpt = False) -> None:
    """List the import profiles: what each kind of file holds, its mandatory fields, the
    identifiers it can match on and its options.

    Example:

        allroads import profiles

        allroads import profiles --json | jq '.[0].fields'
    """
    items = Imports.profiles()
    if as_json:
        print_json(items)
        return
    console.print(table("Import profiles", ("Profile", "Title", "Mandatory", "Match on",
                                            "Options"),
                        ((p["name"], p["title"],
                          ", ".join(f["name"] for f in p["fields"] if f["mandatory"]) or None,
                          ", ".join(p["match_on"]) or None,
                          ", ".join(o["name"] for o in p["options"]) or None)
                         for p in items)))


@app.command("sample")
def sample(profile: Annotated[str, typer.Argument(
        metavar="PROFILE", show_default=False, help="The profile, e.g. people.")]) -> None:
    """Print a profile's sample CSV: its columns, and a row with `mandatory` under each
    mandatory column.

    Example:

        allroads import sample people > people.csv
    """
    sys.stdout.write(Imports.sample_csv(profile))


# Templates --------------------------------------------------------------------------------
@template_app.command("set")
def template_set(
    profile: Annotated[str, typer.Argument(metavar="PROFILE", show_default=False,
                                           help="The profile, e.g. people.")],
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False,
                                        help="The template's name, e.g. shopify.")],
    tenant: TenantOpt,
    match_on: MatchOnOpt = None,
    option: OptionOpt = None,
    mapping: MapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a template (replacing one of the same name): the identifier to match on, options
    and column mappings.

    Example:

        allroads import template set people shopify --match-on email -t acme

        allroads import template set people shop -o append_country_code -m "Handy=mobile"
    """
    data: dict[str, Any] = {"match_on": match_on, "options": parse_options(option),
                            "mapping": parse_mapping(mapping)}
    with session(tenant) as (imports, actor):
        saved = imports.save_template(actor, profile, name, data)
    if as_json:
        print_json(saved)
        return
    console.print(f"Saved template {escape(saved['name'])} of {escape(saved['profile'])} "
                  f"for {escape(tenant)}.")
    console.print(templates_table([saved]))


def templates_table(items: Sequence[Mapping[str, Any]]) -> Table:
    return table("Import templates", ("Profile", "Name", "Match on", "Options", "Mapping",
                                      "Updated"),
                 ((t["profile"], t["name"], t.get("match_on"),
                   ", ".join(f"{k}={v}" for k, v in (t.get("options") or {}).items()
                             if v not in (None, False)) or None,
                   ", ".join(f"{k}→{v or '(ignored)'}" for k, v in
                             (t.get("mapping") or {}).items()) or None,
                   str(t.get("updated_at", ""))[:19]) for t in items), empty="no templates")


@template_app.command("list")
def template_list(
    tenant: TenantOpt,
    profile: Annotated[str | None, typer.Option(
        "--profile", "-p", metavar="PROFILE", show_default=False,
        help="Only this profile's templates.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List a tenant's import templates.

    Example:

        allroads import template list --tenant acme --profile people
    """
    with session(tenant) as (imports, actor):
        items = imports.templates(actor, profile)
    if as_json:
        print_json(items)
        return
    console.print(templates_table(items))
