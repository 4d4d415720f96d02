"""Automatic column mapping, with header rows as real exports write them."""

from __future__ import annotations

import pytest

from allroads.domain.errors import InvalidInput
from allroads.ingest.columns import (
    COMMON,
    EXPORTS,
    ColumnMap,
    custom_attribute_name,
    fold,
    map_columns,
    source_of_column,
)
from allroads.ingest.profiles import PROFILES, get_profile


def mapped(result: ColumnMap, headers: list[str]) -> dict[str, str]:
    return {headers[index]: name for index, name in result.fields.items()}


def run(profile: str, header_row: str, explicit: dict[str, str] | None = None
        ) -> tuple[ColumnMap, dict[str, str]]:
    headers = header_row.split(",")
    result = map_columns(headers, get_profile(profile), explicit)
    return result, mapped(result, headers)


def codes(result: ColumnMap) -> list[str]:
    return [issue.code for issue in result.issues]


# name, profile, header row, expected mapping (header -> field)
EXPORT_CASES = [
    ("Salesforce Contact", "people",
     "Id,Salutation,FirstName,LastName,AccountId,Account.Name,Title,Email,Phone,MobilePhone,"
     "MailingStreet,MailingCity,MailingCountry,LeadSource,CreatedDate",
     {"Id": "external_id", "FirstName": "first_name", "LastName": "last_name",
      "AccountId": "account_ref", "Account.Name": "company", "Title": "job_title",
      "Email": "email", "Phone": "phone", "MobilePhone": "mobile", "MailingCity": "city",
      "MailingCountry": "country"}),
    ("Salesforce Contact", "people",
     "Contact ID,First Name,Last Name,Account Name,Title,Email,Phone,Mobile,Mailing City,"
     "Mailing Country,Contact Owner,Lead Source",
     {"Contact ID": "external_id", "First Name": "first_name", "Last Name": "last_name",
      "Account Name": "company", "Title": "job_title", "Email": "email", "Phone": "phone",
      "Mobile": "mobile", "Mailing City": "city", "Mailing Country": "country"}),
    ("HubSpot contacts", "people",
     "Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Company Name,"
     "Job Title,Contact owner,Lifecycle Stage,Create Date,City,Country/Region",
     {"Record ID": "external_id", "First Name": "first_name", "Last Name": "last_name",
      "Email": "email", "Phone Number": "phone", "Mobile Phone Number": "mobile",
      "Company Name": "company", "Job Title": "job_title", "City": "city",
      "Country/Region": "country"}),
    ("Zendesk users", "people",
     "id,url,name,email,created_at,updated_at,time_zone,phone,locale,organization_id,role,"
     "external_id,tags",
     {"id": "external_id", "name": "full_name", "email": "email", "phone": "phone",
      "organization_id": "account_ref", "external_id": "user_ref"}),
    ("Freshdesk contacts", "people",
     "Full name,Title,Email,Work phone,Mobile phone,Twitter ID,Company,Address,Time zone,"
     "Language,Tags,Unique external ID,Contact ID",
     {"Full name": "full_name", "Title": "job_title", "Email": "email", "Work phone": "phone",
      "Mobile phone": "mobile", "Company": "company", "Unique external ID": "user_ref",
      "Contact ID": "external_id"}),
    ("Intercom users", "people",
     "Name,Email,Phone,User ID,First Seen,Signed up,Last seen,Web sessions,City,Country,"
     "Company name,Company ID,Tags",
     {"Name": "full_name", "Email": "email", "Phone": "phone", "User ID": "user_ref",
      "Signed up": "registration_date", "City": "city", "Country": "country",
      "Company name": "company", "Company ID": "account_ref"}),
    ("Stripe customers", "people",
     "id,Description,Email,Name,Created (UTC),Card ID,Phone,Address City,Address Country,"
     "Delinquent,Total Spend,Payment Count",
     {"id": "external_id", "Email": "email", "Name": "full_name", "Phone": "phone",
      "Address City": "city", "Address Country": "country",
      "Total Spend": "lifetime_purchases"}),
    ("Shopify customers", "people",
     "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
     "Default Address Address1,Default Address City,Default Address Province Code,"
     "Default Address Country Code,Default Address Zip,Default Address Phone,Phone,"
     "Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags",
     {"Customer ID": "external_id", "First Name": "first_name", "Last Name": "last_name",
      "Email": "email", "Default Address Company": "company", "Default Address City": "city",
      "Default Address Country Code": "country", "Phone": "mobile",
      "Total Spent": "lifetime_purchases"}),
    ("Mailchimp audience", "people",
     "Email Address,First Name,Last Name,Address,Phone Number,Birthday,MEMBER_RATING,"
     "OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,"
     "CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS",
     {"Email Address": "email", "First Name": "first_name", "Last Name": "last_name",
      "Phone Number": "phone", "CC": "country"}),
    ("Salesforce Account", "accounts",
     "Id,Name,Type,ParentId,BillingCity,BillingCountry,Phone,Website,Industry,AnnualRevenue,"
     "NumberOfEmployees,Description,OwnerId",
     {"Id": "external_ref", "Name": "display_name", "Phone": "phone", "Website": "website",
      "Industry": "industry", "Description": "description", "OwnerId": "owner"}),
    ("Salesforce Account", "accounts",
     "Account ID,Account Name,Account Owner,Type,Industry,Website,Phone,Billing City",
     {"Account ID": "external_ref", "Account Name": "display_name", "Account Owner": "owner",
      "Industry": "industry", "Website": "website", "Phone": "phone"}),
    ("HubSpot companies", "accounts",
     "Record ID,Company name,Company Domain Name,Website URL,Company owner,Industry,"
     "Phone Number,City,Country/Region,Number of Employees,Create Date",
     {"Record ID": "external_ref", "Company name": "display_name",
      "Company Domain Name": "domains", "Website URL": "website", "Company owner": "owner",
      "Industry": "industry", "Phone Number": "phone"}),
    ("Zendesk organizations", "accounts",
     "id,url,name,external_id,domain_names,details,notes,group_id,tags,created_at",
     {"id": "external_ref", "name": "display_name", "external_id": "org_ref",
      "domain_names": "domains", "details": "description", "tags": "tags"}),
    ("Freshdesk companies", "accounts",
     "Company Name,Description,Notes,Domains,Health score,Account tier,Renewal date,Industry",
     {"Company Name": "display_name", "Description": "description", "Domains": "domains",
      "Account tier": "tier", "Industry": "industry"}),
]


