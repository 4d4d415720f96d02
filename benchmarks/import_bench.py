"""The import benchmark: a dirty 1M-row people CSV through `allroads import`, against a raw load.

    python benchmarks/import_bench.py                          # 1,000,000 rows, SQLite
    python benchmarks/import_bench.py --rows 100000 --db postgres --reuse
    python benchmarks/import_bench.py --rows 100000 --skip-import   # the raw load only

Steps: (1) generate the CSV, its stored people and its manifest (benchmarks/import_data.py),
or reuse them from benchmarks/data/ (--reuse); (2) a fresh database (benchmarks/data/*.db or
the PostgreSQL database `allroads_import_bench`), tenant `bench` (default region US) holding
the stored people, loaded by bulk_seed (with --reuse, a copy of the last one kept); (3) the
import, IMPORT_COMMAND as a child process over that database: wall time, rows/s, and peak
memory (RSS of the child and its descendants, sampled from /proc, and the child's own
ru_maxrss); (4) a raw load of the same CSV into a plain text table of the same database, no
validation (SQLite: csv.reader + executemany in one transaction; PostgreSQL: COPY FROM
STDIN, format csv); (5) SQLite, after a committed import: the store's write floor, the rows
the import inserted written again set-based into the pre-import database
(benchmarks/store_floor.py: no Python per row, a lower bound on any import of the file);
(6) results/import_<db>.json and a Markdown table. See
benchmarks/README.md, "The import benchmark".
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from files import copy_synced, remove_sqlite
from identify_bench import git_commit, machine
from import_data import (
    COLUMNS,
    REGION,
    SOURCE,
    TENANT,
    VERSION,
    Shares,
    default_out,
    existing_requests,
    generate,
    open_csv,
    sidecars,
)
from pgdb import DEFAULT_PG_URL, fresh_pg_database, pg_exists, server_settings
from store_floor import store_floor

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# The import under test, one child process; {file} is the CSV. The database is chosen by
# ALLROADS_DATABASE_URL and the tenant by ALLROADS_TENANT (both set for the child). It must
# exit 0; with --json it prints a JSON summary on stdout (read when it parses). The file's
# national numbers are US numbers: append_country_code reads them in the tenant's region
# (without it the import rejects them, MOBILE_NO_COUNTRY_CODE, as Capillary does).
IMPORT_COMMAND = ("allroads", "import", "{file}", "--profile", "people", "--source", SOURCE,
                  "--match-on", "mobile", "--option", "append_country_code=true", "--yes",
                  "--json")

PG_DB = "allroads_import_bench"
PRELOAD_VERSION = 2  # bump when preload() changes what it stores (kept copies are redone)
RAW_TABLE = "raw_people_import"
RAW_BATCH = 10_000
SAMPLE_S = 0.1
TARGET_ROWS, TARGET_DB = 1_000_000, "sqlite"
TARGET_SECONDS, TARGET_RSS_MB, TARGET_RATIO = 40.0, 1536.0, 5.0


# (1) data ---------------------------------------------------------------------------------
def data_files(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """The CSV and its manifest, generated or (--reuse, same parameters) kept from before."""
    out = default_out(args.rows, args.seed, args.gzip)
    manifest_path, existing = sidecars(out)
    if args.reuse and out.exists() and existing.exists() and manifest_path.exists():
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        if manifest.get("version") == VERSION and manifest["counts"]["rows"] == args.rows:
            print(f"  reusing {out.relative_to(ROOT)}", flush=True)
            return out, {**manifest, "reused": True}
    print(f"## generating {args.rows:,} rows (seed {args.seed})", flush=True)
    manifest = generate(args.rows, out, seed=args.seed, shares=Shares())
    print(f"  wrote {out.relative_to(ROOT)} in {manifest['seconds']} s", flush=True)
    return out, manifest


# (2) database -----------------------------------------------------------------------------
def fresh_database(args: argparse.Namespace, csv_path: Path, manifest: dict[str, Any]
                   ) -> tuple[str, dict[str, Any]]:
    """A fresh database holding the file's stores and stored people; its URL and how the
    load went."""
    data = HERE / "data"
    key = f"import_{args.rows}_s{args.seed}"
    sidecar = data / f"{key}.{args.db}.preload.json"
    if args.db == "sqlite":
        path, pristine = sqlite_paths(args)
        url = f"sqlite:///{path}"
        remove_sqlite(path)
        if args.reuse and pristine.exists() and kept(sidecar):
            copy_synced(pristine, path)
            return url, {**json.loads(sidecar.read_text()), "reused_copy_of": pristine.name}
    else:
        pristine_db = f"{PG_DB}_{args.rows}_s{args.seed}_pristine"
        if args.reuse and kept(sidecar) and pg_exists(args.pg_url, pristine_db):
            url = fresh_pg_database(args.pg_url, PG_DB, template=pristine_db)
            return url, {**json.loads(sidecar.read_text()), "reused_copy_of": pristine_db}
        url = fresh_pg_database(args.pg_url, PG_DB)
    figures = preload(url, sidecars(csv_path)[1], manifest["stores"], args.batch_size)
    if args.db == "sqlite":
        copy_synced(path, pristine)
    else:
        fresh_pg_database(args.pg_url, pristine_db, template=PG_DB)
    sidecar.write_text(json.dumps(figures, indent=2) + "\n")
    return url, figures


def sqlite_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The SQLite database an import runs on, and the copy kept of it before the import."""
    key = HERE / "data" / f"import_{args.rows}_s{args.seed}"
    return key.with_name(f"{key.name}.db"), key.with_name(f"{key.name}.pristine.db")


