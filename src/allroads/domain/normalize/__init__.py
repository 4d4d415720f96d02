"""Normalizers: raw values in, canonical values out, InvalidIdentifier for what cannot be read.

Pure functions: no I/O, no DNS, no network, no database.
"""

from __future__ import annotations

from allroads.domain.normalize.company import normalize_company_name
from allroads.domain.normalize.email import email_domain, email_local_part, normalize_email
from allroads.domain.normalize.freemail import FREE_MAIL_DOMAINS
from allroads.domain.normalize.person_name import (
    PersonName,
    normalize_person_name,
    parse_person_name,
    split_full_name,
)
from allroads.domain.normalize.phone import (
    is_repeated_digit_phone,
    normalize_phone,
    phone_national_digits,
)
from allroads.domain.normalize.website import is_free_mail_domain, normalize_domain

__all__ = [
    "FREE_MAIL_DOMAINS",
    "PersonName",
    "email_domain",
    "email_local_part",
    "is_free_mail_domain",
    "is_repeated_digit_phone",
    "normalize_company_name",
    "normalize_domain",
    "normalize_email",
    "normalize_person_name",
    "normalize_phone",
    "parse_person_name",
    "phone_national_digits",
    "split_full_name",
]
