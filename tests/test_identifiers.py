"""normalize_identifier: dispatch by kind, opaque and custom kinds, and the error cases."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allroads.domain.errors import InvalidIdentifier
from allroads.domain.identifiers import (
    IDENTIFIER_KINDS,
    OPAQUE_KINDS,
    is_valid_kind,
    normalize_identifier,
)

PROPERTY = settings(max_examples=300, deadline=None)
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)


def reason_of(kind: str, raw: object, region: str | None = None) -> str:
    with pytest.raises(InvalidIdentifier) as info:
        normalize_identifier(kind, raw, region=region)
    assert info.value.hint
    return str(info.value.reason)


def test_identifier_kinds() -> None:
    assert IDENTIFIER_KINDS == (
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
    assert set(IDENTIFIER_KINDS) > OPAQUE_KINDS


@pytest.mark.parametrize(
    ("kind", "raw", "region", "expected"),
    [
        ("email", " Jane@Acme.COM ", None, "jane@acme.com"),
        ("phone", "(415) 555-2671", "US", "+14155552671"),
        ("phone", "+44 20 7946 0958", None, "+442079460958"),
        ("phone", 14155552671, "US", "+14155552671"),
        ("domain", "https://www.Acme.com/about", None, "acme.com"),
        ("card_number", "4000 1234-5678 9010", None, "4000123456789010"),
        ("card_number", "ab-12 cd", None, "AB12CD"),
        ("card_number", 123456, None, "123456"),
        ("external_id", "  CUST-0001 ", None, "CUST-0001"),
        ("external_id", 42, None, "42"),
        ("user_ref", "u_123", None, "u_123"),
        ("org_ref", "Org 7", None, "Org 7"),
        ("device_id", "A1B2-C3D4", None, "A1B2-C3D4"),
        ("push_token", "fcm:APA91bH...", None, "fcm:APA91bH..."),
        ("app_install_id", "ios-7f3e", None, "ios-7f3e"),
        ("source_id", "Shopify:12345", None, "shopify:12345"),
        ("source_id", " Stripe : cus_AbC:9 ", None, "stripe:cus_AbC:9"),
        ("loyalty_no", "  X-99 ", None, "X-99"),
        ("a", "value", None, "value"),
    ],
)
def test_normalize_identifier(kind: str, raw: object, region: str | None, expected: str) -> None:
    assert normalize_identifier(kind, raw, region=region) == expected


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        ("email", None, "empty value"),
        ("email", "", "empty value"),
        ("external_id", "   ", "empty value"),
        ("email", "jane@", "There must be something after the @-sign."),
        ("phone", "415 555 2671", "no country code and no default region"),
        ("domain", "acme", "no dot: a domain needs a name and a top-level domain (acme.com)"),
        ("card_number", "12", "must be 4 to 64 letters or digits, got 2"),
        ("card_number", "1" * 65, "must be 4 to 64 letters or digits, got 65"),
        ("card_number", "1234/5678", "only letters A-Z, digits, spaces and dashes are allowed"),
        ("card_number", " - ", "empty value"),
        ("external_id", "x" * 256, "longer than 255 characters (256)"),
        ("device_id", "abc\x00def", "contains the control character U+0000"),
        ("user_ref", "a\nb", "contains the control character U+000A"),
        ("source_id", "12345", "no ':' between source and id"),
        ("source_id", "shopify:", "empty id after the source"),
        (
            "source_id",
            "9shop:1",
            "invalid source name '9shop': a letter, then letters, digits, '_', '.' or '-'",
        ),
        ("loyalty_no", "", "empty value"),
        ("external_id", True, "a boolean is not an identifier"),
        ("external_id", 1.5, "expected a string, got float"),
        ("external_id", b"abc", "expected a string, got bytes"),
    ],
)
def test_normalize_identifier_rejects(kind: str, raw: object, reason: str) -> None:
    assert reason_of(kind, raw) == reason


def test_none_reports_empty_value() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        normalize_identifier("external_id", None)
    assert info.value.kind == "external_id"
    assert info.value.value == ""
    assert info.value.reason == "empty value"


def test_external_id_at_max_length_is_accepted() -> None:
    assert normalize_identifier("external_id", "x" * 255) == "x" * 255


@pytest.mark.parametrize("kind", ["Email", "bad-kind", "", "9lives", "a" * 65, "ext id"])
def test_unknown_kind(kind: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        normalize_identifier(kind, "value")
    assert info.value.kind == "identifier_kind"
    assert info.value.value == kind
    assert info.value.hint is not None
    for known in IDENTIFIER_KINDS:
        assert known in info.value.hint


@pytest.mark.parametrize(
    ("kind", "valid"),
    [("email", True), ("loyalty_no", True), ("x" * 64, True), ("Email", False), ("_x", False)],
)
def test_is_valid_kind(kind: str, valid: bool) -> None:
    assert is_valid_kind(kind) is valid


def test_phone_region_is_passed_through() -> None:
    assert normalize_identifier("phone", "020 7946 0958", region="GB") == "+442079460958"


@PROPERTY
@given(
    st.sampled_from([*IDENTIFIER_KINDS, "loyalty_no"]),
    st.one_of(ANY_TEXT, st.integers(), st.none()),
    st.sampled_from([None, "US", "GB"]),
)
def test_identifier_idempotent_and_never_crashes(
    kind: str, raw: object, region: str | None
) -> None:
    try:
        once = normalize_identifier(kind, raw, region=region)
    except InvalidIdentifier:
        return
    assert normalize_identifier(kind, once, region=region) == once


@PROPERTY
@given(ANY_TEXT, ANY_TEXT)
def test_any_kind_name_never_crashes(kind: str, raw: str) -> None:
    with contextlib.suppress(InvalidIdentifier):
        normalize_identifier(kind, raw)
