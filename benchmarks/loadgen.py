"""Load generator for POST /api/v1/identify: HTTP/1.1 keep-alive over raw asyncio sockets.

    python benchmarks/loadgen.py --port 8765 --key ar_... --people 1000000 \\
        --mode open --rate 1000 --duration 30 --warmup 5 --run-id 0
    python benchmarks/loadgen.py ... --mode closed --connections 32 --duration 30

Prints one JSON document (see `summary`). Runs in its own process, beside the server.

open    open loop: request i is due at start + i/rate, whatever happened to the others; it
        goes out on an idle connection (a new one when none is idle) and its latency counts
        from when it was DUE, so a slow server cannot slow the generator down and hide its
        own queueing (no coordinated omission). `service_ms` is measured from the actual
        write, `send_lag_ms` is how late the generator wrote (event loop timer granularity).
closed  K connections, each sends its next request as soon as the previous answer is in:
        the maximum throughput at that concurrency.

The mix (deterministic for a given --run-id and --seed): 70% people already stored, sent
again unchanged (drawn from the first 80% of the loaded people); 10% stored people with an
attribute changed (drawn from the last 20%, so the unchanged ones stay unchanged); 20% new
people (indexes above --people, distinct per run). Requests are built before the clock
starts, so building them costs the measured window nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any, cast

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu
from people import body, changed

NEW_BASE = 10_000_000  # new people of run r: NEW_BASE * (r + 1) + n, never loaded
MAX_CONNECTIONS = 512
# uvicorn closes a keep-alive connection idle for 5 s; a request sent on it just then is
# lost. The generator closes its own connections idle for this long instead.
IDLE_LIMIT = 4.0
SLOW = 0.010  # s: a request later than this (the p99 target) counts in slow_per_second
_ACTION = re.compile(rb'"action":\s*"([a-z]+)"')
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def build(people: int, count: int, run_id: int, seed: int, host: str, key: str,
          mix: tuple[int, int, int] = (70, 10, 20)) -> list[tuple[str, bytes]]:
    """`count` requests of the mix (percent matched unchanged, changed, new), as (kind,
    bytes on the wire)."""
    rng = random.Random(f"{seed}:{run_id}")
    hot = max(1, int(people * 0.8))
    head = (f"POST /api/v1/identify HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            "Content-Length: ").encode()
    out: list[tuple[str, bytes]] = []
    n_new = 0
    for n in range(count):
        pick = rng.randrange(100)
        if pick < mix[0]:
            kind, doc = "matched", body(rng.randrange(hot))
        elif pick < mix[0] + mix[1] and people > hot:
            kind, doc = "changed", changed(rng.randrange(hot, people), run_id * 10_000_000 + n)
        else:
            kind, doc = "new", body(NEW_BASE * (run_id + 1) + n_new)
            n_new += 1
        payload = orjson.dumps(doc)
        out.append((kind, head + str(len(payload)).encode() + b"\r\n\r\n" + payload))
    return out


class Conn(asyncio.Protocol):
    """One keep-alive connection, one request in flight at a time."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.inflight: tuple[str, float, float] | None = None  # kind, due, sent
        self.waiter: asyncio.Future[None] | None = None
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def send(self, kind: str, data: bytes, due: float) -> None:
        assert self.transport is not None and self.inflight is None
        self.inflight = (kind, due, time.perf_counter())
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        match = _LENGTH.search(self.buf, 0, end + 2)
        length = int(match.group(1)) if match else 0
        if len(self.buf) < end + 4 + length:
            return
        status = int(self.buf[9:12])
        payload = self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        found = _ACTION.search(payload)
        action = found.group(1).decode() if found else f"http_{status}"
        assert self.inflight is not None
        kind, due, sent = self.inflight
        self.inflight = None
        self.gen.done(self, kind, due, sent, status, action)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.gen.lost(self)


