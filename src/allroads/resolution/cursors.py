"""Cursor pagination: the opaque cursor a page hands back, and reading it again."""

from __future__ import annotations

import re

from allroads.domain.errors import InvalidInput

_CURSOR = re.compile(r"c[0-9a-f]{1,16}")


def encode_cursor(last_id: int) -> str:
    return f"c{last_id:x}"


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not _CURSOR.fullmatch(cursor):
        raise InvalidInput(f"invalid cursor {cursor!r}", field="cursor",
                           hint="pass the next_cursor value of the previous page unchanged")
    return int(cursor[1:], 16)
