"""Cell checks: one raw cell of a file in, a parsed value and its issues out.

``check_value`` is pure (no store, no clock: ``today`` comes in the context) and never raises
for any text. Corrections are warnings (TRIMMED, CASE_FOLDED, PHONE_NORMALIZED,
COUNTRY_CODE_APPENDED, ...); a value that cannot be read is one error and no value. Emails,
phones, domains and identifiers go through the domain normalizers. The rules for names, dates
and numbers are documented in docs/imports-profiles.md ("Cell checks").
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from phonenumbers import SUPPORTED_REGIONS

from allroads.domain.errors import InvalidIdentifier, InvalidInput
from allroads.domain.identifiers import normalize_identifier
from allroads.domain.normalize import (
    normalize_domain,
    normalize_email,
    normalize_phone,
    phone_national_digits,
)
from allroads.ingest.issues import CODES, Issue, Severity, error, warning
from allroads.ingest.profiles import FieldSpec, FieldType
from allroads.ingest.templates import TemplateOptions

MAX_CELL_LENGTH = 10_000

# Capillary: "alphabets/space". We also allow what real names need: letters of any script
# with their combining marks, apostrophes (O'Brien), hyphens (Jean-Luc) and periods (initials).
_NAME_PUNCTUATION = frozenset(" '\u2019\u02bc-\u2010.")
_TEXT_CONTROLS = frozenset("\t\n\r")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})
# Digits with commas only as thousands separators (1,234,567), "." as the decimal point.
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?|[+-]?\.(\d+)")
_MAX_DIGITS = 30
_INT_LIMIT = 2**63
_LIST_SPLIT = re.compile(r"[;,|]")
_LIST_JOIN = "; "
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*)://", re.IGNORECASE)
_OTHER_SCHEME = re.compile(r"[a-z]+:(?!\d)", re.IGNORECASE)
_EXPLICIT_INTERNATIONAL = re.compile(r"[\s(]*(?:\+|\uff0b|00)")
# Identifier kinds whose cells are checked by normalize_identifier (source_id columns of
# id_map hold bare ids, checked like external ids).
_IDENTIFIER_KIND = {"source_id": "external_id"}


@dataclass(frozen=True, slots=True)
class ValueContext:
    """What cell checks need to know about the tenant and template."""

    region: str | None
    today: dt.date
    options: TemplateOptions
    mobile_regex: str | None = None

    def __post_init__(self) -> None:
        if self.region is not None and self.region.strip().upper() not in SUPPORTED_REGIONS:
            raise InvalidInput(
                f"Unknown region {self.region!r}",
                field="region",
                hint="use an ISO 3166-1 alpha-2 code such as US, GB or IN",
            )
        if self.mobile_regex is not None:
            try:
                re.compile(self.mobile_regex)
            except re.error as exc:
                raise InvalidInput(
                    f"The tenant's mobile regex {self.mobile_regex!r} is not a valid regular "
                    f"expression: {exc}",
                    field="mobile_regex",
                    hint="fix the mobile regex in the tenant settings, e.g. ^91[6-9][0-9]{9}$",
                ) from None

    @property
    def region_code(self) -> str | None:
        return self.region.strip().upper() if self.region and self.region.strip() else None


@dataclass(frozen=True, slots=True)
class Cell:
    """The parsed value (None when empty or rejected) and the issues found."""

    value: Any
    issues: tuple[Issue, ...]

    @property
    def ok(self) -> bool:
        return all(issue.severity is not Severity.ERROR for issue in self.issues)

    @property
    def error(self) -> Issue | None:
        return next((i for i in self.issues if i.severity is Severity.ERROR), None)


class _Reject(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Note = tuple[str, str]  # (warning code, message)
Parsed = tuple[Any, list[Note]]
Parser = Callable[[FieldSpec, str, ValueContext], Parsed]


def _show(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


# --- dates ------------------------------------------------------------------------------------

# Regions that write numeric dates month first (12/15/2016); everywhere else is day first.
MONTH_FIRST_REGIONS = frozenset(
    {"US", "PH", "FM", "MH", "PW", "GU", "AS", "MP", "PR", "VI", "UM", "BZ"}
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_ISO = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?=$|T)")
_NUMERIC = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})")
_DAY_MONTH = re.compile(
    r"(\d{1,2})(?:st|nd|rd|th)?[\s\-/.]*([a-z]{3,9})\.?[\s\-/.,]*(\d{4})", re.IGNORECASE
)
_MONTH_DAY = re.compile(
    r"([a-z]{3,9})\.?[\s\-/.]*(\d{1,2})(?:st|nd|rd|th)?,?[\s\-/.]*(\d{4})", re.IGNORECASE
)
_TIME = re.compile(
    r"(?:T|\s+|\s*,\s*)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*([ap]\.?m\.?)?\s*(z|utc|gmt|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_DATE_HINT = "write it as YYYY-MM-DD (2016-12-15), DD/MM/YYYY or MM/DD/YYYY, optionally with a time"


def _numeric_order(first: int, second: int, region: str | None) -> tuple[int, int]:
    """(month, day) of a numeric date written first/second/year."""
    if first > 12 or second > 12 or first == second:
        return (second, first) if first > 12 else (first, second)
    if region is None:
        raise ValueError(
            f"{first}/{second} is ambiguous (day/month or month/day?); {_DATE_HINT.split(',')[0]}"
            ", or set the tenant's region"
        )
    return (first, second) if region in MONTH_FIRST_REGIONS else (second, first)


def _month(name: str) -> int:
    number = _MONTHS.get(name.casefold())
    if number is None:
        raise ValueError(f"unknown month {name!r}")
    return number


def _split_date(text: str, region: str | None) -> tuple[int, int, int, str]:
    """(year, month, day, rest of the text)."""
    if match := _ISO.match(text):
        return int(match[1]), int(match[3]), int(match[4]), text[match.end() :]
    if match := _COMPACT.match(text):
        return int(match[1]), int(match[2]), int(match[3]), text[match.end() :]
    if match := _NUMERIC.match(text):
        month, day = _numeric_order(int(match[1]), int(match[3]), region)
        return int(match[4]), month, day, text[match.end() :]
    if match := _DAY_MONTH.match(text):
        return int(match[3]), _month(match[2]), int(match[1]), text[match.end() :]
    if match := _MONTH_DAY.match(text):
        return int(match[3]), _month(match[1]), int(match[2]), text[match.end() :]
    raise ValueError(_DATE_HINT)


def _zone(text: str | None) -> dt.tzinfo | None:
    if not text:
        return None
    if text.casefold() in ("z", "utc", "gmt"):
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid UTC offset {text!r}")
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _time(match: re.Match[str]) -> tuple[dt.time, dt.tzinfo | None]:
    hour, minute = int(match[1]), int(match[2])
    second = int(match[3] or 0)
    micro = int((match[4] or "0")[:6].ljust(6, "0"))
    if match[5]:
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} with AM/PM")
        hour = hour % 12 + (12 if match[5][0].casefold() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"invalid time {match[0].strip()!r}")
    return dt.time(hour, minute, second, micro), _zone(match[6])


def parse_date(text: str, region: str | None, *, with_time: bool) -> dt.date | dt.datetime:
    """A date (or, ``with_time``, a datetime) from ISO 8601, DD/MM/YYYY, MM/DD/YYYY or
    '15 Dec 2016' forms. Numeric dates whose day and month are both <= 12 are read in the
    region's order (MONTH_FIRST_REGIONS, else day first); without a region they are an error.
    Raises ValueError with the reason.
    """
    year, month, day, rest = _split_date(text, region)
    clock, zone = dt.time(), None
    if rest:
        match = _TIME.fullmatch(rest)
        if match is None:
            raise ValueError(f"unexpected {rest.strip()!r} after the date; {_DATE_HINT}")
        clock, zone = _time(match)
    if year < 1800:
        raise ValueError(f"year {year} is not plausible")
    try:
        date = dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"there is no day {day} in month {month} of {year}") from None
    if not with_time:
        return date
    return dt.datetime.combine(date, clock, tzinfo=zone)


# --- parsers, one per field type ----------------------------------------------------------------


def _text(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    if spec.identifier is None:
        return value, []
    kind = _IDENTIFIER_KIND.get(spec.identifier, spec.identifier)
    try:
        normal = normalize_identifier(kind, value, region=ctx.region_code)
    except InvalidIdentifier as exc:
        raise _Reject("INVALID_VALUE", f"{_show(value)} is not a valid {kind}: {exc.reason}; "
                      f"{exc.hint or 'check the value'}") from None
    if normal != value:
        return normal, [("IDENTIFIER_NORMALIZED", f"{_show(value)} was read as {normal!r}")]
    return normal, []


def _name(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    notes: list[Note] = []
    collapsed = " ".join(value.split())
    if collapsed != value:
        notes.append(("TRIMMED", f"repeated spaces inside {_show(value)} were removed"))
    bad = [
        ch for ch in collapsed
        if unicodedata.category(ch)[0] not in "LM" and ch not in _NAME_PUNCTUATION
    ]
    if bad or not any(unicodedata.category(ch)[0] == "L" for ch in collapsed):
        found = f"contains {bad[0]!r}" if bad else "has no letters"
        raise _Reject(
            "NAME_SPECIAL_CHARACTERS",
            f"Customer Name should not contain any special characters other than "
            f"alphabets/space: {_show(value)} {found}; use letters (any script), spaces, "
            "apostrophes, hyphens and periods only",
        )
    return collapsed, notes


def _email(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    if ctx.options.disable_email_validation:
        return value, []
    try:
        normal = normalize_email(value)
    except InvalidIdentifier as exc:
        raise _Reject(
            "INVALID_EMAIL",
            f"Invalid email id {_show(value)}: deviation from standard email format "
            f"({exc.reason}); {exc.hint}",
        ) from None
    if normal == value:
        return normal, []
    if normal == value.lower():
        return normal, [("CASE_FOLDED", f"{_show(value)} was lower-cased to {normal!r}")]
    return normal, [("EMAIL_NORMALIZED", f"{_show(value)} was normalized to {normal!r}")]


MIN_BARE_INTERNATIONAL_DIGITS = 10


def _try_phone(text: str, region: str | None) -> tuple[str | None, str]:
    try:
        return normalize_phone(text, region), ""
    except InvalidIdentifier as exc:
        return None, f"{exc.reason}; {exc.hint}" if exc.hint else exc.reason


def _read_phone(value: str, ctx: ValueContext) -> tuple[str, bool]:
    """(E.164, whether it was written as a national number without a country code)."""
    region = ctx.region_code
    digits = "".join(ch for ch in value if "0" <= ch <= "9")
    if _EXPLICIT_INTERNATIONAL.match(value):
        e164, reason = _try_phone(value, region)
    else:
        e164, reason = _try_phone(value, region) if region else (None, "")
        if e164 is not None:
            return e164, e164[1:] != digits
        # An international number written without its "+" (4917054435768) has at least
        # 10 digits and starts with its country code (never 0); anything else is a national
        # number gone wrong ((006) 825-8284, 470-7691), not a foreign number.
        if len(digits) >= MIN_BARE_INTERNATIONAL_DIGITS and not digits.startswith("0"):
            e164, bare_reason = _try_phone("+" + digits, None)
            reason = reason or bare_reason
        if e164 is None and region is None and 6 <= len(digits) <= 12:
            raise _Reject(
                "MOBILE_NO_COUNTRY_CODE",
                f"Mobile number {_show(value)} has no country code and the tenant has no "
                "default region; write it with its country code (+91 99001 11111), or set "
                "the tenant's region and enable 'Append country code to the mobile number "
                "automatically' (append_country_code)",
            )
    if e164 is None:
        reason = reason or f"{len(digits)} digits are too few for a phone number"
        raise _Reject("INVALID_MOBILE", f"Invalid Mobile Number {_show(value)}: {reason}")
    return e164, False


def _country_code(e164: str) -> str:
    return e164[1 : len(e164) - len(phone_national_digits(e164))]


def _phone(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    if ctx.options.disable_mobile_validation:
        return value, []
    e164, national = _read_phone(value, ctx)
    if national and not ctx.options.append_country_code:
        raise _Reject(
            "MOBILE_NO_COUNTRY_CODE",
            f"Mobile number {_show(value)} has no country code; write it as {e164}, or enable "
            "'Append country code to the mobile number automatically' (append_country_code) "
            f"to add +{_country_code(e164)} of the tenant's region {ctx.region_code}",
        )
    _check_mobile_regex(value, e164, ctx)
    if national:
        return e164, [("COUNTRY_CODE_APPENDED", f"+{_country_code(e164)} ({ctx.region_code}) "
                       f"added: {_show(value)} was read as {e164}")]
    if e164 != value:
        return e164, [("PHONE_NORMALIZED", f"{_show(value)} was written as {e164}")]
    return e164, []


def _check_mobile_regex(value: str, e164: str, ctx: ValueContext) -> None:
    """The tenant's regex must fully match the E.164 digits, the E.164 form or the national
    number."""
    if ctx.mobile_regex is None:
        return
    pattern = re.compile(ctx.mobile_regex)
    if pattern.fullmatch(e164[1:]) or pattern.fullmatch(e164):
        return
    if pattern.fullmatch(phone_national_digits(e164)):
        return
    raise _Reject(
        "INVALID_MOBILE",
        f"Invalid Mobile Number {_show(value)} ({e164}): it does not match the mobile regex "
        f"configured for the tenant ({ctx.mobile_regex}); correct the number, or check the "
        "mobile regex configured for the tenant",
    )


def _date(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    try:
        parsed = parse_date(value, ctx.region_code, with_time=spec.type is FieldType.DATETIME)
    except ValueError as exc:
        raise _Reject("INVALID_DATE", f"{_show(value)} is not a date: {exc}") from None
    day = parsed.date() if isinstance(parsed, dt.datetime) else parsed
    if spec.past_only and day > ctx.today:
        raise _Reject("DATE_IN_FUTURE", f"{_show(value)} is in the future (today is "
                      f"{ctx.today.isoformat()}); this field only takes past dates")
    return parsed, []


def _number(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    kind = "a whole number" if spec.type is FieldType.INTEGER else "a number"
    match = _NUMBER.fullmatch(value)
    if match is None:
        hint = (
            "use '.' as the decimal point and ',' only between groups of three digits "
            "(1,234.50), with no currency sign or unit"
        )
        raise _Reject("INVALID_VALUE", f"{_show(value)} is not {kind}: {hint}")
    text = value.replace(",", "")
    if len(text.strip("+-").replace(".", "")) > _MAX_DIGITS:
        raise _Reject("INVALID_VALUE", f"{_show(value)} has more than {_MAX_DIGITS} digits")
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise _Reject("INVALID_VALUE", f"{_show(value)} is not {kind}") from None
    result: int | Decimal = number
    if spec.type is FieldType.INTEGER:
        if number != number.to_integral_value():
            raise _Reject("INVALID_VALUE", f"{_show(value)} is not a whole number")
        result = int(number)
        if abs(result) >= _INT_LIMIT:
            raise _Reject("INVALID_VALUE", f"{_show(value)} is too large")
    if spec.minimum is not None and result < spec.minimum:
        raise _Reject("INVALID_VALUE", f"{_show(value)} is below the minimum {spec.minimum}")
    return result, []


def _boolean(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    folded = value.casefold()
    if folded in _TRUE:
        return True, []
    if folded in _FALSE:
        return False, []
    raise _Reject("INVALID_VALUE", f"{_show(value)} is not true or false: use true/false, "
                  "yes/no or 1/0")


def fold_choice(value: str) -> str:
    """Choices compare without case, spaces, '_', '-' or '.' ('Fraud Suspected' ==
    'FRAUD_SUSPECTED')."""
    return "".join(ch for ch in value.casefold() if ch not in " _-.")


def _choice(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    folded = fold_choice(value)
    for choice in spec.choices:
        if fold_choice(choice) == folded:
            return choice, []
    for synonym, canonical in spec.choice_synonyms:
        if fold_choice(synonym) == folded:
            return canonical, [("VALUE_MAPPED", f"{_show(value)} was read as {canonical!r}")]
    raise _Reject("INVALID_CHOICE", f"{_show(value)} is not an allowed value; use one of: "
                  f"{', '.join(spec.choices)}")


@lru_cache(maxsize=256)
def _item_spec(spec: FieldSpec) -> FieldSpec:
    """The spec each item of a LIST field is checked with."""
    return replace(
        spec,
        type=spec.item_type or FieldType.TEXT,
        item_type=None,
        mandatory=False,
        not_empty=False,
        identifier=None,
    )


def _list(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    item_spec = _item_spec(spec)
    items: list[Any] = []
    notes: list[Note] = []
    for position, part in enumerate(_LIST_SPLIT.split(value), start=1):
        if not part.strip():
            continue
        cell = check_value(item_spec, part.strip(), ctx)
        problem = cell.error
        if problem is not None:
            raise _Reject(problem.code, f"item {position} of the list: {problem.message}")
        notes += [(i.code, f"item {position}: {i.message}") for i in cell.issues]
        if cell.value not in items:
            items.append(cell.value)
    return (items or None), notes


def _store(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    return value, []


def _domain(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    try:
        normal = normalize_domain(value)
    except InvalidIdentifier as exc:
        raise _Reject("INVALID_DOMAIN", f"{_show(value)} is not a domain: {exc.reason}; "
                      f"{exc.hint}") from None
    if normal != value:
        return normal, [("DOMAIN_NORMALIZED", f"{_show(value)} was read as {normal!r}")]
    return normal, []


def _url(spec: FieldSpec, value: str, ctx: ValueContext) -> Parsed:
    hint = "send a web address such as https://acme.com or acme.com"
    if any(ch.isspace() for ch in value):
        raise _Reject("INVALID_URL", f"{_show(value)} contains spaces; {hint}")
    scheme = _SCHEME.match(value)
    if scheme is not None and scheme.group(1).lower() not in ("http", "https"):
        raise _Reject("INVALID_URL", f"{_show(value)}: only http and https addresses; {hint}")
    if scheme is None and _OTHER_SCHEME.match(value):
        raise _Reject("INVALID_URL", f"{_show(value)} is not a web address; {hint}")
    try:
        normalize_domain(value)
    except InvalidIdentifier as exc:
        raise _Reject("INVALID_URL", f"{_show(value)} is not a web address: {exc.reason}; "
                      f"{hint}") from None
    return value, []


_PARSERS: dict[FieldType, Parser] = {
    FieldType.TEXT: _text,
    FieldType.NAME: _name,
    FieldType.EMAIL: _email,
    FieldType.PHONE: _phone,
    FieldType.DATE: _date,
    FieldType.DATETIME: _date,
    FieldType.INTEGER: _number,
    FieldType.DECIMAL: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.CHOICE: _choice,
    FieldType.LIST: _list,
    FieldType.STORE: _store,
    FieldType.DOMAIN: _domain,
    FieldType.URL: _url,
}


# --- the entry point ----------------------------------------------------------------------------


def _check_characters(spec: FieldSpec, value: str) -> None:
    if value.isprintable():  # no control (Cc) or surrogate (Cs) character: nothing to refuse
        return
    allowed = _TEXT_CONTROLS if spec.type in (FieldType.TEXT, FieldType.LIST) else frozenset()
    for ch in value:
        category = unicodedata.category(ch)
        if (category == "Cc" and ch not in allowed) or category == "Cs":
            raise _Reject("INVALID_VALUE", f"{_show(value)} contains the control character "
                          f"U+{ord(ch):04X}; remove it")


def _check_length(spec: FieldSpec, value: str) -> None:
    limit = MAX_CELL_LENGTH
    if spec.max_length is not None and spec.type is not FieldType.LIST:
        limit = min(limit, spec.max_length)
    if len(value) > limit:
        raise _Reject("VALUE_TOO_LONG", f"{_show(value, 30)} is {len(value)} characters long; "
                      f"{spec.label} takes at most {limit}")


def _check_pattern(spec: FieldSpec, value: Any, ctx: ValueContext) -> None:
    if spec.pattern is None or not isinstance(value, str):
        return
    if spec.checked_when is not None and not getattr(ctx.options, spec.checked_when):
        return
    if re.fullmatch(spec.pattern, value) is None:
        detail = f"; {spec.description}" if spec.description else ""
        raise _Reject("PATTERN_MISMATCH", f"{_show(value)} does not have the required form "
                      f"({spec.pattern}){detail}")


def _empty(spec: FieldSpec, where: dict[str, Any]) -> Cell:
    if spec.not_empty and spec.error_code:
        prefix = CODES[spec.error_code].split(":")[0]
        return Cell(None, (error(spec.error_code, f"{prefix}: the cell is empty; "
                                 f"fill in {spec.label} or remove the column", **where),))
    if spec.mandatory or spec.not_empty:
        return Cell(None, (error("MANDATORY_MISSING", f"{spec.label} is mandatory but the cell "
                                 "is empty; fill it in", **where),))
    return Cell(None, ())


def check_value(
    spec: FieldSpec, raw: str, ctx: ValueContext, *, column: str | None = None
) -> Cell:
    """Check and parse one cell for ``spec``. Never raises."""
    where: dict[str, Any] = {"field": spec.name, "column": column}
    text = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
    value = text.strip()
    if not value:
        return _empty(spec, where)
    notes: list[Note] = []
    if value != text:
        notes.append(("TRIMMED", f"whitespace around {_show(value)} was removed"))
    try:
        _check_characters(spec, value)
        _check_length(spec, value)
        parsed, more = _PARSERS[spec.type](spec, value, ctx)
        _check_pattern(spec, parsed, ctx)
    except _Reject as reject:
        code, message = reject.code, reject.message
        if spec.error_code and code != "VALUE_TOO_LONG":
            code = spec.error_code
            message = f"{CODES[code].split(':')[0]}: {message}"
        kept = tuple(warning(c, m, **where) for c, m in notes)
        return Cell(None, (*kept, error(code, message, **where)))
    if parsed is None:
        return _empty(spec, where)
    notes += more
    return Cell(parsed, tuple(warning(c, m, **where) for c, m in notes))


def format_value(value: Any) -> str:
    """The canonical text of a parsed value; ``check_value`` reads it back to the same value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return _LIST_JOIN.join(format_value(item) for item in value)
    return str(value)
