"""Serve the real Allroads app for a benchmark: uvicorn, httptools, uvloop, no access log.

    python benchmarks/serve.py --database-url sqlite:///benchmarks/data/bench.db \\
        [--host 127.0.0.1] [--port 8765] [--workers 1] [--pool-size 8]

`uvicorn --factory allroads.api.app:create_app` cannot be handed settings, so this builds
`create_app(Settings(database_url=...))` itself. With --workers > 1 uvicorn imports this
module in each worker and calls `app()`, which reads the settings from the environment.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from allroads.settings import Settings


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
    args = ap.parse_args()
    os.environ["ALLROADS_DATABASE_URL"] = args.database_url
    os.environ["ALLROADS_POOL_SIZE"] = str(args.pool_size)
    import uvicorn

    uvicorn.run("serve:app", factory=True, app_dir=str(Path(__file__).resolve().parent),
                host=args.host, port=args.port, workers=args.workers,
                http="httptools" if importlib.util.find_spec("httptools") else "h11",
                loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
                access_log=False, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
