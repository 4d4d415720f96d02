"""Identifier kinds, as data, and the one entry point that normalizes any identifier value.

Built-in kinds have dedicated rules (email, phone, domain, card_number, source_id) or are opaque
strings compared exactly (external_id, user_ref, ...). Any other lower-case snake_case name is
a tenant-defined custom kind, also opaque. Blocking rules (which values never link entities)
belong to the resolution layer, not here.
"""

from __future__ import annotations

import re
import unicodedata

from allroads.domain.errors import InvalidIdentifier
from allroads.domain.normalize.email import normalize_email
from allroads.domain.normalize.phone import normalize_phone
from allroads.domain.normalize.website import normalize_domain

IDENTIFIER_KINDS: tuple[str, ...] = (
    "email",
    "phone",
    "external_id",
    "user_ref",
    "org_ref",
    "domain",
    "card_number",
    "device_id",
    "push_token",
    "app_install_id",
    "source_id",
)

# Kinds whose values are opaque strings: trimmed, otherwise compared exactly.
OPAQUE_KINDS: frozenset[str] = frozenset(
    {"external_id", "user_ref", "org_ref", "device_id", "push_token", "app_install_id"}
)

CUSTOM_KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_VALUE_LENGTH = 255

_CARD_NUMBER = re.compile(r"[A-Z0-9]{4,64}")
# Spaces, and the dashes people and card printers put between digit groups.
_CARD_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014\u2212]+")
_SOURCE = re.compile(r"[a-z][a-z0-9_.\-]{0,63}")


def is_valid_kind(kind: str) -> bool:
    """True for a built-in kind or a well-formed custom kind name."""
    return kind in IDENTIFIER_KINDS or CUSTOM_KIND_PATTERN.fullmatch(kind) is not None


def _to_text(kind: str, raw: object) -> str:
    """The raw value as a string: str as is, int turned to str, None and others rejected."""
    if raw is None:
        raise InvalidIdentifier(kind, "", "empty value", hint="send a non-empty value")
    if isinstance(raw, bool):
        raise InvalidIdentifier(
            kind, str(raw), "a boolean is not an identifier", hint="send a string"
        )
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, str):
        return raw
    raise InvalidIdentifier(
        kind,
        repr(raw)[:100],
        f"expected a string, got {type(raw).__name__}",
        hint="send the identifier as a string (integers are accepted too)",
    )


def _bad_characters(value: str) -> str | None:
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            return f"contains the control character U+{ord(char):04X}"
        if category == "Cs":
            return f"contains the lone surrogate U+{ord(char):04X}"
    return None


def _opaque(kind: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise InvalidIdentifier(kind, raw, "empty value", hint="send a non-empty value")
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidIdentifier(
            kind,
            raw[:100],
            f"longer than {MAX_VALUE_LENGTH} characters ({len(value)})",
            hint=f"identifier values are at most {MAX_VALUE_LENGTH} characters",
        )
    problem = _bad_characters(value)
    if problem is not None:
        raise InvalidIdentifier(
            kind, raw, problem, hint="remove control characters (tabs, newlines, NUL, ...)"
        )
    return value


def _card_number(raw: str) -> str:
    value = _CARD_SEPARATORS.sub("", raw).upper()
    if not value:
        raise InvalidIdentifier("card_number", raw, "empty value", hint="send the card number")
    if not _CARD_NUMBER.fullmatch(value):
        if not value.isascii() or not value.isalnum():
            reason = "only letters A-Z, digits, spaces and dashes are allowed"
        else:
            reason = f"must be 4 to 64 letters or digits, got {len(value)}"
        raise InvalidIdentifier(
            "card_number", raw, reason, hint="send the number printed on the card, e.g. 4000 1234"
        )
    return value


def _source_id(raw: str) -> str:
    hint = "send it as 'source:id', e.g. 'shopify:12345'"
    source, colon, ident = raw.strip().partition(":")
    source = source.strip().lower()
    ident = ident.strip()
    if not colon:
        raise InvalidIdentifier("source_id", raw, "no ':' between source and id", hint=hint)
    if not _SOURCE.fullmatch(source):
        raise InvalidIdentifier(
            "source_id",
            raw,
            f"invalid source name {source!r}: a letter, then letters, digits, '_', '.' or '-'",
            hint=hint,
        )
    if not ident:
        raise InvalidIdentifier("source_id", raw, "empty id after the source", hint=hint)
    return _opaque("source_id", f"{source}:{ident}")


def normalize_identifier(kind: str, raw: object, *, region: str | None = None) -> str:
    """Normalize ``raw`` as an identifier of ``kind``; raise InvalidIdentifier if it is not one.

    ``region`` is the tenant's default phone region (ISO 3166-1 alpha-2), used for phone numbers
    written without a country code.
    """
    if not is_valid_kind(kind):
        raise InvalidIdentifier(
            "identifier_kind",
            kind,
            "not a built-in kind and not a valid custom kind name",
            hint=(
                f"use one of {', '.join(IDENTIFIER_KINDS)}, or a custom kind in lower-case "
                "snake_case (a letter, then letters, digits or '_', at most 64 characters)"
            ),
        )
    text = _to_text(kind, raw)
    if not text.strip():
        raise InvalidIdentifier(kind, text, "empty value", hint="send a non-empty value")
    if kind == "email":
        return normalize_email(text)
    if kind == "phone":
        return normalize_phone(text, region)
    if kind == "domain":
        return normalize_domain(text)
    if kind == "card_number":
        return _card_number(text)
    if kind == "source_id":
        return _source_id(text)
    return _opaque(kind, text)
