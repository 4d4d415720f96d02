"""`allroads sources list | set`: the systems records come from, and how much each is trusted."""

from __future__ import annotations

from typing import Annotated

import typer

from allroads.cli import runtime
from allroads.cli.options import JsonOpt, TenantOpt
from allroads.cli.render import console, print_json, table

app = typer.Typer(no_args_is_help=True, help="""List and set a tenant's sources and their trust.

    A source is a system records come from (product, crm, support, ...); its priority
    decides which values a customer's profile shows.

    Example:

        allroads sources list --tenant demo
    """)


@app.command("list")
def list_sources(tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """List a tenant's sources, most trusted first.

    A profile field takes its value from the most trusted source that has one.

    Example:

        allroads sources list --tenant demo
    """
    with runtime.hub_session() as hub:
        rows = hub.sources(runtime.cli_actor(hub, tenant))
    rows = sorted(rows, key=lambda s: (-int(s["priority"]), str(s["name"])))
    if as_json:
        print_json(rows)
        return
    console.print(table(f"Sources of {tenant}", ("Source", "Priority", "Description"),
                        ((s["name"], s["priority"], s["description"] or None) for s in rows)))


@app.command("set")
def set_source(
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False,
                                        help="The source, e.g. crm, support, shopify.")],
    priority: Annotated[int, typer.Option("--priority", min=0, max=1000, show_default=False,
                                          help="Trust, 0 to 1000: higher wins survivorship.")],
    tenant: TenantOpt,
    description: Annotated[str, typer.Option("--description",
                                             help="What this source is.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Add a source or change its trust priority.

    Profiles take each field from the most trusted source that has a value, so raising a
    source's priority changes which values win (from the next change of each customer).

    Example:

        allroads sources set crm --priority 90 --tenant demo --description "Salesforce"
    """
    with runtime.hub_session() as hub:
        row = hub.set_source(runtime.cli_actor(hub, tenant), name, priority, description)
    if as_json:
        print_json(row)
    else:
        console.print(f"Source {row['name']} of {tenant}: priority {row['priority']}.")
