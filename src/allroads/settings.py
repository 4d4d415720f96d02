"""Settings: one table drives the environment variables, the CLI flags and the docs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from allroads.domain.errors import InvalidInput


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", "ALLROADS_DATABASE_URL", "sqlite:///allroads.db",
            "SQLAlchemy URL of the store: sqlite:///path.db (default) or "
            "postgresql+psycopg://user:pass@host/db"),
    Setting("host", "ALLROADS_HOST", "127.0.0.1", "address `allroads serve` listens on"),
    Setting("port", "ALLROADS_PORT", 8000, "port `allroads serve` listens on"),
    Setting("workers", "ALLROADS_WORKERS", 1,
            "server processes `allroads serve` runs, sharing its port. PostgreSQL: more than "
            "one uses more cores (2 on 2 cores: x1.35 identify/s); SQLite: keep 1, its "
            "writes go one at a time anyway"),
    Setting("max_body_bytes", "ALLROADS_MAX_BODY_BYTES", 1_048_576,
            "largest JSON request body accepted, in bytes (larger: 413)"),
    Setting("page_limit_max", "ALLROADS_PAGE_LIMIT_MAX", 500,
            "largest page size a list call may ask for"),
    Setting("pool_size", "ALLROADS_POOL_SIZE", 8, "database connections kept open"),
    Setting("import_dir", "ALLROADS_IMPORT_DIR", "allroads-imports",
            "folder where uploaded import files are kept (for validation, commit and replay)"),
    Setting("import_max_bytes", "ALLROADS_IMPORT_MAX_BYTES", 2 * 1024**3,
            "largest import file accepted, in bytes (as uploaded; gzip counts compressed)"),
    Setting("import_max_rows", "ALLROADS_IMPORT_MAX_ROWS", 5_000_000,
            "most data rows one import file may have"),
    Setting("import_batch_rows", "ALLROADS_IMPORT_BATCH_ROWS", 2000,
            "rows validated per batch (commit uses half): one transaction each"),
    Setting("import_workers", "ALLROADS_IMPORT_WORKERS", 2,
            "processes that check the cells of big import files beside the one writing "
            "(0: check them in the importing process)"),
    Setting("writer_process", "ALLROADS_WRITER_PROCESS", 1,
            "SQLite: write identify calls in a process of their own beside the server's, so "
            "the two use two cores (1), or in a thread of the server's process (0)"),
)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///allroads.db"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_body_bytes: int = 1_048_576
    page_limit_max: int = 500
    pool_size: int = 8
    import_dir: str = "allroads-imports"
    import_max_bytes: int = 2 * 1024**3
    import_max_rows: int = 5_000_000
    import_batch_rows: int = 2000
    import_workers: int = 2
    writer_process: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ALLROADS_* variables, then `overrides` (None means not given).
        Every bad value is reported at once, naming its variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for s in SETTINGS:
            raw = env.get(s.env, "").strip()
            if not raw or overrides.get(s.name) is not None:
                continue
            if isinstance(s.default, int):
                try:
                    values[s.name] = int(raw)
                except ValueError:
                    problems.append(f"{s.env}={raw!r} is not an integer")
            else:
                values[s.name] = raw
        if problems:
            raise InvalidInput("; ".join(problems), field="settings",
                               hint="see docs/configuration.md for every setting")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
