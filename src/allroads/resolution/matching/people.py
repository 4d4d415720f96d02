"""People: the features a person record is compared on, its blocking keys, the default model.

Features come from a flat mapping in the attribute vocabulary (first_name, middle_name,
last_name or name, birthdate, email, phone, address, city, postcode, state, national_id).
Names are folded (case, accents, punctuation), with their Metaphone codes and nickname
groups (Bill, Will and William share one); birthdates are kept as YYYY-MM-DD text so a
transposed day and month can be seen; phones and national ids as their digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from nicknames import NickNamer

from allroads.domain.normalize.person_name import split_full_name
from allroads.resolution.matching.model import (
    BlockingKey,
    Comparison,
    Level,
    MatchModel,
    Parameters,
)
from allroads.resolution.matching.text import alnum, digits, folded, sound, text_of

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})")
_DIGIT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_NICKNAMES = NickNamer()

# Blocking keys: records that share a value of any of these are compared.
BLOCKING_KEYS = (
    BlockingKey("bk_name", ("first_name", "last_name")),
    BlockingKey("bk_dob", ("birthdate", "first_name")),
    BlockingKey("bk_dob_place", ("birthdate", "postcode")),
    BlockingKey("bk_national_id", ("national_id",)),
    BlockingKey("bk_email", ("email_local",)),
    BlockingKey("bk_phone", ("phone",)),
    BlockingKey("bk_address_first", ("address", "first_name")),
    BlockingKey("bk_address_last", ("address", "last_name")),
    BlockingKey("bk_last_birthday", ("last_name", "birthdate")),
    # Surname and postcode: a placeholder postcode shared by a whole data set (pseudopeople's
    # 00000) makes this key cost a batch run millions of pairs; identify alone uses it.
    BlockingKey("bk_last_postcode", ("last_name", "postcode"), batch=False),
)


@lru_cache(maxsize=65_536)
def nickname_group(first: str) -> tuple[str, ...]:
    """The name and the names it is a nickname of, sorted: 'bill' -> (bill, robert, will, ...)."""
    return tuple(sorted({first, *_NICKNAMES.canonicals_of(first)}))


def _birthdate(value: object) -> str | None:
    text = text_of(value)
    if text is None:
        return None
    match = _ISO_DATE.match(text) or _DIGIT_DATE.match(text)
    if match is None:
        return None
    year, month, day = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _email_local(value: object) -> str | None:
    text = text_of(value)
    if text is None or "@" not in text:
        return None
    local = text.rpartition("@")[0].casefold().split("+", 1)[0]
    return alnum(local) if len(local) >= 2 else None


def _last_and_birthday(last_sound: str | None, dob: str | None) -> str | None:
    """Surname sound, birth year, and day and month in either order ('SM0|1980|03-07' for
    1980-03-07 and 1980-07-03)."""
    if not last_sound or not dob:
        return None
    day_month = "-".join(sorted((dob[5:7], dob[8:10])))
    return f"{last_sound}|{dob[:4]}|{day_month}"


def person_features(record: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison features and blocking keys of one person record."""
    first = text_of(record.get("first_name"))
    last = text_of(record.get("last_name"))
    if first is None and last is None and (full := text_of(record.get("name"))):
        first, last = split_full_name(full)
    f = folded(first) if first else None
    surname = folded(last) if last else None
    middle = text_of(record.get("middle_name"))
    middle_f = folded(middle) if middle else None
    f_sound = sound(f) if f else None
    l_sound = sound(surname) if surname else None
    dob = _birthdate(record.get("birthdate"))
    email_local = _email_local(record.get("email"))
    phone_raw = text_of(record.get("phone"))
    phone = digits(phone_raw, 6) if phone_raw else None
    address_raw = text_of(record.get("address"))
    address = folded(address_raw) if address_raw else None
    city_raw = text_of(record.get("city"))
    city = folded(city_raw) if city_raw else None
    postcode_raw = text_of(record.get("postcode"))
    postcode = alnum(postcode_raw) if postcode_raw else None
    nid_raw = text_of(record.get("national_id"))
    national_id = alnum(nid_raw) if nid_raw else None
    initial = f[0] if f else None
    return {
        "first_name": f,
        "last_name": surname,
        "middle_initial": middle_f[0] if middle_f else None,
        "first_sound": f_sound,
        "last_sound": l_sound,
        "first_nicknames": nickname_group(f) if f else None,
        "birthdate": dob,
        "email_local": email_local,
        "phone": phone,
        "address": address,
        "city": city,
        "postcode": postcode,
        "national_id": national_id,
        "bk_name": "|".join(sorted((f_sound, l_sound))) if f_sound and l_sound else None,
        "bk_dob": f"{dob}|{initial}" if dob and initial else None,
        "bk_dob_place": f"{dob}|{postcode}" if dob and postcode else None,
        "bk_national_id": national_id,
        "bk_email": email_local if email_local and len(email_local) >= 4 else None,
        "bk_phone": phone,
        "bk_address_first": f"{address}|{f_sound}" if address and f_sound else None,
        "bk_last_birthday": _last_and_birthday(l_sound, dob),
        "bk_last_postcode": f"{l_sound}|{postcode}" if l_sound and postcode else None,
        "bk_address_last": f"{address}|{l_sound}" if address and l_sound else None,
    }


