"""Person names: parsed into parts with nameparser, and a comparison key.

``parse_person_name`` keeps the original spelling of each part (for profile fields);
``normalize_person_name`` builds the key used to compare names: "first middle last" without
titles, suffixes or nicknames, case folded, Latin accents stripped, punctuation removed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from nameparser import HumanName

from allroads.domain.errors import InvalidIdentifier

_KIND = "person_name"
_HINT = "send the person's name, e.g. 'Jane Smith' or 'Smith, Jane'"
_MAX_ROUNDS = 10

# Latin letters that do not decompose into a base letter and a combining accent.
_LATIN_FOLD = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ħ": "h",
        "\u0131": "i",  # dotless i
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
    }
)
# ' and its typographic cousins: right/left single quotes, grave and acute accents; double quotes.
_REMOVED = frozenset(".'\u2019\u2018`\u00b4\"\u201c\u201d\u201e\u00ab\u00bb")


@dataclass(frozen=True, slots=True)
class PersonName:
    """The parts of a person's name as written; a missing part is ''."""

    title: str = ""
    first: str = ""
    middle: str = ""
    last: str = ""
    suffix: str = ""
    nickname: str = ""

    @property
    def given(self) -> str:
        """First and middle names together ('Jane A.')."""
        return " ".join(part for part in (self.first, self.middle) if part)


@lru_cache(maxsize=65_536)
def parse_person_name(raw: str) -> PersonName:
    """Split a name into title, first, middle, last, suffix and nickname.

    Handles 'Dr. Jane A. Smith Jr.', 'Smith, Jane' and 'Jane "JJ" Smith'. Raises
    InvalidIdentifier for blank input.
    """
    text = raw.strip()
    if not text:
        raise InvalidIdentifier(_KIND, raw, "empty value", hint=_HINT)
    human = HumanName(text)
    name = PersonName(
        title=str(human.title).strip(),
        first=str(human.first).strip(),
        middle=str(human.middle).strip(),
        last=str(human.last).strip(),
        suffix=str(human.suffix).strip(),
        nickname=str(human.nickname).strip(),
    )
    if name == PersonName():
        raise InvalidIdentifier(_KIND, raw, "no name found", hint=_HINT)
    return name


def split_full_name(raw: str) -> tuple[str, str]:
    """(first, last) for profile fields: middle names go with the first name, titles and
    suffixes are dropped ('Dr. Jane A. Smith Jr.' -> ('Jane A.', 'Smith')).
    """
    name = parse_person_name(raw)
    return name.given, name.last


def _is_latin(char: str) -> bool:
    code = ord(char)
    return code < 0x0250 or 0x1E00 <= code <= 0x1EFF


def fold_text(text: str) -> str:
    """Case fold, strip accents from Latin letters, drop punctuation, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_LATIN_FOLD)
    out: list[str] = []
    base_is_latin = False
    for char in unicodedata.normalize("NFKD", text):
        category = unicodedata.category(char)
        if category == "Mn":
            # Accents on Latin letters go (é -> e); marks in other scripts are part of the letter.
            if not base_is_latin:
                out.append(char)
            continue
        base_is_latin = category[0] == "L" and _is_latin(char)
        if char in _REMOVED:
            continue
        out.append(" " if category[0] in "PSZC" else char)
    words = unicodedata.normalize("NFC", "".join(out)).split()
    # A combining mark on its own (after a space) is debris, not part of a word.
    return " ".join(w for w in words if not all(unicodedata.category(c)[0] == "M" for c in w))


def _key(text: str) -> str:
    human = HumanName(text)
    parts = (str(human.first), str(human.middle), str(human.last))
    key = fold_text(" ".join(parts))
    # A name made only of a title or suffix ('Dr', 'Jr') keeps it rather than becoming empty.
    return key or fold_text(text)


def normalize_person_name(raw: str) -> str:
    """The comparison key of a person's name: 'Dr. José A. Núñez Jr.' -> 'jose a nunez'.

    Idempotent: the key of a key is the key. Raises InvalidIdentifier for blank input or
    input without letters or digits.
    """
    if not raw.strip():
        raise InvalidIdentifier(_KIND, raw, "empty value", hint=_HINT)
    key = _key(raw)
    for _ in range(_MAX_ROUNDS):
        # Re-parsing the key can drop a word that now reads as a title or suffix: repeat.
        again = _key(key)
        if again == key:
            break
        key = again
    if not key:
        raise InvalidIdentifier(_KIND, raw, "no letters or digits", hint=_HINT)
    return key
