"""The demo tenant's admin API key, kept in a file beside the demo database.

A key is shown only when it is created (the store keeps its hash), so the demo writes it to
`<database>.key` (mode 600) and reuses it on the next run instead of minting a new one.
"""

from __future__ import annotations

import os
from pathlib import Path

from allroads.demo.data import TENANT_SLUG
from allroads.domain.types import Role
from allroads.resolution.hub import Hub

KEY_NAME = "demo admin key"


def key_path(database: Path) -> Path:
    return database.with_name(database.name + ".key")


def demo_admin_key(hub: Hub, path: Path, tenant_slug: str = TENANT_SLUG) -> tuple[str, bool]:
    """The admin key of the demo tenant: (key, created). Reused from `path` while it still
    authenticates as an admin of the tenant; otherwise a new one, written to `path`."""
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        principal = hub.authenticate(key) if key else None
        if principal is not None and principal.tenant.slug == tenant_slug \
                and principal.role is Role.ADMIN:
            return key, False
    key, _row = hub.create_api_key(tenant_slug, Role.ADMIN, KEY_NAME)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key + "\n")
    return key, True
