"""Output: Rich panels and tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

console = Console(highlight=False, soft_wrap=False)

# Fields of an entity view shown in their own rows (the rest are plain attributes).
_IDENTIFIER_ROWS = (("emails", "Emails"), ("phones", "Phones"), ("domains", "Domains"),
                    ("external_ref", "External ref"), ("external_id", "External id"))
_SKIP = {"id", "type", "display_name", "account", "identifiers", "custom_attributes",
         "sources", "created_at", "updated_at", "provenance", *dict(_IDENTIFIER_ROWS)}


def print_json(data: Any) -> None:
    """JSON on stdout, plain (no colour, no wrapping), so it pipes into jq."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _origin(provenance: Mapping[str, Any], key: str) -> str:
    where = provenance.get(key)
    if not isinstance(where, Mapping) or not where.get("source"):
        return ""
    return f"  [dim]from {escape(str(where['source']))} {escape(str(where['source_id']))}[/]"


def entity_panel(view: Mapping[str, Any], *, account_name: str | None = None) -> Panel:
    """A person or account, as `Hub.get` / `Hub.resolve` return it (and the name of the
    person's account, when known)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    provenance: Mapping[str, Any] = view.get("provenance") or {}
    grid.add_row("ID", escape(str(view["id"])))
    if view.get("type") == "person":
        if view.get("account"):
            grid.add_row("Account", escape(str(view["account"]))
                         + (f"  {escape(account_name)}" if account_name else ""))
        else:
            grid.add_row("Account", "-  [yellow](none: an orphan)[/]")
    for key, label in _IDENTIFIER_ROWS:
        value = view.get(key)
        if value:
            grid.add_row(label, escape(_text(value)))
    shown = {"email", "phone", "domain", "user_ref", "org_ref", "external_id"}
    for kind, values in sorted((view.get("identifiers") or {}).items()):
        if kind not in shown and values:
            grid.add_row(kind, escape(_text(values)))
    for key, value in view.items():
        if key not in _SKIP and value not in (None, "", [], {}):
            grid.add_row(key.replace("_", " ").capitalize(),
                         escape(_text(value)) + _origin(provenance, key))
    for key, value in sorted((view.get("custom_attributes") or {}).items()):
        grid.add_row(escape(key), escape(_text(value)) + _origin(provenance, key))
    sources = view.get("sources") or {}
    if sources:
        grid.add_row("Sources", escape("; ".join(f"{s} {', '.join(map(str, ids))}"
                                                 for s, ids in sources.items())))
    if view.get("updated_at"):
        grid.add_row("Updated", escape(str(view["updated_at"])))
    title = f"[bold]{escape(str(view.get('display_name') or view['id']))}[/] " \
            f"[dim]({escape(str(view.get('type', '')))})[/]"
    return Panel(grid, title=title, title_align="left", expand=False)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          *, empty: str = "none") -> Table:
    t = Table(title=title, title_justify="left", title_style="bold", header_style="bold",
              min_width=len(title) + 2 if title else None)
    for column in columns:
        t.add_column(column)
    count = 0
    for row in rows:
        t.add_row(*(escape(_text(v)) if v is not None else "-" for v in row))
        count += 1
    if count == 0:
        t.add_row(f"[dim]{escape(empty)}[/]", *([""] * (len(columns) - 1)))
    return t