class Generator:
    def __init__(self, host: str, port: int, server_pid: int | None, pg_db: str | None
                 ) -> None:
        self.host, self.port = host, port
        self.server_pid, self.pg_db = server_pid, pg_db
        self.cpu_before: dict[str, Any] = {}
        self.cpu: dict[str, Any] = {}
        self.window_start = 0.0
        self.idle: list[Conn] = []
        self.conns: set[Conn] = set()
        self.backlog: deque[tuple[str, bytes, float]] = deque()
        self.opening = 0
        self.recording = False
        self.latency: list[float] = []
        self.service: list[float] = []
        self.lag: list[float] = []
        self.by_kind: dict[str, list[float]] = {}
        self.slow: list[float] = []  # when (s into the window) each request over 10 ms was due
        self.actions: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[str] = Counter()
        self.completed = 0
        self.outstanding = 0

    def start_window(self) -> None:
        self.cpu_before = cpu.sample(self.server_pid, self.pg_db)
        self.window_start = time.perf_counter()
        self.recording = True

    def end_window(self) -> None:
        after = cpu.sample(self.server_pid, self.pg_db)
        self.cpu = cpu.split(self.cpu_before, after, time.perf_counter() - self.window_start)

    async def connect(self) -> Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: Conn(self), self.host, self.port)
        self.conns.add(conn)
        return conn

    # open loop --------------------------------------------------------------------------
    def submit(self, kind: str, data: bytes, due: float) -> None:
        self.outstanding += 1
        while self.idle:
            conn = self.idle.pop()
            if time.perf_counter() - conn.idle_since < IDLE_LIMIT:
                conn.send(kind, data, due)
                return
            self._retire(conn)
        self.backlog.append((kind, data, due))
        if len(self.conns) + self.opening < MAX_CONNECTIONS:
            self.opening += 1
            asyncio.get_running_loop().create_task(self._open_one())

    async def _open_one(self) -> None:
        try:
            conn = await self.connect()
        except OSError as exc:
            self.errors[f"connect: {exc.__class__.__name__}"] += 1
            return
        finally:
            self.opening -= 1
        self._next(conn)

    def _next(self, conn: Conn) -> None:
        if self.backlog:
            conn.send(*self.backlog.popleft())
        else:
            conn.idle_since = time.perf_counter()
            self.idle.append(conn)

    def _retire(self, conn: Conn) -> None:
        """Close a connection idle for IDLE_LIMIT: the server may be closing it already."""
        self.conns.discard(conn)
        if conn.transport is not None:
            conn.transport.close()

    # both -------------------------------------------------------------------------------
    def done(self, conn: Conn, kind: str, due: float, sent: float, status: int,
             action: str) -> None:
        now = time.perf_counter()
        self.outstanding -= 1
        if self.recording:
            self.completed += 1
            self.latency.append(now - due)
            self.service.append(now - sent)
            self.lag.append(sent - due)
            self.by_kind.setdefault(kind, []).append(now - due)
            if now - due > SLOW:
                self.slow.append(due - self.window_start)
            self.actions[(kind, action)] += 1
            if status >= 400:
                self.errors[f"http {status}"] += 1
        if conn.waiter is not None:
            waiter, conn.waiter = conn.waiter, None
            waiter.set_result(None)
        else:
            self._next(conn)

    def lost(self, conn: Conn) -> None:
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.inflight is not None:
            self.outstanding -= 1
            if self.recording:
                self.errors["connection lost"] += 1
        if conn.waiter is not None and not conn.waiter.done():
            conn.waiter.set_exception(ConnectionError("connection lost"))


async def open_loop(gen: Generator, reqs: list[tuple[str, bytes]], rate: float,
                    warmup: float, duration: float) -> float:
    loop_start = time.perf_counter() + 0.05
    warm_n = int(warmup * rate)
    total = warm_n + int(duration * rate)
    i = 0
    measured_from = loop_start + warm_n / rate
    while i < total:
        now = time.perf_counter()
        due = loop_start + i / rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < total and loop_start + i / rate <= now:
            if i == warm_n:
                gen.start_window()
            kind, data = reqs[i % len(reqs)]
            gen.submit(kind, data, loop_start + i / rate)
            i += 1
    gen.end_window()
    deadline = time.perf_counter() + 30
    while gen.outstanding > 0 and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)
    if gen.outstanding > 0:
        gen.errors["unanswered after 30 s"] += gen.outstanding
    return time.perf_counter() - measured_from


