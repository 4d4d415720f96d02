"""Cell-checking worker processes of a validation: they end when the importing process
dies without shutting them down (killed), instead of waiting for work forever."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

# The importing process (a child of this test) starts a worker the way validate.py does
# (multiprocessing "spawn", then _start_worker's watchdog), prints the worker's pid, and is
# killed; the worker must notice within a few seconds.
_PARENT = """
import multiprocessing, os, sys, time
from allroads.ingest import validate

def worker(parent: int, ready) -> None:
    ready.set()
    validate._exit_with_parent(parent, every=0.05)

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=worker, args=(os.getpid(), ready))
    child.start()
    ready.wait(120)  # the worker is watching (starting one takes seconds on a busy machine)
    print(child.pid, flush=True)
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_ends_when_the_importing_process_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 30
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the worker outlived the killed importing process"
    finally:
        if parent.poll() is None:
            parent.kill()
        if "worker" in locals() and _alive(worker):
            os.kill(worker, 9)