def kept(sidecar: Path) -> bool:
    """Whether a kept preload (its figures in `sidecar`) was made the way preload makes it."""
    return sidecar.exists() and json.loads(sidecar.read_text()).get("version") == PRELOAD_VERSION


def preload(url: str, existing: Path, stores: list[str], batch_size: int = 5000
            ) -> dict[str, Any]:
    """Migrate the database at `url`, create tenant `bench` (region US), source `shop` and
    the stores (the people profile rejects unknown store codes), and bulk_seed the stored
    people; then checkpoint (SQLite) or VACUUM ANALYZE."""
    from allroads.domain.types import Actor, utcnow
    from allroads.resolution.bulk import seed
    from allroads.resolution.hub import Hub
    from allroads.store import Store

    store = Store(url)
    try:
        store.migrate()
        hub = Hub(store)
        tenant = hub.ensure_tenant(TENANT, default_region=REGION)
        actor = Actor(tenant.id, "import-bench", "import", tenant.default_region)
        hub.set_source(actor, SOURCE, 50, "loyalty shop exports (import benchmark)")
        with store.write() as tx:
            tx.upsert_references("stores", tenant.id, [
                {"code": code, "external_id": f"ext-{code.lower()}", "name": f"Store {code}",
                 "city": code[:3]} for code in stores], None, utcnow())
        started = time.perf_counter()
        report = seed(store, actor, existing_requests(existing), batch_size=batch_size)
        seconds = time.perf_counter() - started
        with store.engine.connect() as conn:
            if url.startswith("sqlite"):
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE")
    finally:
        store.close()
    return {"version": PRELOAD_VERSION, "stores": len(stores),
            "people": report.processed, "seeded": report.seeded, "routed": report.routed,
            "seconds": round(seconds, 1),
            "people_per_s": round(report.processed / seconds) if seconds else None,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}


