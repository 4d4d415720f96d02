"""Phone numbers: parsed with libphonenumber and stored in E.164 (``+14155552671``).

Numbers written without a country code are read in the tenant's default region (an ISO 3166-1
alpha-2 code such as ``US``, ``GB`` or ``IN``). Only numbers that libphonenumber considers
*valid* (not merely possible) are accepted. Extensions are dropped: E.164 has no room for them.
"""

from __future__ import annotations

import re
import threading
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberType,
    ValidationResult,
)
from phonenumbers.phonenumberutil import _number_type_helper as _number_type

from allroads.domain.errors import InvalidIdentifier

_KIND = "phone"
_HINT_E164 = "send it in E.164, e.g. +14155552671"
_HINT_NO_REGION = "send it in E.164 (+14155552671) or set the tenant's default region"
_HINT_REGION = "use an ISO 3166-1 alpha-2 region code such as US, GB or IN"
_HINT_DIGITS = (
    "check the digits; a number from another country needs its country code "
    "(+44 20 7946 0958), and E.164 is always safe (+14155552671)"
)

# Strict E.164 as we store it: a plus sign and 8 to 15 digits, nothing else.
_STRICT_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
# "00" is the international prefix in most of the world (ITU-T E.164 recommendation); when the
# default region uses another one (the US uses 011) or there is no default region,
# libphonenumber reads "0044 ..." as a national number. We retry such input as "+44 ...".
# The international prefix 00, bare (0044 20..., 00 44 ...) or alone in brackets ((00) 44 ...);
# not the first digits of a bracketed area code ((006) 825-8284 is a bad US number).
_LEADING_00 = re.compile(r"^(\s*(?:tel:)?\s*)(?:\(\s*00\s*\)|00)[\s.\-]*(?=[1-9])",
                         re.IGNORECASE)

_PARSE_CACHE_SIZE = 16_384
_KNOWN_E164_SIZE = 65_536

_PARSE_ERRORS = {
    NumberParseException.NOT_A_NUMBER: "does not look like a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short to be a phone number",
    NumberParseException.TOO_LONG: "too long to be a phone number",
}

_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country calling code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.INVALID_LENGTH: "wrong length",
    ValidationResult.TOO_LONG: "too long",
}

# E.164 strings that a full parse has already produced or accepted. A bounded, insertion-ordered
# set (dict keys); reads are lock-free, writes take the lock.
_known_e164: dict[str, None] = {}
_known_lock = threading.Lock()


def _remember(e164: str) -> None:
    with _known_lock:
        if e164 in _known_e164:
            return
        if len(_known_e164) >= _KNOWN_E164_SIZE:
            _known_e164.pop(next(iter(_known_e164)))
        _known_e164[e164] = None


def _region_of(number: PhoneNumber) -> str:
    return str(phonenumbers.region_code_for_country_code(number.country_code or 0))


def _check(number: PhoneNumber) -> str | None:
    """None when the number is valid, else the reason it is not."""
    if phonenumbers.is_valid_number(number):
        return None
    region = _region_of(number)
    if region == phonenumbers.UNKNOWN_REGION:
        return f"unknown country calling code +{number.country_code}"
    possible = phonenumbers.is_possible_number_with_reason(number)
    detail = _POSSIBLE_REASONS.get(possible)
    if detail is not None:
        return f"{detail} for region {region}"
    return f"not a valid number for region {region}"


def _attempt(text: str, region: str | None) -> tuple[str | None, str, str]:
    """Parse one candidate spelling: (E.164 or None, reason, hint)."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            if region is None and "+" not in text and "\uff0b" not in text:
                return None, "no country code and no default region", _HINT_NO_REGION
            return None, "unknown country calling code", _HINT_E164
        return None, _PARSE_ERRORS.get(exc.error_type, "cannot be parsed"), _HINT_DIGITS
    reason = _check(number)
    if reason is not None:
        return None, reason, _HINT_DIGITS
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), "", ""


@lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse(raw: str, region: str | None) -> tuple[str | None, str, str]:
    """Cached full parse. Failures are cached too, as (None, reason, hint)."""
    if len(raw) > 250:
        return None, "too long to be a phone number", _HINT_E164
    result = _quick_attempt(raw, region)
    if result is None or result[0] is None:
        match = _LEADING_00.match(raw)
        if match is not None:
            # Whether or not the retry succeeds, its reason is the informative one: the caller
            # evidently meant an international number.
            retry = f"{match.group(1)}+{raw[match.end() :]}"
            result = _quick_attempt(retry, None) or _attempt(retry, None)
        elif result is None:
            result = _attempt(raw, region)
    if result[0] is not None:
        _remember(result[0])
    return result


def _quick_attempt(text: str, region: str | None) -> tuple[str | None, str, str] | None:
    """What `_attempt` gives for a plainly written number, mostly without its parse: the
    valid number's E.164 form; None when the number is invalid (only `_attempt` words the
    reason) or not plain (`_attempt` has it all)."""
    plain = _plain_number(text, region)
    if plain is None:
        return _attempt(text, region)
    number, e164 = plain
    return (e164, "", "") if _is_valid(number) else None


def _is_valid(number: PhoneNumber) -> bool:
    """`phonenumbers.is_valid_number`, working the number's type out once instead of twice
    for a country code shared by several regions (+1): is_valid_number finds the region
    whose number types match (or whose leading digits do), then checks the types for that
    region again; a match found by type is valid already."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(number.country_code or 0)
    if regions is None or len(regions) == 1:
        return bool(phonenumbers.is_valid_number(number))
    national = phonenumbers.national_significant_number(number)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re.match(metadata.leading_digits, national):
                return bool(phonenumbers.is_valid_number_for_region(number, region))
        elif _number_type(national, metadata) != PhoneNumberType.UNKNOWN:
            return True
    return False