@pytest.mark.parametrize(("export", "profile", "header_row", "expected"), EXPORT_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(EXPORT_CASES)])
def test_real_exports_are_recognized_and_mapped(
    export: str, profile: str, header_row: str, expected: dict[str, str]
) -> None:
    result, fields = run(profile, header_row)
    assert result.recognized == export
    assert fields == expected
    headers = header_row.split(",")
    assert result.unmapped == [h for h in headers if h not in expected]
    assert codes(result) == ["UNMAPPED_COLUMN"] * len(result.unmapped)
    assert not result.missing_mandatory


def test_capillary_sample_maps_by_labels() -> None:
    result, fields = run("people", "First Name,Last Name,Mobile,Email,External Id,"
                                   "Till IUN Or Store Ext Id")
    assert result.recognized is None
    assert fields == {"First Name": "first_name", "Last Name": "last_name", "Mobile": "mobile",
                      "Email": "email", "External Id": "external_id",
                      "Till IUN Or Store Ext Id": "store_code"}
    assert result.issues == [] and result.unmapped == []


@pytest.mark.parametrize(
    ("profile", "header_row", "expected"),
    [("cards", "Card Number,Card Series Code,Card Status Label,Till IUN,Mobile,Email,"
               "External Id,User Id,Card External ID",
      ["card_number", "series_code", "status_label", "store_code", "mobile", "email",
       "external_id", "user_id", "card_external_id"]),
     ("card_series", "Card Series Code,Card Series Description,Card Type,"
                     "Card Generation Enabled,Card Suffix,Card Prefix,Card Length,Expiry Days,"
                     "Till IUN",
      ["series_code", "description", "card_type", "card_generation_enabled", "card_suffix",
       "card_prefix", "card_length", "expiry_days", "store_code"]),
     ("coupon_redemptions", "Coupon Series Id(Voucher Series Id),Coupon Code(Voucher Code),"
                            "Till IUN,User Identification Input,Redeemed Date,"
                            "Transaction Number(Bill Number)",
      None),
     ("coupon_redemptions", "Voucher Series Id,Voucher Code,Till IUN,"
                            "User Identification Input,Redeemed Date,Bill Number",
      ["voucher_series_id", "voucher_code", "store_code", "user_identification",
       "redeemed_at", "transaction_number"]),
     ("subscriptions", "Mobile,Subscription Status,Channel,Priority",
      ["mobile", "status", "channel", "priority"]),
     ("fraud_status", "Mobile,Status,Reason,StoreCode",
      ["mobile", "fraud_status", "reason", "store_code"]),
     ("lifecycle", "Entity Type,Entity ID,Org Source ID,Activity,State,Added by,Reference ID,"
                   "Updated on",
      ["entity_type", "entity_id", "org_source_id", "activity", "state", "added_by",
       "reference_id", "updated_on"])],
)
def test_seed_samples_map(profile: str, header_row: str, expected: list[str] | None) -> None:
    result, fields = run(profile, header_row)
    if expected is None:
        # "Label(Alias)" headers from the seed's sample: read neither spelling, so reported.
        assert result.missing_mandatory
        return
    assert list(fields.values()) == expected
    assert not result.missing_mandatory