async def closed_loop(gen: Generator, reqs: list[tuple[str, bytes]], connections: int,
                      warmup: float, duration: float) -> float:
    conns = [await gen.connect() for _ in range(connections)]
    cursor = iter(range(10**12))
    stop_at = time.perf_counter() + warmup + duration
    started = time.perf_counter() + warmup

    async def worker(conn: Conn) -> None:
        loop = asyncio.get_running_loop()
        while time.perf_counter() < stop_at:
            if not gen.recording and time.perf_counter() >= started:
                gen.start_window()
            kind, data = reqs[next(cursor) % len(reqs)]
            conn.waiter = loop.create_future()
            gen.outstanding += 1
            conn.send(kind, data, time.perf_counter())
            try:
                await conn.waiter
            except ConnectionError:
                return

    await asyncio.gather(*(worker(c) for c in conns))
    gen.end_window()
    return time.perf_counter() - gen.window_start


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    s = sorted(values)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 3)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "p999": at(0.999),
            "max": round(s[-1] * 1000, 3), "mean": round(sum(s) / len(s) * 1000, 3)}


def _per_second(times: list[float]) -> dict[str, int]:
    """How many requests over SLOW were due in each second of the window (where the tail
    comes in bursts, and where it is spread)."""
    return {str(sec): n for sec, n in sorted(Counter(int(t // 1) for t in times).items())}


def summary(args: argparse.Namespace, gen: Generator, elapsed: float, built: float
            ) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    for (kind, action), n in sorted(gen.actions.items()):
        by_kind.setdefault(kind, {})[action] = n
    per_action = Counter()
    for (_, action), n in gen.actions.items():
        per_action[action] += n
    return {
        "mode": args.mode, "rate_target": args.rate if args.mode == "open" else None,
        "connections": args.connections if args.mode == "closed" else len(gen.conns),
        "duration_s": round(elapsed, 3), "warmup_s": args.warmup,
        "completed": gen.completed, "achieved_rps": round(gen.completed / elapsed, 1),
        "errors": sum(gen.errors.values()), "error_kinds": dict(gen.errors),
        "latency_ms": _pct(gen.latency), "service_ms": _pct(gen.service),
        "send_lag_ms": _pct(gen.lag) if args.mode == "open" else None,
        "latency_by_kind_ms": {kind: _pct(v) for kind, v in sorted(gen.by_kind.items())},
        "slow_per_second": _per_second(gen.slow),
        "actions": dict(per_action), "actions_by_kind": by_kind,
        "cpu": gen.cpu, "build_s": round(built, 2),
    }


def parse_mix(text: str) -> tuple[int, int, int]:
    """"70,10,20" -> (70, 10, 20): percent matched unchanged, changed, new (sum 100)."""
    parts = tuple(int(p) for p in text.split(","))
    if len(parts) != 3 or sum(parts) != 100 or min(parts) < 0:
        raise argparse.ArgumentTypeError(f"--mix takes three percentages that add up to 100 "
                                         f"(matched,changed,new), e.g. 70,10,20; got {text!r}")
    return parts[0], parts[1], parts[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--key", required=True)
    ap.add_argument("--people", type=int, required=True)
    ap.add_argument("--mode", choices=("open", "closed"), default="open")
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--requests", type=int, default=0,
                    help="requests to build (default: enough for the run; closed loop reuses "
                    "them round robin if it outruns them)")
    ap.add_argument("--mix", type=parse_mix, default=(70, 10, 20),
                    help="percent of matched unchanged, changed and new people (70,10,20)")
    ap.add_argument("--run-id", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--server-pid", type=int, help="count this process and its children's "
                    "CPU as the server's")
    ap.add_argument("--pg-db", help="count PostgreSQL backends of this database")
    args = ap.parse_args()
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.install()
    except ImportError:
        pass
    count = args.requests or (int(args.rate * (args.warmup + args.duration)) + 10
                              if args.mode == "open" else 60_000)
    t0 = time.perf_counter()
    reqs = build(args.people, count, args.run_id, args.seed,
                 f"{args.host}:{args.port}", args.key, args.mix)
    built = time.perf_counter() - t0
    gen = Generator(args.host, args.port, args.server_pid, args.pg_db)
    if args.mode == "open":
        elapsed = asyncio.run(open_loop(gen, reqs, args.rate, args.warmup, args.duration))
    else:
        elapsed = asyncio.run(closed_loop(gen, reqs, args.connections, args.warmup,
                                          args.duration))
    print(orjson.dumps(summary(args, gen, elapsed, built)).decode())


if __name__ == "__main__":
    main()
