"""Import issues: what is wrong with a file, a column, a row or a cell, and how to fix it.

Every issue has a stable code (documented in docs/imports-profiles.md, served by
GET /api/v1/import-profiles), a severity and a specific message. Errors reject the row (or the
file); warnings report a correction that was made or data that was left alone. The codes and
descriptions follow the Capillary import error table where it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem or correction. ``related_rows`` are 1-based data row numbers."""

    code: str
    message: str
    severity: Severity = Severity.ERROR
    field: str | None = None
    column: str | None = None
    related_rows: tuple[int, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:
        # Rows checked in worker processes come back pickled, with their issues: rebuilt
        # from their fields in order (the dataclass default looks its fields up each time).
        return (Issue, (self.code, self.message, self.severity, self.field, self.column,
                        self.related_rows))

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "field": self.field,
            "column": self.column,
            "related_rows": list(self.related_rows),
        }


# code -> one-line description. Errors first, then warnings (see WARNINGS).
CODES: dict[str, str] = {
    # Identifiers (Capillary "Customer profiles" error table)
    "INVALID_EMAIL": "Invalid email id: deviation from standard email format",
    "INVALID_MOBILE": (
        "Invalid Mobile Number: not a valid phone number, or it does not match the mobile "
        "regex; check the mobile regex configured for the tenant"
    ),
    "MOBILE_NO_COUNTRY_CODE": (
        "The mobile number has no country code; write it with one (+91...) or enable "
        "'Append country code to the mobile number automatically'"
    ),
    "DUPLICATE_EMAIL_IN_FILE": (
        "The same email appears on more than one row of the file: all those rows are rejected"
    ),
    "DUPLICATE_MOBILE_IN_FILE": (
        "The same mobile number appears on more than one row of the file: all those rows are "
        "rejected"
    ),
    "DUPLICATE_EXTERNAL_ID_IN_FILE": (
        "The same external id appears on more than one row of the file: all those rows are "
        "rejected"
    ),
    "DUPLICATE_USER_ID_IN_FILE": (
        "The same user id appears on more than one row of the file: all those rows are rejected"
    ),
    "EMAIL_REGISTERED_TO_OTHER": (
        "Email is already present for some other registered user in the system"
    ),
    "MOBILE_REGISTERED_TO_OTHER": (
        "Mobile number is already registered for a different user in the system"
    ),
    "EXTERNAL_ID_REGISTERED_TO_OTHER": (
        "External ID / Card number is already registered for a different user"
    ),
    "MOBILE_CHANGE_NOT_ALLOWED": (
        "The user already has a different mobile number, and the mobile number may not be "
        "updated through import"
    ),
    "CUSTOMER_INACTIVE_OR_FRAUD": "The user is inactive or marked as fraud",
    "NAME_SPECIAL_CHARACTERS": (
        "Customer Name should not contain any special characters other than alphabets/space"
    ),
    "INVALID_JOIN_DATE": "Invalid join date: the join date is invalid, empty or in the future",
    "UNKNOWN_STORE": "The store(s) specified in the file are not present in the system",
    # Generic cell checks
    "MANDATORY_MISSING": "A mandatory field is empty, or the file has no column for it",
    "INVALID_VALUE": "The value is not of the field's type (number, true/false, identifier...)",
    "INVALID_CHOICE": "The value is not one of the field's allowed values",
    "VALUE_TOO_LONG": "The value is longer than the field allows",
    "PATTERN_MISMATCH": "The value does not have the form the field requires",
    "INVALID_DATE": "The value is not a date (or date and time) in a supported format",
    "DATE_IN_FUTURE": "The date is in the future, and the field only takes past dates",
    "INVALID_DOMAIN": "The value is not a domain, website or email a domain can be read from",
    "INVALID_URL": "The value is not an http(s) web address",
    # Look-ups and options (checked by the pipeline against stored data)
    "UNKNOWN_CUSTOMER": "No customer holds the identifier given in the row",
    "UPDATE_DISABLED": (
        "The customer already exists and the template disables updating existing data"
    ),
    "UNKNOWN_CARD_SERIES": "The card or voucher series given in the row does not exist",
    "INVALID_TRANSACTION_NUMBER": (
        "The transaction (bill) number is not valid: letters, digits, '-', '_', '/' and '.' only"
    ),
    "REDEMPTION_OUT_OF_RANGE": (
        "The redemption date is outside the voucher series' valid date range"
    ),
    # File and columns
    "TOO_MANY_CELLS": "The row has more cells than the file has column headers",
    "DUPLICATE_COLUMN": "Two columns of the file map to the same field",
    "UNKNOWN_FIELD": "The template maps a column to a field the profile does not have",
    "NO_SOURCE_COLUMNS": "An ID map file needs at least one column of another system's ids",
    # Warnings: corrections made, data left alone
    "TRIMMED": "Whitespace around the value (or repeated inside a name) was removed",
    "CASE_FOLDED": "The email was lower-cased",
    "EMAIL_NORMALIZED": "The email was rewritten in its normal form (Unicode normalization)",
    "PHONE_NORMALIZED": "The phone number was rewritten in E.164 (+14155552671)",
    "COUNTRY_CODE_APPENDED": (
        "The tenant region's country code was added to a mobile number written without one"
    ),
    "DOMAIN_NORMALIZED": "The domain was read from a URL or email, lower-cased, without www.",
    "IDENTIFIER_NORMALIZED": "The identifier was rewritten in its normal form",
    "VALUE_MAPPED": "A synonym was read as the field's allowed value (SMS as mobile)",
    "STORE_REPLACED": "An unknown store was replaced by the template's replacement store",
    "SERIES_REPLACED": "An unknown series was replaced by the template's replacement series",
    "EMPTY_NOT_OVERWRITTEN": "An empty cell did not overwrite the stored value",
    "FIELD_NOT_UPDATED": "The template does not allow updating this field; the stored value stays",
    "UNMAPPED_COLUMN": "A column of the file maps to no field and is ignored",
    "TEMPLATE_COLUMN_MISSING": "The template maps a column that the file does not have",
    "PROFILE_MISMATCH": "The headers look like an export meant for another import profile",
}

WARNINGS: frozenset[str] = frozenset(
    {
        "TRIMMED",
        "CASE_FOLDED",
        "EMAIL_NORMALIZED",
        "PHONE_NORMALIZED",
        "COUNTRY_CODE_APPENDED",
        "DOMAIN_NORMALIZED",
        "IDENTIFIER_NORMALIZED",
        "VALUE_MAPPED",
        "STORE_REPLACED",
        "SERIES_REPLACED",
        "EMPTY_NOT_OVERWRITTEN",
        "FIELD_NOT_UPDATED",
        "UNMAPPED_COLUMN",
        "TEMPLATE_COLUMN_MISSING",
        "PROFILE_MISMATCH",
    }
)


def severity_of(code: str) -> Severity:
    """The usual severity of a code (warnings are corrections; everything else is an error)."""
    return Severity.WARNING if code in WARNINGS else Severity.ERROR


def codes_table() -> list[dict[str, str]]:
    """Every code with its severity and description, for docs and GET /import-profiles."""
    return [
        {"code": code, "severity": str(severity_of(code)), "description": text}
        for code, text in CODES.items()
    ]


def error(code: str, message: str, **where: Any) -> Issue:
    return Issue(code, message, Severity.ERROR, **where)


def warning(code: str, message: str, **where: Any) -> Issue:
    return Issue(code, message, Severity.WARNING, **where)
