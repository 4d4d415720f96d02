"""The normalizers' fast paths give exactly what the full libraries give.

`normalize_email` checks a plain ASCII address in two parts (its local part by the RFC 5322
dot-atom rule, its domain once per domain through email-validator); `phone_national_digits`
reads a strict E.164 string without a full libphonenumber parse when no national prefix can
be stripped. Both must agree with the full path for every input, valid or not.
"""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from allroads.domain.normalize import email as email_module
from allroads.domain.normalize import phone as phone_module
from allroads.domain.normalize import phone_national_digits

_LOCAL_PIECES = ["a", "Jo", "x_y", "+tag", "o'neil", "{x}", "1", "%", "!", "-", ".", "..",
                 "é", "ü", " ", '"', "@", "xn--", "A" * 30]
_DOMAINS = ["hooli.com", "EXAMPLE.org", "localhost", "a.b", "x-.com", "-x.com", "a..com",
            "com", "xn--mnchen-3ya.de", "münchen.de", "b.c.", "1.2.3.4", "[1.2.3.4]", "test",
            "foo.test", "foo.local", "foo.invalid", "a" * 64 + ".com", "a" * 63 + ".com",
            "foo.123", "foo.c", "x.onion", "ex_ample.com", "sub.do-main.co.uk", "foo.arpa",
            "y.EXAMPLE", "\uff38.com", "foo.xn--p1ai", "", "Gmail.COM"]


def _full(value: str) -> tuple[str | None, str]:
    return email_module._validate_fully(value)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_LOCAL_PIECES), min_size=0, max_size=5),
       st.sampled_from(_DOMAINS) | st.from_regex(r"[a-zA-Z0-9.\-]{0,70}", fullmatch=True),
       st.integers(min_value=0, max_value=200))
def test_email_fast_path_equals_email_validator(pieces: list[str], domain: str,
                                                pad: int) -> None:
    local = "".join(pieces) + ("b" * pad if pad > 150 else "")
    value = f"{local}@{domain}"
    email_module._validate.cache_clear()
    assert email_module._validate(value) == _full(value)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_email_fast_path_equals_email_validator_on_any_text(text: str) -> None:
    email_module._validate.cache_clear()
    assert email_module._validate(text) == _full(text)


def test_email_fast_path_is_taken_for_plain_addresses() -> None:
    email_module._validate.cache_clear()
    email_module._domain.cache_clear()
    assert email_module._validate("Jane.Doe+x@Hooli.COM") == ("jane.doe+x@hooli.com", "")
    assert email_module._validate("bob@Hooli.COM") == ("bob@hooli.com", "")
    assert email_module._domain.cache_info().hits == 1  # the second address reused it
    # refused domains go through the whole check, so the message is the library's
    assert email_module._validate("a@localhost") == _full("a@localhost")
    assert email_module._validate("a@localhost")[0] is None


def _nsn_by_parse(e164: str) -> str:
    return str(phonenumbers.national_significant_number(phonenumbers.parse(e164, None)))


@settings(max_examples=2000, deadline=None)
@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_national_digits_fast_path_equals_a_full_parse(e164: str) -> None:
    try:
        expected: str | None = _nsn_by_parse(e164)
    except phonenumbers.NumberParseException:
        expected = None
    split = phone_module._split_e164(e164)
    if split is not None:
        assert split[1] == expected
        assert e164 == f"+{split[0]}{split[1]}"
    if expected is not None:
        assert phone_national_digits(e164) == expected


def test_national_digits_fast_path_on_every_region_example() -> None:
    numbers = [phonenumbers.example_number_for_type(region, kind)
               for region in phonenumbers.SUPPORTED_REGIONS for kind in range(12)]
    numbers += [phonenumbers.example_number_for_non_geo_entity(code)
                for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS]
    checked = 0
    for number in filter(None, numbers):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert phone_national_digits(e164) == _nsn_by_parse(e164), e164
        checked += phone_module._split_e164(e164) is not None
    assert checked > 1000  # the fast path is taken for most of them
    # a national prefix after the country code (+7 8...): parsed fully, never guessed
    assert phone_module._split_e164("+78123456789") is None


def _parse_by_library(raw: str, region: str | None) -> tuple[str | None, str, str]:
    """`phone._parse` as it was before the plain-number path: always a full parse."""
    result = phone_module._attempt(raw, region)
    if result[0] is None:
        match = phone_module._LEADING_00.match(raw)
        if match is not None:
            result = phone_module._attempt(f"{match.group(1)}+{raw[match.end():]}", None)
    return result


_REGIONS = ["US", "CA", "DE", "GB", "IN", "FR", "BR", "AR", "MX", "RU", "IT", "JP", "AU", None]


@settings(max_examples=3000, deadline=None)
@given(st.from_regex(r"[ (]*\+?[0-9 ().\-]{1,20}", fullmatch=True), st.sampled_from(_REGIONS))
def test_plain_numbers_parse_as_libphonenumber_parses_them(raw: str, region: str | None
                                                           ) -> None:
    phone_module._parse.cache_clear()
    assert phone_module._parse(raw, region) == _parse_by_library(raw, region)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)), st.integers(0, 11),
       st.sampled_from(["{n}", "+{cc} {n}", "00{cc} {n}", "(+{cc}) {n}", "(00) {cc}-{n}",
                        "{cc} {n}", "0{n}", "1-{n}"]),
       st.sampled_from(_REGIONS), st.integers(0, 9999))
def test_written_example_numbers_parse_as_libphonenumber_parses_them(
        home: str, kind: int, form: str, region: str | None, tail: int) -> None:
    example = phonenumbers.example_number_for_type(home, kind)
    if example is None:
        return
    national = phonenumbers.national_significant_number(example)
    national = national[:-4] + f"{tail:04d}" if len(national) > 6 else national
    raw = form.format(n=national, cc=example.country_code)
    phone_module._parse.cache_clear()
    assert phone_module._parse(raw, region) == _parse_by_library(raw, region)


def test_the_plain_number_path_is_taken_for_common_spellings() -> None:
    for raw in ("+14155552671", "(415) 555-2671", "415.555.2671", "+1 (415) 555-2671",
                "001 415 555 2671", "(+49) 152 6999 1630", "0049 151 89722813"):
        region = "US"
        phone_module._parse.cache_clear()
        assert phone_module._parse(raw, region) == _parse_by_library(raw, region)
        assert phone_module._plain_number(raw, region) is not None or raw.startswith("00")


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from([1, 1, 1, 1, 7, 44, 61, 262, 590, 599, 47, 358, 39, 212, 290, 970, 49]),
       st.from_regex(r"[1-9][0-9]{5,10}", fullmatch=True))
def test_validity_with_one_type_check_equals_is_valid_number(code: int, digits: str) -> None:
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(digits))
    assert phone_module._is_valid(number) == phonenumbers.is_valid_number(number)


def test_validity_of_every_region_example_equals_is_valid_number() -> None:
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                assert phone_module._is_valid(example) == phonenumbers.is_valid_number(example)
