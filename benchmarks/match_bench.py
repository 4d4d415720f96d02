"""The matching benchmarks: Allroads' batch matching beside Splink 5, on the same records, on
the same machine, in the same run.

    python benchmarks/match_bench.py febrl4             # both systems -> results/match_febrl4.json
    python benchmarks/match_bench.py all --repeats 3    # febrl4, pseudopeople, companies
    python benchmarks/match_bench.py pseudopeople --systems splink
    python benchmarks/match_bench.py --table            # results/match_*.json as Markdown
    python benchmarks/match_bench.py febrl4 --out /tmp/try   # results elsewhere (trials)

Each run of each system is a fresh child process (this file with --child) that reads the
cached data set (match_data.py, benchmarks/data/match_*.json.gz), imports its system, then
matches the records: wall time from the call to the answer (imports and data loading reported
apart), peak memory as the child's VmHWM when the answer is back (the data set itself is in
it for both systems: rss_after_load_mb; child_maxrss_mb, from os.wait4, also holds the
writing of the answer). With --repeats N the
systems alternate (a, b, a, b, ...) and the medians are reported.

Quality:
- febrl4 (link only): pairwise precision, recall and F1 of the predicted links (cross-source
  pairs at or above the auto-link threshold) against the 5,000 true links;
- pseudopeople, companies (dedupe): pairwise cluster precision, recall and F1, counted from
  the contingency table of (predicted cluster, true entity): true positives are the pairs
  inside each cell, predicted pairs those inside each predicted cluster, true pairs those
  inside each true entity (no list of pairs is ever built).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

DATASETS = ("febrl4", "pseudopeople", "companies")
SYSTEMS = ("allroads", "splink")
TARGETS = {  # issue 4, point 5
    "febrl4": "F1 >= 0.995",
    "pseudopeople": "F1 >= Splink's and time <= Splink's, same run",
    "companies": "auto-link precision >= 0.99 and recall >= 0.95",
}


# Metrics ------------------------------------------------------------------------------------
MATCH_PACKAGES = ("splink", "duckdb", "pandas", "pyarrow", "numpy", "pseudopeople",
                  "recordlinkage", "rapidfuzz", "jellyfish")


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _prf(tp: int, predicted: int, true: int) -> dict[str, Any]:
    precision = tp / predicted if predicted else 1.0  # nothing predicted: no false positive
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_positives": tp,
            "predicted_pairs": predicted, "true_pairs": true}


def link_metrics(links: Iterable[tuple[str, str] | tuple[str, str, float] | list[Any]],
                 truth: dict[str, str], true_pairs: int) -> dict[str, Any]:
    """Pairwise precision, recall, F1 of predicted links: each unordered pair counts once, a
    pair is right when both records have the same true entity. true_pairs: how many there
    are (Dataset.true_pairs())."""
    seen: set[tuple[str, str]] = set()
    tp = 0
    for link in links:
        a, b = str(link[0]), str(link[1])
        if a == b:
            continue
        pair = (a, b) if a < b else (b, a)
        if pair in seen:
            continue
        seen.add(pair)
        if a not in truth or b not in truth:
            raise ValueError(f"link {a} - {b} names a record that is not in the data set")
        tp += truth[a] == truth[b]
    return _prf(tp, len(seen), true_pairs)


def cluster_metrics(clusters: dict[str, str], truth: dict[str, str]) -> dict[str, Any]:
    """Pairwise cluster precision, recall, F1 from the (predicted, true) contingency table.
    A record missing from `clusters` counts as a cluster of its own (and in "missing")."""
    unknown = next((rid for rid in clusters if rid not in truth), None)
    if unknown is not None:
        raise ValueError(f"clusters name record {unknown!r}, which is not in the data set")
    cells: Counter[tuple[str, str]] = Counter()
    predicted: Counter[str] = Counter()
    missing = 0
    for rid, true_key in truth.items():
        label = clusters.get(rid)
        if label is None:
            missing += 1
            label = "\0" + rid
        else:
            label = "=" + label
        cells[(label, true_key)] += 1
        predicted[label] += 1
    tp = sum(_pairs(n) for n in cells.values())
    out = _prf(tp, sum(_pairs(n) for n in predicted.values()),
               sum(_pairs(n) for n in Counter(truth.values()).values()))
    out.update(predicted_clusters=len(predicted), true_clusters=len(set(truth.values())),
               missing=missing)
    return out


def threshold_sweep(scored: list[Any], truth: dict[str, str], true_pairs: int,
                    thresholds: Iterable[float] = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999)
                    ) -> dict[str, Any]:
    """Link metrics at several probability thresholds (for a system that returns scores)."""
    return {str(t): {k: v for k, v in link_metrics(
        [s for s in scored if s[2] >= t], truth, true_pairs).items()
        if k in ("precision", "recall", "f1")} for t in thresholds}


# The child: one system, one data set ----------------------------------------------------------
def child(system: str, data_file: Path, out_file: Path) -> None:
    import match_data

    t = time.perf_counter()
    dataset = match_data.read(data_file)
    load_s = time.perf_counter() - t
    rss_after_load = _proc_status("VmRSS")
    t = time.perf_counter()
    if system == "allroads":
        from allroads.batch.matching import match_records
    else:
        import duckdb  # noqa: F401  (what match_splink.run imports, imported here)
        import match_splink
        import pandas  # noqa: F401
        import splink.comparison_library  # noqa: F401
        from splink import DuckDBAPI  # noqa: F401
    import_s = time.perf_counter() - t

    t = time.perf_counter()
    if system == "allroads":
        out = match_records(dataset.records, entity_type=dataset.entity_type,
                            link_only=dataset.link_only, engine="duckdb")
    else:
        out = match_splink.run(dataset.name, dataset.records, dataset.link_only)
    wall_s = time.perf_counter() - t
    peak = _proc_status("VmHWM")  # before the answer is serialized
    answer = {
        "system": system, "wall_s": wall_s, "load_s": load_s, "import_s": import_s,
        "rss_after_load_mb": rss_after_load, "vmhwm_mb": peak,
        "timings": dict(out.timings), "settings": getattr(out, "settings", {}),
        "link_count": len(out.links),
        "links": ([[str(a), str(b), float(p)] for a, b, p in out.links]
                  if dataset.link_only else []),
        "clusters": {str(k): str(v) for k, v in out.clusters.items()},
        "scored": [[a, b, p] for a, b, p in getattr(out, "scored", [])],
        "clusters_at": getattr(out, "clusters_at", {}),
    }
    out_file.write_text(json.dumps(answer))


def _proc_status(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


# The parent ----------------------------------------------------------------------------------
def run_system(system: str, data_file: Path, dataset: Any) -> dict[str, Any]:
    """One run of `system` in a fresh child; its figures and quality."""
    out_file = HERE / "data" / f"match_{dataset.name}_{system}_{os.getpid()}.out.json"
    out_file.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", system,
                             str(data_file), str(out_file)], cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    child_s = time.perf_counter() - started
    if proc.returncode != 0 or not out_file.exists():
        return {"system": system, "error": f"child exited with {proc.returncode}"}
    answer = json.loads(out_file.read_text())
    out_file.unlink()
    run: dict[str, Any] = {
        "wall_s": round(answer["wall_s"], 2),
        "peak_rss_mb": answer["vmhwm_mb"],  # VmHWM when the answer came back
        "rss_after_load_mb": answer["rss_after_load_mb"],
        "child_maxrss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB; with the output
        "child_s": round(child_s, 2), "load_s": round(answer["load_s"], 2),
        "import_s": round(answer["import_s"], 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "timings": {k: round(v, 3) for k, v in answer["timings"].items()},
        "settings": answer["settings"],
        "links": answer["link_count"],
    }
    if dataset.link_only:
        run["quality"] = link_metrics(answer["links"], dataset.truth, dataset.true_pairs())
        if answer["scored"]:
            run["threshold_sweep"] = threshold_sweep(answer["scored"], dataset.truth,
                                                     dataset.true_pairs())
    else:
        run["quality"] = cluster_metrics(answer["clusters"], dataset.truth)
        if answer["clusters_at"]:
            run["quality_at"] = {at: _rounded(cluster_metrics(c, dataset.truth))
                                 for at, c in answer["clusters_at"].items()}
    run["quality"] = _rounded(run["quality"])
    return run


def _rounded(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}


def bench(name: str, systems: list[str], repeats: int) -> dict[str, Any]:
    import match_data
    from identify_bench import git_commit, machine

    t = time.perf_counter()
    data_file = match_data.cache_file(name)
    prepare_s = time.perf_counter() - t
    dataset = match_data.read(data_file)
    result: dict[str, Any] = {
        "dataset": name, "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(), "machine": machine(MATCH_PACKAGES), "target": TARGETS[name],
        "data": {"records": len(dataset.records), "entities": len(set(dataset.truth.values())),
                 "true_pairs": dataset.true_pairs(), "entity_type": dataset.entity_type,
                 "link_only": dataset.link_only, "file": str(data_file.relative_to(ROOT)),
                 "prepare_s": round(prepare_s, 1), **dataset.facts},
        "repeats": repeats, "systems": {},
    }
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    for i in range(repeats):
        for system in systems:
            print(f"[{name}] {system} run {i + 1}/{repeats} ...", file=sys.stderr, flush=True)
            run = run_system(system, data_file, dataset)
            runs[system].append(run)
            q = run.get("quality", {})
            print(f"[{name}] {system}: F1 {q.get('f1')} P {q.get('precision')} "
                  f"R {q.get('recall')} {run.get('wall_s')} s {run.get('peak_rss_mb')} MB "
                  f"{run.get('error', '')}", file=sys.stderr, flush=True)
    for system, system_runs in runs.items():
        ok = [r for r in system_runs if "error" not in r]
        summary: dict[str, Any] = {"runs": system_runs}
        if ok:
            summary["median"] = {k: statistics.median(r[k] for r in ok)
                                 for k in ("wall_s", "peak_rss_mb", "cpu_s")}
            summary["quality"] = ok[0]["quality"]
            summary["f1_per_run"] = [r["quality"]["f1"] for r in ok]
        result["systems"][system] = summary
    a, s = result["systems"].get("allroads", {}), result["systems"].get("splink", {})
    if a.get("median") and s.get("median"):
        result["ratios_allroads_over_splink"] = {
            "f1": round(a["quality"]["f1"] / s["quality"]["f1"], 4),
            "wall_s": round(a["median"]["wall_s"] / s["median"]["wall_s"], 3),
            "peak_rss_mb": round(a["median"]["peak_rss_mb"] / s["median"]["peak_rss_mb"], 3),
        }
    result["target_met"] = target_met(name, result)
    return result


def target_met(name: str, result: dict[str, Any]) -> bool | None:
    a = result["systems"].get("allroads", {})
    if "quality" not in a:
        return None
    q = a["quality"]
    if name == "febrl4":
        return bool(q["f1"] >= 0.995)
    if name == "companies":
        return bool(q["precision"] >= 0.99 and q["recall"] >= 0.95)
    s = result["systems"].get("splink", {})
    if "quality" not in s:
        return None
    return bool(q["f1"] >= s["quality"]["f1"] and a["median"]["wall_s"] <= s["median"]["wall_s"])


# The table ------------------------------------------------------------------------------------
def table(results: list[dict[str, Any]]) -> str:
    lines = ["| data set | records | system | precision | recall | F1 | wall s | peak RSS MB "
             "| target | met |", "|---|---:|---|---:|---:|---:|---:|---:|---|---|"]
    for r in results:
        for system in SYSTEMS:
            s = r["systems"].get(system)
            if not s:
                continue
            if "quality" not in s:
                lines.append(f"| {r['dataset']} | {r['data']['records']:,} | {system} | "
                             f"failed: {s['runs'][0].get('error')} | | | | | | |")
                continue
            q, m = s["quality"], s["median"]
            is_ours = system == "allroads"
            met = r.get("target_met")
            lines.append(
                f"| {r['dataset']} | {r['data']['records']:,} | {system} | "
                f"{q['precision']:.4f} | {q['recall']:.4f} | {q['f1']:.4f} | "
                f"{m['wall_s']:.1f} | {m['peak_rss_mb']:.0f} | "
                f"{r['target'] if is_ours else ''} | "
                f"{('yes' if met else 'no' if met is not None else '-') if is_ours else ''} |")
    runs = ", ".join(f"{r['dataset']}: {r['repeats']} run(s), {r['started']}, commit "
                     f"{(r['commit'] or '?')[:9]}" for r in results)
    return "\n".join(lines) + f"\n\nMedians of the runs ({runs})."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("dataset", nargs="?", choices=(*DATASETS, "all"))
    parser.add_argument("--systems", default="allroads,splink",
                        help="comma-separated: allroads, splink (default both)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per system (default 1)")
    parser.add_argument("--table", action="store_true",
                        help="print results/match_*.json as a Markdown table (no run)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="where match_<data set>.json goes and --table reads (results/)")
    parser.add_argument("--child", nargs=3, metavar=("SYSTEM", "DATA", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    if args.dataset is None:
        if not args.table:
            parser.error("name a data set (febrl4, pseudopeople, companies, all) or --table")
    else:
        systems = [s.strip() for s in args.systems.split(",") if s.strip()]
        bad = [s for s in systems if s not in SYSTEMS]
        if bad or not systems:
            parser.error(f"--systems: unknown {bad}; choose from {', '.join(SYSTEMS)}")
        names = DATASETS if args.dataset == "all" else (args.dataset,)
        args.out.mkdir(parents=True, exist_ok=True)
        for name in names:
            result = bench(name, systems, max(1, args.repeats))
            path = args.out / f"match_{name}.json"
            path.write_text(json.dumps(result, indent=1) + "\n")
            print(f"wrote {path}", file=sys.stderr)
    if args.table:
        files = [args.out / f"match_{n}.json" for n in DATASETS]
        print(table([json.loads(p.read_text()) for p in files if p.exists()]))


if __name__ == "__main__":
    main()
