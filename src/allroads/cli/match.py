"""`allroads match`: batch match runs, the review queue and thresholds from the command line.

    allroads match --type person                 score all of a tenant's people, merge, queue
    allroads match candidates|accept|reject      the review queue
    allroads match settings --type person        the thresholds (--link, --review set them)
    allroads match explain LEFT RIGHT            why two customers (or records: crm:110) are,
                                                 or are not, one

`allroads match --type ...` is short for `allroads match run --type ...`: a first argument
that is not a subcommand starts the `run` command. The work is in `allroads.batch`
(`MatchRuns`, `explain_pair`); this module parses and renders.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from typer.core import TyperGroup

from allroads.batch.explain import display_names, explain_pair
from allroads.batch.runs import MatchRuns
from allroads.cli import runtime
from allroads.cli.errors import EXIT_FAILED, err_console
from allroads.cli.options import EntityTypeOpt, JsonOpt, TenantOpt
from allroads.cli.render import console, print_json, table
from allroads.domain.errors import InvalidInput
from allroads.domain.types import Actor, EntityType


class MatchGroup(TyperGroup):
    """A group whose default command is `run`: `allroads match --type person` runs."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return list(super().parse_args(ctx, args))


app = typer.Typer(cls=MatchGroup, no_args_is_help=True, help="""Match a tenant's customers in
    batch: merge the same customer across systems, queue the doubtful pairs for review.

    `allroads match --type person` is `allroads match run --type person`. See docs/cli.md.

    Example:

        allroads match --type person --tenant acme

        allroads match candidates --tenant acme
    """)


class Engine(StrEnum):
    DUCKDB = "duckdb"
    SPARK = "spark"


class Status(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


CandidateArg = Annotated[str, typer.Argument(metavar="ID", show_default=False,
                                             help="The candidate's id (mc_...).")]
TypeFilterOpt = Annotated[EntityType | None, typer.Option(
    "--type", case_sensitive=False, show_default=False,
    help="Only person or only account candidates.")]

STEPS = {"queued": "Queued", "starting": "Starting", "reading": "Reading records",
         "features": "Features", "blocking": "Blocking", "scoring": "Scoring pairs",
         "estimating": "Estimating", "clustering": "Clustering", "merging": "Merging",
         "reviewing": "Queueing reviews", "done": "Done"}


@contextmanager
def session(tenant: str) -> Iterator[tuple[MatchRuns, Actor]]:
    """Match runs over the configured, migrated store, and the acting tenant."""
    with runtime.hub_session() as hub:
        yield MatchRuns(hub.store), runtime.cli_actor(hub, tenant)


# Commands -----------------------------------------------------------------------------------
@app.command("run")
def run(
    etype: EntityTypeOpt,
    tenant: TenantOpt,
    engine: Annotated[Engine, typer.Option(
        "--engine", case_sensitive=False,
        help="Where the pipeline runs: duckdb (in this process) or spark (pyspark and Java; "
        "local mode unless configured for a cluster).")] = Engine.DUCKDB,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the finished run as JSON on stdout (progress on stderr).")
    ] = False,
) -> None:
    """Score all of a tenant's records of a type and act on the result.

    Pairs at or above the link threshold are merged (each merge with its evidence: the run,
    the probability and every comparison's weight; undoable); pairs between the review and
    the link threshold go to the review queue (`allroads match candidates`). Force-apart
    decisions, merge protection and different external ids are always respected. Exit codes:
    0 succeeded, 1 failed, 2 bad usage.

    Example:

        allroads match --type person --tenant acme

        allroads match run --type account --engine spark --tenant acme --json
    """
    out = err_console if as_json else console
    started = time.monotonic()
    with session(tenant) as (runs, actor), _progress(out) as progress:
        done = runs.run(actor, etype.value, engine.value, progress=progress)
    seconds = time.monotonic() - started
    if as_json:
        print_json({**done, "seconds": round(seconds, 3)})
    else:
        _print_run(out, done, seconds)
    if done["status"] != "succeeded":
        raise typer.Exit(EXIT_FAILED)


