"""`allroads rules show | set`: a tenant's match rules, as data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from allroads.cli import runtime
from allroads.cli.errors import err_console
from allroads.cli.options import EntityTypeOpt, JsonOpt, TenantOpt
from allroads.cli.render import console, print_json, table
from allroads.domain.errors import InvalidInput
from allroads.domain.types import EntityType
from allroads.resolution.rules import BUILT_IN_BLOCKS

app = typer.Typer(no_args_is_help=True, help="""Show and set the match rules of a tenant.

    Rules are data: per identifier kind and per touchpoint, for people and for accounts.

    Example:

        allroads rules show --type person --tenant demo
    """)


@app.command("show")
def show(tenant: TenantOpt, etype: EntityTypeOpt = EntityType.PERSON,
         as_json: JsonOpt = False) -> None:
    """Show the match rules for people or accounts.

    Per identifier kind: whether it identifies, how much it is trusted, how many values one
    customer may hold, and which values are blocked (listed values and patterns, phones of
    one repeated digit, free-mail domains); per touchpoint: what happens when one record
    points at two customers (merge, review or reject).

    Example:

        allroads rules show --type person --tenant demo

        allroads rules show --type account --tenant demo --json > account-rules.json
    """
    with runtime.hub_session() as hub:
        rules = hub.rules(runtime.cli_actor(hub, tenant), etype)
    if as_json:
        print_json(rules)
    else:
        render(rules, f"{etype.value} rules of {tenant}")


@app.command("set")
def set_rules(
    file: Annotated[Path, typer.Argument(
        metavar="FILE", show_default=False, allow_dash=True,
        help="A JSON rule set (as `rules show --json` prints it), or - for stdin.")],
    tenant: TenantOpt,
    etype: EntityTypeOpt = EntityType.PERSON,
    as_json: JsonOpt = False,
) -> None:
    """Replace the match rules for people or accounts with a JSON rule set.

    Settings not given keep their defaults; every problem in the file is reported at once.
    When blocked values, patterns or built-in blocks change, every stored value of those
    kinds is marked again (a progress bar shows it; seconds at a million values).

    Example:

        allroads rules set person-rules.json --type person --tenant demo

        echo '{"identifiers": {"device_id": {"shared_limit": 5}}}' | allroads rules set - -t demo
    """
    text = typer.get_text_stream("stdin").read() if str(file) == "-" else _read(file)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{file} is not valid JSON: {exc}", field="file") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{file}: expected a JSON object with identifiers and policies",
                           field="file")
    bar = RichProgress(TextColumn("[bold]Marking stored values"), BarColumn(),
                       MofNCompleteColumn(), TimeElapsedColumn(),
                       console=err_console if as_json else console, transient=True)
    values = bar.add_task("remark", total=None, visible=False)  # shown once there is work
    with runtime.hub_session() as hub, bar:
        rules = hub.set_rules(runtime.cli_actor(hub, tenant), etype, data,
                              progress=lambda done, total: bar.update(
                                  values, completed=done, total=total, visible=True))
    if as_json:
        print_json(rules)
        return
    render(rules, f"{etype.value} rules of {tenant} (saved)")
    marks = rules["remarked"]
    if marks["checked"]:
        console.print(f"Stored values read again: {marks['checked']:,}; now blocked "
                      f"{marks['blocked']:,}, unblocked {marks['unblocked']:,}; records "
                      f"re-indexed {marks['records']:,}.")


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}", field="file") from None


def render(rules: dict[str, Any], title: str) -> None:
    idents: dict[str, dict[str, Any]] = rules.get("identifiers", {})
    ordered = sorted(idents.items(), key=lambda kv: (-int(kv[1]["priority"]), kv[0]))
    console.print(table(title, ("Kind", "Identifies", "Priority", "Max per customer",
                                "Shared limit", "Blocked"),
                        ((kind, "yes" if r["unique"] else "no", r["priority"],
                          r["max_per_entity"], r["shared_limit"], _blocked(r) or None)
                         for kind, r in ordered)))
    console.print(table("When one record points at two customers",
                        ("Touchpoint", "Policy"), sorted(rules.get("policies", {}).items())))


def _blocked(rule: dict[str, Any]) -> str:
    """The Blocked column: the built-in blocks switched on, then the values and patterns."""
    built_in = [name for key, (_, name) in BUILT_IN_BLOCKS.items() if rule[key]]
    return ", ".join([*built_in, *rule["blocked_values"], *rule["blocked_patterns"]])
