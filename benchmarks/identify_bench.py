"""The identify benchmark: load N people, serve the real API, measure POST /api/v1/identify.

    python benchmarks/identify_bench.py                       # 1,000,000 people, SQLite + PG
    python benchmarks/identify_bench.py --people 10000 --db sqlite --duration 10

For each backend: (a) generate --people people (benchmarks/people.py) and bulk_seed them
into a fresh database (benchmarks/data/*.db, or a fresh PostgreSQL database), tenant
"bench"; (b) start benchmarks/serve.py (uvicorn + the real app) as its own process;
(c) run benchmarks/loadgen.py, its own process, over loopback: an open loop at --rate for
--duration seconds after --warmup, then closed loops with each of --connections; (d) write
benchmarks/results/identify_<backend>.json and print a Markdown table. The CPU time of the
server, the generator, the database server and everything else on the machine is measured
over each run from /proc. See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from files import copy_synced, remove_sqlite
from loadgen import parse_mix
from people import body, request
from pgdb import DEFAULT_PG_URL, fresh_pg_database, pg_exists, server_settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PG_DB = "allroads_bench"
DEFAULT_MIX = (70, 10, 20)  # percent: matched unchanged, changed attribute, new people


def people(n: int) -> Iterator[Any]:
    for i in range(n):
        yield request(body(i))


# (a) load ---------------------------------------------------------------------------------
def load(backend: str, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """A database holding the people; its URL and how loading went."""
    from allroads.domain.types import Actor
    from allroads.resolution.bulk import seed
    from allroads.resolution.hub import Hub
    from allroads.store import Store

    data = HERE / "data"
    data.mkdir(exist_ok=True)
    if backend == "sqlite":
        path = data / f"bench_{args.people}.db"
        pristine = data / f"bench_{args.people}.pristine.db"
        # The same people with their blocking keys (fuzzy_bench.py builds it from the copy
        # above): identify's fuzzy look-ups of new people then find the candidates they
        # would find in a database loaded today (bulk_seed writes the keys).
        keyed = data / f"fuzzy_{args.people}.pristine.db"
        url = f"sqlite:///{path}"
        sidecar = data / f"bench_{args.people}.load.json"
        if args.reuse and (keyed.exists() or pristine.exists()):
            kept = keyed if keyed.exists() else pristine
            remove_sqlite(path)
            copy_synced(kept, path)
            _migrate(url)
            return url, _reused(sidecar, kept.name)
        remove_sqlite(path)
    else:
        pristine_db = f"{PG_DB}_{args.people}_pristine"
        sidecar = data / f"{pristine_db}.load.json"
        if args.reuse and pg_exists(args.pg_url, pristine_db):
            url = fresh_pg_database(args.pg_url, PG_DB, template=pristine_db)
            _migrate(url)
            return url, _reused(sidecar, pristine_db)
        url = fresh_pg_database(args.pg_url, PG_DB)
    store = Store(url)
    store.migrate()
    hub = Hub(store)
    tenant = hub.ensure_tenant("bench", default_region="US")
    actor = Actor(tenant.id, "bench-loader", "import", "US")
    started = time.perf_counter()
    last = [started]

    def progress(n: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 10 or n == args.people:
            last[0] = now
            rate = n / (now - started)
            print(f"  loaded {n:,} people, {rate:,.0f}/s", flush=True)

    cpu0 = os.times()
    report = seed(store, actor, people(args.people), batch_size=args.batch_size,
                  progress=progress, workers=args.load_workers)
    seconds = time.perf_counter() - started
    cpu1 = os.times()
    tidy = time.perf_counter()
    with store.engine.connect() as conn:
        if backend == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE")
    tidy_s = time.perf_counter() - tidy
    size = _db_size(store, backend)
    store.close()
    figures = {
        "people": args.people, "seconds": round(seconds, 1),
        "people_per_s": round(args.people / seconds), "batch_size": args.batch_size,
        "load_workers": args.load_workers,
        "loader_cpu_s": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 1),
        "loader_children_cpu_s": round(cpu1.children_user + cpu1.children_system
                                       - cpu0.children_user - cpu0.children_system, 1),
        "seeded": report.seeded, "routed": report.routed, "unchanged": report.unchanged,
        "after_load": "wal_checkpoint(TRUNCATE)" if backend == "sqlite" else "VACUUM ANALYZE",
        "after_load_s": round(tidy_s, 1), "database_bytes": size,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.keep:
        if backend == "sqlite":
            copy_synced(path, pristine)
        else:
            fresh_pg_database(args.pg_url, pristine_db, template=PG_DB)
        sidecar.write_text(json.dumps(figures, indent=2) + "\n")
    return url, figures


def _migrate(url: str) -> None:
    """Bring a kept copy to the newest schema: it may predate a migration (the server only
    checks that a schema exists, and would then fail every write with a 503)."""
    from allroads.store import Store

    store = Store(url)
    try:
        store.migrate()
    finally:
        store.close()


def _reused(sidecar: Path, source: str) -> dict[str, Any]:
    """The figures of the load that made the kept copy, marked as reused."""
    figures: dict[str, Any] = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    return {**figures, "reused_copy_of": source}


def _db_size(store: Any, backend: str) -> int:
    with store.engine.connect() as conn:
        if backend == "sqlite":
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar()
            return int(pages * size)
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())")
                   .scalar())


# (b) serve --------------------------------------------------------------------------------
def api_key(url: str) -> str:
    from allroads.domain.types import Role
    from allroads.resolution.hub import Hub
    from allroads.store import Store

    store = Store(url)
    key, _ = Hub(store).create_api_key("bench", Role.INGEST, "bench")
    store.close()
    return key


def start_server(url: str, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "serve.py"), "--database-url", url, "--port",
         str(args.port), "--workers", str(args.workers), "--pool-size", str(args.pool_size),
         *(["--http", args.http] if getattr(args, "http", "allroads") != "allroads" else []),
         *(["--src", str(args.server_src)] if getattr(args, "server_src", None) else [])],
        start_new_session=True)
    wait_for_health(proc, args.port)
    return proc


def wait_for_health(proc: subprocess.Popen[bytes], port: int) -> None:
    """Until the server started as `proc` answers GET /healthz with 200 (60 s at most)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited at start ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not answer /healthz within 60 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def check_api(port: int, key: str) -> dict[str, Any]:
    """One identify through the real API: the response has the documented shape."""
    import httpx

    doc = body(0)
    res = httpx.post(f"http://127.0.0.1:{port}/api/v1/identify", json=doc,
                     headers={"Authorization": f"Bearer {key}"}, timeout=30)
    res.raise_for_status()
    out: dict[str, Any] = res.json()
    missing = {"id", "type", "action", "evidence"} - set(out)
    if missing or out["action"] != "matched":
        raise SystemExit(f"unexpected identify response: {out}")
    return out


