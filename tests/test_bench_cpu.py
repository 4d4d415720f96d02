"""The benchmarks' CPU accounting (benchmarks/cpu.py): the server's cores split into its own
process and its children (the identify writer process on SQLite), measured on real
processes: a parent and a child that each burn CPU for a known while."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import cpu

# A second after it starts, the parent burns 1.0 s of CPU and its child 0.5 s; then both idle.
_BURN = """
import subprocess, sys, time
start = time.time()
child = subprocess.Popen([sys.executable, "-c", "import time\\n"
    f"time.sleep(max(0, {start} + 1 - time.time()))\\n"
    "end = time.process_time() + 0.5\\n"
    "while time.process_time() < end: pass\\n"
    "time.sleep(30)"])
time.sleep(max(0, start + 1 - time.time()))
end = time.process_time() + 1.0
while time.process_time() < end:
    pass
time.sleep(30)
"""


def test_the_server_cores_are_split_into_its_own_process_and_its_children() -> None:
    server = subprocess.Popen([sys.executable, "-c", _BURN], start_new_session=True)
    try:
        time.sleep(0.6)  # both started, neither burning yet
        before = cpu.sample(server.pid, None)
        t0 = time.perf_counter()
        time.sleep(4.0)
        after = cpu.sample(server.pid, None)
        got = cpu.split(before, after, time.perf_counter() - t0)
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the parent and its child
        server.wait()
    assert abs(got["server_main_cores"] + got["server_children_cores"]
               - got["server_cores"]) <= 0.011, got
    # 1.0 s of the parent's CPU and 0.5 s of the child's in a window of about 4 s
    assert 0.2 <= got["server_main_cores"] <= 0.32, got
    assert 0.1 <= got["server_children_cores"] <= 0.2, got
