"""Public IDs: a prefix and 16 random base32 characters (per_…, acc_…, mrg_…, rev_…)."""

from __future__ import annotations

import base64
import secrets


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{base64.b32encode(secrets.token_bytes(10)).decode().lower()}"