# (3) the import ---------------------------------------------------------------------------
def allroads_executable() -> str:
    """The `allroads` script beside this Python (a venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "allroads"
    if beside.exists():
        return str(beside)
    found = shutil.which("allroads")
    if found is None:
        raise SystemExit("the `allroads` command is not installed: run `pip install -e .` in "
                         f"{ROOT} (in the Python that runs this benchmark)")
    return found


def check_import_command() -> None:
    """Fail early, and clearly, when `allroads import` does not exist yet."""
    exe = allroads_executable()
    done = subprocess.run([exe, IMPORT_COMMAND[1], "--help"], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        lines = [ln.strip(" │╭╮╰╯─") for ln in (done.stderr or done.stdout).splitlines()]
        said = " ".join(ln for ln in lines[-4:] if ln and ln.strip("─ ") != "Error")
        raise SystemExit(
            f"`allroads {IMPORT_COMMAND[1]}` is not available ({exe} exited "
            f"{done.returncode}: {said}).\n"
            "Install the version of allroads that has it, adjust IMPORT_COMMAND at the top of "
            "benchmarks/import_bench.py, or measure the raw load alone with --skip-import.")


def child_env(url: str) -> dict[str, str]:
    return {**os.environ, "ALLROADS_DATABASE_URL": url, "ALLROADS_TENANT": TENANT}


class TreeMemory:
    """Samples the memory of a process and its descendants from /proc and keeps the peak:
    the sum of their PSS (proportional set size: a page shared by forked workers counts
    once in all, not once per process). Linux only."""

    def __init__(self, pid: int, every: float = SAMPLE_S) -> None:
        self.pid, self.every = pid, every
        self.peak_kb = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total, count = self.sample()
            if total > self.peak_kb:
                self.peak_kb, self.peak_processes = total, count
            self._stop.wait(self.every)

    def sample(self) -> tuple[int, int]:
        """(KiB of PSS summed over the tree, processes in the tree)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                ppid = int(stat[stat.rfind(")") + 2:].split()[1])
                children.setdefault(ppid, []).append(int(entry))
        total, count, stack, seen = 0, 0, [self.pid], set()
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            stack.extend(children.get(pid, []))
            kb = pss_kb(pid)
            if kb is not None:
                total, count = total + kb, count + 1
        return total, count


def pss_kb(pid: int) -> int | None:
    """The PSS of a process in KiB (from smaps_rollup), None when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def run_import(url: str, csv_path: Path, log: Path,
               command: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The import `command` (IMPORT_COMMAND) over `url`, its stderr to `log`: wall time,
    peak memory (the whole process tree), CPU time, its summary."""
    cmd = [allroads_executable() if a == "allroads" else a.format(file=csv_path)
           for a in command or IMPORT_COMMAND]
    print(f"  $ {' '.join(cmd)}", flush=True)
    out: list[bytes] = []
    with log.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=child_env(url), stdout=subprocess.PIPE, stderr=err)
        stdout_pipe = proc.stdout
        assert stdout_pipe is not None
        reader = threading.Thread(target=lambda: out.append(stdout_pipe.read()), daemon=True)
        reader.start()
        with TreeMemory(proc.pid) as tree:
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join()
    stdout = b"".join(out).decode(errors="replace")
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"the import failed (exit {proc.returncode}) after {seconds:.1f} s: "
                         f"{' '.join(cmd)}\n--- stderr (tail, full log {log}) ---\n{tail}\n"
                         f"--- stdout (tail) ---\n{stdout[-1500:]}")
    # ru_maxrss (KiB on Linux): the peak RSS of the largest single process of the tree, exact;
    # the sampled tree PSS adds up worker processes (and may miss a spike between samples).
    child_kb = usage.ru_maxrss
    summary = parse_summary(stdout)
    return {"command": cmd, "seconds": round(seconds, 2),
            "peak_rss_mb": round(max(tree.peak_kb, child_kb) / 1024, 1),
            "peak_pss_sampled_tree_mb": round(tree.peak_kb / 1024, 1),
            "peak_rss_max_process_mb": round(child_kb / 1024, 1),
            "processes_at_peak": tree.peak_processes,
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "phases": phase_times(summary, seconds),
            "summary": summary, "stdout_tail": stdout[-2000:]}


def phase_times(summary: dict[str, Any] | None, seconds: float) -> dict[str, Any]:
    """The import's own timing of its phases (the JSON summary's `phases`: validate, then
    commit), each with its rows/s, and the rest of the child's wall time (start-up, the
    error report, the summary): `other_s`."""
    phases = (summary or {}).get("phases") or {}
    rows = ((summary or {}).get("counts") or {}).get("rows")
    out: dict[str, Any] = {}
    timed = 0.0
    for name in ("validate", "commit"):
        value = phases.get(name)
        if isinstance(value, int | float):
            out[f"{name}_s"] = round(value, 2)
            out[f"{name}_rows_per_s"] = round(rows / value) if rows and value else None
            timed += value
    if out:
        out["other_s"] = round(seconds - timed, 2)
    return out