def _name_levels(column: str, other: str, sound_column: str) -> tuple[Level, ...]:
    levels = [Level("exact", column), Level("jw", column, 0.92)]
    if column == "first_name":
        levels.append(Level("overlap", "first_nicknames"))
    levels += [Level("exact", sound_column, label="sounds the same"),
               Level("swap", column, 0.9, other=other), Level("jw", column, 0.8)]
    return tuple(levels)


COMPARISONS = (
    Comparison("first_name", _name_levels("first_name", "last_name", "first_sound"),
               ("first_name",)),
    Comparison("last_name", _name_levels("last_name", "first_name", "last_sound"),
               ("last_name",)),
    Comparison("middle_initial", (Level("exact", "middle_initial"),), ("middle_initial",)),
    Comparison("birthdate", (Level("exact", "birthdate"), Level("dmy_swap", "birthdate"),
                             Level("lev", "birthdate", 1), Level("lev", "birthdate", 2)),
               ("birthdate",)),
    # Exact only: local parts are mostly made of the name ('jane.smith1987'), so a close one
    # says again what the names said (two namesakes would count their name twice).
    Comparison("email_local", (Level("exact", "email_local"),), ("email_local",)),
    Comparison("phone", (Level("exact", "phone"), Level("lev", "phone", 1)), ("phone",)),
    Comparison("address", (Level("exact", "address"), Level("jw", "address", 0.92),
                           Level("jw", "address", 0.8)), ("address",)),
    Comparison("city", (Level("exact", "city"), Level("jw", "city", 0.9)), ("city",)),
    Comparison("postcode", (Level("exact", "postcode"), Level("lev", "postcode", 1)),
               ("postcode",)),
    Comparison("national_id", (Level("exact", "national_id"), Level("lev", "national_id", 1),
                               Level("lev", "national_id", 2)), ("national_id",)),
)

# Starting values before a tenant's own are estimated (a match run, or review decisions):
# m and u per gamma, index 0 = 'else', last = exact.
DEFAULT_PARAMETERS = Parameters(
    m={
        "first_name": [0.02, 0.01, 0.01, 0.02, 0.02, 0.04, 0.88],
        "last_name": [0.02, 0.01, 0.01, 0.02, 0.03, 0.91],
        "middle_initial": [0.1, 0.9],
        "birthdate": [0.03, 0.03, 0.05, 0.02, 0.87],
        "email_local": [0.2, 0.8],
        "phone": [0.1, 0.05, 0.85],
        "address": [0.1, 0.05, 0.1, 0.75],
        "city": [0.1, 0.05, 0.85],
        "postcode": [0.1, 0.05, 0.85],
        "national_id": [0.05, 0.02, 0.05, 0.88],
    },
    u={
        "first_name": [0.93, 0.03, 0.0005, 0.004, 0.005, 0.005, 0.01],
        "last_name": [0.96, 0.03, 0.0001, 0.003, 0.002, 0.005],
        "middle_initial": [0.93, 0.07],
        "birthdate": [0.985, 0.01, 0.0048, 0.0001, 0.0001],
        "email_local": [0.9999, 0.0001],
        "phone": [0.9999, 0.00005, 0.00005],
        "address": [0.95, 0.04, 0.009, 0.001],
        "city": [0.9, 0.02, 0.08],
        "postcode": [0.9, 0.08, 0.02],
        "national_id": [0.9999, 0.00007, 0.00002, 0.00001],
    },
    prior=1e-5,
)


def person_model() -> MatchModel:
    return MatchModel("person", COMPARISONS, BLOCKING_KEYS, DEFAULT_PARAMETERS)