def test_customer_status_sample_with_trailing_comma() -> None:
    result, fields = run("customer_status", "Mobile,External ID,Status Label,StoreCode,")
    assert fields == {"Mobile": "mobile", "External ID": "external_id",
                      "Status Label": "status_label", "StoreCode": "store_code"}
    assert result.unmapped == []
    assert [(i.code, i.column) for i in result.issues] == [("UNMAPPED_COLUMN", "#5")]


def test_folding() -> None:
    assert fold(" Mobile No.* ") == fold("mobile_no") == "mobileno"
    assert fold("Account.Name") == fold("account name")
    assert fold("\ufeffE-mail") == "email"
    _, fields = run("people", "E-MAIL,first_name,LAST NAME*,Mobile No.")
    assert fields == {"E-MAIL": "email", "first_name": "first_name", "LAST NAME*": "last_name",
                      "Mobile No.": "mobile"}


def test_explicit_mapping_wins_and_ignores() -> None:
    result, fields = run("people", "Cust Mobile,Email,Phone,Notes",
                         {"Cust Mobile": "mobile", "Phone": "", "Missing": "email"})
    assert fields == {"Cust Mobile": "mobile", "Email": "email"}
    assert result.unmapped == ["Notes"]
    assert sorted(codes(result)) == ["TEMPLATE_COLUMN_MISSING", "UNMAPPED_COLUMN"]


def test_explicit_mapping_to_unknown_field_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="no field 'mobil'"):
        run("people", "Mobile", {"Mobile": "mobil"})


def test_two_columns_for_one_field() -> None:
    result, fields = run("people", "Email,E-mail,Mobile")
    assert fields == {"Email": "email", "Mobile": "mobile"}
    assert codes(result) == ["DUPLICATE_COLUMN"]
    assert result.issues[0].severity == "error"
    result, _ = run("people", "A,B", {"A": "email", "B": "email"})
    assert codes(result) == ["DUPLICATE_COLUMN"]


def test_vocabulary_column_loses_to_an_exact_one() -> None:
    result, fields = run("people", "Email,Email Address,Mobile")
    # "Email Address" is an alias of email too: both exact -> an error, not a silent pick.
    assert codes(result) == ["DUPLICATE_COLUMN"]
    result, fields = run("people", "Email,Mail,Mobile")
    assert fields == {"Email": "email", "Mobile": "mobile"}
    assert result.unmapped == ["Mail"]
    assert "already comes from column 'Email'" in result.issues[0].message


def test_missing_mandatory() -> None:
    result, _ = run("accounts", "Description,Tags")
    assert result.missing_mandatory == ["display_name"]
    result, _ = run("cards", "Card Number,Mobile")
    assert result.missing_mandatory == ["series_code", "status_label", "store_code"]


def test_unmapped_columns_mention_custom_fields_where_possible() -> None:
    result, _ = run("people", "Email,Favourite Colour")
    assert "keep_unmapped_as_custom" in result.issues[0].message
    result, _ = run("stores", "Store Code,Favourite Colour")
    assert "keep_unmapped_as_custom" not in result.issues[0].message
    assert custom_attribute_name("Favourite Colour") == "favourite_colour"
    assert custom_attribute_name("2nd Email") == "f_2nd_email"
    assert custom_attribute_name("***") is None


def test_profile_mismatch_warning() -> None:
    result, _ = run("people", "Record ID,Company name,Company Domain Name,Website URL,Industry,"
                              "Number of Employees")
    assert "PROFILE_MISMATCH" in codes(result)
    assert "profile 'accounts'" in next(
        i.message for i in result.issues if i.code == "PROFILE_MISMATCH")


def test_id_map_columns_name_sources() -> None:
    result, fields = run("id_map", "allroads_id,crm_account_id,Zendesk ID,hubspot,id")
    assert fields == {"allroads_id": "allroads_id", "crm_account_id": "source:crm",
                      "Zendesk ID": "source:zendesk", "hubspot": "source:hubspot"}
    assert result.unmapped == ["id"]
    spec = get_profile("id_map").field("source:crm")
    assert spec.identifier == "source_id" and spec.source == "crm"
    result, _ = run("id_map", "allroads_id,entity_type")
    assert "NO_SOURCE_COLUMNS" in codes(result)


@pytest.mark.parametrize(("header", "source"), [
    ("crm_account_id", "crm"), ("Salesforce ID", "salesforce"), ("stripe", "stripe"),
    ("HubSpot Record ID", "hubspot"), ("id", None), ("_id", None), ("123", None),
])
def test_source_of_column(header: str, source: str | None) -> None:
    assert source_of_column(header) == source


def test_vocabulary_targets_are_fields_of_their_profile() -> None:
    for export in EXPORTS:
        names = PROFILES[export.profile].field_names()
        for header, target in export.columns.items():
            assert target is None or target in names, (export.name, header, target)
    for profile, words in COMMON.items():
        for header, target in words.items():
            assert target in PROFILES[profile].field_names(), (profile, header)
