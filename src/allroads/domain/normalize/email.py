"""Email addresses: syntax-checked (never DNS-checked) and lower-cased.

We treat the whole address as case-insensitive, local part included: in practice no mailbox
provider distinguishes ``Jane@`` from ``jane@``, and customers type both.
"""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from allroads.domain.errors import InvalidIdentifier

_KIND = "email"
_HINT = "send a single address such as jane@example.com, without a display name or angle brackets"
# Lower-casing non-ASCII text can produce a string that is not in NFC (or otherwise not in the
# validator's normal form), so such results are validated again until they stop changing.
_MAX_ROUNDS = 4
_CACHE_SIZE = 16_384


def normalize_email(raw: str) -> str:
    """Return the canonical form of an email address, or raise InvalidIdentifier.

    Surrounding whitespace is stripped; the address is validated by email-validator without
    any deliverability (DNS) check; the result (local part too) is lower-cased. Unicode
    domains stay in their Unicode form (``jane@münchen.de``), the punycode form is accepted
    and turned into it. Results (and failures) are cached by the stripped value: validation
    costs about 0.1 ms, and the same addresses come back again and again.
    """
    value = raw.strip()
    if not value:
        raise InvalidIdentifier(_KIND, raw, "empty value", hint=_HINT)
    normalized, reason = _validate(value)
    if normalized is None:
        raise InvalidIdentifier(_KIND, raw, reason, hint=_HINT)
    return normalized


@lru_cache(maxsize=_CACHE_SIZE)
def _validate(value: str) -> tuple[str | None, str]:
    """(the normalized address, "") or (None, why it is not an address)."""
    local, at, domain = value.rpartition("@")
    if at and len(value) <= _FAST_MAX_LENGTH and len(local) <= _FAST_MAX_LOCAL and \
            _ASCII_ATOMS.fullmatch(local) and _HOSTNAME_CHARS.fullmatch(domain):
        normal_domain = _domain(domain)
        if normal_domain is not None:
            return f"{local}@{normal_domain}".lower(), ""
    return _validate_fully(value)


# The common address, plain ASCII dot-atoms before the @ and hostname characters after it,
# is checked in two parts, with the same outcome as email-validator on the whole: its local
# part passes email-validator's first check (RFC 5322 dot-atom, ASCII) and changes nothing;
# its domain is checked (and normalized) once per domain, by email-validator itself; and an
# address within 254 characters, no "xn--" label, passes the length checks. Anything else,
# and any domain that fails, goes through email-validator whole (so errors read the same).
_ATEXT = r"a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~"
_ASCII_ATOMS = re.compile(f"[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*")
_HOSTNAME_CHARS = re.compile(r"(?![\s\S]*xn--)[a-zA-Z0-9.\-]+", re.IGNORECASE)
_FAST_MAX_LENGTH = 254
_FAST_MAX_LOCAL = 64


@lru_cache(maxsize=_CACHE_SIZE)
def _domain(domain: str) -> str | None:
    """The domain as email-validator normalizes it after an @-sign, or None when it refuses
    it there (or normalizes it to a different length: the whole address is checked then)."""
    try:
        result = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    normal = str(result.domain)
    return normal if len(normal) == len(domain) and normal.isascii() else None


def _validate_fully(value: str) -> tuple[str | None, str]:
    for _ in range(_MAX_ROUNDS):
        try:
            result = validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            return None, str(exc)
        normalized = str(result.normalized)
        lowered = normalized.lower()
        if lowered in (normalized, value) or lowered.isascii():
            return lowered, ""
        value = lowered
    return value, ""


def _split(email: str) -> tuple[str, str]:
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain:
        raise InvalidIdentifier(
            _KIND, email, "no local part and domain around an @-sign", hint=_HINT
        )
    return local, domain


def email_domain(email: str) -> str:
    """The domain part (after the last ``@``) of a normalized email, lower-cased."""
    return _split(email)[1].lower()


def email_local_part(email: str) -> str:
    """The local part (before the last ``@``) of a normalized email, lower-cased."""
    return _split(email)[0].lower()
