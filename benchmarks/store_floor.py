"""The store's write floor: how long SQLite alone takes to write the rows an import wrote.

    python benchmarks/store_floor.py benchmarks/data/import_100000_s1.db \
        benchmarks/data/import_100000_s1.pristine.db     # after import_bench.py --rows 100000

An import stores far more than its file's rows: per new customer an entity, a record and its
version, the identifier index rows, the blocking keys and matching features, the link with
its evidence, the profile, a changelog row per field, and the staging row validation wrote.
This measures the cheapest possible way to write exactly those rows: no Python per row, no
reads, no checks, just `INSERT INTO t SELECT * FROM written.t` per table, one
transaction, into a copy of the database as it was before the import (same schema, same
indexes, the preloaded customers already there), with the store's journal settings.

It is a lower bound on any import of that file into that schema on this machine: the rows
the import inserted are copied (rows it updated are not counted), foreign keys are not
checked, and nothing is validated, read or resolved. `import_bench.py` runs it after the
import, in the same run (SQLite only).

Steps, only the last one timed: copy the pre-import database (benchmarks/data/<key>.pristine.db)
to <key>.floor.db; for every table, put the rows the import added (by primary key: in the
imported database, not in the pristine one) into a scratch database; then insert them all
and commit.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from files import copy_synced, remove_sqlite
from identify_bench import git_commit, machine

SKIPPED = {"alembic_version", "sqlite_sequence", "sqlite_stat1"}


def _tables(conn: sqlite3.Connection, schema: str) -> dict[str, tuple[list[str], list[str]]]:
    """table -> (columns, primary key columns), for the tables of an attached database."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    names = [n for (n,) in conn.execute(
        f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' ORDER BY name")]
    for name in names:
        info = conn.execute(f'PRAGMA {schema}.table_info("{name}")').fetchall()
        pk = [c[1] for c in sorted(info, key=lambda c: c[5]) if c[5] > 0]
        out[name] = ([c[1] for c in info], pk)
    return out


def store_floor(imported: Path, pristine: Path) -> dict[str, Any]:
    """Write the rows `imported` holds beyond `pristine` into a copy of `pristine`, set-based
    (see the module docstring). Only the store's tables count: those of `pristine` (the raw
    load's table is not one)."""
    floor = imported.with_name(imported.name.removesuffix(".db") + ".floor.db")
    scratch = imported.with_name(imported.name.removesuffix(".db") + ".floor-rows.db")
    remove_sqlite(floor)
    remove_sqlite(scratch)
    copy_synced(pristine, floor)
    conn = sqlite3.connect(floor, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-65536")  # the store's settings (store/engine.py)
        conn.execute(f"ATTACH '{imported}' AS imported")
        conn.execute(f"ATTACH '{scratch}' AS written")
        wanted = _tables(conn, "main")
        tables = {t: v for t, v in _tables(conn, "imported").items()
                  if t in wanted and t not in SKIPPED and v[1]}
        counts: dict[str, int] = {}
        for table, (columns, pk) in tables.items():
            match = " AND ".join(f'p."{c}" = i."{c}"' for c in pk)
            cols = ", ".join(f'i."{c}"' for c in columns)
            conn.execute(f'CREATE TABLE written."{table}" AS SELECT {cols} '
                         f'FROM imported."{table}" i '
                         f'WHERE NOT EXISTS (SELECT 1 FROM main."{table}" p WHERE {match})')
            counts[table] = conn.execute(f'SELECT count(*) FROM written."{table}"').fetchone()[0]
        staged = dict(conn.execute(
            "SELECT status, count(*) FROM imported.import_rows GROUP BY status").fetchall())
        conn.execute("DETACH imported")
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table, (columns, _) in tables.items():
            if not counts[table]:
                continue
            t0 = time.perf_counter()
            cols = ", ".join(f'"{c}"' for c in columns)
            conn.execute(f'INSERT INTO main."{table}" ({cols}) '
                         f'SELECT {cols} FROM written."{table}"')
            seconds[table] = time.perf_counter() - t0
        conn.execute("COMMIT")
        total = time.perf_counter() - started
    finally:
        conn.close()
        remove_sqlite(floor)
        remove_sqlite(scratch)
    rows = sum(counts.values())
    return {"method": "INSERT INTO t SELECT * per table, one transaction, into a copy of the "
                      "pre-import database (inserted rows only; lower bound)",
            "imported_rows_by_status": staged,
            "rows": rows, "seconds": round(total, 3),
            "rows_per_s": round(rows / total) if total else None,
            "tables": {t: {"rows": n, "seconds": round(seconds.get(t, 0.0), 3)}
                       for t, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("imported", type=Path, help="the database after the import")
    ap.add_argument("pristine", type=Path, help="the same database before it")
    ap.add_argument("--out", type=Path, help="also write the result here, as JSON")
    args = ap.parse_args()
    for path in (args.imported, args.pristine):
        if not path.exists():
            raise SystemExit(f"{path} not found: run import_bench.py first (it keeps both in "
                             "benchmarks/data/)")
    result = {"benchmark": "store_floor", "imported": args.imported.name,
              **store_floor(args.imported, args.pristine),
              "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "git_commit": git_commit(), "machine": machine()}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
