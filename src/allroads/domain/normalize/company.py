"""Company names: a comparison key, not a display name.

``Acme, Inc.``, ``ACME Inc`` and ``acme`` all become ``acme``: Unicode NFKC, case folded,
punctuation folded, legal forms (Inc, Ltd, GmbH, ...) removed with cleanco, whitespace collapsed.
"""

from __future__ import annotations

import unicodedata

from cleanco import basename

from allroads.domain.errors import InvalidIdentifier

_KIND = "company_name"
_HINT = "send the company's name, e.g. 'Acme Inc.'"

# Characters removed outright: they join what surrounds them ("O'Brien" -> "obrien",
# "A.B.C." -> "abc").
# ' and its typographic cousins: right/left single quotes, grave and acute accents; double quotes.
_REMOVED = frozenset(".'\u2019\u2018`\u00b4\"\u201c\u201d\u201e\u00ab\u00bb")
_MAX_ROUNDS = 10


def _fold_char(char: str) -> str:
    if char == "&":
        return " and "
    if char in _REMOVED:
        return ""
    category = unicodedata.category(char)
    # Other punctuation, symbols, separators and control characters separate words.
    if category[0] in "PSZC":
        return " "
    return char


def _fold(text: str) -> list[str]:
    """NFKC, case fold and punctuation fold; the words of the result."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    folded = "".join(_fold_char(char) for char in text)
    # A combining mark on its own (after a space) is debris, not part of a word.
    return [w for w in folded.split() if not all(unicodedata.category(c)[0] == "M" for c in w)]


def _strip_legal_forms(words: list[str]) -> list[str]:
    """Remove legal-form suffixes until none is left, never down to nothing."""
    for _ in range(_MAX_ROUNDS):
        stripped = str(basename(" ".join(words))).split()
        if not stripped or stripped == words:
            return words
        words = stripped
    return words


def normalize_company_name(raw: str) -> str:
    """Return the comparison key of a company name, or raise InvalidIdentifier.

    A name that is only a legal form ('Inc.') keeps it ('inc') rather than becoming empty.
    The result is idempotent: normalizing it again returns it unchanged.
    """
    if not raw.strip():
        raise InvalidIdentifier(_KIND, raw, "empty value", hint=_HINT)
    words = _fold(raw)
    for _ in range(_MAX_ROUNDS):
        # cleanco can leave punctuation or expose another suffix: repeat to a fixpoint.
        again = _fold(" ".join(_strip_legal_forms(words)))
        if again == words:
            break
        words = again
    if not words:
        raise InvalidIdentifier(_KIND, raw, "no letters or digits", hint=_HINT)
    return " ".join(words)
