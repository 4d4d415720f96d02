"""Options shared by several commands, as reusable `Annotated` types.

Help texts of options that are also settings come from the SETTINGS table, so the flag,
the environment variable and docs/configuration.md say the same thing.
"""

from __future__ import annotations

from typing import Annotated

import typer

from allroads.cli.runtime import TENANT_ENV, only_tenant
from allroads.domain.types import EntityType, Role
from allroads.settings import SETTINGS


def setting_help(name: str) -> str:
    setting = next(s for s in SETTINGS if s.name == name)
    return f"{setting.help[0].upper()}{setting.help[1:]} [env: {setting.env}]"


# Without --tenant or ALLROADS_TENANT, the database's only tenant (else an error naming them).
TenantOpt = Annotated[str, typer.Option(
    "--tenant", "-t", envvar=TENANT_ENV, show_envvar=True, metavar="TENANT",
    default_factory=only_tenant, show_default="the database's only tenant",
    help="The tenant (its slug, e.g. acme); needed when the database has several.")]

JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print JSON instead of tables, for scripts.")]

EntityTypeOpt = Annotated[EntityType, typer.Option(
    "--type", case_sensitive=False, help="The entity type: person or account.")]

RoleOpt = Annotated[Role, typer.Option(
    "--role", case_sensitive=False,
    help="What the key may do: viewer (read), ingest (send records), editor (also edit and "
    "merge), admin (everything).")]

HostOpt = Annotated[str | None, typer.Option(
    "--host", metavar="HOST", show_default=False, help=setting_help("host"))]

PortOpt = Annotated[int | None, typer.Option(
    "--port", metavar="PORT", min=1, max=65535, show_default=False,
    help=setting_help("port"))]

WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", metavar="N", min=1, max=64, show_default=False,
    help=setting_help("workers"))]
