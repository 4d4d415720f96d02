"""`allroads apikey create | list | revoke`."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from allroads.cli import runtime
from allroads.cli.options import JsonOpt, RoleOpt, TenantOpt
from allroads.cli.render import console, print_json, table
from allroads.domain.errors import InvalidInput, NotFound
from allroads.domain.types import Role
from allroads.store import ApiKeyRow

app = typer.Typer(no_args_is_help=True, help="""Create, list and revoke API keys.

    Keys are scoped to one tenant and have a role: viewer, ingest, editor or admin.

    Example:

        allroads apikey create --tenant acme --role admin
    """)

# ar_<prefix>_<secret>: the prefix (8 hex digits) names a key without revealing it.
_FULL_KEY = re.compile(r"^ar_([0-9a-f]{8})_")


def _key_json(row: ApiKeyRow, tenant: str) -> dict[str, object]:
    return {"id": row.id, "tenant": tenant, "name": row.name, "prefix": row.prefix,
            "role": row.role, "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}


@app.command("create")
def create(
    tenant: TenantOpt,
    role: RoleOpt = Role.VIEWER,
    name: Annotated[str, typer.Option("--name", help="A name to recognise the key by "
                                      "(default: '<role> key').")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an API key for a tenant (the tenant is created if it is new).

    The key is printed once, now: only its hash is stored.

    Example:

        allroads apikey create --tenant acme --role admin --name "ops laptop"

        KEY=$(allroads apikey create --tenant acme --role ingest --json | jq -r .key)
    """
    with runtime.hub_session() as hub:
        key, row = hub.create_api_key(tenant, role, name)
    if as_json:
        print_json({"key": key, **_key_json(row, tenant)})
        return
    console.print(Panel(
        f"[bold]{escape(key)}[/]\n\n[dim]{escape(row.role)} key {row.id} "
        f"({escape(row.name)}) of tenant {escape(tenant)}. It is shown only now: "
        "store it in a secret manager.\nUse it as: Authorization: Bearer <key>[/]",
        title="New API key", title_align="left", expand=False))


@app.command("list")
def list_keys(tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """List a tenant's API keys, revoked ones too.

    Shows each key's id, the prefix it starts with, its name and role; never the key itself
    (only its hash is stored).

    Example:

        allroads apikey list --tenant acme
    """
    with runtime.hub_session() as hub:
        rows = hub.list_api_keys(runtime.cli_actor(hub, tenant))
    if as_json:
        print_json([_key_json(r, tenant) for r in rows])
        return
    console.print(table(f"API keys of {tenant}",
                        ("ID", "Key starts", "Name", "Role", "Created", "Revoked"),
                        ((r.id, f"ar_{r.prefix}_", r.name, r.role,
                          r.created_at.strftime("%Y-%m-%d %H:%M"),
                          r.revoked_at.strftime("%Y-%m-%d %H:%M") if r.revoked_at else None)
                         for r in rows), empty="no keys"))


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(
        metavar="KEY", show_default=False,
        help="The key's id, its prefix (as in `apikey list`), or the key itself.")],
    tenant: TenantOpt,
) -> None:
    """Revoke an API key: requests with it are refused from now on.

    Name the key by its id or prefix (see `allroads apikey list`), or give the key itself.

    Example:

        allroads apikey revoke 3 --tenant acme

        allroads apikey revoke ar_1a2b3c4d_ --tenant acme
    """
    with runtime.hub_session() as hub:
        actor = runtime.cli_actor(hub, tenant)
        row = _find_key(hub.list_api_keys(actor), key)
        hub.revoke_api_key(actor, row.id)
    console.print(f"Revoked key {row.id} (ar_{row.prefix}_…, {row.name}) of tenant {tenant}.")


def _find_key(rows: list[ApiKeyRow], given: str) -> ApiKeyRow:
    text = given.strip()
    full = _FULL_KEY.match(text)
    prefix = full.group(1) if full else text.removeprefix("ar_").rstrip("_…").lower()
    for row in rows:
        if (text.isdigit() and row.id == int(text)) or row.prefix == prefix:
            return row
    if not text:
        raise InvalidInput("name the key to revoke", field="key",
                           hint="its id or prefix, from `allroads apikey list`")
    raise NotFound(f"no API key {given!r} in this tenant",
                   hint="see `allroads apikey list --tenant ...` for the ids")