# (c) measure ------------------------------------------------------------------------------
def run_loadgen(args: argparse.Namespace, key: str, mode: str, run_id: int,
                connections: int, server: subprocess.Popen[bytes], backend: str
                ) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "loadgen.py"), "--port", str(args.port), "--key", key,
           "--people", str(args.people), "--mode", mode, "--rate", str(args.rate),
           "--duration", str(args.duration if mode == "open" else args.closed_duration),
           "--warmup", str(args.warmup), "--connections", str(connections),
           "--run-id", str(run_id), "--server-pid", str(server.pid)]
    if backend == "postgres":
        cmd += ["--pg-db", PG_DB]
    if mode == "closed":
        cmd += ["--requests", str(args.closed_requests)]
    if args.mix != DEFAULT_MIX:
        cmd += ["--mix", ",".join(map(str, args.mix))]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed ({done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# (d) report -------------------------------------------------------------------------------
SERVER_PACKAGES = ("fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools",
                   "sqlalchemy", "psycopg", "orjson")


def machine(packages: tuple[str, ...] = SERVER_PACKAGES) -> dict[str, Any]:
    """The machine and the versions of the packages that matter to a benchmark."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": sys.version.split()[0],
                            "cores": os.cpu_count(), "sqlite": sqlite3.sqlite_version}
    try:
        with open("/proc/cpuinfo") as f:
            models = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        info["cpu"] = models[0] if models else None
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
        with open("/proc/loadavg") as f:
            info["loadavg_at_start"] = f.read().split()[:3]
    except OSError:
        pass
    info["packages"] = {}
    for name in packages:
        try:
            info["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info["packages"][name] = None
    return info


def git_commit(src: Path | None = None) -> str | None:
    """The checked-out commit, read from .git (no git command needed; a `git worktree`
    too, whose .git is a file naming its own directory): of this checkout, or of the one
    whose src/ is `src`."""
    root = src.resolve().parent if src is not None else ROOT
    gitdir = common = root / ".git"
    try:
        if gitdir.is_file():
            gitdir = Path(gitdir.read_text().split(":", 1)[1].strip())
            common_file = gitdir / "commondir"
            common = ((gitdir / common_file.read_text().strip()).resolve()
                      if common_file.exists() else gitdir)
        ref = (gitdir / "HEAD").read_text().strip()
        if not ref.startswith("ref: "):
            return ref
        name = ref[5:]
        for where in (gitdir, common):
            if (where / name).exists():
                return (where / name).read_text().strip()
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + name):
                return line.split()[0]
    except OSError:
        return None
    return None


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| backend | run | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | created "
             "| matched | other | CPU cores: server / generator / postgres / other |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for res in results:
        for run in res["runs"]:
            lat, acts, cpu = run["latency_ms"], run["actions"], run["cpu"]
            name = (f"open @ {run['rate_target']:g}/s" if run["mode"] == "open"
                    else f"closed, {run['connections']} conns")
            rest = sum(v for k, v in acts.items() if k not in ("created", "matched"))
            lines.append(
                f"| {res['backend']} | {name} | {run['achieved_rps']:,.0f} | {lat['p50']} "
                f"| {lat['p90']} | {lat['p99']} | {lat['max']} | {run['errors']} "
                f"| {acts.get('created', 0)} | {acts.get('matched', 0)} | {rest} "
                f"| {cpu['server_cores']} / {cpu['generator_cores']} / "
                f"{cpu['postgres_cores']} / {cpu['other_cores']} |")
    for res in results:
        prof = res.get("profile")
        if prof:
            lines += ["", f"{res['backend']}: server CPU {prof['server_cpu_ms_per_request']} ms "
                      f"per request, of which Python holding the GIL "
                      f"{prof['gil_ms_per_request']} ms:", "",
                      "| where | share | ms per request |", "|---|---:|---:|"]
            lines += [f"| {c['where']} | {c['share'] * 100:.1f}% | {c['ms_per_request']} |"
                      for c in prof["categories"]]
    loads = [f"- {r['backend']}: loaded {r['load'].get('people', '?'):,} people in "
             f"{r['load'].get('seconds', '?')} s ({r['load'].get('people_per_s', '?'):,}/s)"
             for r in results if "seconds" in r["load"]]
    return "\n".join([*lines, "", *loads])


def drain(port: int, limit: float = 120) -> None:
    """Wait until the server answers /healthz quickly: the previous run's queue is gone."""
    deadline = time.time() + limit
    while time.time() < deadline:
        t0 = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
                s.recv(64)
        except OSError:
            pass
        if time.perf_counter() - t0 < 0.05:
            return
        time.sleep(1)


def profile_run(args: argparse.Namespace, key: str, server: subprocess.Popen[bytes],
                backend: str) -> dict[str, Any] | None:
    """A closed loop (8 connections) with py-spy sampling the server's GIL holder."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        print("  (py-spy not installed: no profile)", flush=True)
        return None
    from breakdown import breakdown

    raw = HERE / "data" / f"spy_{backend}.txt"
    rate = 100
    cmd = [spy, "record", "-p", str(server.pid), "--gil", "-r", str(rate), "-d",
           str(int(args.closed_duration)), "-f", "raw", "-o", str(raw), "--nonblocking"]
    recorder: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        time.sleep(args.warmup)
        recorder.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL))

    import threading

    timer = threading.Thread(target=start)
    timer.start()
    run = run_loadgen(args, key, "closed", 90, 8, server, backend)
    timer.join()
    recorder[0].wait(timeout=60)
    rows = breakdown(raw.read_text(), rate, run["completed"]) if raw.exists() else []
    cpu = run["cpu"]
    per_request = cpu["server_cores"] / max(run["achieved_rps"], 1) * 1000
    return {"run": run, "server_cpu_ms_per_request": round(per_request, 3),
            "gil_ms_per_request": round(sum(ms for _, _, ms in rows), 3),
            "categories": [{"where": n, "share": round(sh, 4), "ms_per_request": round(ms, 3)}
                           for n, sh, ms in rows]}


def bench(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"## {backend}: loading {args.people:,} people", flush=True)
    url, loaded = load(backend, args)
    print(f"  {loaded}", flush=True)
    if args.load_only:
        return {"backend": backend, "load": loaded, "runs": []}
    key = api_key(url)
    server = start_server(url, args)
    runs: list[dict[str, Any]] = []
    profile = None
    try:
        check_api(args.port, key)
        print(f"## {backend}: open loop at {args.rate:g}/s for {args.duration:g} s", flush=True)
        runs.append(run_loadgen(args, key, "open", 0, 0, server, backend))
        for i, k in enumerate(args.connections):
            drain(args.port)
            print(f"## {backend}: closed loop, {k} connections", flush=True)
            runs.append(run_loadgen(args, key, "closed", i + 1, k, server, backend))
        best = max((r["achieved_rps"] for r in runs if r["mode"] == "closed"), default=0)
        sustainable = round(best * args.sustainable, -1)
        if 0 < sustainable < args.rate:
            drain(args.port)
            print(f"## {backend}: open loop at {sustainable:g}/s ({args.sustainable:.0%} of "
                  "the best closed loop)", flush=True)
            extra = argparse.Namespace(**{**vars(args), "rate": sustainable})
            runs.append(run_loadgen(extra, key, "open", 50, 0, server, backend))
        if args.profile:
            drain(args.port)
            print(f"## {backend}: profile (py-spy, closed loop, 8 connections)", flush=True)
            profile = profile_run(args, key, server, backend)
    finally:
        stop_server(server)
    result = {
        "backend": backend, "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(args.server_src), "machine": machine(),
        "database": server_settings(url) if backend == "postgres" else {
            "journal_mode": "wal", "synchronous": "NORMAL"},
        "parameters": {"people": args.people, "rate": args.rate, "duration_s": args.duration,
                       "closed_duration_s": args.closed_duration, "warmup_s": args.warmup,
                       "connections": args.connections, "server_workers": args.workers,
                       "http": args.http,
                       "pool_size": args.pool_size, "sustainable_fraction": args.sustainable,
                       "mix": dict(zip(("matched_unchanged", "changed_attribute", "new"),
                                       args.mix, strict=True))},
        "load": loaded, "runs": runs, "profile": profile,
    }
    out = args.out or HERE / "results" / f"identify_{backend}.json"
    if out.suffix != ".json":  # a directory
        out = out / f"identify_{backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  wrote {out}", flush=True)
    return result


# (e) repeats and a baseline -----------------------------------------------------------------
def run_name(run: dict[str, Any], result: dict[str, Any] | None = None) -> str:
    """What a run is called across repeats. The open loop at a fraction of the best closed
    loop (--sustainable) runs at a rate of its own each time: it is named by the fraction."""
    if run["mode"] != "open":
        return f"closed, {run['connections']} conns"
    params = (result or {}).get("parameters", {})
    if params.get("sustainable_fraction") and run["rate_target"] != params.get("rate"):
        return f"open @ {params['sustainable_fraction']:.0%} of the best closed loop"
    return f"open @ {run['rate_target']:g}/s"


def figures(run: dict[str, Any]) -> dict[str, float]:
    """What a run is compared by: req/s, p50, p90, p99, and server CPU ms per request."""
    rps = run["achieved_rps"]
    lat = run["latency_ms"]
    return {"req_s": rps, "p50_ms": lat["p50"], "p90_ms": lat["p90"], "p99_ms": lat["p99"],
            "server_cpu_ms": round(run["cpu"]["server_cores"] / max(rps, 1) * 1000, 3),
            "errors": run["errors"],
            # How busy the machine was: the server's cores, and those of other work.
            "server_cores": run["cpu"]["server_cores"],
            "other_cores": run["cpu"]["other_cores"]}


def medians(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per run name, the median of each figure over the repeats."""
    from statistics import median

    names = list(dict.fromkeys(run_name(r, res) for res in results for r in res["runs"]))
    out: dict[str, dict[str, float]] = {}
    for name in names:
        rows = [figures(r) for res in results for r in res["runs"] if run_name(r, res) == name]
        out[name] = {k: round(median(row[k] for row in rows), 3) for k in rows[0]}
        out[name]["repeats"] = len(rows)
    return out


def _each(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run's figures, in the order given (the README quotes ranges of them)."""
    return [{"when": r["when"], "loadavg_at_start": r["machine"].get("loadavg_at_start"),
             "runs": {run_name(x, r): figures(x) for x in r["runs"]}} for r in results]


def combine(paths: list[Path], baseline: list[Path], note: str) -> dict[str, Any]:
    """Several runs of the benchmark (and of a baseline, measured in the same session,
    interleaved) as one result: the run with the median best throughput, and the medians
    and ratios of every figure."""
    results = [json.loads(p.read_text()) for p in paths]

    def best(res: dict[str, Any]) -> float:
        return max(r["achieved_rps"] for r in res["runs"] if r["mode"] == "closed")

    ranked = sorted(results, key=best)
    combined = dict(ranked[len(ranked) // 2])
    combined["note"] = note
    combined["repeats"] = {"count": len(results), "medians": medians(results),
                           "each": _each(results)}
    if baseline:
        base = [json.loads(p.read_text()) for p in baseline]
        base_medians = medians(base)
        combined["baseline"] = {"git_commit": base[0]["git_commit"], "count": len(base),
                                "medians": base_medians, "each": _each(base)}
        combined["ratios"] = {
            name: {k: round(v / base_medians[name][k], 2)
                   for k, v in fig.items() if k in ("req_s", "p50_ms", "p99_ms",
                                                    "server_cpu_ms")
                   and base_medians.get(name, {}).get(k)}
            for name, fig in combined["repeats"]["medians"].items()}
    return combined


def median_table(results: list[dict[str, Any]]) -> str:
    """Medians of the repeats, beside the baseline's when there is one."""
    lines = ["| backend | run | req/s | p50 ms | p99 ms | server CPU ms/req | errors "
             "| baseline req/s | baseline p50 ms | baseline p99 ms | baseline CPU ms/req |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        base = res.get("baseline", {}).get("medians", {})
        for name, fig in res["repeats"]["medians"].items():
            b = base.get(name)
            tail = (f"{b['req_s']:,.0f} | {b['p50_ms']} | {b['p99_ms']} | {b['server_cpu_ms']}"
                    if b else "| | |")
            lines.append(f"| {res['backend']} | {name} | {fig['req_s']:,.0f} | {fig['p50_ms']} "
                         f"| {fig['p99_ms']} | {fig['server_cpu_ms']} | {fig['errors']:g} "
                         f"| {tail} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--rate", type=float, default=1000, help="open loop requests per second")
    ap.add_argument("--duration", type=float, default=30, help="open loop seconds measured")
    ap.add_argument("--warmup", type=float, default=5, help="seconds sent before measuring")
    ap.add_argument("--closed-duration", type=float, default=20)
    ap.add_argument("--closed-requests", type=int, default=100_000,
                    help="requests built for each closed loop run")
    ap.add_argument("--connections", type=lambda s: [int(x) for x in s.split(",")],
                    default=[8, 32], help="closed loop concurrencies, e.g. 8,32")
    ap.add_argument("--pg-url", default=os.environ.get("ALLROADS_BENCH_PG_URL", DEFAULT_PG_URL),
                    help="any database on the PostgreSQL server; the benchmark creates "
                    f"{PG_DB} beside it")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--pool-size", type=int, default=8)
    ap.add_argument("--http", default="allroads", choices=("allroads", "httptools", "h11"),
                    help="the server's HTTP protocol (serve.py --http): allroads' (a response "
                    "written at once) or uvicorn's own")
    ap.add_argument("--server-src", type=Path, default=None,
                    help="serve the allroads package in this directory (a baseline worktree's "
                    "src/) with this harness; its commit is the result's git_commit")
    ap.add_argument("--mix", type=parse_mix, default=DEFAULT_MIX,
                    help="percent of matched unchanged, changed and new people (70,10,20)")
    ap.add_argument("--batch-size", type=int, default=5000, help="bulk_seed batch size")
    ap.add_argument("--load-workers", type=int, default=1,
                    help="processes normalizing upcoming batches while loading (0: none)")
    ap.add_argument("--sustainable", type=float, default=0.6,
                    help="then an open loop at this fraction of the best closed-loop "
                    "throughput, when that is below --rate (0: skip)")
    ap.add_argument("--profile", action="store_true",
                    help="finally profile the server with py-spy (if installed) under a "
                    "closed loop and break a request's time down (benchmarks/breakdown.py)")
    ap.add_argument("--keep", action="store_true",
                    help="keep a pristine copy of the loaded database for --reuse")
    ap.add_argument("--reuse", action="store_true",
                    help="start from the pristine copy kept by --keep instead of loading (on "
                    "SQLite data/fuzzy_<N>.pristine.db first when it exists: the same people "
                    "with their blocking keys, built by fuzzy_bench.py)")
    ap.add_argument("--load-only", action="store_true",
                    help="load (or copy, with --reuse) the database and stop: with --keep, "
                    "builds the copy later runs --reuse")
    ap.add_argument("--out", type=Path, default=None,
                    help="write the result here (a .json file, or a directory) instead of "
                    "results/identify_<backend>.json (trial runs, repeats)")
    ap.add_argument("--combine", nargs="+", type=Path, metavar="JSON",
                    help="no measuring: combine these results of one backend (repeats of "
                    "the same run) into results/identify_<backend>.json, with medians")
    ap.add_argument("--baseline", nargs="+", type=Path, default=[], metavar="JSON",
                    help="with --combine: results of the code before a change, measured "
                    "in the same session (medians and ratios are added)")
    ap.add_argument("--note", default="", help="with --combine: what was measured, stored "
                    "in the result")
    ap.add_argument("--table", action="store_true",
                    help="no measuring: print the tables of results/identify_*.json")
    args = ap.parse_args()
    if args.combine:
        combined = combine(args.combine, args.baseline, args.note)
        out = args.out or HERE / "results" / f"identify_{combined['backend']}.json"
        out.write_text(json.dumps(combined, indent=2) + "\n")
        print(f"wrote {out}")
        print(median_table([combined]))
        return
    if args.table:
        stored = [json.loads((HERE / "results" / f"identify_{b}.json").read_text())
                  for b in ("sqlite", "postgres")]
        print(table(stored))
        repeated = [r for r in stored if "repeats" in r]
        if repeated:
            print()
            print(median_table(repeated))
        return
    results = [bench(b, args) for b in
               (("sqlite", "postgres") if args.db == "both" else (args.db,))]
    if not args.load_only:
        print()
        print(table(results))


if __name__ == "__main__":
    main()
