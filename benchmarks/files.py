"""Copies of benchmark databases that are on disk before anything is measured, and their
removal (`remove_sqlite`: the database with its WAL and shared-memory files).

A copy of a 3.8 GB SQLite file leaves gigabytes of dirty pages in the page cache. The
kernel writes them back over the following minute, and an fsync of the file (SQLite's, at
every WAL checkpoint) waits until all of them are written: the server measured next stalled
for hundreds of milliseconds at a time, more in one run than in another. Every database
copy a benchmark makes goes through `copy_synced`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def copy_synced(source: Path, target: Path) -> None:
    """Copy `source` to `target` and wait until the copy is on disk."""
    shutil.copy(source, target)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_sqlite(path: Path) -> None:
    """Remove a SQLite database and its WAL and shared-memory files, if they exist."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
