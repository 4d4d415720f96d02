"""Helpers for the import tests: generated people files with known counts, what the store
holds for a tenant, and the CLI as a child process."""

from __future__ import annotations

import csv
import signal
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from allroads.store import Store

HEADER = ["First Name", "Last Name", "Mobile", "Email", "External Id", "Notes"]
INVALID_EVERY = 50  # rows 3, 53, 103, ... (0-based i % 50 == 3) have an invalid email
DUPLICATE = (7, 8)  # these two rows share a mobile: both are rejected


@dataclass(frozen=True)
class PeopleFile:
    path: Path
    rows: int
    rejected: int

    @property
    def valid(self) -> int:
        return self.rows - self.rejected


def word(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> Aa: names made of letters only (digits are rejected)."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = string.ascii_lowercase[r] + out
    return out.capitalize()


def mobile(i: int) -> str:
    return f"+1 212 {200 + i // 10000:03d} {i % 10000:04d}"


def write_people(path: Path, rows: int, *, start: int = 0, last_name: str = "Lee",
                 header: list[str] | None = None) -> PeopleFile:
    """A people CSV: valid US mobiles, emails and external ids, one invalid email every 50
    rows and one duplicated mobile (when those rows are in range)."""
    rejected = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header or HEADER)
        for i in range(start, start + rows):
            bad_email = i % INVALID_EVERY == 3
            phone = mobile(DUPLICATE[0]) if i == DUPLICATE[1] else mobile(i)
            rejected += bad_email or i in DUPLICATE
            writer.writerow([word(i), last_name, phone,
                             "not-an-email" if bad_email else f"p{i}@acme-mail.com",
                             f"X{i}", "note"])
    return PeopleFile(path, rows, rejected)


def store_counts(store: Store, tenant_id: int) -> dict[str, int]:
    """How many active people, records, record versions, identifiers and changelog rows
    the tenant has."""
    queries = {
        "people": "SELECT count(*) FROM entities WHERE tenant_id = :t AND "
                  "entity_type = 'person' AND status = 'active'",
        "records": "SELECT count(*) FROM records WHERE tenant_id = :t",
        "versions": "SELECT count(*) FROM record_versions v JOIN records r ON "
                    "r.id = v.record_id WHERE r.tenant_id = :t",
        "identifiers": "SELECT count(*) FROM identifiers WHERE tenant_id = :t",
        "changelog": "SELECT count(*) FROM changelog WHERE tenant_id = :t",
    }
    with store.engine.connect() as conn:
        return {name: int(conn.execute(sa.text(sql), {"t": tenant_id}).scalar_one())
                for name, sql in queries.items()}


def kill_mid_commit(args: list[str], env: dict[str, str], cwd: Path, store: Store,
                    tenant_id: int, valid: int, *, timeout: float = 240) -> int:
    """Run `allroads ARGS` as a real process and SIGKILL it once its import has committed
    some rows but less than half of `valid`; returns the rows committed at the kill."""
    proc = subprocess.Popen([sys.executable, "-m", "allroads.cli.main", *args], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    killed_at = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            with store.read() as tx:
                jobs = tx.list_imports(tenant_id, before_id=None, limit=1)
            if jobs and jobs[0].status == "committing" and \
                    0 < jobs[0].committed_rows < valid // 2:
                proc.send_signal(signal.SIGKILL)
                killed_at = jobs[0].committed_rows
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None and killed_at is None:
            proc.kill()
        proc.wait(timeout=30)
    assert killed_at is not None, "the import finished or stalled before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    return killed_at
