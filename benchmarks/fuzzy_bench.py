"""The incremental fuzzy-matching benchmark: one identify that needs fuzzy matching, against
N stored people, through the real HTTP server.

    python benchmarks/fuzzy_bench.py --people 100000             # loads 100k people first
    python benchmarks/fuzzy_bench.py --people 1000000            # a copy of the identify
                                                                 # benchmark's 1M database

1. **Database.** For 1,000,000 people: a copy of the identify benchmark's kept database
   (`data/bench_1000000.pristine.db`, never modified), migrated, and the blocking keys and
   stored features of its records rebuilt in bulk (`MatchRuns.index`, what `allroads match
   index` does); for other sizes the people of `people.py` are loaded with `bulk_seed`
   (which writes them itself).
2. **Requests.** Each one needs a fuzzy look-up (it holds a name) and shares no identifier
   with anyone stored: a new source and source id, no email, phone or external id.
   - `variant`: a stored person with a birthdate, sent again as another system holds them:
     a nickname or a typo in the surname (two letters swapped) or day and month transposed
     (one of them, or two), the rest as stored;
   - `variant_no_dob`: the same for a stored person without a birthdate (names only);
   - `new`: a person never stored (names from the same lists: plenty of namesakes).
3. **Measure.** `serve.py` (uvicorn + the real app) in its own process; requests sent one
   at a time at `--rate` per second over one keep-alive connection (a modest rate: no
   queueing, each latency is one identify), after `--warmup` requests.
4. **Report.** p50/p95/p99/max latency per kind and overall, the share linked (matched to
   the stored person: correct when it is that person), sent to review, created; written to
   `results/fuzzy_identify.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from files import copy_synced, remove_sqlite
from identify_bench import api_key, git_commit, machine, start_server, stop_server
from people import body, request

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
NEW_BASE = 50_000_000


# 1. the database ------------------------------------------------------------------------
def database(people: int) -> tuple[str, dict[str, Any]]:
    from allroads.domain.types import Actor
    from allroads.resolution.bulk import seed
    from allroads.resolution.hub import Hub
    from allroads.store import Store

    DATA.mkdir(exist_ok=True)
    path = DATA / f"fuzzy_{people}.db"
    remove_sqlite(path)
    pristine = DATA / f"bench_{people}.pristine.db"
    url = f"sqlite:///{path}"
    info: dict[str, Any] = {"people": people}
    t0 = time.perf_counter()
    if pristine.exists():
        copy_synced(pristine, path)
        info["copied_from"] = pristine.name
        info["copy_s"] = round(time.perf_counter() - t0, 1)
        store = Store(url)
        store.migrate()
        info["keys"], info["index_s"] = build_keys(store)
    else:
        store = Store(url)
        store.migrate()
        hub = Hub(store)
        tenant = hub.ensure_tenant("bench", default_region="US")
        actor = Actor(tenant.id, "bench-loader", "import", "US")
        seed(store, actor, (request(body(i)) for i in range(people)), batch_size=5000)
        info["load_s"] = round(time.perf_counter() - t0, 1)
        with store.read() as tx:
            info["keys"] = tx.count_match_keys(tenant.id, "person")
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("ANALYZE")
    store.close()
    return url, info


def build_keys(store: Any) -> tuple[int, float]:
    """The blocking keys and stored features of every stored person, rebuilt in bulk
    (`allroads match index`: the database may predate them)."""
    from allroads.batch.runs import MatchRuns
    from allroads.domain.types import Actor

    t0 = time.perf_counter()
    with store.read() as tx:
        tenant = tx.tenant_by_slug("bench")
    assert tenant is not None
    runs = MatchRuns(store)
    try:
        counts = runs.index(Actor(tenant.id, "bench-loader", "batch"), "person",
                            batch=20_000)
    finally:
        runs.close()
    return counts["keys"], round(time.perf_counter() - t0, 1)


# 2. the requests ------------------------------------------------------------------------
def _swap_letters(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def _nickname(first: str) -> str | None:
    from allroads.resolution.matching.people import _NICKNAMES

    nicks = sorted(n for n in _NICKNAMES.nicknames_of(first.lower()) if len(n) > 2)
    return nicks[0].capitalize() if nicks else None


def variant(i: int, n: int, rng: random.Random) -> dict[str, Any]:
    """Person i as another system holds them: no shared identifier, one or two changes."""
    b = body(i)
    attrs = dict(b["attributes"])
    if "name" in attrs:
        first, _, last = str(attrs.pop("name")).partition(" ")
    else:
        first, last = attrs.pop("first_name"), attrs.pop("last_name")
    changes = rng.sample(["nickname", "typo", "date"], k=rng.choice((1, 2)))
    made = []
    if "nickname" in changes and (nick := _nickname(first)):
        first = nick
        made.append("nickname")
    if "typo" in changes:
        typo = _swap_letters(last, rng)
        if typo != last:
            last = typo
            made.append("typo")
    dob = attrs.get("birthdate")
    if "date" in changes and dob:
        year, month, day = dob.split("-")
        if int(day) <= 12 and day != month:
            attrs["birthdate"] = f"{year}-{day}-{month}"
            made.append("date")
    keep = {k: v for k, v in attrs.items() if k in ("birthdate", "gender", "timezone")}
    return {"type": "person", "source": "fuzzy", "source_id": f"v{n:08d}",
            "identifiers": {}, "attributes": {"first_name": first, "last_name": last, **keep},
            "_changes": made}


def new_person(n: int) -> dict[str, Any]:
    b = body(NEW_BASE + n)
    return {"type": "person", "source": "fuzzy", "source_id": f"n{n:08d}",
            "identifiers": {}, "attributes": b["attributes"], "_changes": []}


def requests(people: int, count: int, seed: int) -> list[tuple[str, int | None, dict[str, Any]]]:
    """(kind, stored person index or None, body): 60% variants of people with a birthdate,
    20% of people without, 20% new people."""
    rng = random.Random(seed)
    out: list[tuple[str, int | None, dict[str, Any]]] = []
    n = 0
    while len(out) < count:
        n += 1
        pick = rng.randrange(100)
        if pick < 80:
            want_dob = pick < 60
            i = rng.randrange(people)
            while ("birthdate" in body(i)["attributes"]) != want_dob:
                i = rng.randrange(people)
            out.append(("variant" if want_dob else "variant_no_dob", i, variant(i, n, rng)))
        else:
            out.append(("new", None, new_person(n)))
    return out


# 3. measure -----------------------------------------------------------------------------
def measure(port: int, key: str, reqs: list[tuple[str, int | None, dict[str, Any]]],
            rate: float, warmup: int, url: str) -> list[dict[str, Any]]:
    import httpx

    stored = stored_ids(url, [i for _, i, _ in reqs if i is not None])
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                      headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        start = time.perf_counter()
        for n, (kind, i, doc) in enumerate(reqs):
            due = start + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent = {k: v for k, v in doc.items() if not k.startswith("_")}
            t0 = time.perf_counter()
            res = client.post("/api/v1/identify", json=sent)
            ms = (time.perf_counter() - t0) * 1000
            res.raise_for_status()
            answer = res.json()
            if n < warmup:
                continue
            fuzzy = next((e for e in answer["evidence"] if e["rule"] == "fuzzy"), None)
            review = next((e for e in answer["evidence"] if e["rule"] == "fuzzy_review"),
                          None)
            out.append({"kind": kind, "ms": ms, "action": answer["action"],
                        "linked": fuzzy is not None, "review": review is not None,
                        "correct": (fuzzy is not None and i is not None
                                    and answer["id"] == stored.get(i)),
                        "changes": doc["_changes"]})
    return out


def stored_ids(url: str, indexes: list[int]) -> dict[int, str]:
    """The entity id each stored person has (to tell a correct link from a wrong one)."""
    from allroads.store import Store

    store = Store(url)
    out: dict[int, str] = {}
    with store.read() as tx:
        tenant = tx.tenant_by_slug("bench")
        assert tenant is not None
        for i in set(indexes):
            b = body(i)
            rec = tx.record(tenant.id, "person", b["source"], b["source_id"])
            if rec is not None:
                ent = tx.entity(rec.entity_id)
                if ent is not None:
                    out[i] = ent.public_id
    store.close()
    return out


# 4. report ------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))  # nearest rank
    return round(ordered[k], 2)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ms = [r["ms"] for r in rows]
    n = len(rows) or 1
    return {"requests": len(rows), "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95),
            "p99_ms": pct(ms, 99), "max_ms": round(max(ms), 2) if ms else 0.0,
            "mean_ms": round(statistics.fmean(ms), 2) if ms else 0.0,
            "linked": round(sum(r["linked"] for r in rows) / n, 4),
            "linked_correctly": round(sum(r["correct"] for r in rows) / n, 4),
            "review": round(sum(r["review"] for r in rows) / n, 4),
            "created": round(sum(r["action"] == "created" and not r["review"] for r in rows)
                             / n, 4)}


def table(result: dict[str, Any]) -> str:
    lines = ["| people | kind | requests | p50 ms | p95 ms | p99 ms | max ms | linked "
             "(correct) | review | created |", "|---:|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for kind, s in result["by_kind"].items():
        lines.append(f"| {result['people']:,} | {kind} | {s['requests']} | {s['p50_ms']} "
                     f"| {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} | {s['linked']:.1%} "
                     f"({s['linked_correctly']:.1%}) | {s['review']:.1%} | {s['created']:.1%} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--port", type=int, default=8781)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reuse", action="store_true",
                    help="start from a copy of data/fuzzy_<N>.pristine.db (kept by every "
                    "run that builds the database)")
    ap.add_argument("--out", default=str(HERE / "results" / "fuzzy_identify.json"))
    args = ap.parse_args()
    path = DATA / f"fuzzy_{args.people}.db"
    kept = DATA / f"fuzzy_{args.people}.pristine.db"
    if args.reuse and kept.exists():
        remove_sqlite(path)
        copy_synced(kept, path)
        url, info = f"sqlite:///{path}", {"people": args.people, "reused_copy_of": kept.name}
        sidecar = kept.with_suffix(".json")
        if sidecar.exists():
            info = {**json.loads(sidecar.read_text()), **info}
    else:
        print(f"database: {args.people:,} people", flush=True)
        url, info = database(args.people)
        copy_synced(path, kept)  # checkpointed: the file is the whole database
        kept.with_suffix(".json").write_text(json.dumps(info) + "\n")
    print(f"  {info}", flush=True)
    reqs = requests(args.people, args.requests + args.warmup, args.seed)
    key = api_key(url)
    server_args = argparse.Namespace(port=args.port, workers=1, pool_size=8)
    server = start_server(url, server_args)
    try:
        rows = measure(args.port, key, reqs, args.rate, args.warmup, url)
    finally:
        stop_server(server)
    kinds = sorted({r["kind"] for r in rows})
    result = {
        "benchmark": "fuzzy_identify", "people": args.people, "backend": "sqlite",
        "rate": args.rate, "warmup": args.warmup, "database": info,
        "overall": summary(rows),
        "by_kind": {"all": summary(rows), **{k: summary([r for r in rows if r["kind"] == k])
                                             for k in kinds}},
        "target": {"p99_ms": 50},
        "commit": git_commit(), "machine": machine(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    runs: dict[str, Any] = {}
    if out.exists():
        try:
            runs = json.loads(out.read_text()).get("runs", {})
        except (json.JSONDecodeError, AttributeError):
            runs = {}
    runs[str(args.people)] = result
    out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(table(result))
    print(f"written to {out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