def describe_phases(imported: dict[str, Any]) -> str:
    phases = imported.get("phases") or {}
    parts = [f"{name} {phases[name + '_s']} s ({phases[name + '_rows_per_s'] or 0:,} rows/s)"
             for name in ("validate", "commit") if name + "_s" in phases]
    if "other_s" in phases:
        parts.append(f"other {phases['other_s']} s")
    return ", ".join(parts)


def parse_summary(stdout: str) -> dict[str, Any] | None:
    """The JSON summary the import printed: the whole stdout, or its last JSON object line."""
    text = stdout.strip()
    lines = text.splitlines()
    tails = ["\n".join(lines[k:]) for k in reversed(range(len(lines)))
             if lines[k].startswith("{")]
    for candidate in (text, *tails):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


# Names the summary might give each count (commit's first, then the preview's); the first
# one found in the summary's counts (searched through nested dicts) is compared.
COUNT_NAMES = {"expected_created": ("created", "create"),
               "expected_existing": ("updated+merged+unchanged", "updated+unchanged",
                                     "update+unchanged", "matched", "existing"),
               "expected_rejected": ("rejected", "invalid", "errors")}


def check_counts(summary: dict[str, Any] | None, manifest: dict[str, Any]) -> dict[str, Any]:
    """The import's counts beside the manifest's true counts (where the summary has them)."""
    if not summary:
        return {}
    dicts: list[dict[str, Any]] = []
    queue: list[Any] = [summary.get("counts", summary)]
    while queue:  # breadth first: the outer counts before nested ones
        item = queue.pop(0)
        if isinstance(item, dict):
            dicts.append(item)
            queue.extend(v for v in item.values() if isinstance(v, dict))
    out: dict[str, Any] = {}
    for expected, names in COUNT_NAMES.items():
        found = next(((name, d) for name in names for d in dicts
                      if all(isinstance(d.get(p), int) for p in name.split("+"))), None)
        if found is not None:
            name, d = found
            got = sum(d[p] for p in name.split("+"))
            want = manifest["counts"][expected]
            out[expected] = {"as": name, "expected": want, "got": got, "ok": got == want}
    failed = next((d["failed"] for d in dicts if isinstance(d.get("failed"), int)), None)
    if failed is not None:
        out["failed"] = {"expected": 0, "got": failed, "ok": failed == 0}
    return out


# (4) the raw load -------------------------------------------------------------------------
@dataclass
class RawLoad:
    method: str
    rows: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "rows": self.rows, "seconds": round(self.seconds, 3),
                "rows_per_s": round(self.rows / self.seconds) if self.seconds else None}


def raw_columns() -> list[str]:
    return [c.lower().replace(" ", "_") for c in COLUMNS]


def raw_load(url: str, csv_path: Path) -> RawLoad:
    """Load the CSV's rows as text into a plain table (RAW_TABLE, replaced) of the database
    at `url`, without validation; timed from the first read to the commit."""
    if url.startswith("sqlite:///"):
        return raw_load_sqlite(Path(url.removeprefix("sqlite:///").split("?", 1)[0]), csv_path)
    return raw_load_postgres(url, csv_path)


def raw_load_sqlite(path: Path, csv_path: Path) -> RawLoad:
    """csv.reader + executemany, batches of RAW_BATCH rows in one transaction, with the
    store's journal settings (WAL, synchronous=NORMAL)."""
    cols = raw_columns()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        insert = (f"INSERT INTO {RAW_TABLE} ({', '.join(cols)}) "
                  f"VALUES ({', '.join('?' * len(cols))})")
        rows = 0
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"CREATE TABLE {RAW_TABLE} ({', '.join(c + ' TEXT' for c in cols)})")
        with open_csv(csv_path) as f:
            reader = csv.reader(f)
            next(reader)
            while True:
                batch = [r for _, r in zip(range(RAW_BATCH), reader, strict=False)]
                if not batch:
                    break
                conn.executemany(insert, batch)
                rows += len(batch)
        conn.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    return RawLoad("sqlite3 csv.reader + executemany, one transaction", rows, seconds)


