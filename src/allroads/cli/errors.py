"""Errors at the CLI edge: an Allroads error becomes one red line, a hint, and an exit code.

    InvalidInput (and InvalidIdentifier)  exit 2, like a usage error
    NotFound, Conflict, PermissionDenied  exit 1
    StoreError, database driver errors    exit 1

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from allroads.domain.errors import AllroadsError, InvalidInput

EXIT_FAILED = 1
EXIT_INPUT = 2
# Database driver errors are recognised by module, so the CLI never imports the drivers.
_DRIVER_MODULES = ("sqlalchemy", "psycopg", "sqlite3", "alembic")

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def exit_code(exc: AllroadsError) -> int:
    return EXIT_INPUT if isinstance(exc, InvalidInput) else EXIT_FAILED


def fail(message: str, *, hint: str | None = None, code: int = EXIT_FAILED) -> NoReturn:
    """Print a one-line error (and a hint) to stderr and exit with `code`."""
    err_console.print(f"[bold red]Error:[/] {escape(message)}")
    if hint:
        err_console.print(f"[dim]Hint: {escape(hint)}[/]")
    raise typer.Exit(code)


def _is_driver_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _DRIVER_MODULES


class AllroadsGroup(TyperGroup):
    """The root command group: translates errors raised by any subcommand."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except AllroadsError as exc:
            fail(exc.message, hint=exc.hint, code=exit_code(exc))
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            fail(f"database error: {detail}",
                 hint="check ALLROADS_DATABASE_URL, that the database is up, and run "
                 "`allroads db upgrade`")
