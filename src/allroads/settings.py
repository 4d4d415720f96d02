"""Settings: one table drives the environment variables, the CLI flags and the docs."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any


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
    Setting("max_body_bytes", "ALLROADS_MAX_BODY_BYTES", 1_048_576,
            "largest JSON request body accepted, in bytes (larger: 413)"),
    Setting("page_limit_max", "ALLROADS_PAGE_LIMIT_MAX", 500,
            "largest page size a list call may ask for"),
    Setting("pool_size", "ALLROADS_POOL_SIZE", 8, "database connections kept open"),
)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///allroads.db"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    page_limit_max: int = 500
    pool_size: int = 8

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for s in SETTINGS:
            raw = env.get(s.env)
            if raw is not None and raw != "":
                values[s.name] = int(raw) if types[s.name] in ("int", int) else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