@app.command("index")
def index(
    etype: EntityTypeOpt,
    tenant: TenantOpt,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the counts as JSON on stdout (progress on stderr).")] = False,
) -> None:
    """Rebuild the blocking keys and stored features of every record of a type: what
    identify's and imports' fuzzy look-ups read. Merges nothing and queues nothing.

    Then marks every stored identifier blocked or not as the rules say now. Run it once
    after upgrading from a version that did not store features (until then fuzzy look-ups
    work them out from each candidate record, which is slower), or to repair the index.
    Safe to run while the server runs; a record written meanwhile is indexed by its own
    write.

    Example:

        allroads match index --type person --tenant acme
    """
    out = err_console if as_json else console
    started = time.monotonic()
    bar = RichProgress(TextColumn("[bold]{task.description:<22}"), BarColumn(),
                       MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                       console=out)
    records = bar.add_task("Indexing records", total=None)
    values = bar.add_task("Marking stored values", total=None, visible=False)
    with session(tenant) as (runs, actor), bar:
        counts = runs.index(
            actor, etype.value,
            progress=lambda done, total: bar.update(records, completed=done, total=total),
            marking=lambda done, total: bar.update(values, completed=done, total=total,
                                                   visible=True))
    seconds = time.monotonic() - started
    if as_json:
        print_json({**counts, "seconds": round(seconds, 3)})
    else:
        out.print(table(f"Index of {etype.value} records rebuilt", ("", "Count"), [
            ("Records", _n(counts["records"])), ("Blocking keys", _n(counts["keys"])),
            ("Values now blocked", _n(counts["blocked"])),
            ("Values now unblocked", _n(counts["unblocked"])), ("Seconds", f"{seconds:.2f}")]))


