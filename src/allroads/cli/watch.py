"""`allroads watch`: import every new file of a drop folder or an FTP location.

The polling, the ledger and the moving of files are in `allroads.ingest.watch`; this module
parses the options and prints what happens, one line (or JSON object) per file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from allroads.cli import runtime
from allroads.cli.errors import EXIT_FAILED, err_console
from allroads.cli.imports import ProfileOpt, session
from allroads.cli.options import TenantOpt
from allroads.cli.render import console
from allroads.domain.errors import AllroadsError, InvalidInput
from allroads.ingest.dropfolder import LocalFolder
from allroads.ingest.ftp import FtpFolder
from allroads.ingest.watch import PATTERNS, Ledger, Location, Poller, Watcher, WatchEvent, WatchSpec

WATCH_INITIATOR = "watch"
FTP_PASSWORD_ENV = "ALLROADS_FTP_PASSWORD"
_TRANSIENT_MODULES = ("sqlalchemy", "psycopg", "sqlite3")


def watch(
    tenant: TenantOpt,
    profile: ProfileOpt,
    source: Annotated[str, typer.Option(
        "--source", "-s", metavar="SOURCE", show_default=False,
        help="The system the files come from (crm, shop, ...).")],
    template: Annotated[str, typer.Option(
        "--template", metavar="NAME", show_default=False,
        help="The saved template to import with (`allroads import template set`).")],
    folder: Annotated[Path | None, typer.Option(
        "--folder", metavar="PATH", show_default=False, file_okay=False,
        help="A local drop folder to watch.")] = None,
    ftp: Annotated[str | None, typer.Option(
        "--ftp", metavar="URL", show_default=False,
        help="An FTP location to watch: ftp://user:password@host:port/path.")] = None,
    ftp_password: Annotated[str | None, typer.Option(
        "--ftp-password", metavar="PASSWORD", envvar=FTP_PASSWORD_ENV, show_envvar=True,
        show_default=False,
        help="The FTP password, when the URL has none (better in the environment).")] = None,
    interval: Annotated[float, typer.Option(
        "--interval", metavar="SECONDS", min=0.0,
        help="Seconds between looks. A new file is taken when unchanged at two looks.")
    ] = 30.0,
    once: Annotated[bool, typer.Option(
        "--once", help="Look, import what is ready, and exit (for cron); when new files are "
        "there, look once more after --interval.")] = False,
    pattern: Annotated[list[str] | None, typer.Option(
        "--pattern", metavar="GLOB", show_default=False,
        help="File names to take (repeat it; default: " + ", ".join(PATTERNS) + ").")
    ] = None,
    ledger: Annotated[Path | None, typer.Option(
        "--ledger", metavar="PATH", dir_okay=False, show_default=False,
        help="The ledger of files taken (default: FOLDER/.allroads/ledger.json; for FTP, "
        "under ALLROADS_IMPORT_DIR/watch/).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object per event (JSON lines), for logs.")] = False,
) -> None:
    """Watch a drop folder or an FTP location and import each new file once.

    Each new file (CSV, TSV, XLSX, or gzip of one) is taken when it is complete (the same
    size and time at two looks, or a NAME.done marker beside it), imported with the
    template (validated, then committed), and moved to processed/ or failed/, with its
    error report beside it. The ledger remembers every file taken, so a file is imported
    once; a watcher stopped in the middle of an import resumes it. See
    docs/imports-watch.md.

    Example:

        allroads watch --folder /srv/drop -p people -s shop --template daily -t acme

        allroads watch --ftp ftp://u@ftp.acme.com/in -p people -s crm --template c -t acme --once
    """
    if (folder is None) == (ftp is None):
        raise InvalidInput("give either --folder PATH or --ftp URL (one of them)",
                           field="folder", hint="e.g. --folder /srv/drop or --ftp "
                           "ftp://user@host/path")
    location: Location = LocalFolder(folder) if folder is not None else \
        FtpFolder.from_url(str(ftp), password=ftp_password)
    spec = WatchSpec(profile, source, template, tuple(pattern) if pattern else PATTERNS)
    config = runtime.settings()
    book = Ledger(ledger or location.default_ledger(Path(config.import_dir)))
    with session(tenant, initiator=WATCH_INITIATOR) as (imports, actor):
        watcher = Watcher(imports, actor, location, spec, book,
                          on_event=lambda e: _print_event(e, as_json))
        poller = Poller(watcher, interval, on_error=lambda e: _print_error(e, as_json))
        if once:
            events = poller.run_once()
            failed = [e for e in events if e.kind == "failed"]
            raise typer.Exit(EXIT_FAILED if failed else 0)
        if not as_json:
            console.print(f"Watching {escape(location.label)} every {interval:g} s for "
                          f"{escape(profile)} files from {escape(source)} (template "
                          f"{escape(template)}); ledger {escape(str(book.path))}. Ctrl+C "
                          "stops.", soft_wrap=True)
        try:
            poller.run_forever()
        except KeyboardInterrupt:
            if not as_json:
                console.print("Stopped.")


def _counts(view: dict[str, Any] | None) -> str:
    counts = (view or {}).get("counts") or {}
    done = counts.get("committed") or {}
    if not counts:
        return ""
    parts = [f"{counts.get('rows', 0):,} rows"]
    parts += [f"{done[k]:,} {k}" for k in ("created", "updated", "merged", "unchanged",
                                           "failed") if done.get(k)]
    if counts.get("rejected"):
        parts.append(f"{counts['rejected']:,} rejected")
    return ", ".join(parts)


def _print_event(event: WatchEvent, as_json: bool) -> None:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if as_json:
        data = {"at": now, "event": event.kind, "file": event.name,
                "import_id": event.import_id, "detail": event.detail,
                "moved_to": event.moved_to,
                "counts": (event.view or {}).get("counts")}
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
        return
    style = {"committed": "green", "failed": "red", "duplicate": "yellow"}.get(event.kind, "dim")
    parts = [f"[{style}]{event.kind}[/]"]
    if event.import_id:
        parts.append(escape(event.import_id))
    summary = _counts(event.view)
    if summary:
        parts.append(summary)
    if event.detail:
        parts.append(escape(event.detail))
    if event.moved_to:
        parts.append(f"→ {escape(event.moved_to)}")
    console.print(f"{now[11:19]} {escape(event.name)}: " + "  ".join(parts), soft_wrap=True)


def _print_error(exc: Exception, as_json: bool) -> None:
    """A poll failed: say why and keep watching, when the cause may go away (the database
    or the FTP server is down, a template was deleted); a bug stops the watcher."""
    if isinstance(exc, AllroadsError):
        message, hint = exc.message, exc.hint
    elif type(exc).__module__.split(".")[0] in _TRANSIENT_MODULES:
        message, hint = f"database error: {exc}".splitlines()[0], None
    else:
        raise exc
    if as_json:
        typer.echo(json.dumps({"event": "error", "error": message, "hint": hint}))
        return
    err_console.print(f"[bold red]Error:[/] {escape(message)} (trying again in the next look)")
    if hint:
        err_console.print(f"[dim]Hint: {escape(hint)}[/]")

