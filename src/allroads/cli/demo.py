"""`allroads demo`: seed Demo Co's customers into a SQLite file, show what to try, serve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from allroads.cli import runtime, server
from allroads.cli.options import HostOpt, PortOpt
from allroads.cli.render import console, table
from allroads.demo import DemoSummary, seed_demo
from allroads.demo.data import ACME_CONTACT_EMAIL, TENANT_SLUG
from allroads.demo.keys import demo_admin_key, key_path
from allroads.demo.seed import demo_actor
from allroads.domain.errors import InvalidInput
from allroads.domain.types import EntityType
from allroads.resolution.hub import Hub
from allroads.settings import Settings

DEFAULT_DB = Path("allroads-demo.db")
SOURCE_ORDER = ("product", "crm", "support")


def demo(
    db: Annotated[Path, typer.Option(
        "--db", metavar="PATH", dir_okay=False,
        help="The SQLite file to create (or reuse) for the demo.")] = DEFAULT_DB,
    host: HostOpt = None,
    port: PortOpt = None,
    no_serve: Annotated[bool, typer.Option(
        "--no-serve", help="Seed and print what to try, but do not start the server.")] = False,
) -> None:
    """Try Allroads on a demo company's customers, then serve them.

    Creates (or reuses) a SQLite database, seeds tenant "demo" with the accounts and people
    of a product database, a CRM and a support desk, resolves them into one customer each
    (ACME Services is product 34 = CRM 110 = support 2101), prints an admin API key and the
    URLs to try, and starts the server. Running it again changes nothing.

    Example:

        allroads demo

        allroads demo --db /tmp/demo.db --port 8001 --no-serve
    """
    if not db.parent.is_dir():
        raise InvalidInput(f"--db {db}: the directory {db.parent} does not exist",
                           field="db", hint="create it first, or give another path")
    config = runtime.settings(database_url=f"sqlite:///{db}", host=host, port=port)
    store = runtime.open_store(config, migrate=True)
    hub = Hub(store)
    try:
        with console.status("Seeding the demo tenant..."):
            summary = seed_demo(hub)
        key, new_key = demo_admin_key(hub, key_path(db))
        show(hub, summary, config, db, key, new_key)
        if not no_serve:
            server.run(config, hub=hub)
    finally:
        store.close()


def show(hub: Hub, summary: DemoSummary, config: Settings, db: Path, key: str,
         new_key: bool) -> None:
    records = summary.records
    rows = [(source, per["account"], per["person"]) for source, per in records.items()]
    rows.append(("records", sum(r[1] for r in rows), sum(r[2] for r in rows)))
    t = table("Demo Co's customers, as three systems hold them",
              ("Source", "Accounts", "People"), rows)
    t.add_section()
    t.add_row("[bold]after resolution[/]", f"[bold]{summary.accounts}[/]",
              f"[bold]{summary.people}[/]")
    console.print(t)
    if summary.changed:
        done = ", ".join(f"{n} {action}" for action, n in sorted(summary.actions.items()))
        console.print(f"Seeded {summary.records_total} records into {db}: {done}.")
        if summary.merge_ids:
            console.print(f"Merges: {', '.join(summary.merge_ids)} "
                          "(a record bridged two customers)")
    else:
        console.print(f"Already seeded: {summary.records_total} records in {db}, "
                      "nothing changed.")

    actor = demo_actor(hub, summary.tenant)
    acme = summary.acme_account_id
    walk = hub.crosswalk(actor, EntityType.ACCOUNT, acme)["ids"]
    order = [s for s in SOURCE_ORDER if s in walk] + sorted(set(walk) - set(SOURCE_ORDER))
    chain = " <-> ".join(f"{source} {', '.join(walk[source])}" for source in order)
    console.print(f"ACME Services is [bold]{acme}[/]: {escape(chain)}")
    console.print(f"People without an account: {summary.people_without_account}; "
                  f"blocked (shared) addresses: {escape(', '.join(summary.blocked) or 'none')}")

    note = "new, saved to" if new_key else "reused from"
    console.print(Panel(f"[bold]{escape(key)}[/]\n[dim]admin key of tenant "
                        f"{escape(summary.tenant)}, {note} {escape(str(key_path(db)))}[/]",
                        title="API key", title_align="left", expand=False))
    base = server.base_url(config)
    api = f"{base}{server.API_PREFIX}"
    auth = f'-H "Authorization: Bearer {key}"'
    console.print("[bold]Try:[/]")
    for line in (
        f"  open {base}/docs",
        f"  curl {auth} {api}/accounts/{acme}/crosswalk",
        f'  curl {auth} "{api}/resolve?type=person&email={ACME_CONTACT_EMAIL}"',
        f"  curl {auth} {api}/quality",
        f"  ALLROADS_DATABASE_URL=sqlite:///{db} allroads resolve email={ACME_CONTACT_EMAIL}"
        f" --tenant {TENANT_SLUG}",
    ):
        console.print(line, markup=False, soft_wrap=True)
