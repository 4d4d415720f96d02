"""Accounts: the features a company record is compared on, its blocking keys, the default model.

A company name gives three keys, each looser than the last:
- ``name``: legal forms removed (cleanco), case and punctuation folded, abbreviations
  spelled out ('Acme Intl. Corp' -> 'acme international');
- ``name_sorted``: the same words sorted, so word order does not matter;
- ``name_core``: without generic words ('services', 'group', 'the', ...), sorted:
  'ACME Services', 'ACME' and 'Acme Inc.' all give 'acme'.
The domain comes from the website, the domain field or a company email (never free mail).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from allroads.domain.errors import InvalidIdentifier
from allroads.domain.normalize.company import normalize_company_name
from allroads.domain.normalize.website import is_free_mail_domain, normalize_domain
from allroads.resolution.matching.model import (
    BlockingKey,
    Comparison,
    Level,
    MatchModel,
    Parameters,
    Thresholds,
)
from allroads.resolution.matching.text import alnum, digits, folded, sound, text_of

ABBREVIATIONS = {
    "intl": "international", "corp": "corporation",
    "co": "company", "cos": "companies", "mfg": "manufacturing", "svc": "services",
    "svcs": "services", "srvcs": "services", "tech": "technology", "techs": "technologies",
    "natl": "national", "assoc": "associates", "assn": "association", "bros": "brothers",
    "grp": "group", "sys": "systems", "mgmt": "management", "dept": "department",
    "univ": "university", "inst": "institute", "labs": "laboratories",
    "lab": "laboratory", "ent": "enterprises", "hldgs": "holdings", "ind": "industries",
    "inds": "industries", "amer": "american", "bk": "bank", "fin": "financial",
    "st": "saint", "mt": "mount", "ctr": "center", "centre": "center",
}
# Words that say what kind of company it is rather than which: dropped from the core name.
GENERIC_WORDS = frozenset({
    "the", "and", "services", "service", "group", "holdings", "holding", "company",
    "companies", "corporation", "incorporated", "limited", "solutions", "enterprises",
    "international", "global", "worldwide", "partners", "associates", "systems", "consulting",
    "technologies", "technology", "industries", "co", "of",
})

# Generic and legal words long enough that one typo (two in long ones) still names them.
_TYPO_TARGETS = sorted({w for w in GENERIC_WORDS if len(w) >= 6}
                       | {"incorporated", "corporation", "limited", "company"})

BLOCKING_KEYS = (
    BlockingKey("bk_domain", ("domain",)),
    BlockingKey("bk_phone", ("phone",)),
    BlockingKey("bk_core", ("name",)),
    BlockingKey("bk_first_word", ("name",)),
    BlockingKey("bk_sound", ("name",)),
)


@lru_cache(maxsize=131_072)
def company_keys(raw: str) -> tuple[str, str, str] | None:
    """(name, name_sorted, name_core) of a company name, or None when it has no letters."""
    try:
        cleaned = normalize_company_name(raw)
    except InvalidIdentifier:
        return None
    words = [_spelled_out(w) for w in cleaned.split()]
    core = sorted(w for w in words if w not in GENERIC_WORDS) or sorted(words)
    return " ".join(words), " ".join(sorted(words)), " ".join(core)


@lru_cache(maxsize=65_536)
def _spelled_out(word: str) -> str:
    """An abbreviation spelled out; a generic or legal word with a typo ('conshlting',
    'corpration') corrected, so it is dropped from the core name like the word it means."""
    if word in ABBREVIATIONS:
        return ABBREVIATIONS[word]
    if word in GENERIC_WORDS or len(word) < 6:
        return word
    best = process.extractOne(word, _TYPO_TARGETS, scorer=Levenshtein.distance,
                              score_cutoff=1 if len(word) < 9 else 2)
    return str(best[0]) if best is not None else word


def _domain(record: Mapping[str, Any]) -> str | None:
    for key in ("domain", "website", "email"):
        text = text_of(record.get(key))
        if text is None:
            continue
        try:
            domain = normalize_domain(text)
        except InvalidIdentifier:
            continue
        if not is_free_mail_domain(domain):
            return domain
    return None


def account_features(record: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison features and blocking keys of one account record."""
    raw_name = text_of(record.get("name")) or text_of(record.get("display_name"))
    keys = company_keys(raw_name) if raw_name else None
    name, name_sorted, core = keys if keys else (None, None, None)
    domain = _domain(record)
    phone_raw = text_of(record.get("phone"))
    phone = digits(phone_raw, 6) if phone_raw else None
    address_raw = text_of(record.get("address"))
    city_raw = text_of(record.get("city"))
    postcode_raw = text_of(record.get("postcode"))
    core_sound = sound(core) if core else None
    return {
        "name": name,
        "name_sorted": name_sorted,
        "name_core": core,
        "name_sound": core_sound,
        "domain": domain,
        "phone": phone,
        "address": folded(address_raw) if address_raw else None,
        "city": folded(city_raw) if city_raw else None,
        "postcode": alnum(postcode_raw) if postcode_raw else None,
        "bk_domain": domain,
        "bk_phone": phone,
        "bk_core": core,
        "bk_first_word": name.split()[0] if name else None,
        "bk_sound": core_sound,
    }


COMPARISONS = (
    Comparison("name", (
        Level("exact", "name"),
        Level("exact", "name_sorted", label="same words, other order"),
        Level("exact", "name_core", label="same name without generic words"),
        Level("jw", "name_core", 0.95, label="core name jaro-winkler >= 0.95"),
        Level("exact", "name_sound", label="core name sounds the same"),
        Level("jw", "name", 0.85),
    ), ("name",)),
    Comparison("domain", (Level("exact", "domain"),), ("domain",)),
    Comparison("phone", (Level("exact", "phone"), Level("lev", "phone", 1)), ("phone",)),
    Comparison("address", (Level("exact", "address"), Level("jw", "address", 0.9)),
               ("address",)),
    Comparison("city", (Level("exact", "city"), Level("jw", "city", 0.9)), ("city",)),
    Comparison("postcode", (Level("exact", "postcode"),), ("postcode",)),
)

DEFAULT_PARAMETERS = Parameters(
    m={
        "name": [0.03, 0.04, 0.05, 0.15, 0.08, 0.05, 0.6],
        "domain": [0.05, 0.95],
        "phone": [0.1, 0.05, 0.85],
        "address": [0.2, 0.1, 0.7],
        "city": [0.1, 0.05, 0.85],
        "postcode": [0.15, 0.85],
    },
    u={
        "name": [0.995, 0.003, 0.0005, 0.0008, 0.0005, 0.0001, 0.0001],
        "domain": [0.9999, 0.0001],
        "phone": [0.9999, 0.00005, 0.00005],
        "address": [0.999, 0.0009, 0.0001],
        "city": [0.95, 0.01, 0.04],
        "postcode": [0.99, 0.01],
    },
    prior=1e-4,
)


def account_model() -> MatchModel:
    """Accounts link at probability 0.5 (people at 0.99): two records whose distinctive
    company names differ by a typo, with nothing else to compare, score about 0.55, and on
    the companies benchmark (sibling companies that share words included) linking them
    keeps precision above 0.99 while recall goes from 0.91 (at 0.9) to 0.96."""
    return MatchModel("account", COMPARISONS, BLOCKING_KEYS, DEFAULT_PARAMETERS,
                      Thresholds(link=0.5, review=0.2))
