"""Serve the real Allroads app for a benchmark: uvicorn, httptools, uvloop, no access log.

    python benchmarks/serve.py --database-url sqlite:///benchmarks/data/bench.db \\
        [--host 127.0.0.1] [--port 8765] [--workers 1] [--pool-size 8]

`uvicorn --factory allroads.api.app:create_app` cannot be handed settings, so this builds
`create_app(Settings(database_url=...))` itself. With --workers > 1 uvicorn imports this
module in each worker and calls `app()`, which reads the settings from the environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

# The package served: this checkout's, or with --src another's (a baseline worktree), in
# uvicorn's worker processes too (they import this module again, with no arguments).
if "--src" in sys.argv[1:-1]:
    os.environ["ALLROADS_BENCH_SRC"] = str(Path(sys.argv[sys.argv.index("--src") + 1])
                                           .resolve())
SRC = Path(os.environ.get("ALLROADS_BENCH_SRC") or Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, str(SRC))

from allroads.settings import Settings  # noqa: E402

GC_LOG = os.environ.get("ALLROADS_BENCH_GC_LOG")  # a file: each collection of 1 ms or more


def log_gc_pauses(path: str) -> None:
    """Append "unix-time pid generation wall-ms cpu-ms collected" to `path` for every
    garbage collection of 1 ms or more in this process: the server's, and the writer
    process's, which imports this module again as its main module. (Measured at 1M people:
    full collections happen at start-up only, 15 to 80 ms of CPU each, none while
    serving.)"""
    import gc
    import time

    if any(getattr(c, "allroads_bench", False) for c in gc.callbacks):
        return  # imported twice (as __main__, then as uvicorn's "serve")
    started = [0.0, 0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter(), time.thread_time()]
            return
        ms = (time.perf_counter() - started[0]) * 1000
        if ms >= 1:
            cpu_ms = (time.thread_time() - started[1]) * 1000
            with open(path, "a") as out:
                out.write(f"{time.time():.2f} {os.getpid()} {info['generation']} {ms:.1f} "
                          f"{cpu_ms:.1f} {info['collected']}\n")

    callback.allroads_bench = True  # type: ignore[attr-defined]
    gc.callbacks.append(callback)


if GC_LOG:
    log_gc_pauses(GC_LOG)


def app() -> Any:
    """The app factory uvicorn calls (in each worker)."""
    from allroads.api.app import create_app

    return create_app(Settings.from_env())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--pool-size", type=int, default=8)
    ap.add_argument("--src", type=Path, default=SRC,
                    help="the directory holding the allroads package to serve (default: this "
                    "checkout's src/; a baseline worktree's to measure older code with this "
                    "harness)")
    ap.add_argument("--http", default="allroads", choices=("allroads", "httptools", "h11"),
                    help="allroads: the protocol `allroads serve` uses (uvicorn's httptools, "
                    "a response written at once: allroads.api.serving); or uvicorn's own")
    args = ap.parse_args()
    os.environ["ALLROADS_DATABASE_URL"] = args.database_url
    os.environ["ALLROADS_POOL_SIZE"] = str(args.pool_size)
    import uvicorn

    try:
        from allroads.api.serving import uvicorn_options
    except ImportError:  # older code (--src): uvicorn's own httptools protocol
        options: dict[str, Any] = {"http": "httptools", "loop": "uvloop"}
    else:
        options = uvicorn_options()
    if args.http != "allroads":
        options["http"] = args.http
    uvicorn.run("serve:app", factory=True, app_dir=str(Path(__file__).resolve().parent),
                host=args.host, port=args.port, workers=args.workers, access_log=False,
                log_level="warning", lifespan="on", **options)


if __name__ == "__main__":
    main()
