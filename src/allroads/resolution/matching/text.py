"""Small text helpers shared by the people and account features: folding, codes, digits."""

from __future__ import annotations

import re
from functools import lru_cache

import jellyfish

from allroads.domain.normalize.person_name import fold_text

_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_DIGITS = re.compile(r"\D")


@lru_cache(maxsize=262_144)
def folded(value: str) -> str | None:
    """Case-folded words without accents or punctuation; None when nothing is left."""
    text = fold_text(value)
    return text or None


@lru_cache(maxsize=262_144)
def sound(value: str) -> str | None:
    """The Metaphone code of folded words (spaces removed): 'thompson' and 'tomson' agree."""
    code = jellyfish.metaphone(value.replace(" ", ""))
    return code or None


def digits(value: str, minimum: int = 1) -> str | None:
    out = _DIGITS.sub("", value)
    return out if len(out) >= minimum else None


def alnum(value: str) -> str | None:
    out = _NOT_ALNUM.sub("", value.casefold())
    return out or None


def text_of(value: object) -> str | None:
    """A cell as stripped text; None for missing values (None, NaN, '')."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    text = str(value).strip()
    return text or None