# A number written with digits, spaces, dashes, dots and brackets only, "+" before its first
# digit if at all: libphonenumber reads it as its digits (the punctuation is dropped; nothing
# can be an extension, a letter or a second number), so what parse() builds from it is
# decided by (plus sign, digits) and the region.
_PLAIN_NUMBER = re.compile(r"[ (]*\+?[0-9 ().\-]+")
_NON_DIGITS = re.compile(r"[^0-9]+")


def _plain_number(raw: str, region: str | None) -> tuple[PhoneNumber, str] | None:
    """The number object parse() builds from a plainly written number, and its E.164 form,
    without parsing; None when the text is not plain or only parse() can tell. With "+": a
    country code and a national number no national prefix could be stripped from. Without:
    the region's country code and the digits, when they start with neither the region's
    international prefix, nor its country code, nor its national prefix."""
    if not _PLAIN_NUMBER.fullmatch(raw):
        return None
    digits = _NON_DIGITS.sub("", raw)
    if "+" in raw:
        if not 8 <= len(digits) <= 15 or digits[0] == "0":
            return None
        split = _split_e164("+" + digits)
        if split is None:
            return None
        code, national = split
    else:
        if region is None or not 2 <= len(digits) <= _MAX_NATIONAL_DIGITS:
            return None
        home = _home(region)
        if home is None:
            return None
        code, international_prefix, national_prefix = home
        if digits.startswith(code) or (international_prefix is not None and
                                       international_prefix.match(digits)) or (
                national_prefix is not None and national_prefix.match(digits)):
            return None
        national = digits
    number = PhoneNumber(country_code=int(code), national_number=int(national))
    if len(national) > 1 and national[0] == "0":  # leading zeros kept as parse() keeps them
        number.italian_leading_zero = True
        zeros = 1
        while zeros < len(national) - 1 and national[zeros] == "0":
            zeros += 1
        if zeros != 1:
            number.number_of_leading_zeros = zeros
    return number, f"+{code}{national}"


_MAX_NATIONAL_DIGITS = 17  # libphonenumber's longest national significant number


@cache
def _home(region: str) -> tuple[str, re.Pattern[str] | None, re.Pattern[str] | None] | None:
    """(country code, international prefix, national prefix for parsing) of a region, the
    patterns compiled; None when libphonenumber has no metadata for it."""
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or not metadata.country_code:
        return None
    idd, national = metadata.international_prefix, metadata.national_prefix_for_parsing
    return (str(metadata.country_code), re.compile(idd) if idd else None,
            re.compile(national) if national else None)


def _normalize_region(region: str | None, raw: str) -> str | None:
    if region is None:
        return None
    code = region.strip().upper()
    if not code:
        return None
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidIdentifier(_KIND, raw, f"unknown default region {region!r}", hint=_HINT_REGION)
    return code


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return the E.164 form of a phone number, or raise InvalidIdentifier.

    ``region`` is the default region for numbers written without a country code. A number that
    is already in strict E.164 and was validated before is returned without parsing again, so
    ``normalize_phone(normalize_phone(x)) == normalize_phone(x)`` is also cheap.
    """
    code = _normalize_region(region, raw)
    value = raw.strip()
    if not value:
        raise InvalidIdentifier(_KIND, raw, "empty value", hint=_HINT_E164)
    if value in _known_e164 and _STRICT_E164.fullmatch(value):
        return value
    e164, reason, hint = _parse(value, code)
    if e164 is None:
        raise InvalidIdentifier(_KIND, raw, reason, hint=hint)
    return e164


def _parse_e164(e164: str) -> PhoneNumber:
    value = e164.strip()
    if not value.startswith("+"):
        raise InvalidIdentifier(_KIND, e164, "not in E.164 (no leading +)", hint=_HINT_E164)
    try:
        return phonenumbers.parse(value, None)
    except NumberParseException:
        raise InvalidIdentifier(_KIND, e164, "cannot be parsed", hint=_HINT_E164) from None


def phone_national_digits(e164: str) -> str:
    """The national significant number of an E.164 phone (``+14155552671`` → ``4155552671``)."""
    value = e164.strip()
    if _STRICT_E164.fullmatch(value):
        split = _split_e164(value)
        if split is not None:
            return split[1]
    return str(phonenumbers.national_significant_number(_parse_e164(e164)))


def _split_e164(value: str) -> tuple[str, str] | None:
    """(country calling code, national significant number) of a strict E.164 string, read
    without a full parse, or None when only a full parse can tell. libphonenumber takes the
    country code as the first 1 to 3 digits that are one (country codes are prefix-free);
    the rest is the national number, unless the country's national prefix for parsing
    matches its start (then libphonenumber may strip or transform it: parse fully)."""
    digits = value[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            rest = digits[size:]
            known, prefix = _national_prefix(code)
            if not known or (prefix is not None and prefix.match(rest)):
                return None
            return digits[:size], rest
    return None


@cache
def _national_prefix(country_code: int) -> tuple[bool, re.Pattern[str] | None]:
    """(whether the country code has metadata, its national prefix for parsing compiled or
    None): what parse() would try to strip after the country code."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return False, None
    pattern = metadata.national_prefix_for_parsing
    return True, (re.compile(pattern) if pattern else None)


def is_repeated_digit_phone(e164: str) -> bool:
    """True when the national number is one digit repeated (``+10000000000``, ``+919999999999``).

    Such numbers are placeholders typed into forms, not real phones.
    """
    digits = phone_national_digits(e164)
    return len(set(digits)) == 1