@app.command("candidates")
def candidates(
    tenant: TenantOpt,
    etype: TypeFilterOpt = None,
    status: Annotated[Status, typer.Option(
        "--status", case_sensitive=False, help="open (to decide), accepted or rejected.")
    ] = Status.OPEN,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000,
                                       help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List the review queue: pairs of customers a run was not sure about.

    Each with its probability, the two customers (id and name) and the comparisons that
    weighed most. Decide with `allroads match accept ID` or `allroads match reject ID`.

    Example:

        allroads match candidates --tenant acme

        allroads match candidates --type person --status rejected --tenant acme --json
    """
    with session(tenant) as (runs, actor):
        items, more = runs.candidates(actor, etype.value if etype else None, status.value,
                                      limit=limit)
        names = display_names(runs.store, actor, (p for c in items for p in c["current"]))
    if as_json:
        print_json({"data": items, "more": more is not None})
        return
    rows = [(c["id"], c["type"], f"{c['probability']:.3f}",
             _who(c["current"][0], names), _who(c["current"][1], names),
             _strongest(c.get("breakdown") or {})) for c in items]
    console.print(table(f"{status.value.capitalize()} candidates",
                        ("ID", "Type", "Probability", "Customer", "Customer", "Evidence"),
                        rows, empty=f"no {status.value} candidates"))
    if more:
        console.print(f"[dim]More than {limit}: use --limit or --json.[/]")


@app.command("accept")
def accept(candidate: CandidateArg, tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Accept a candidate: they are one customer (merged; remembered as force-together).

    Example:

        allroads match accept mc_01JA2B3C4D5E6F7G8H9J0K1M2N --tenant acme
    """
    with session(tenant) as (runs, actor):
        view = runs.accept(actor, candidate)
    if as_json:
        print_json(view)
        return
    current = next((p for p in view["current"] if p), None)
    console.print(f"Accepted [bold]{escape(view['id'])}[/]: one customer"
                  + (f" {escape(current)}" if current else "")
                  + (f" (merge {escape(view['merge_id'])}; `POST /api/v1/merges/"
                     f"{escape(view['merge_id'])}/undo` reverts it)"
                     if view.get("merge_id") else ""))


@app.command("reject")
def reject(candidate: CandidateArg, tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Reject a candidate: they are two customers (remembered as force-apart: no run,
    identifier or import merges them automatically).

    Example:

        allroads match reject mc_01JA2B3C4D5E6F7G8H9J0K1M2N --tenant acme
    """
    with session(tenant) as (runs, actor):
        view = runs.reject(actor, candidate)
    if as_json:
        print_json(view)
        return
    a, b = (escape(str(p)) for p in view["current"])
    console.print(f"Rejected [bold]{escape(view['id'])}[/]: {a} and {b} are kept apart")


@app.command("settings")
def settings(
    etype: EntityTypeOpt,
    tenant: TenantOpt,
    link: Annotated[float | None, typer.Option(
        "--link", show_default=False,
        help="Merge automatically at or above this match probability (0 to 1).")] = None,
    review: Annotated[float | None, typer.Option(
        "--review", show_default=False,
        help="Queue for review at or above this probability (at most --link).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the match thresholds of a type, or set them (--link and --review together).

    Example:

        allroads match settings --type person --tenant acme

        allroads match settings --type person --link 0.99 --review 0.8 --tenant acme
    """
    if (link is None) != (review is None):
        raise InvalidInput("give --link and --review together",
                           field="review" if review is None else "link",
                           hint="e.g. --link 0.99 --review 0.8 (show the current ones "
                           "without either)")
    with session(tenant) as (runs, actor):
        if link is not None and review is not None:
            view = runs.set_thresholds(actor, etype.value, link=link, review=review)
        else:
            view = runs.settings(actor, etype.value)
    if as_json:
        print_json(view)
        return
    console.print(table(f"Match settings: {etype.value}", ("Setting", "Value"), [
        ("Link at or above", view["link_threshold"]),
        ("Review at or above", view["review_threshold"]),
        ("Parameters", f"estimated {view['trained_at']}" if view["trained"] else "defaults"),
    ]))


@app.command("explain")
def explain(
    left: Annotated[str, typer.Argument(
        metavar="LEFT", show_default=False,
        help="An entity id (per_... or acc_...) or a record as source:source_id (crm:110).")],
    right: Annotated[str, typer.Argument(
        metavar="RIGHT", show_default=False,
        help="Another entity id or record (source:source_id).")],
    etype: EntityTypeOpt,
    tenant: TenantOpt,
    as_json: JsonOpt = False,
) -> None:
    """Why two customers, or two records, are one, or why not: the best-scoring pair of their
    records with every comparison's level and weight, the decision under the thresholds,
    whether protection would refuse the link, and the merges and decisions between them.

    Each side is an entity id or one record named source:source_id (as sent to identify).
    An entity's first 100 records are compared; the output says when it has more.

    Example:

        allroads match explain per_01JA2B3C per_01JA2B4D --type person --tenant acme

        allroads match explain crm:110 support:2101 --type account --tenant acme
    """
    with session(tenant) as (runs, actor):
        view = explain_pair(runs.store, actor, etype.value, left, right)
    if as_json:
        print_json(view)
        return
    console.print(f"[bold]{escape(view['verdict'])}[/]")
    guard = view.get("protection") or {}
    more = [r for r in guard.get("reasons") or [] if r not in view["verdict"]]
    if more:  # what the verdict does not say already
        console.print("Protection also refuses the link: " + escape("; ".join(more)))
    best = view.get("best_pair")
    if best:
        console.print(table(
            f"Best pair: match weight {best['match_weight']}, probability "
            f"{best['probability']:.4f} ({best['decision']})",
            ("Comparison", "Level", "Weight", escape(_label(view["left"], best["left"])),
             escape(_label(view["right"], best["right"]))),
            [(c["comparison"], c["level"], c["weight"], c["left"], c["right"])
             for c in best["comparisons"]]))
    for side in (view["left"], view["right"]):
        if side["truncated"]:
            console.print(f"[yellow]Only the first {side['records_scored']} of "
                          f"{side['records_total']} records of {escape(side['id'])} were "
                          "compared.[/]")


def _label(side: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """A column heading: the entity, and the record of the best pair (crm:110)."""
    where = f"{record.get('source')}:{record.get('source_id')}"
    return where if side.get("record") else f"{side['current']} {where}"


# Rendering ----------------------------------------------------------------------------------
@contextmanager
def _progress(out: Console) -> Iterator[Any]:
    bar = RichProgress(TextColumn("[bold]{task.description:<18}"), BarColumn(),
                       TaskProgressColumn(), TimeElapsedColumn(), console=out)
    task = bar.add_task(STEPS["starting"], total=1.0)

    def report(step: str, share: float) -> None:
        bar.update(task, completed=share, description=STEPS.get(step, step))

    with bar:
        yield report


def _print_run(out: Console, done: Mapping[str, Any], seconds: float) -> None:
    counts = done.get("counts") or {}
    title = f"Match run {done['id']} ({done['type']}, {done['engine']}): {done['status']}"
    rows: list[tuple[str, Any]] = [
        ("Records", counts.get("records")), ("Candidate pairs", counts.get("candidate_pairs")),
        ("Merged", counts.get("merged")), ("Queued for review", counts.get("review")),
        ("Refused (kept apart, protected)", counts.get("refused"))]
    rows += [(f"Seconds: {step}", f"{value:.3f}")
             for step, value in (done.get("timings") or {}).items()
             if isinstance(value, int | float)]
    rows.append(("Seconds in all", f"{seconds:.2f}"))
    out.print(table(title, ("", "Count"), [(k, _n(v)) for k, v in rows]))
    if done.get("error"):
        err_console.print(f"[bold red]Error:[/] {escape(str(done['error']))}")
    elif counts.get("review"):
        out.print(f"Decide the queued pairs: `allroads match candidates --type "
                  f"{done['type']}`")


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else ("-" if value is None else str(value))


def _who(public_id: str | None, names: Mapping[str, str]) -> str:
    if public_id is None:
        return "(deleted)"
    name = names.get(public_id)
    return f"{public_id} {name}" if name else public_id


def _strongest(breakdown: Mapping[str, Any], shown: int = 3) -> str:
    """The comparisons that weighed most, e.g. `last_name exact +9.1, city else -2.3`."""
    parts = sorted(breakdown.get("comparisons") or [], key=lambda c: -abs(c.get("weight", 0)))
    return ", ".join(f"{c['comparison']} {c['level']} {c['weight']:+.1f}"
                     for c in parts[:shown] if c.get("weight"))
