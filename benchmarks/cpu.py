"""Who used the CPU during a measured window: the server (and its workers), the load
generator, the PostgreSQL backends serving the benchmark database, and everything else
on the machine (read from /proc, Linux only)."""

from __future__ import annotations

import os
import resource
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


def sample(server_pid: int | None, pg_db: str | None) -> dict[str, Any]:
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    server: dict[int, float] = {}
    stack = [server_pid] if server_pid else []
    while stack:
        pid = stack.pop()
        if pid in procs:
            server[pid] = procs[pid][1] / TICKS
        stack.extend(children.get(pid, []))
    pg = {pid: t / TICKS for pid, (_, t, cmd) in procs.items()
          if pg_db and cmd.startswith("postgres") and f" {pg_db} " in cmd}
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"server": server, "server_pid": server_pid, "postgres": pg,
            "busy": (sum(fields) - fields[3] - fields[4]) / TICKS,
            "generator": usage.ru_utime + usage.ru_stime}


def split(before: dict[str, Any], after: dict[str, Any], wall: float) -> dict[str, Any]:
    """Cores used on average over the window, per part. Per process: what it used since the
    first sample (or since it started); processes that ended meanwhile are lost to "other"."""
    def delta(part: str) -> float:
        return sum(t - before[part].get(pid, 0.0) for pid, t in after[part].items())

    used = {"server": delta("server"), "postgres": delta("postgres"),
            "busy": after["busy"] - before["busy"],
            "generator": after["generator"] - before["generator"]}
    other = max(0.0, used["busy"] - used["server"] - used["postgres"] - used["generator"])
    root = after.get("server_pid")
    main = after["server"].get(root, 0.0) - before["server"].get(root, 0.0)
    cores = os.cpu_count() or 1
    return {"cores": cores, "server_cores": round(used["server"] / wall, 2),
            # the server's own process, and its children (SQLite: the identify writer
            # process; with several uvicorn workers: the workers)
            "server_main_cores": round(main / wall, 2),
            "server_children_cores": round((used["server"] - main) / wall, 2),
            "generator_cores": round(used["generator"] / wall, 2),
            "postgres_cores": round(used["postgres"] / wall, 2),
            "other_cores": round(other / wall, 2),
            "idle_cores": round(max(0.0, cores - used["busy"] / wall), 2)}


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, utime + stime ticks, command line)."""
    out: dict[int, tuple[int, int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        out[int(entry)] = (int(rest[1]), int(rest[11]) + int(rest[12]), cmd)
    return out
