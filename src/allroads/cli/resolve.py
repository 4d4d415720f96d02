"""`allroads resolve`: the customer an identifier or a source record belongs to."""

from __future__ import annotations

from typing import Annotated

import typer

from allroads.cli import runtime
from allroads.cli.options import EntityTypeOpt, JsonOpt, TenantOpt
from allroads.cli.render import console, entity_panel, print_json
from allroads.domain.errors import InvalidInput, NotFound
from allroads.domain.types import EntityType

EXAMPLE = "e.g. email=jane@acme.com, or source=crm source_id=110"


def parse_query(items: list[str]) -> dict[str, str]:
    """KIND=VALUE arguments as a dict; every malformed one is reported at once."""
    pairs: dict[str, str] = {}
    bad = []
    for item in items:
        kind, eq, value = item.partition("=")
        kind = kind.strip().lower()
        if not eq or not kind or not value.strip():
            bad.append(item)
        elif kind in pairs:
            raise InvalidInput(f"{kind} given twice", field=kind, hint=EXAMPLE)
        else:
            pairs[kind] = value.strip()
    if bad:
        raise InvalidInput("expected KIND=VALUE, got " + ", ".join(repr(b) for b in bad),
                           field="query", hint=EXAMPLE)
    return pairs


def resolve(
    query: Annotated[list[str], typer.Argument(
        metavar="KIND=VALUE...", show_default=False,
        help="One identifier (email=..., phone=..., external_id=..., user_ref=..., "
        "org_ref=..., domain=..., or a custom kind), or source=NAME source_id=ID.")],
    tenant: TenantOpt,
    etype: EntityTypeOpt = EntityType.PERSON,
    as_json: JsonOpt = False,
) -> None:
    """Find the customer an identifier or a source record belongs to.

    Identifiers are normalized first (Jane@ACME.com is jane@acme.com, (415) 555-2671 is
    +14155552671 in a US tenant). A merged-away customer answers with the one it was
    merged into. Exits with 1 when nothing matches. Without --tenant (or ALLROADS_TENANT)
    it looks in the database's only tenant.

    Example:

        allroads resolve email=jane.cho@acmeservices.com

        allroads resolve source=crm source_id=110 --type account --tenant demo --json

        allroads resolve source_id=product:34 --type account --tenant demo
    """
    pairs = parse_query(query)
    if "type" in pairs:
        etype = _entity_type(pairs.pop("type"))
    with runtime.hub_session() as hub:
        actor = runtime.cli_actor(hub, tenant)
        try:
            if "source" in pairs:
                source = pairs.pop("source")
                source_id = pairs.pop("source_id", None)
                if pairs or not source_id:
                    raise InvalidInput("with source=NAME give source_id=ID and nothing else",
                                       field="query", hint="e.g. source=crm source_id=110")
                view = hub.resolve(actor, etype, source=source, source_id=source_id)
            else:
                if len(pairs) != 1:
                    got = ", ".join(pairs) or "none"
                    raise InvalidInput(f"give exactly one identifier to resolve by (got {got})",
                                       field="query", hint=EXAMPLE)
                [(kind, value)] = pairs.items()
                view = hub.resolve(actor, etype, kind=kind, value=value)
        except NotFound as exc:
            other = "account" if etype is EntityType.PERSON else "person"
            raise NotFound(exc.message, hint=exc.hint or f"check the value, or try --type "
                           f"{other}") from exc
        account_name = None
        if view.get("account") and not as_json:
            account = hub.get(actor, EntityType.ACCOUNT, str(view["account"]))
            account_name = str(account["display_name"])
    if as_json:
        print_json(view)
    else:
        console.print(entity_panel(view, account_name=account_name))


def _entity_type(value: str) -> EntityType:
    try:
        return EntityType(value.lower())
    except ValueError:
        raise InvalidInput(f"type must be person or account, not {value!r}",
                           field="type") from None
