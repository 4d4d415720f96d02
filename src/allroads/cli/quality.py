"""`allroads quality`: what needs a person's attention in a tenant's data."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from allroads.cli import runtime
from allroads.cli.options import JsonOpt, TenantOpt
from allroads.cli.render import console, print_json, table


def quality(
    tenant: TenantOpt,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000,
                                       help="Items to list per problem.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Show data problems: orphans, unlinked accounts, blocked and shared identifiers.

    Lists people without an account (CRM contacts without an AccountId, support users
    without an organization, that no email domain placed either), accounts that carry no
    org_ref or external_id (no system's account id leads to them), identifiers that are
    blocked (info@, noreply@, placeholder phones) or held by several customers, and the
    open review items.

    Example:

        allroads quality --tenant demo

        allroads quality --tenant demo --json | jq '.people_without_account.count'
    """
    with runtime.hub_session() as hub:
        report = hub.quality(runtime.cli_actor(hub, tenant), limit=limit)
    if as_json:
        print_json(report)
        return
    render(report)


def render(report: dict[str, Any]) -> None:
    orphans = report["people_without_account"]
    console.print(table(f"People without an account ({orphans['count']})", ("ID", "Name"),
                        ((p["id"], p["display_name"]) for p in orphans["items"])))
    no_ref = report["accounts_without_external_ref"]
    console.print(table(f"Accounts without an org_ref or external_id ({no_ref['count']})",
                        ("ID", "Name"), ((a["id"], a["display_name"]) for a in no_ref["items"])))
    console.print(table("Blocked identifiers (never link anyone)",
                        ("Type", "Kind", "Value", "Records"),
                        ((b["type"], b["kind"], b["value"], b["records"])
                         for b in report["blocked_identifiers"])))
    console.print(table("Identifiers shared by several customers",
                        ("Type", "Kind", "Value", "Customers"),
                        ((s["type"], s["kind"], s["value"], s["entities"])
                         for s in report["shared_identifiers"])))
    reviews = report["open_reviews"]
    console.print(table(f"Open reviews ({len(reviews)})",
                        ("Review", "Type", "Customers", "Reason"),
                        ((r.get("public_id"), r.get("entity_type"), r.get("entity_ids"),
                          r.get("reason")) for r in reviews)))