def raw_load_postgres(url: str, csv_path: Path) -> RawLoad:
    """COPY ... FROM STDIN (FORMAT csv, HEADER): the file's bytes streamed to the server,
    which parses them (empty cells as empty text, as in SQLite); one transaction."""
    import psycopg
    import sqlalchemy as sa

    cols = raw_columns()
    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    opener = gzip.open if csv_path.name.endswith(".gz") else open
    with psycopg.connect(conninfo) as conn:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {RAW_TABLE} ({', '.join(c + ' text' for c in cols)})")
            with opener(csv_path, "rb") as f, cur.copy(
                    f"COPY {RAW_TABLE} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, "
                    f"HEADER true, FORCE_NOT_NULL ({', '.join(cols)}))") as copy:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            rows = cur.rowcount
        conn.commit()
        seconds = time.perf_counter() - started
    return RawLoad("COPY FROM STDIN (format csv), one transaction", rows, seconds)


# (5) report -------------------------------------------------------------------------------
def targets(rows: int, db: str, imported: dict[str, Any] | None, ratio: float | None
            ) -> dict[str, Any]:
    """The issue's targets, and whether this run meets them (they apply to 1M rows, SQLite)."""
    out: dict[str, Any] = {"rows": TARGET_ROWS, "db": TARGET_DB,
                           "seconds_max": TARGET_SECONDS, "peak_rss_mb_max": TARGET_RSS_MB,
                           "ratio_goal_max": TARGET_RATIO,
                           "apply": rows == TARGET_ROWS and db == TARGET_DB}
    if imported is not None:
        out["met"] = {"seconds": imported["seconds"] <= TARGET_SECONDS,
                      "peak_rss": imported["peak_rss_mb"] <= TARGET_RSS_MB,
                      "ratio_goal": ratio is not None and ratio <= TARGET_RATIO}
    return out


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| database | rows | import s | rows/s | peak RSS MB | raw load s | raw rows/s "
             "| ratio | store floor s | created / existing / rejected (expected) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        imp, raw, counts = r.get("import"), r["raw"], r["data"]["counts"]
        expected = (f"{counts['expected_created']:,} / {counts['expected_existing']:,} / "
                    f"{counts['expected_rejected']:,}")
        got = r.get("counts_check") or {}
        if got:
            found = [got.get(k) for k in ("expected_created", "expected_existing",
                                          "expected_rejected")]
            expected = " / ".join("?" if v is None else f"{v['got']:,}{'' if v['ok'] else ' ✗'}"
                                  for v in found) + f" ({expected})"
            if not got.get("failed", {"ok": True})["ok"]:
                expected += f", {got['failed']['got']:,} failed ✗"
        cells = ([f"{imp['seconds']}", f"{r['rows_per_s']:,}", f"{imp['peak_rss_mb']}"]
                 if imp else ["-", "-", "-"])
        ratio = f"{r['ratio']}x" if imp else "-"
        floor = r.get("store_floor")
        floor_s = f"{floor['seconds']} ({floor['rows']:,} rows)" if floor else "-"
        lines.append(f"| {r['db']} | {r['rows']:,} | {' | '.join(cells)} | {raw['seconds']} "
                     f"| {raw['rows_per_s']:,} | {ratio} | {floor_s} | {expected} |")
    return "\n".join(lines)


