"""Cell checks: examples per field type, the Capillary error wording, and Hypothesis properties
(check_value never raises; an accepted value read back from its text is the same value)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allroads.domain.errors import InvalidInput
from allroads.ingest.issues import CODES, Severity
from allroads.ingest.profiles import PROFILES, FieldSpec, FieldType, get_profile
from allroads.ingest.templates import TemplateOptions
from allroads.ingest.values import Cell, ValueContext, check_value, format_value, parse_date

TODAY = dt.date(2024, 5, 1)
PEOPLE = get_profile("people")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ctx(region: str | None = "IN", regex: str | None = None, **options: Any) -> ValueContext:
    return ValueContext(region, TODAY, TemplateOptions(**options), mobile_regex=regex)


def check(field: str, raw: str, context: ValueContext | None = None,
          profile: str = "people") -> Cell:
    return check_value(get_profile(profile).field(field), raw, context or ctx(), column="Col")


def codes(cell: Cell) -> list[str]:
    return [issue.code for issue in cell.issues]


def only_error(cell: Cell) -> str:
    assert not cell.ok and cell.value is None
    errors = [i for i in cell.issues if i.severity is Severity.ERROR]
    assert len(errors) == 1
    assert errors[0].field is not None and errors[0].column == "Col"
    return errors[0].code


# --- text, trimming, length -------------------------------------------------------------------


def test_empty_optional_cell_is_none_without_issues() -> None:
    assert check("first_name", "   ") == Cell(None, ())


def test_trimmed_is_a_warning() -> None:
    cell = check("external_id", "  lb67p\t")
    assert cell.ok and cell.value == "lb67p" and codes(cell) == ["TRIMMED"]
    assert cell.issues[0].severity is Severity.WARNING


def test_mandatory_empty() -> None:
    assert only_error(check("display_name", "", profile="accounts")) == "MANDATORY_MISSING"


def test_too_long() -> None:
    cell = check("series_code", "A" * 51, profile="card_series")
    assert only_error(cell) == "VALUE_TOO_LONG"
    assert "at most 50" in cell.issues[-1].message


@pytest.mark.parametrize(("raw", "ok"), [("GOLDPHY2", True), ("GOLD-PHY", False), ("É1", False)])
def test_series_code_alphanumeric(raw: str, ok: bool) -> None:
    cell = check("series_code", raw, profile="card_series")
    assert cell.ok is ok
    if not ok:
        assert only_error(cell) == "PATTERN_MISMATCH"


def test_control_characters_rejected_but_newlines_allowed_in_text() -> None:
    assert only_error(check("external_id", "ab\x00c")) == "INVALID_VALUE"
    assert check("description", "line one\nline two", profile="accounts").ok


def test_user_id_is_an_allroads_person_id() -> None:
    assert check("user_id", "per_abc234").value == "per_abc234"
    assert only_error(check("user_id", "1234234")) == "PATTERN_MISMATCH"


def test_card_number_normalized_as_identifier() -> None:
    cell = check("card_number", "gold-phy2 tt123", profile="cards")
    assert cell.value == "GOLDPHY2TT123" and codes(cell) == ["IDENTIFIER_NORMALIZED"]


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [("Tom", "Tom"), ("Jean-Luc", "Jean-Luc"), ("O'Brien", "O'Brien"), ("J. R.", "J. R."),
     ("José Núñez", "José Núñez"), ("Zoë  Smith", "Zoë Smith"), ("王小明", "王小明"),
     ("Дмитрий", "Дмитрий"), ("देवनागरी", "देवनागरी")],
)
def test_names_accepted(raw: str, value: str) -> None:
    cell = check("first_name", raw)
    assert cell.ok and cell.value == value


@pytest.mark.parametrize("raw", ["Tom2", "Tom@home", "Tom_Sawyer", "Tom!", "#", "--", "Tom 😀"])
def test_names_with_special_characters(raw: str) -> None:
    cell = check("first_name", raw)
    assert only_error(cell) == "NAME_SPECIAL_CHARACTERS"
    assert cell.issues[-1].message.startswith(
        "Customer Name should not contain any special characters other than alphabets/space"
    )


# --- email --------------------------------------------------------------------------------------


def test_email_case_folded() -> None:
    cell = check("email", "Tom.Sawyer@Example.COM")
    assert cell.value == "tom.sawyer@example.com" and codes(cell) == ["CASE_FOLDED"]


@pytest.mark.parametrize("raw", ["tom", "tom@", "tom@@example.com", "Tom <tom@example.com>"])
def test_invalid_email(raw: str) -> None:
    cell = check("email", raw)
    assert only_error(cell) == "INVALID_EMAIL"
    assert "deviation from standard email format" in cell.issues[-1].message


def test_email_validation_disabled_takes_value_as_written() -> None:
    cell = check("email", " not-an-email ", ctx(disable_email_validation=True))
    assert cell.ok and cell.value == "not-an-email" and codes(cell) == ["TRIMMED"]


# --- phone ----------------------------------------------------------------------------------------


def test_national_mobile_without_option_asks_for_country_code() -> None:
    cell = check("mobile", "9900111111")
    assert only_error(cell) == "MOBILE_NO_COUNTRY_CODE"
    assert "+919900111111" in cell.issues[-1].message
    assert "append_country_code" in cell.issues[-1].message


def test_country_code_appended_with_option() -> None:
    cell = check("mobile", "9900111111", ctx(append_country_code=True))
    assert cell.value == "+919900111111" and codes(cell) == ["COUNTRY_CODE_APPENDED"]


def test_trunk_prefix_is_national() -> None:
    cell = check("mobile", "07911 123456", ctx("GB", append_country_code=True))
    assert cell.value == "+447911123456" and codes(cell) == ["COUNTRY_CODE_APPENDED"]


@pytest.mark.parametrize(
    ("raw", "region", "value"),
    [("919900111111", "IN", "+919900111111"), ("+91 99001-11111", "IN", "+919900111111"),
     ("0091 9900111111", "US", "+919900111111"), ("919900111111", None, "+919900111111"),
     ("(415) 555-2671", "US", None), ("+1 (415) 555-2671", None, "+14155552671")],
)
def test_phone_normalized(raw: str, region: str | None, value: str | None) -> None:
    cell = check("mobile", raw, ctx(region))
    if value is None:
        assert only_error(cell) == "MOBILE_NO_COUNTRY_CODE"
    else:
        assert cell.value == value and codes(cell) == ["PHONE_NORMALIZED"]


def test_phone_already_e164_has_no_warning() -> None:
    assert check("mobile", "+919900111111") == Cell("+919900111111", ())


def test_no_region_no_country_code() -> None:
    cell = check("mobile", "4155552671", ctx(None, append_country_code=True))
    assert only_error(cell) == "MOBILE_NO_COUNTRY_CODE"
    assert "region" in cell.issues[-1].message


@pytest.mark.parametrize("raw", ["12", "abc", "+999 1234 5678", "+91 12345"])
def test_invalid_mobile(raw: str) -> None:
    cell = check("mobile", raw)
    assert only_error(cell) == "INVALID_MOBILE"
    assert cell.issues[-1].message.startswith("Invalid Mobile Number")


def test_tenant_mobile_regex() -> None:
    regex = r"^91[6-9][0-9]{9}$"
    assert check("mobile", "+919900111111", ctx(regex=regex)).ok
    cell = check("mobile", "+14155552671", ctx(regex=regex))
    assert only_error(cell) == "INVALID_MOBILE"
    assert "check the mobile regex configured for the tenant" in cell.issues[-1].message
    # The national number matches too (regexes written without the country code).
    assert check("mobile", "+919900111111", ctx(regex=r"[6-9]\d{9}")).ok


def test_mobile_validation_disabled() -> None:
    cell = check("mobile", "12-34", ctx(regex="^9$", disable_mobile_validation=True))
    assert cell == Cell("12-34", ())


def test_bad_context_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="mobile regex"):
        ctx(regex="([0-9")
    with pytest.raises(InvalidInput, match="region"):
        ctx("XX")


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [("2016-12-15", None, dt.date(2016, 12, 15)), ("2016/12/15", None, dt.date(2016, 12, 15)),
     ("20161215", None, dt.date(2016, 12, 15)), ("15/12/2016", None, dt.date(2016, 12, 15)),
     ("12/15/2016", None, dt.date(2016, 12, 15)), ("05/06/2016", "IN", dt.date(2016, 6, 5)),
     ("05/06/2016", "US", dt.date(2016, 5, 6)), ("05.06.2016", "DE", dt.date(2016, 6, 5)),
     ("15 Dec 2016", None, dt.date(2016, 12, 15)), ("Dec 15, 2016", None, dt.date(2016, 12, 15)),
     ("15-December-2016", None, dt.date(2016, 12, 15)), ("7/7/2016", None, dt.date(2016, 7, 7))],
)
def test_dates(raw: str, region: str | None, expected: dt.date) -> None:
    assert parse_date(raw, region, with_time=False) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12/15/2016 15:06", dt.datetime(2016, 12, 15, 15, 6)),
     ("2016-12-15T15:06:07Z", dt.datetime(2016, 12, 15, 15, 6, 7, tzinfo=dt.UTC)),
     ("2016-12-15 03:06 PM", dt.datetime(2016, 12, 15, 15, 6)),
     ("2016-12-15 12:00 am", dt.datetime(2016, 12, 15, 0, 0)),
     ("2016-12-15T15:06:07.25+05:30",
      dt.datetime(2016, 12, 15, 15, 6, 7, 250000,
                  tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))),
     ("2020-01-15 10:23:45 UTC", dt.datetime(2020, 1, 15, 10, 23, 45, tzinfo=dt.UTC))],
)
def test_datetimes(raw: str, expected: dt.datetime) -> None:
    assert parse_date(raw, None, with_time=True) == expected


@pytest.mark.parametrize("raw", ["05/06/2016", "31/02/2016", "12/15/16", "yesterday", "42719",
                                 "2016-13-01", "2016-12-15 25:00", "1700-01-01"])
def test_invalid_dates(raw: str) -> None:
    cell = check("registration_date", raw, ctx(None))
    assert only_error(cell) == "INVALID_DATE"


def test_ambiguous_date_without_region_says_how_to_fix() -> None:
    cell = check("registration_date", "05/06/2016", ctx(None))
    assert "ambiguous" in cell.issues[-1].message and "YYYY-MM-DD" in cell.issues[-1].message


def test_future_date() -> None:
    assert only_error(check("registration_date", "2030-01-01")) == "DATE_IN_FUTURE"
    assert check("registration_date", TODAY.isoformat()).ok


@pytest.mark.parametrize("raw", ["", "  ", "2030-01-01", "not a date", "31/02/2016"])
def test_join_date_errors_are_invalid_join_date(raw: str) -> None:
    cell = check("join_date", raw)
    assert only_error(cell) == "INVALID_JOIN_DATE"
    assert cell.issues[-1].message.startswith("Invalid join date")


def test_date_field_drops_the_time() -> None:
    assert check("join_date", "12/15/2016 15:06").value == dt.date(2016, 12, 15)


# --- numbers, booleans, choices, lists ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [("16", 16), ("+16", 16), ("-3", -3), ("1,000", 1000), ("16.0", 16), ("1,234,567", 1234567)],
)
def test_integers(raw: str, value: int) -> None:
    field = FieldSpec("n", "N", FieldType.INTEGER)
    assert check_value(field, raw, ctx()).value == value


@pytest.mark.parametrize("raw", ["16.5", "1,23", "1 000", "12abc", "1e3", "$5", "NaN", "9" * 31])
def test_invalid_integers(raw: str) -> None:
    field = FieldSpec("n", "N", FieldType.INTEGER)
    cell = check_value(field, raw, ctx(), column="Col")
    assert only_error(cell) == "INVALID_VALUE"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1234.50", Decimal("1234.50")), ("1,234.5", Decimal("1234.5")), (".5", Decimal("0.5")),
     ("-2", Decimal("-2"))],
)
def test_decimals(raw: str, value: Decimal) -> None:
    assert check("loyalty_points", raw).value == value


def test_minimum() -> None:
    assert only_error(check("card_length", "0", profile="card_series")) == "INVALID_VALUE"
    assert only_error(check("lifetime_purchases", "-1")) == "INVALID_VALUE"


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("TRUE", True), ("Yes", True),
                                            ("1", True), ("false", False), ("no", False),
                                            ("0", False), ("N", False)])
def test_booleans(raw: str, value: bool) -> None:
    assert check("card_generation_enabled", raw, profile="card_series").value is value


def test_invalid_boolean() -> None:
    cell = check("card_generation_enabled", "maybe", profile="card_series")
    assert only_error(cell) == "INVALID_VALUE"


@pytest.mark.parametrize(
    ("field", "profile", "raw", "value"),
    [("status_label", "customer_status", "fraud suspected", "Fraud Suspected"),
     ("status_label", "customer_status", "FRAUD_CONFIRMED", "Fraud Confirmed"),
     ("status_label", "cards", "not issued", "NOT_ISSUED"),
     ("fraud_status", "fraud_status", "not_fraud", "NOT_FRAUD"),
     ("card_type", "card_series", "physical", "PHYSICAL"),
     ("channel", "subscriptions", "MobilePush", "mobilePush"),
     ("channel", "subscriptions", "EMAIL", "email"),
     ("status", "subscriptions", "opt-in", "OPTIN"),
     ("priority", "subscriptions", "bulk", "BULK")],
)
def test_choices_canonical(field: str, profile: str, raw: str, value: str) -> None:
    cell = check(field, raw, profile=profile)
    assert cell.value == value and cell.issues == ()


def test_choice_synonym_is_a_warning() -> None:
    cell = check("channel", "SMS", profile="subscriptions")
    assert cell.value == "mobile" and codes(cell) == ["VALUE_MAPPED"]


def test_invalid_choice_lists_allowed_values() -> None:
    cell = check("fraud_status", "MAYBE", profile="fraud_status")
    assert only_error(cell) == "INVALID_CHOICE"
    assert "INTERNAL, MARKED, CONFIRMED, RECONFIRMED, NOT_FRAUD" in cell.issues[-1].message


def test_lists_split_and_deduplicated() -> None:
    cell = check("tags", "vip; emea|vip ,  gold", profile="accounts")
    assert cell.value == ["vip", "emea", "gold"] and cell.ok
    assert check("tags", " ; , ", profile="accounts").value is None


def test_domain_list_normalized() -> None:
    cell = check("domains", "https://www.Acme.com/about; acme.io", profile="accounts")
    assert cell.value == ["acme.com", "acme.io"] and codes(cell) == ["DOMAIN_NORMALIZED"]
    bad = check("domains", "acme.com; not a domain", profile="accounts")
    assert only_error(bad) == "INVALID_DOMAIN" and "item 2" in bad.issues[-1].message


@pytest.mark.parametrize(("raw", "ok"), [("https://acme.com/x", True), ("acme.com", True),
                                         ("javascript:alert(1)", False), ("ftp://acme.com", False),
                                         ("acme", False), ("https://ac me.com", False)])
def test_urls(raw: str, ok: bool) -> None:
    cell = check("website", raw, profile="accounts")
    assert cell.ok is ok
    if not ok:
        assert only_error(cell) == "INVALID_URL"


def test_transaction_number_checked_only_with_the_option() -> None:
    field = "transaction_number"
    assert check(field, "bill #12", profile="coupon_redemptions").ok
    cell = check(field, "bill #12", ctx(validate_transaction_number=True),
                 profile="coupon_redemptions")
    assert only_error(cell) == "INVALID_TRANSACTION_NUMBER"


def test_issue_codes_used_are_documented() -> None:
    cells = [check("first_name", "Tom2"), check("mobile", "12"), check("email", " A@B.co ")]
    for cell in cells:
        assert all(issue.code in CODES for issue in cell.issues)


# --- properties ---------------------------------------------------------------------------------

ALL_FIELDS = [
    (profile.name, spec) for profile in PROFILES.values() for spec in profile.fields
]
CONTEXTS = st.builds(
    ValueContext,
    region=st.sampled_from([None, "IN", "US", "GB", "DE"]),
    today=st.just(TODAY),
    options=st.builds(
        TemplateOptions,
        append_country_code=st.booleans(),
        disable_mobile_validation=st.booleans(),
        disable_email_validation=st.booleans(),
        validate_transaction_number=st.booleans(),
    ),
    mobile_regex=st.sampled_from([None, r"^91[6-9][0-9]{9}$"]),
)
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.from_regex(r"[ +0-9()\-./:,;|@a-zA-Z]{0,30}", fullmatch=True),
    st.sampled_from(["9900111111", "+919900111111", "tom@example.com", "2016-12-15",
                     "12/15/2016 15:06", "1,234.50", "true", "Active", "acme.com; acme.io",
                     "per_abc", "GOLDPHY2", "https://acme.com"]),
)


@PROPERTY
@given(field=st.sampled_from(ALL_FIELDS), raw=TEXT, context=CONTEXTS)
def test_check_value_never_raises_and_is_idempotent(
    field: tuple[str, FieldSpec], raw: str, context: ValueContext
) -> None:
    spec = field[1]
    cell = check_value(spec, raw, context)
    assert sum(1 for i in cell.issues if i.severity is Severity.ERROR) <= 1
    assert all(issue.code in CODES for issue in cell.issues)
    if cell.ok and cell.value is not None:
        again = check_value(spec, format_value(cell.value), context)
        assert again.ok, (raw, cell, again)
        assert again.value == cell.value, (raw, cell.value, again.value)
    if not cell.ok:
        assert cell.value is None


@pytest.mark.parametrize("raw", ["470-7691", "278-2555", "4707691", "(006) 825-8284"])
def test_a_short_national_number_is_not_read_as_a_foreign_one(raw: str) -> None:
    """Seven digits missing their area code stay invalid (not +47 07691, Norway)."""
    cell = check("mobile", raw, ctx("US", append_country_code=True))
    assert cell.error is not None and cell.error.code == "INVALID_MOBILE"


def test_an_international_number_without_its_plus_is_read() -> None:
    cell = check("mobile", "4917054435768", ctx("US", append_country_code=True))
    assert cell.ok and cell.value == "+4917054435768"
