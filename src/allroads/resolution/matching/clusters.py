"""Clustering scored pairs without blind chaining.

Links are taken best first. Two clusters join only if
- no record of one holds a different value of an exclusive identifier than a record of
  the other (two different external ids are two customers), and
- no pair across them scored far below the threshold or was ruled apart (force-apart,
  a rejected review).
So a->b and b->c do not join a and c when a and c conflict; the weaker link is left out
and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Clustering:
    """The cluster of each node (a root node index) and the links that were refused."""

    labels: list[int]
    refused: list[tuple[int, int, str]] = field(default_factory=list)


def cluster(
    size: int,
    links: Iterable[tuple[int, int]],
    *,
    apart: Iterable[tuple[int, int]] = (),
    exclusive: Mapping[int, Mapping[str, str]] | None = None,
) -> Clustering:
    """Join nodes 0..size-1 along ``links`` (best first) unless a constraint forbids it."""
    parent = list(range(size))
    members: dict[int, list[int]] = {}
    blocked: dict[int, list[int]] = {}
    for a, b in apart:
        blocked.setdefault(a, []).append(b)
        blocked.setdefault(b, []).append(a)
    held: dict[int, dict[str, str]] = {n: dict(v) for n, v in (exclusive or {}).items() if v}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    refused: list[tuple[int, int, str]] = []
    for a, b in links:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        reason = _conflict(ra, rb, held, blocked, find)
        if reason:
            refused.append((a, b, reason))
            continue
        small, big = (ra, rb) if len(members.get(ra, ())) < len(members.get(rb, ())) else (rb, ra)
        parent[small] = big
        members.setdefault(big, [big]).extend(members.pop(small, [small]))
        if small in blocked:
            blocked.setdefault(big, []).extend(blocked.pop(small))
        if small in held:
            held.setdefault(big, {}).update(held.pop(small))
    return Clustering([find(n) for n in range(size)], refused)


def _conflict(ra: int, rb: int, held: dict[int, dict[str, str]],
              blocked: dict[int, list[int]], find: Callable[[int], int]) -> str:
    ha, hb = held.get(ra), held.get(rb)
    if ha and hb:
        for kind, value in ha.items():
            other = hb.get(kind)
            if other is not None and other != value:
                return f"different {kind}"
    na, nb = blocked.get(ra, ()), blocked.get(rb, ())
    near, root = (na, rb) if len(na) <= len(nb) else (nb, ra)
    for node in near:
        if find(node) == root:
            return "a pair across the two scored far below the threshold or was ruled apart"
    return ""


def groups(labels: Sequence[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for node, label in enumerate(labels):
        out.setdefault(label, []).append(node)
    return out
