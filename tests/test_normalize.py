"""Normalizers: table-driven examples and Hypothesis properties (idempotent, never crash)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains

from allroads.domain.errors import InvalidIdentifier
from allroads.domain.normalize import (
    FREE_MAIL_DOMAINS,
    PersonName,
    email_domain,
    email_local_part,
    is_free_mail_domain,
    is_repeated_digit_phone,
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_person_name,
    normalize_phone,
    parse_person_name,
    phone_national_digits,
    split_full_name,
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any Unicode text, control characters included (surrogates cannot be encoded anyway).
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)


def assert_idempotent_or_invalid(normalize: Callable[[str], str], raw: str) -> None:
    """normalize(raw) either raises InvalidIdentifier or is a fixpoint of normalize."""
    try:
        once = normalize(raw)
    except InvalidIdentifier:
        return
    assert normalize(once) == once, (raw, once)


def reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidIdentifier) as info:
        call()
    assert info.value.hint, "every InvalidIdentifier carries a hint"
    return str(info.value.reason)


# --- email ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane@acme.com", "jane@acme.com"),
        ("Jane.Doe@Acme.COM", "jane.doe@acme.com"),
        ("  jane@acme.com \n", "jane@acme.com"),
        ("JANE+news@Example.org", "jane+news@example.org"),
        ("jane@xn--mnchen-3ya.de", "jane@münchen.de"),
        ("JANE@MÜNCHEN.DE", "jane@münchen.de"),
        ("josé@example.com", "josé@example.com"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty value"),
        ("   ", "empty value"),
        ("jane", "An email address must have an @-sign."),
        ("jane@", "There must be something after the @-sign."),
        ("jane@localhost", "It should have a period."),
        ("jane@acme.com.", "An email address cannot end with a period."),
        ("ja ne@acme.com", "invalid characters before the @-sign"),
        ("Jane <jane@acme.com>", "A display name and angle brackets around the email address"),
    ],
)
def test_normalize_email_rejects(raw: str, reason: str) -> None:
    assert reason in reason_of(lambda: normalize_email(raw))


def test_email_invalid_identifier_fields() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        normalize_email("jane@")
    assert info.value.kind == "email"
    assert info.value.value == "jane@"
    assert info.value.field == "email"


def test_email_parts() -> None:
    assert email_domain("jane.doe@acme.com") == "acme.com"
    assert email_local_part("jane.doe@acme.com") == "jane.doe"
    assert reason_of(lambda: email_domain("acme.com")).startswith("no local part")


@PROPERTY
@given(ANY_TEXT)
def test_email_any_text(raw: str) -> None:
    assert_idempotent_or_invalid(normalize_email, raw)


@PROPERTY
@given(st.emails())
def test_email_generated_addresses(raw: str) -> None:
    assert_idempotent_or_invalid(normalize_email, raw)


@PROPERTY
@given(st.emails().map(str.upper))
def test_email_case_insensitive(raw: str) -> None:
    try:
        upper = normalize_email(raw)
    except InvalidIdentifier:
        return
    assert upper == normalize_email(raw.lower())


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("415-555-2671", "us", "+14155552671"),
        ("+1 415 555 2671", None, "+14155552671"),
        ("+14155552671", None, "+14155552671"),
        ("+14155552671", "GB", "+14155552671"),
        ("tel:+1-415-555-2671", None, "+14155552671"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", None, "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("00 91 98765 43210", None, "+919876543210"),
        ("00 91 98765 43210", "US", "+919876543210"),
        ("98765 43210", "IN", "+919876543210"),
        ("+91 98765-43210", "US", "+919876543210"),
        ("+919999999999", None, "+919999999999"),
        ("+1 415 555 2671 ext. 12", None, "+14155552671"),
        ("\uff0b44 20 7946 0958", None, "+442079460958"),
    ],
)
def test_normalize_phone(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "US", "empty value"),
        ("   ", None, "empty value"),
        ("415 555 2671", None, "no country code and no default region"),
        ("12345", "US", "too short for region US"),
        ("+1415555267199", None, "too long for region US"),
        ("+10000000000", None, "not a valid number for region US"),
        ("555-0100-000", "US", "not a valid number for region US"),
        ("+999 1234 5678", None, "unknown country calling code"),
        ("abc", "US", "does not look like a phone number"),
        ("+14155552671", "XX", "unknown default region 'XX'"),
        ("1" * 300, "US", "too long to be a phone number"),
    ],
)
def test_normalize_phone_rejects(raw: str, region: str | None, reason: str) -> None:
    assert reason_of(lambda: normalize_phone(raw, region)) == reason


def test_phone_no_region_hint_explains_the_fix() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        normalize_phone("415 555 2671")
    assert info.value.hint is not None
    assert "E.164" in info.value.hint
    assert "default region" in info.value.hint


def test_phone_fast_path_returns_known_e164_unchanged() -> None:
    first = normalize_phone("(650) 253-0000", "US")
    assert first == "+16502530000"
    assert normalize_phone(first) == first
    assert normalize_phone(first, "IN") == first


@pytest.mark.parametrize(
    ("e164", "repeated", "national"),
    [
        ("+10000000000", True, "0000000000"),
        ("+919999999999", True, "9999999999"),
        ("+14155552671", False, "4155552671"),
        ("+442079460958", False, "2079460958"),
    ],
)
def test_phone_helpers(e164: str, repeated: bool, national: str) -> None:
    assert is_repeated_digit_phone(e164) is repeated
    assert phone_national_digits(e164) == national


def test_phone_helpers_reject_non_e164() -> None:
    assert "no leading +" in reason_of(lambda: phone_national_digits("4155552671"))


@PROPERTY
@given(ANY_TEXT, st.sampled_from([None, "US", "GB", "IN", "DE", "BR"]))
def test_phone_any_text(raw: str, region: str | None) -> None:
    assert_idempotent_or_invalid(lambda text: normalize_phone(text, region), raw)


PHONE_LIKE = st.from_regex(
    r"\A(tel:)?(\+|00|011)?[ ]?\(?[0-9]{1,4}\)?([ .\-]?[0-9]{2,4}){1,4}"
    r"( ?(ext\.?|x) ?[0-9]{1,4})?\Z"
)


@PROPERTY
@given(PHONE_LIKE, st.sampled_from([None, "US", "GB", "IN", "FR", "JP", "AU"]))
def test_phone_phone_like(raw: str, region: str | None) -> None:
    try:
        once = normalize_phone(raw, region)
    except InvalidIdentifier:
        return
    assert once.startswith("+")
    assert once[1:].isdigit()
    # Idempotent with any region: an E.164 result no longer depends on it.
    assert normalize_phone(once) == once
    assert normalize_phone(once, region) == once
    assert phone_national_digits(once) in once


# --- website / domain ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("http://acme.com:8080", "acme.com"),
        ("www.acme.co.uk/", "acme.co.uk"),
        ("acme.com", "acme.com"),
        ("ACME.COM.", "acme.com"),
        ("jane@acme.com", "acme.com"),
        ("mailto:Jane@Acme.com", "acme.com"),
        ("https://user:secret@www.acme.com:443/x#top", "acme.com"),
        ("//cdn.acme.com/x.js", "cdn.acme.com"),
        ("shop.acme.com", "shop.acme.com"),
        ("www.www.acme.com", "acme.com"),
        ("www.com", "www.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("https://MÜNCHEN.de/impressum", "xn--mnchen-3ya.de"),
        ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
        ("  acme.io  ", "acme.io"),
    ],
)
def test_normalize_domain(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty value"),
        ("https://", "no host name"),
        ("acme", "no dot: a domain needs a name and a top-level domain (acme.com)"),
        ("localhost:8080", "no dot: a domain needs a name and a top-level domain (acme.com)"),
        ("1.2.3.4", "an IP address, not a domain"),
        ("http://[::1]/", "an IP address, not a domain"),
        ("acme.com:http", "invalid port 'http'"),
        ("acme.c0m", "invalid top-level domain 'c0m'"),
        ("acme..com", "not a valid host name: Empty Label"),
        ("-acme.com", "not a valid host name: Label must not start or end with a hyphen"),
    ],
)
def test_normalize_domain_rejects(raw: str, reason: str) -> None:
    assert reason_of(lambda: normalize_domain(raw)) == reason


def test_normalize_domain_rejects_spaces() -> None:
    assert reason_of(lambda: normalize_domain("ac me.com")).startswith("not a valid host name")


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        ("gmail.com", True),
        ("googlemail.com", True),
        ("GMail.com", True),
        ("yahoo.co.uk", True),
        ("hotmail.fr", True),
        ("proton.me", True),
        ("163.com", True),
        ("jane@outlook.com", True),
        ("https://www.icloud.com/", True),
        ("acme.com", False),
        ("mail.acme.com", False),
        ("not a domain", False),
        ("", False),
    ],
)
def test_is_free_mail_domain(domain: str, free: bool) -> None:
    assert is_free_mail_domain(domain) is free


def test_free_mail_list_is_normalized_data() -> None:
    assert len(FREE_MAIL_DOMAINS) >= 80
    for domain in FREE_MAIL_DOMAINS:
        assert normalize_domain(domain) == domain


@PROPERTY
@given(ANY_TEXT)
def test_domain_any_text(raw: str) -> None:
    assert_idempotent_or_invalid(normalize_domain, raw)


@PROPERTY
@given(domains())
def test_domain_generated_domains(raw: str) -> None:
    assert_idempotent_or_invalid(normalize_domain, raw)


@PROPERTY
@given(
    st.sampled_from(["", "http://", "https://", "HTTPS://www.", "//"]),
    domains(),
    st.sampled_from(["", ":8080", ":443"]),
    st.sampled_from(["", "/", "/about?x=1", "#top"]),
)
def test_domain_from_urls(scheme: str, domain: str, port: str, path: str) -> None:
    try:
        bare = normalize_domain(domain)
    except InvalidIdentifier:
        return
    assert normalize_domain(f"{scheme}{domain}{port}{path}") == bare
    assert normalize_domain(f"someone@{domain}") == bare


# --- company names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ACME Services", "acme services"),
        ("Acme Inc.", "acme"),
        ("ACME", "acme"),
        ("Acme, Inc", "acme"),
        ("Acme, Inc.", "acme"),
        ("ACME Ltd.", "acme"),
        ("Acme Inc. Ltd.", "acme"),
        ("Müller GmbH", "müller"),
        ("  Acme   Widgets   LLC ", "acme widgets"),
        ("Procter & Gamble Co.", "procter and gamble"),
        ("A & B LLC", "a and b"),
        ("McDonald's Corporation", "mcdonalds"),
        ("\uff21\uff23\uff2d\uff25 Inc", "acme"),  # full-width letters (NFKC)
        ("Inc.", "inc"),
        ("LLC", "llc"),
    ],
)
def test_normalize_company_name(raw: str, expected: str) -> None:
    assert normalize_company_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("", "empty value"), ("   \t", "empty value"), ("!!! ...", "no letters or digits")],
)
def test_normalize_company_name_rejects(raw: str, reason: str) -> None:
    assert reason_of(lambda: normalize_company_name(raw)) == reason


@PROPERTY
@given(ANY_TEXT)
def test_company_any_text(raw: str) -> None:
    assert_idempotent_or_invalid(normalize_company_name, raw)


COMPANY_LIKE = st.builds(
    lambda words, sep, suffix: sep.join(words) + suffix,
    st.lists(st.from_regex(r"\A[A-Za-zÀ-ÿ&'.]{1,10}\Z"), min_size=1, max_size=4),
    st.sampled_from([" ", ", ", " & ", "-"]),
    st.sampled_from(["", " Inc.", ", Inc", " Ltd", " GmbH", " S.A.", " LLC", " Co.", " plc"]),
)


@PROPERTY
@given(COMPANY_LIKE)
def test_company_like_names(raw: str) -> None:
    assert_idempotent_or_invalid(normalize_company_name, raw)


# --- person names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Dr. Jane A. Smith Jr.", PersonName("Dr.", "Jane", "A.", "Smith", "Jr.", "")),
        ("Smith, Jane", PersonName("", "Jane", "", "Smith", "", "")),
        ('Jane "JJ" Smith', PersonName("", "Jane", "", "Smith", "", "JJ")),
        ("Mary Ann van der Berg", PersonName("", "Mary", "Ann", "van der Berg", "", "")),
        ("Cher", PersonName("", "Cher", "", "", "", "")),
    ],
)
def test_parse_person_name(raw: str, expected: PersonName) -> None:
    assert parse_person_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Dr. Jane A. Smith Jr.", "jane a smith"),
        ("Smith, Jane", "jane smith"),
        ('Jane "JJ" Smith', "jane smith"),
        ("  JANE   SMITH ", "jane smith"),
        ("José Núñez", "jose nunez"),
        ("Łukasz Żółć", "lukasz zolc"),
        ("O'Brien, Mary-Jane", "mary jane obrien"),
        ("Straße", "strasse"),
        ("प्रिया शर्मा", "प्रिया शर्मा"),  # marks in non-Latin scripts are kept
        ("Dr", "dr"),
    ],
)
def test_normalize_person_name(raw: str, expected: str) -> None:
    assert normalize_person_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Dr. Jane A. Smith Jr.", ("Jane A.", "Smith")),
        ("Smith, Jane", ("Jane", "Smith")),
        ('Jane "JJ" Smith', ("Jane", "Smith")),
        ("Cher", ("Cher", "")),
    ],
)
def test_split_full_name(raw: str, expected: tuple[str, str]) -> None:
    assert split_full_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "   "])
def test_person_name_rejects_blank(raw: str) -> None:
    assert reason_of(lambda: normalize_person_name(raw)) == "empty value"
    assert reason_of(lambda: parse_person_name(raw)) == "empty value"


def test_person_name_rejects_punctuation_only() -> None:
    assert reason_of(lambda: normalize_person_name("?!")) == "no letters or digits"


@PROPERTY
@given(ANY_TEXT)
def test_person_name_any_text(raw: str) -> None:
    assert_idempotent_or_invalid(normalize_person_name, raw)
    with contextlib.suppress(InvalidIdentifier):
        parse_person_name(raw)
    with contextlib.suppress(InvalidIdentifier):
        split_full_name(raw)


NAME_WORDS = st.one_of(
    st.sampled_from(["Dr.", "Mr", "Mrs.", "Jr.", "III", "PhD", "van", "de", "la", "and", "&"]),
    st.from_regex(r"\A[A-ZÀ-Þ][a-zß-ÿ'\-]{0,8}\.?\Z"),
    st.from_regex(r'\A["(][A-Za-z]{1,5}[")]\Z'),
)


@PROPERTY
@given(st.lists(NAME_WORDS, min_size=1, max_size=6), st.booleans())
def test_person_name_like(words: list[str], comma: bool) -> None:
    raw = " ".join(words)
    if comma and len(words) > 1:
        raw = f"{words[-1]}, {' '.join(words[:-1])}"
    assert_idempotent_or_invalid(normalize_person_name, raw)


def test_a_bracketed_area_code_starting_00_is_not_an_international_prefix() -> None:
    """(006) 825-8284 is a bad US number, not +682 58284 (the Cook Islands)."""
    with pytest.raises(InvalidIdentifier):
        normalize_phone("(006) 825-8284", "US")
    assert normalize_phone("(00) 44 20 7946 0958", "US") == "+442079460958"
    assert normalize_phone("0044 20 7946 0958", "US") == "+442079460958"