def bench(args: argparse.Namespace) -> dict[str, Any]:
    if not args.skip_import:
        check_import_command()
    csv_path, manifest = data_files(args)
    print(f"## {args.db}: fresh database, preloading {manifest['counts']['existing']:,} "
          "stored people", flush=True)
    url, preloaded = fresh_database(args, csv_path, manifest)
    print(f"  {preloaded}", flush=True)
    imported = None
    if not args.skip_import:
        print(f"## {args.db}: import of {args.rows:,} rows", flush=True)
        command = IMPORT_COMMAND + (("--dry-run",) if args.validate_only else ())
        imported = run_import(url, csv_path, HERE / "data" / f"import_{args.db}.stderr.log",
                              command)
        print(f"  {imported['seconds']} s, CPU {imported['cpu_s']} s, peak RSS "
              f"{imported['peak_rss_mb']} MB; {describe_phases(imported)}", flush=True)
    floor = None
    if imported and args.db == "sqlite" and not args.validate_only:
        print(f"## {args.db}: the store's write floor (the rows the import inserted, "
              "set-based)", flush=True)
        floor = store_floor(*sqlite_paths(args))
        print(f"  {floor['rows']:,} rows in {floor['seconds']} s "
              f"({floor['rows_per_s']:,} rows/s)", flush=True)
    print(f"## {args.db}: raw load of the same rows", flush=True)
    loaded = raw_load(url, csv_path)
    raw = loaded.as_dict()
    print(f"  {raw['seconds']} s ({raw['rows_per_s']:,} rows/s)", flush=True)
    if raw["rows"] != args.rows:
        raise SystemExit(f"the raw load read {raw['rows']} rows, the file has {args.rows}")
    ratio = round(imported["seconds"] / loaded.seconds, 1) if imported else None
    result: dict[str, Any] = {
        "benchmark": "import", "db": args.db, "rows": args.rows,
        "seconds": imported["seconds"] if imported else None,
        "rows_per_s": round(args.rows / imported["seconds"]) if imported else None,
        "peak_rss_mb": imported["peak_rss_mb"] if imported else None,
        "raw_seconds": raw["seconds"], "ratio": ratio,
        "targets": targets(args.rows, args.db, imported, ratio),
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "git_commit": git_commit(),
        "machine": machine(),
        "database": server_settings(url) if args.db == "postgres" else {
            "journal_mode": "wal", "synchronous": "NORMAL", "sqlite": sqlite3.sqlite_version},
        "data": {"file": csv_path.name, "bytes": csv_path.stat().st_size, "gzip": args.gzip,
                 "seed": args.seed, "region": manifest["region"],
                 "counts": manifest["counts"],
                 "duplicates_by_field": manifest["duplicates_by_field"],
                 "existing_by_source": manifest["existing_by_source"],
                 "mobile_formats": manifest["mobile_formats"],
                 "generated_s": manifest["seconds"], "reused": manifest.get("reused", False)},
        "preload": preloaded, "import": imported, "raw": raw, "store_floor": floor,
        "counts_check": check_counts(imported["summary"], manifest) if imported else None,
    }
    result["validate_only"] = args.validate_only
    out = args.out or (HERE / "results" / f"import_{args.db}.json"
                       if imported and args.rows == TARGET_ROWS and not args.validate_only
                       else HERE / "data" / f"import_{args.db}_{args.rows}"
                       f"{'_validate' if args.validate_only else ''}.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  wrote {out}", flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--seed", type=int, default=1, help="the generator's seed")
    ap.add_argument("--gzip", action="store_true", help="import name.csv.gz instead")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the generated files and the preloaded database kept in "
                    "benchmarks/data/ by an earlier run with the same --rows and --seed")
    ap.add_argument("--skip-import", action="store_true",
                    help="no import: generate, preload and measure the raw load only")
    ap.add_argument("--validate-only", action="store_true",
                    help="run the import with --dry-run: the validation phase alone (its "
                    "counts are the preview's); the result goes to benchmarks/data/")
    ap.add_argument("--pg-url", default=os.environ.get("ALLROADS_BENCH_PG_URL", DEFAULT_PG_URL),
                    help=f"any database on the PostgreSQL server; {PG_DB} is created beside it")
    ap.add_argument("--batch-size", type=int, default=5000, help="bulk_seed batch (preload)")
    ap.add_argument("--out", type=Path, help="the result JSON (default results/import_<db>"
                    ".json for a full 1M-row import, else benchmarks/data/)")
    args = ap.parse_args()
    results = []
    both = args.db == "both"
    for db in ("sqlite", "postgres") if both else (args.db,):
        out = args.out.with_name(f"{args.out.stem}_{db}{args.out.suffix}") \
            if both and args.out else args.out
        results.append(bench(argparse.Namespace(**{**vars(args), "db": db, "out": out})))
    print()
    print(table(results))
    for r in results:
        if r.get("import"):
            print(f"{r['db']}: {describe_phases(r['import'])}; CPU {r['import']['cpu_s']} s "
                  f"(the import's processes, workers included)")


if __name__ == "__main__":
    main()
