"""What saving rules costs when their blocks change: every stored value of the kind is read
again and the values whose mark changes are marked anew (resolution/reblock.py).

    python benchmarks/identify_bench.py --db sqlite --load-only --keep   # 1M people, once
    python benchmarks/remark_bench.py [--url sqlite:///benchmarks/data/bench_1000000.db]
        [--src /path/to/other/checkout/src] [--out results.json]

Each run saves the person rules of the loaded tenant five times, in-process, timing
`Hub.set_rules`: an email pattern that matches nothing (every email read, none changes), then
`^jo` on, off, on, off (47,546 of the benchmark's million emails change each time). The last
save leaves the rules as they were. `--src` times another checkout's code on the same
database (the A/B baseline); run the two in turns. Prints each save; `--out` writes them as
JSON with the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(url: str) -> list[dict[str, Any]]:
    from allroads.domain.types import Actor, EntityType
    from allroads.resolution.hub import Hub
    from allroads.store import Store

    hub = Hub(Store(url))
    tenant = hub.ensure_tenant("bench", default_region="US")
    actor = Actor(tenant.id, "bench", "api", "US")
    person = EntityType.PERSON
    rules = hub.rules(actor, person)
    patterns = list(rules["identifiers"]["email"]["blocked_patterns"])
    saves = []
    for label, extra in (("a pattern matching nothing", [r"^zzzz-none@"]), ("^jo on", [r"^jo"]),
                         ("^jo off", []), ("^jo on", [r"^jo"]), ("^jo off", [])):
        rules["identifiers"]["email"]["blocked_patterns"] = patterns + extra
        start = time.perf_counter()
        saved = hub.set_rules(actor, person, rules)
        save = {"what": label, "seconds": round(time.perf_counter() - start, 2),
                "remarked": saved.get("remarked")}  # None before the answer said it
        print(save, flush=True)
        saves.append(save)
    return saves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=f"sqlite:///{HERE / 'data' / 'bench_1000000.db'}")
    ap.add_argument("--src", type=Path, default=HERE.parent / "src",
                    help="the allroads package to time (a baseline checkout's src/)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(args.src.resolve()))
    saves = run(args.url)
    medians = {"nothing_changes": saves[0]["seconds"],
               "values_change": statistics.median(s["seconds"] for s in saves[1:])}
    print(medians)
    if args.out:
        args.out.write_text(json.dumps({"url": args.url, "src": str(args.src), "saves": saves,
                                        "seconds": medians}, indent=1) + "\n")


if __name__ == "__main__":
    main()
