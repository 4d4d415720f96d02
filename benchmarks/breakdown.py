"""Where a request's time goes: py-spy samples of the server, put in categories.

    py-spy record -p <server pid> --gil -r 200 -d 20 -f raw -o spy.txt
    python benchmarks/breakdown.py spy.txt --rate 200 --requests 3400

With --gil, py-spy samples only the thread holding the GIL: the Python work of the server,
which is what limits one process. Each sample goes to the first category (top to bottom)
whose pattern matches a frame of its stack, so the engine's own SQL counts as engine SQL,
not as a thread-pool hop.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

CATEGORIES: tuple[tuple[str, str], ...] = (
    ("normalize identifiers (prepare; unchanged check or writer)",
     r"^prepare(_request)? \(allroads/resolution/identify"),
    ("engine: survivorship (golden_record)", r"^golden_record "),
    ("engine: fuzzy matching (incremental)",
     r"^Hub\.identify(_group)? .*\(allroads/resolution/matching/"),
    ("engine: SQL (SQLAlchemy + driver)", r"^Hub\.identify(_group)? .*(sqlalchemy/|psycopg|sqlite3|"
                                          r"allroads/store/driver)"),
    ("engine: other (decide, write, evidence)", r"^Hub\.identify(_group)? "),
    ("unchanged check: SQL", r"^Hub\.check_unchanged .*entity_of_unchanged_record"),
    ("unchanged check: other", r"^Hub\.check_unchanged "),
    ("auth: API key lookup (Hub.authenticate)", r"^Hub\.authenticate "),
    ("idempotency check", r"^idempotency \(allroads/api/idempotency"),
    ("thread-pool hop (anyio, run_in_threadpool)",
     r"^(run_in_threadpool|run_sync|WorkerThread\.\w+|AsyncIOBackend\.run_sync_in_worker_thread|"
     r"CapacityLimiter\.\w+) "),
    ("FastAPI dependency solving", r"^solve_dependencies "),
    ("request body: read + parse + pydantic validation",
     r"^(request_body_to_args|Request\.body|FastIdentify\._body) "),
    ("response: pydantic serialization + JSON", r"^(serialize_response|Response\.__init__|"
                                                 r"JSONResponse|ModelField\.serialize_json|"
                                                 r"ModelField\.validate) "),
    ("routing (route matching)", r"^(_IncludedRouter\._match|Router\.__call__|_match) "),
    ("socket writes (uvicorn send, gathered writes)",
     r"^(RequestResponseCycle\.send|GatheredWrites\.\w+) "),
    ("fast layer: key, headers, dispatch (api/fast.py)", r"\(allroads/api/fast"),
    ("middleware + ASGI plumbing (starlette, fastapi)", r"\((starlette|fastapi)/"),
    ("uvicorn + httptools (HTTP parsing, transport)", r"\(uvicorn/"),
)


def breakdown(raw: str, rate: float, requests: int) -> list[tuple[str, float, float]]:
    """[(category, share of samples, ms per request)], largest first."""
    counts: Counter[str] = Counter()
    total = 0
    patterns = [(name, re.compile(p)) for name, p in CATEGORIES]
    for line in raw.splitlines():
        if not line.strip():
            continue
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        weight = int(n)
        total += weight
        # Match each category against every suffix of the stack that starts at a frame, so
        # "^Hub.identify ... sqlalchemy/" means: SQL called from within Hub.identify.
        suffixes = [";".join(frames[i:]) for i in range(len(frames))]
        for name, pattern in patterns:
            if any(pattern.search(s) for s in suffixes):
                counts[name] += weight
                break
        else:
            counts["other (event loop, interpreter)"] += weight
    if not total:
        return []
    return [(name, n / total, n / rate / max(requests, 1) * 1000)
            for name, n in counts.most_common()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("raw", type=Path, help="py-spy record -f raw output")
    ap.add_argument("--rate", type=float, required=True, help="py-spy samples per second")
    ap.add_argument("--requests", type=int, required=True, help="requests served meanwhile")
    args = ap.parse_args()
    rows = breakdown(args.raw.read_text(), args.rate, args.requests)
    print("| where | share of GIL time | ms per request |\n|---|---:|---:|")
    for name, share, ms in rows:
        print(f"| {name} | {share * 100:.1f}% | {ms:.3f} |")


if __name__ == "__main__":
    main()
