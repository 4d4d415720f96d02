"""The HTTP floor of the identify benchmark: what serving a request costs with no app work.

    python benchmarks/http_floor.py                  # open loop at 1,000/s, closed loop 8
    python benchmarks/http_floor.py --rate 800 --duration 15

The same server process as `serve.py` (uvicorn with the options `allroads serve` uses:
its HTTP protocol, uvloop) serving a trivial ASGI app: it reads the request body and
answers a fixed identify response of the usual size. The same load generator
(`loadgen.py`, the identify mix's requests) drives it over loopback, and the CPU of the
server and of the generator is measured the same way. What the identify benchmark's server
spends above this per request is the app's own work. Writes
`results/http_floor.json` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
# An unchanged person's answer, as the app gives it (the load generator reads `action`).
RESPONSE = (b'{"id":"per_01hxyzabcdefghjk","type":"person","action":"matched","evidence":'
            b'[{"rule":"source_record","source":"crm","source_id":"003000000012345",'
            b'"unchanged":true}],"message":null,"account":null,"merge_id":null,'
            b'"review_id":null}')


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the body, answer RESPONSE; nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(RESPONSE)).encode()),
                            (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": RESPONSE})


def serve(port: int) -> None:
    import uvicorn

    from allroads.api.serving import uvicorn_options

    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning",
                **uvicorn_options())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8766)
    ap.add_argument("--rate", type=float, default=1000, help="open loop requests per second")
    ap.add_argument("--duration", type=float, default=20, help="seconds measured per run")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--connections", type=int, default=8, help="closed loop connections")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "http_floor.json")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.port)
        return
    from identify_bench import (
        DEFAULT_MIX,
        figures,
        git_commit,
        machine,
        run_loadgen,
        stop_server,
        wait_for_health,
    )

    # The identify benchmark's load: its requests, its open and closed loops.
    load = argparse.Namespace(port=args.port, people=1_000_000, rate=args.rate,
                              duration=args.duration, closed_duration=args.duration,
                              warmup=args.warmup, closed_requests=100_000, mix=DEFAULT_MIX)
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--port", str(args.port)],
                              start_new_session=True)
    try:
        wait_for_health(server, args.port)
        runs = [run_loadgen(load, "none", mode, 0, args.connections, server, "sqlite")
                for mode in ("open", "closed")]
    finally:
        stop_server(server)
    result = {"what": "HTTP floor: the benchmark's server options, a trivial ASGI app",
              "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "git_commit": git_commit(), "machine": machine(), "runs": runs}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}\n")
    print("| run | req/s | p50 ms | p99 ms | server CPU ms/req | generator cores |")
    print("|---|---:|---:|---:|---:|---:|")
    for run in runs:
        label = (f"open @ {run['rate_target']:g}/s" if run["mode"] == "open"
                 else f"closed, {run['connections']} conns")
        f = figures(run)
        print(f"| {label} | {f['req_s']:,.0f} | {f['p50_ms']} | {f['p99_ms']} | "
              f"{f['server_cpu_ms']:.3f} | {run['cpu']['generator_cores']} |")

if __name__ == "__main__":
    main()
