"""The `allroads` command: the Typer app and its command tree.

    allroads serve                     the REST API, its docs, the web console
    allroads demo                      a demo company's customers, seeded and served
    allroads resolve KIND=VALUE        the customer an identifier belongs to
    allroads quality                   orphans, blocked and shared identifiers
    allroads import FILE               a bulk import: validate, preview, commit (and status,
                                       resume, replay, undo, errors, profiles, templates)
    allroads watch                     import each new file of a drop folder or FTP location
    allroads match --type person       a batch match run (and candidates, accept, reject,
                                       settings, explain)
    allroads apikey create|list|revoke
    allroads sources list|set
    allroads rules show|set
    allroads db upgrade
"""

from __future__ import annotations

import typer

from allroads.cli import database, imports, keys, match, rules, sources
from allroads.cli.demo import demo
from allroads.cli.errors import AllroadsGroup
from allroads.cli.quality import quality
from allroads.cli.resolve import resolve
from allroads.cli.serve import serve
from allroads.cli.watch import watch

app = typer.Typer(
    name="allroads",
    cls=AllroadsGroup,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="""Allroads: a self-hosted customer identity hub. All roads lead to one customer ID.

    The database is ALLROADS_DATABASE_URL (default: sqlite:///allroads.db); see
    docs/configuration.md for every setting.

    Example:

        allroads demo

        allroads resolve email=jane.cho@acmeservices.com --tenant demo
    """,
)

app.command(rich_help_panel="Run")(serve)
app.command(rich_help_panel="Run")(demo)
app.command(rich_help_panel="Customers")(resolve)
app.command(rich_help_panel="Customers")(quality)
app.add_typer(match.app, name="match", rich_help_panel="Customers")
app.add_typer(imports.app, name="import", rich_help_panel="Import")
app.command(rich_help_panel="Import")(watch)
app.add_typer(keys.app, name="apikey", rich_help_panel="Administer")
app.add_typer(sources.app, name="sources", rich_help_panel="Administer")
app.add_typer(rules.app, name="rules", rich_help_panel="Administer")
app.add_typer(database.app, name="db", rich_help_panel="Administer")


if __name__ == "__main__":
    app(prog_name="allroads")
