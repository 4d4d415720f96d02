"""The import benchmark's parts: the dirty CSV generator (its manifest checked against an
independent reading of the file with the real normalizers), the preload, the raw loaders on
both databases, and the peak-memory measurement of a child process tree."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import import_bench
import import_data
import store_floor

from allroads.domain.errors import InvalidIdentifier
from allroads.domain.normalize import normalize_email, normalize_phone
from allroads.domain.types import Actor, IdentifyRequest
from allroads.resolution.hub import Hub
from allroads.store import Store


def _read(path: Path) -> list[list[str]]:
    with import_data.open_csv(path) as f:
        return list(csv.reader(f))


def _norm(fn: Any, value: str, *args: str) -> str | None:
    try:
        return str(fn(value, *args))
    except InvalidIdentifier:
        return None


def _groups(keys: list[list[tuple[str, str]]]) -> list[set[int]]:
    """Rows connected by a shared identifier (union-find), groups of two or more."""
    parent = list(range(len(keys)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[tuple[str, str], int] = {}
    for i, row_keys in enumerate(keys):
        for key in row_keys:
            if key in first:
                parent[find(i)] = find(first[key])
            else:
                first[key] = i
    out: dict[int, set[int]] = {}
    for i in range(len(keys)):
        out.setdefault(find(i), set()).add(i)
    return [g for g in out.values() if len(g) > 1]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("import") / "people.csv"
    return out, import_data.generate(5000, out, seed=3)


def test_manifest_counts_are_what_the_file_holds(generated: tuple[Path, dict[str, Any]]
                                                 ) -> None:
    out, manifest = generated
    rows = _read(out)
    assert tuple(rows[0]) == import_data.COLUMNS
    body = rows[1:]
    counts = manifest["counts"]
    assert len(body) == counts["rows"] == 5000
    col = {name: k for k, name in enumerate(import_data.COLUMNS)}
    region = manifest["region"]
    emails = [_norm(normalize_email, r[col["Email"]]) for r in body]
    mobiles = [_norm(normalize_phone, r[col["Mobile"]], region) for r in body]
    invalid = {i for i in range(len(body)) if emails[i] is None or mobiles[i] is None}
    assert len(invalid) == counts["invalid"]
    assert sum(e is None for e in emails) == counts["invalid_email"]
    assert sum(m is None for m in mobiles) == counts["invalid_mobile"]

    keys = [[(kind, v) for kind, v in (("email", emails[i]), ("mobile", mobiles[i]),
                                       ("external_id", r[col["External Id"]])) if v]
            for i, r in enumerate(body)]
    groups = _groups(keys)
    in_groups = set().union(*groups)
    assert len(groups) == counts["duplicate_groups"] == counts["duplicate_rows"]
    assert len(in_groups) == counts["rows_in_duplicate_groups"]
    assert not in_groups & invalid, "an invalid row shares an identifier with another row"

    with gzip.open(import_data.sidecars(out)[1], "rt", encoding="utf-8") as f:
        stored = [json.loads(line) for line in f]
    stored_mobiles = {normalize_phone(d["identifiers"]["phone"], region): d for d in stored}
    existing = {i for i, m in enumerate(mobiles) if m in stored_mobiles}
    assert len(stored) == len(existing) == counts["existing"]
    assert not existing & (invalid | in_groups)
    for i in existing:  # the stored person is the row's person: same email, same name
        doc = stored_mobiles[mobiles[i]]
        assert doc["identifiers"]["email"] == emails[i]
        assert doc["attributes"]["last_name"].lower() == body[i][col["Last Name"]].strip().lower()
    created = len(body) - len(invalid) - len(in_groups) - len(existing)
    assert created == counts["expected_created"]
    assert counts["expected_rejected"] == len(invalid) + len(in_groups)
    assert counts["expected_created"] + counts["expected_existing"] + \
        counts["expected_rejected"] == len(body)


def test_proportions_and_formats(generated: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = generated
    c = manifest["counts"]
    assert 0.085 <= c["existing"] / c["rows"] <= 0.115
    assert 0.04 <= c["invalid"] / c["rows"] <= 0.06
    assert 0.014 <= c["duplicate_rows"] / c["rows"] <= 0.026
    assert c["invalid_email"] > 0 and c["invalid_mobile"] > 0
    assert set(manifest["duplicates_by_field"]) == {"person", "mobile", "email", "external_id"}
    assert set(manifest["existing_by_source"]) == {"crm", "shop"}
    formats = manifest["mobile_formats"]
    assert set(formats) == {"e164", "international", "00", "national"}
    assert all(n >= 0.05 * c["rows"] for n in formats.values())
    # a good share of the mobiles are written without a country code (the default region)
    col = import_data.COLUMNS.index("Mobile")
    national = Counter(r[col][:1].isdigit() and not r[col].startswith("00")
                       for r in _read(out)[1:])
    assert national[True] >= 0.3 * c["rows"]


@pytest.mark.parametrize("email", ["jane.doe@wonka.co.uk", " Bo@Shop.COM ", "x_y1@mail.a.b.de"])
def test_every_invalid_email_is_invalid(email: str) -> None:
    """Each way the generator breaks an email gives one no normalizer accepts, domains of
    three labels too (x@wonka.co.uk without its last label is x@wonka.co: valid)."""
    import random

    rng = random.Random(5)
    broken = {import_data.invalid_email(email, rng) for _ in range(400)}
    assert len(broken) == 8
    assert [b for b in broken if _norm(normalize_email, b) is not None] == []


def test_the_generator_is_deterministic(tmp_path: Path,
                                        generated: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = generated
    again = tmp_path / "again.csv.gz"
    second = import_data.generate(5000, again, seed=3)
    assert second["counts"] == manifest["counts"]
    assert gzip.decompress(again.read_bytes()) == out.read_bytes()
    assert gzip.decompress(import_data.sidecars(again)[1].read_bytes()) == \
        gzip.decompress(import_data.sidecars(out)[1].read_bytes())
    other = tmp_path / "other.csv"
    import_data.generate(5000, other, seed=4)
    assert other.read_bytes() != out.read_bytes()


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def test_preload_stores_the_existing_people(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "small.csv"
    manifest = import_data.generate(1000, out, seed=5)
    figures = import_bench.preload(_url(store), import_data.sidecars(out)[1],
                                   manifest["stores"], batch_size=50)
    assert figures["people"] == figures["seeded"] == manifest["counts"]["existing"] > 50
    with store.engine.connect() as conn:
        tenant = conn.execute(sa.text("SELECT id, default_region FROM tenants WHERE slug = :s"),
                              {"s": import_data.TENANT}).one()
        assert tenant.default_region == import_data.REGION
        sources = set(conn.execute(sa.text("SELECT name FROM sources WHERE tenant_id = :t"),
                                   {"t": tenant.id}).scalars())
    assert {"crm", import_data.SOURCE} <= sources
    with store.read() as tx:  # every store code of the file is known
        assert tx.known_stores(tenant.id, manifest["stores"], by_external_id=False) == \
            set(manifest["stores"])


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "gzip"])
def test_raw_load_copies_every_row_as_text(store: Store, tmp_path: Path, gz: bool) -> None:
    out = tmp_path / ("raw.csv.gz" if gz else "raw.csv")
    import_data.generate(2000, out, seed=6)
    rows = _read(out)[1:]
    url = _url(store)
    for _ in range(2):  # a second load replaces the table
        loaded = import_bench.raw_load(url, out)
        assert loaded.rows == 2000 and loaded.seconds > 0
    cols = import_bench.raw_columns()
    with store.engine.connect() as conn:
        got = [list(r) for r in conn.execute(sa.text(
            f"SELECT {', '.join(cols)} FROM {import_bench.RAW_TABLE}"))]
    assert sorted(got) == sorted(rows)  # padded names, empty cells, odd phones: as written
    assert loaded.as_dict()["rows_per_s"] > 0


def _person(n: int, points: int = 0) -> IdentifyRequest:
    return IdentifyRequest("person", "shop", f"S{n}", {"email": f"p{n}@example.com"},
                           {"first_name": f"Ann{n}", "last_name": "Lee", "points": points})


def _counts(path: Path) -> dict[str, int]:
    store = Store(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            names = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table'").scalars().all()
            return {n: conn.exec_driver_sql(f'SELECT count(*) FROM "{n}"').scalar_one()
                    for n in names}
    finally:
        store.close()


def test_the_store_floor_writes_exactly_the_rows_added(tmp_path: Path) -> None:
    """Inserted rows (not updated ones) of every store table, by primary key, and no table
    the pristine database lacks (the raw load's); its scratch databases are removed."""
    pristine, imported = tmp_path / "p.db", tmp_path / "i.db"
    store = Store(f"sqlite:///{pristine}")
    store.migrate()
    hub = Hub(store)
    tenant = hub.ensure_tenant("floor", default_region="US")
    actor = Actor(tenant.id, "test", "import", "US")
    for n in range(5):
        hub.identify(actor, _person(n))
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    shutil.copy(pristine, imported)
    store = Store(f"sqlite:///{imported}")
    hub = Hub(store)
    hub.identify(actor, _person(0, points=7))  # an update: a new version, changed fields
    for n in range(5, 12):
        hub.identify(actor, _person(n))
    with store.engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE raw_people_import (a TEXT)")
        conn.exec_driver_sql("INSERT INTO raw_people_import VALUES ('x')")
        conn.commit()
    store.close()
    before, after = _counts(pristine), _counts(imported)
    added = {t: after[t] - before.get(t, 0) for t in after
             if t in before and t not in ("alembic_version", "sqlite_sequence")
             and after[t] > before[t]}
    assert {"entities", "records", "record_versions", "changelog", "profiles"} <= set(added)

    result = store_floor.store_floor(imported, pristine)

    assert {t: v["rows"] for t, v in result["tables"].items()} == added
    assert result["rows"] == sum(added.values()) and result["seconds"] > 0
    assert added["profiles"] == 7 and added["record_versions"] == 8  # the update not counted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.db", "p.db"]


def test_peak_memory_counts_the_whole_process_tree(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(
        "import json, multiprocessing as mp, sys, time\n"
        "def hog():\n"
        "    b = bytearray(120 * 2**20)\n"
        "    b[::4096] = b'x' * len(b[::4096])\n"
        "    time.sleep(0.6)\n"
        "if __name__ == '__main__':\n"
        "    a = bytearray(60 * 2**20)\n"
        "    a[::4096] = b'x' * len(a[::4096])\n"
        "    p = mp.get_context('spawn').Process(target=hog)\n"
        "    p.start(); p.join()\n"
        "    print('progress', file=sys.stderr)\n"
        "    print('done'); print(json.dumps({'counts': {'created': 3, 'rejected': 1}}))\n")
    log = tmp_path / "err.log"
    # Measured from a small fresh process, as the benchmark is run: a child forked from this
    # big test process reports this process's size as its own peak (ru_maxrss before exec).
    benchmarks = str(Path(import_bench.__file__).parent)
    measure = (f"import json, sys; sys.path.insert(0, {benchmarks!r}); import import_bench;"
               f"print(json.dumps(import_bench.run_import('sqlite:///unused.db', "
               f"__import__('pathlib').Path({str(tmp_path / 'f.csv')!r}), "
               f"__import__('pathlib').Path({str(log)!r}), "
               f"({sys.executable!r}, {str(script)!r}, '{{file}}'))))")
    out = subprocess.run([sys.executable, "-c", measure], capture_output=True, text=True,
                         check=True, timeout=120)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert 120 <= result["peak_rss_max_process_mb"] < 200
    assert 180 <= result["peak_rss_mb"] < 320  # both processes at once
    assert result["processes_at_peak"] >= 2  # (spawn adds a resource tracker too)
    assert result["summary"] == {"counts": {"created": 3, "rejected": 1}}
    assert log.read_text() == "progress\n"
    manifest = {"counts": {"expected_created": 3, "expected_existing": 0,
                           "expected_rejected": 2}}
    check = import_bench.check_counts(result["summary"], manifest)
    assert check["expected_created"]["ok"] and not check["expected_rejected"]["ok"]


def test_a_failing_import_says_why(tmp_path: Path) -> None:
    cmd = (sys.executable, "-c", "import sys; print('no such profile: peple', file=sys.stderr);"
           " sys.exit(3)")
    with pytest.raises(SystemExit, match=r"(?s)exit 3.*no such profile: peple"):
        import_bench.run_import("sqlite:///unused.db", tmp_path / "f.csv", tmp_path / "log",
                                cmd)


def test_counts_are_found_in_nested_summaries() -> None:
    manifest = {"counts": {"expected_created": 5, "expected_existing": 3,
                           "expected_rejected": 2}}
    summary = {"rows": 10, "counts": {
        "preview": {"rows": 10, "create": 5, "update": 2, "unchanged": 1, "rejected": 2},
        "commit": {"created": 5, "updated": 2, "merged": 0, "unchanged": 0, "failed": 0}}}
    check = import_bench.check_counts(summary, manifest)
    assert {k: (v.get("as"), v["ok"]) for k, v in check.items()} == {
        "expected_created": ("created", True),
        "expected_existing": ("updated+merged+unchanged", False),  # commit's 2, not 3
        "expected_rejected": ("rejected", True), "failed": (None, True)}
    assert import_bench.check_counts(None, manifest) == {}


def test_the_summary_is_read_tolerantly() -> None:
    assert import_bench.parse_summary('Imported.\n{"created": 1}\n') == {"created": 1}
    assert import_bench.parse_summary('{\n  "created": 2\n}') == {"created": 2}
    assert import_bench.parse_summary('rows {x}\nDone.\n{\n "created": 4\n}') == {"created": 4}
    assert import_bench.parse_summary("Imported 3 rows") is None
    assert subprocess.run([sys.executable, str(Path(import_bench.__file__)), "--help"],
                          capture_output=True, check=False).returncode == 0


def test_phase_times_come_from_the_summary() -> None:
    summary = {"counts": {"rows": 1000}, "phases": {"validate": 2.0, "commit": 4.0}}
    phases = import_bench.phase_times(summary, 7.5)
    assert phases == {"validate_s": 2.0, "validate_rows_per_s": 500, "commit_s": 4.0,
                      "commit_rows_per_s": 250, "other_s": 1.5}
    assert import_bench.describe_phases({"phases": phases}) == (
        "validate 2.0 s (500 rows/s), commit 4.0 s (250 rows/s), other 1.5 s")
    # a dry run has no commit; a summary without phases gives nothing
    assert import_bench.phase_times({"phases": {"validate": 1.0}}, 1.2) == {
        "validate_s": 1.0, "validate_rows_per_s": None, "other_s": 0.2}
    assert import_bench.phase_times(None, 3.0) == {}
