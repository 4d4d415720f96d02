"""Stored identifiers brought in line with a tenant's blocks after its rules change.

Each identifier is marked blocked or not when it is written, by the rules of that moment,
and the record's stored matching features leave its blocked values out. Identify itself
needs neither mark (it drops the blocked values of what it receives, and a look-up is by
equal values), but the quality report lists the marked values, counts only the others as
shared, and fuzzy matching reads the stored features. So when a rule change blocks values
differently (a value or pattern added or removed, a built-in block switched), every stored
value of the kinds it touches is read again, page by page in the look-up index's order; the
values whose mark changes are marked anew, and their records' features and blocking keys
worked out again, in one transaction for the page (read beforehand, outside it): identify's
writes wait for a page's changes at most, and not at all for a page with none. At a
million values of a kind this takes seconds (4 s with nothing to change, 10 s when fifty
thousand change, on the benchmark machine: benchmarks/remark_bench.py), so callers can
follow its progress.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from allroads.domain.types import EntityType
from allroads.resolution.matching import incremental
from allroads.resolution.rules import IdentifierRule, RuleSet
from allroads.resolution.unit import stored_rules
from allroads.store import Store, Tx

log = logging.getLogger("allroads.resolution")

# Stored values read, and marked, in one transaction.
PAGE = 5000


@dataclass
class Reblocked:
    """What a rule change did to the stored identifiers."""

    checked: int = 0  # stored values read
    blocked: int = 0  # values now blocked that were not
    unblocked: int = 0  # values blocked before that identify now
    records: int = 0  # records whose matching features were worked out again


def reblock(store: Store, tenant_id: int, etype: EntityType, rules: RuleSet,
            kinds: Iterable[str], *, page: int = PAGE,
            progress: Callable[[int, int], None] | None = None) -> Reblocked:
    """Mark every stored active value of these kinds as `rules` block it now;
    `progress(checked, total)` after each page (the total counts removed values too; the
    last call has `checked == total`)."""
    done = Reblocked()
    kinds = sorted(set(kinds))
    if not kinds:
        return done
    with store.read() as tx:
        total = sum(tx.count_identifiers_of_kind(tenant_id, etype.value, kind)
                    for kind in kinds)
    for kind in kinds:
        after = ("", 0)
        while True:
            with store.read() as tx:
                rows = tx.identifiers_of_kind(tenant_id, etype.value, kind, after, page)
            if not rows:
                break
            after = (rows[-1][1], rows[-1][0])
            done.checked += len(rows)
            now, flipped = _marks(rules.rule(kind), rows)
            if flipped:
                # A value written since the page was read was marked by these rules already;
                # one removed meanwhile keeps its mark as history.
                with store.write() as tx:
                    # Saved again since (another pass may have marked this page): the newest
                    # rules win, and no save comes between them and these marks.
                    latest = stored_rules(tx, tenant_id, etype, lock=True)
                    if latest != rules:
                        rules = latest
                        now, flipped = _marks(rules.rule(kind), rows)
                    for mark in (True, False):
                        tx.set_identifiers_blocked(
                            [row_id for row_id, _ in flipped if now[row_id] is mark], mark)
                    done.blocked += sum(now[row_id] for row_id, _ in flipped)
                    done.unblocked += sum(not now[row_id] for row_id, _ in flipped)
                    done.records += _reindex(tx, tenant_id, etype, rules,
                                             {record_id for _, record_id in flipped})
            if progress is not None:
                progress(done.checked, max(total, done.checked))
    if progress is not None and done.checked < total:  # some were removed values
        progress(done.checked, done.checked)
    if done.blocked or done.unblocked:
        log.info("tenant %s, %s rules: %d stored values blocked, %d unblocked, %d records "
                 "re-indexed", tenant_id, etype.value, done.blocked, done.unblocked,
                 done.records)
    return done


def _marks(rule: IdentifierRule, rows: list[tuple[int, str, int, bool]]
           ) -> tuple[dict[int, bool], list[tuple[int, int]]]:
    """Each row's mark under `rule` (row id -> blocked), and the (row id, record id) of the
    rows whose stored mark differs."""
    now = {row_id: rule.blocked_reason(value) is not None for row_id, value, _, _ in rows}
    return now, [(row_id, record_id) for row_id, _, record_id, was in rows
                 if now[row_id] != was]


def _reindex(tx: Tx, tenant_id: int, etype: EntityType, rules: RuleSet,
             record_ids: set[int]) -> int:
    """Work out the records' features and blocking keys again, their blocked values left
    out by `rules`; how many records."""
    featurize = incremental.features_for(etype.value)
    heads = {h.id: h for h in tx.match_record_heads(tenant_id, etype.value, record_ids)}
    contents = tx.match_record_contents(sorted(heads))
    for rid, (attributes, identifiers) in contents.items():
        features = featurize(incremental.stored_flat_record(attributes, identifiers, rules))
        incremental.index_record(tx, tenant_id, etype.value, rid, heads[rid].version,
                                 features)
    return len(contents)
