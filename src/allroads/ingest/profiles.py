"""Import profiles: what a file of each kind may hold, as data.

A profile lists its fields (name, the label used in the sample CSV, type, whether mandatory,
which identifier or profile attribute it feeds), the identifiers a template may choose as the
customer's unique one, and the template options it supports. The pipeline interprets profiles;
nothing here reads files or touches the store. The profiles follow the Capillary import
profiles (loyalty customers, cards, card series, coupon redemption, customer status, fraud
status, subscriptions, entity life cycle) and the DevRev accounts CSV import; ``id_map`` and
``stores`` are Allroads' own.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from allroads.domain.errors import InvalidInput


class FieldType(StrEnum):
    TEXT = "text"
    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    DATE = "date"
    DATETIME = "datetime"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    LIST = "list"
    STORE = "store"
    DOMAIN = "domain"
    URL = "url"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a profile. Only ``name``, ``label`` and ``type`` are required."""

    name: str
    label: str
    type: FieldType
    mandatory: bool = False
    identifier: str | None = None
    attribute: str | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    pattern: str | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""
    updatable: bool = True
    # --- additions to the shared contract ---
    item_type: FieldType | None = None  # LIST: the type of each item (TEXT when None)
    choice_synonyms: tuple[tuple[str, str], ...] = ()  # CHOICE: (synonym, canonical) pairs
    error_code: str | None = None  # code for this field's value errors (INVALID_JOIN_DATE)
    not_empty: bool = False  # an empty cell is an error even though the field is optional
    past_only: bool = False  # dates may not be after today
    minimum: int | None = None  # INTEGER / DECIMAL: smallest allowed value
    checked_when: str | None = None  # the pattern is checked only when this option is on
    source: str | None = None  # id_map: the other system whose ids this column holds
    sample: str = ""  # example value for the sample CSV

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": str(self.type),
            "mandatory": self.mandatory,
            "identifier": self.identifier,
            "attribute": self.attribute,
            "description": self.description,
            "updatable": self.updatable,
            "aliases": list(self.aliases),
        }
        if self.choices:
            out["choices"] = list(self.choices)
        if self.choice_synonyms:
            out["choice_synonyms"] = dict(self.choice_synonyms)
        if self.max_length is not None:
            out["max_length"] = self.max_length
        if self.pattern is not None:
            out["pattern"] = self.pattern
        if self.item_type is not None:
            out["item_type"] = str(self.item_type)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        return out


# Template options (TemplateOptions fields): the Capillary wording, and what each does.
OPTIONS: dict[str, tuple[str, str]] = {
    "disable_updates": (
        "Disable existing data updation",
        "Rows for customers (or cards, series, stores) that already exist are rejected "
        "(UPDATE_DISABLED) instead of updating them.",
    ),
    "update_fields": (
        "Select fields to be updated",
        "Only these fields are updated on existing records; other fields keep their stored "
        "values (FIELD_NOT_UPDATED). Absent: every field may be updated.",
    ),
    "skip_empty_values": (
        "Disable updation of custom fields with empty values",
        "An empty cell never overwrites a stored value (EMPTY_NOT_OVERWRITTEN).",
    ),
    "append_country_code": (
        "Append country code to the mobile number automatically",
        "Mobile numbers written without a country code get the tenant region's one "
        "(COUNTRY_CODE_APPENDED); without this option they are rejected (MOBILE_NO_COUNTRY_CODE).",
    ),
    "disable_mobile_validation": (
        "Disable mobile number validation",
        "Mobile numbers are taken as written (trimmed), without format or regex checks.",
    ),
    "disable_email_validation": (
        "Disable email id validation",
        "Emails are taken as written (trimmed), without format checks.",
    ),
    "replace_invalid_store": (
        "Replace invalid store names with",
        "Store code used instead of unknown stores (STORE_REPLACED) rather than rejecting "
        "the row (UNKNOWN_STORE).",
    ),
    "stores_by_external_id": (
        "Denote stores by external ids",
        "Store columns hold the stores' external ids rather than their store codes.",
    ),
    "validate_transaction_number": (
        "Validate Transaction Number",
        "Transaction numbers are checked before saving (INVALID_TRANSACTION_NUMBER).",
    ),
    "skip_redemption_range_check": (
        "Do not check redemption range",
        "Redemption dates are not checked against the voucher series' valid date range.",
    ),
    "replace_invalid_series": (
        "Replace invalid voucher series id with",
        "Series used instead of unknown voucher series ids (SERIES_REPLACED) rather than "
        "rejecting the row (UNKNOWN_CARD_SERIES).",
    ),
    "link_user": (
        "Link user",
        "Cards are tagged to the customer found by the template's unique identifier.",
    ),
    "keep_unmapped_as_custom": (
        "Keep unmapped columns as custom fields",
        "Columns that map to no field are kept as custom attributes (snake_case of the "
        "header) instead of being ignored.",
    ),
    "skip_fuzzy_matching": (
        "Skip fuzzy matching of new customers",
        "New customers are not looked up by name, birthdate or address, only by their "
        "identifiers, and are written in bulk: faster, for a first load of customers known "
        "to be distinct. Rows resolved one by one (updates, repeats within the file) are "
        "still matched. Run `allroads match` afterwards to find duplicates in batch.",
    ),
}

MATCH_ON_KINDS: tuple[str, ...] = ("mobile", "email", "external_id", "user_id")


@dataclass(frozen=True, slots=True)
class ImportProfile:
    name: str
    title: str
    description: str
    entity_type: str | None
    fields: tuple[FieldSpec, ...]
    match_on: tuple[str, ...]
    one_of: tuple[tuple[str, ...], ...] = ()
    options: tuple[str, ...] = ()
    custom_fields: bool = False
    source_columns: bool = False  # id_map: other columns hold other systems' ids

    def field(self, name: str) -> FieldSpec:
        """The field called ``name``; for id_map also ``source:<system>`` columns."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        if self.source_columns and name.startswith(SOURCE_PREFIX):
            return source_field(name[len(SOURCE_PREFIX) :])
        raise InvalidInput(
            f"Profile {self.name!r} has no field {name!r}",
            field=name,
            hint=f"use one of: {', '.join(self.field_names())}",
        )

    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)

    def mandatory_fields(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields if spec.mandatory)

    def sample_csv(self) -> str:
        """Header row of labels and one sample row: ``mandatory`` under mandatory columns."""
        headers = [spec.label for spec in self.fields]
        row = ["mandatory" if spec.mandatory else spec.sample for spec in self.fields]
        if self.source_columns:
            headers.append("crm_id")
            row.append("0015g00000XyZ12AAB")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        writer.writerow(row)
        return out.getvalue()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "entity_type": self.entity_type,
            "match_on": list(self.match_on),
            "one_of": [list(group) for group in self.one_of],
            "options": [
                {"name": option, "label": OPTIONS[option][0], "description": OPTIONS[option][1]}
                for option in self.options
            ],
            "custom_fields": self.custom_fields,
            "source_columns": self.source_columns,
            "fields": [spec.to_dict() for spec in self.fields],
            "sample_csv": self.sample_csv(),
        }


# --- id_map: columns named after another system ---------------------------------------------

SOURCE_PREFIX = "source:"
_SOURCE_NAME = re.compile(r"[a-z][a-z0-9_.\-]{0,63}")


def source_field(source: str) -> FieldSpec:
    """The spec of an id_map column holding ``source``'s ids (feeds identifier source_id)."""
    if not _SOURCE_NAME.fullmatch(source):
        raise InvalidInput(
            f"{source!r} is not a valid source name",
            field=f"{SOURCE_PREFIX}{source}",
            hint="a lower-case letter, then letters, digits, '_', '.' or '-' (crm, zendesk)",
        )
    return FieldSpec(
        f"{SOURCE_PREFIX}{source}",
        f"{source}_id",
        FieldType.TEXT,
        identifier="source_id",
        source=source,
        max_length=255,
        description=f"The id of the same customer in {source}; stored as {source}:<id>.",
    )


# --- shared field builders --------------------------------------------------------------------

_STORE_LABEL = "Till IUN Or Store Ext Id"
_STORE_ALIASES = (
    _STORE_LABEL,
    "Till IUN",
    "Store Code",
    "StoreCode",
    "Store Ext Id",
    "Store's External ID",
    "Store Terminal Username",
    "Store Terminal User Name",
    "Store's External ID/ Store Terminal Username",
    "Store's External ID/ Store Terminal User Name",
    "Join Store",
)


def _store(
    mandatory: bool, description: str, *, label: str = _STORE_LABEL, sample: str = "mal"
) -> FieldSpec:
    return FieldSpec(
        "store_code",
        label,
        FieldType.STORE,
        mandatory=mandatory,
        attribute="store_code",
        max_length=64,
        aliases=tuple(alias for alias in _STORE_ALIASES if alias != label),
        description=description,
        sample=sample,
    )


_USER_ID = FieldSpec(
    "user_id",
    "User ID",
    FieldType.TEXT,
    pattern=r"per_[a-z0-9]{1,64}",
    aliases=("User Id", "Allroads ID", "Person ID"),
    description="The Allroads person ID (per_...); required to update an existing customer "
    "profile through it.",
    sample="",
)


def _mobile(updatable: bool = True) -> FieldSpec:
    return FieldSpec(
        "mobile",
        "Mobile",
        FieldType.PHONE,
        identifier="phone",
        attribute="mobile",
        aliases=("Mobile No.", "Mobile Number"),
        description="Mobile number; E.164, or national with the tenant's region and "
        "append_country_code.",
        updatable=updatable,
        sample="9900111111",
    )


_EMAIL = FieldSpec(
    "email",
    "Email",
    FieldType.EMAIL,
    identifier="email",
    attribute="email",
    max_length=254,
    aliases=("Email ID", "Email Id", "Email Address"),
    description="Email address (lower-cased; syntax checked, never DNS).",
    sample="tom@example.com",
)

_EXTERNAL_ID = FieldSpec(
    "external_id",
    "External Id",
    FieldType.TEXT,
    identifier="external_id",
    max_length=255,
    aliases=("External ID", "ExternalId"),
    description="The customer's id in the source system (loyalty card number, CRM id, ...).",
    sample="lb67p",
)

_CUSTOMER_IDS: tuple[FieldSpec, ...] = (_USER_ID, _mobile(), _EMAIL, _EXTERNAL_ID)
_ONE_CUSTOMER_ID = (("user_id", "mobile", "email", "external_id"),)


def _text(name: str, label: str, **kw: Any) -> FieldSpec:
    kw.setdefault("max_length", 255)
    return FieldSpec(name, label, FieldType.TEXT, **kw)


def _choice(name: str, label: str, choices: tuple[str, ...], **kw: Any) -> FieldSpec:
    return FieldSpec(name, label, FieldType.CHOICE, choices=choices, **kw)


# --- the profiles -----------------------------------------------------------------------------

PEOPLE = ImportProfile(
    name="people",
    title="Loyalty customers",
    description=(
        "Add new customers or update existing customers' profiles. Apart from the standard "
        "fields, custom field values can be kept (keep_unmapped_as_custom). One customer "
        "identifier (mobile, email, external id or user id) is mandatory."
    ),
    entity_type="person",
    fields=(
        FieldSpec("first_name", "First Name", FieldType.NAME, attribute="first_name",
                  max_length=100, aliases=("FirstName", "Given Name"), sample="Tom",
                  description="Given name: letters, spaces, apostrophes, hyphens, periods."),
        FieldSpec("last_name", "Last Name", FieldType.NAME, attribute="last_name",
                  max_length=100, aliases=("LastName", "Surname"), sample="Sawyer",
                  description="Family name: letters, spaces, apostrophes, hyphens, periods."),
        _mobile(updatable=False),
        _EMAIL,
        _EXTERNAL_ID,
        _store(False, "The store the customer registered at (join_store); must be a known "
               "store (UNKNOWN_STORE) unless replace_invalid_store is set."),
        FieldSpec("registration_date", "Registration Date", FieldType.DATETIME,
                  attribute="registration_date", past_only=True,
                  aliases=("Registration date", "Registered On"), sample="2016-12-15",
                  description="When the customer registered."),
        FieldSpec("join_date", "Date of Joining", FieldType.DATE, attribute="join_date",
                  past_only=True, not_empty=True, error_code="INVALID_JOIN_DATE",
                  aliases=("Join Date", "Joining Date"), sample="2016-12-15",
                  description="When the customer joined the loyalty programme; invalid, empty "
                  "or future dates are INVALID_JOIN_DATE."),
        FieldSpec("loyalty_points", "Loyalty Points", FieldType.DECIMAL,
                  attribute="loyalty_points", sample="120",
                  description="Current points balance."),
        FieldSpec("lifetime_points", "Lifetime Points", FieldType.DECIMAL,
                  attribute="lifetime_points", minimum=0, sample="450",
                  description="Points earned over the customer's lifetime."),
        FieldSpec("lifetime_purchases", "Lifetime Purchases", FieldType.DECIMAL,
                  attribute="lifetime_purchases", minimum=0, sample="1234.50",
                  description="Total purchase amount over the customer's lifetime."),
        _text("slab_name", "Slab Name", attribute="slab_name", aliases=("Slab", "Tier Name"),
              sample="Gold", description="Loyalty tier (slab)."),
        _USER_ID,
        FieldSpec("full_name", "Name", FieldType.NAME, attribute="name", max_length=200,
                  aliases=("Full Name", "Customer Name"), sample="",
                  description="Full name, when the file has no first/last name columns."),
        FieldSpec("phone", "Phone", FieldType.PHONE, identifier="phone", attribute="phone",
                  aliases=("Phone Number", "Work Phone", "Telephone"), sample="",
                  description="Another phone number (work, home)."),
        _text("user_ref", "User Ref", identifier="user_ref",
              aliases=("External Reference", "User Reference"), sample="",
              description="The user's id in your primary customer record (DevRev user_ref)."),
        _text("company", "Company", attribute="company",
              aliases=("Company Name", "Organization"), sample="",
              description="Name of the company the person works for."),
        _text("account_ref", "Account Ref", identifier="org_ref",
              aliases=("Org Ref", "Account External Reference"), sample="",
              description="The id of the person's account in the source system (org_ref); "
              "links the person to that account."),
        _text("job_title", "Job Title", attribute="job_title", aliases=("Title",), sample=""),
        _text("city", "City", attribute="city", sample=""),
        _text("country", "Country", attribute="country", sample=""),
    ),
    match_on=MATCH_ON_KINDS,
    one_of=_ONE_CUSTOMER_ID,
    options=(
        "disable_updates",
        "skip_empty_values",
        "update_fields",
        "replace_invalid_store",
        "append_country_code",
        "disable_mobile_validation",
        "disable_email_validation",
        "stores_by_external_id",
        "keep_unmapped_as_custom",
        "skip_fuzzy_matching",
    ),
    custom_fields=True,
)

ACCOUNTS = ImportProfile(
    name="accounts",
    title="Accounts",
    description=(
        "Customer accounts (companies, workspaces), as in the DevRev accounts CSV import. "
        "Rows with an invalid value are not created; the others are."
    ),
    entity_type="account",
    fields=(
        _text("display_name", "Display Name", mandatory=True, attribute="name",
              description="The account's name."),
        _text("description", "Description", attribute="description", max_length=5000,
              sample="Enterprise customer since 2019"),
        FieldSpec("domains", "Domains", FieldType.LIST, item_type=FieldType.DOMAIN,
                  identifier="domain", attribute="domains", aliases=("Domain",),
                  sample="acme.com; acme.io",
                  description="Company domains, separated by ';', ',' or '|'."),
        FieldSpec("tags", "Tags", FieldType.LIST, attribute="tags", max_length=100,
                  aliases=("Tag",), sample="vip; emea",
                  description="Tags, separated by ';', ',' or '|'."),
        _text("tier", "Tier", attribute="tier", aliases=("Tiers",), sample="Tier 1"),
        _text("external_ref", "External Reference", identifier="external_id",
              aliases=("External Ref", "External Id"), sample="ACME-001",
              description="The account's id in the source system the file comes from."),
        _text("org_ref", "Org Ref", identifier="org_ref", aliases=("Organization Ref",),
              sample="",
              description="The organization's id in your primary customer record (DevRev "
              "org_ref); people sent with this account_ref are linked to the account."),
        _text("owner", "Owner", attribute="owner", aliases=("Owned By", "Account Owner"),
              sample="jane@yourcompany.com"),
        FieldSpec("website", "Website", FieldType.URL, attribute="website", max_length=2048,
                  aliases=("Websites", "Website URL"), sample="https://acme.com"),
        _text("industry", "Industry", attribute="industry", sample="Manufacturing"),
        FieldSpec("phone", "Phone", FieldType.PHONE, attribute="phone",
                  aliases=("Phone Number",), sample="",
                  description="Switchboard number (an attribute, never an identifier)."),
    ),
    match_on=("external_id",),
    options=("disable_updates", "update_fields", "skip_empty_values", "keep_unmapped_as_custom",
             "skip_fuzzy_matching"),
    custom_fields=True,
)

_SERIES_CODE = FieldSpec(
    "series_code",
    "Card Series Code",
    FieldType.TEXT,
    mandatory=True,
    max_length=50,
    pattern=r"[A-Za-z0-9]+",
    aliases=("Series Code",),
    description="Unique code of the card series: up to 50 letters or digits.",
    sample="GOLDPHY2",
)

CARD_SERIES = ImportProfile(
    name="card_series",
    title="Card series",
    description="Create card series (value, premium, digital, physical cards) for the "
    "organization.",
    entity_type=None,
    fields=(
        _SERIES_CODE,
        _text("description", "Card Series Description", aliases=("Description",),
              sample="Gold Card"),
        _choice("card_type", "Card Type", ("PHYSICAL", "DIGITAL"), mandatory=True,
                description="PHYSICAL for physical cards, DIGITAL for digital or soft copies."),
        FieldSpec("card_generation_enabled", "Card Generation Enabled", FieldType.BOOLEAN,
                  sample="true",
                  description="true to auto-generate cards for the series, false to generate "
                  "them manually."),
        _text("card_suffix", "Card Suffix", max_length=20, sample="2021",
              description="Ending characters of the card numbers."),
        _text("card_prefix", "Card Prefix", max_length=20, sample="GOLD2",
              description="Starting characters of the card numbers."),
        FieldSpec("card_length", "Card Length", FieldType.INTEGER, minimum=1, sample="16",
                  description="Length of the card numbers."),
        FieldSpec("expiry_days", "Expiry Days", FieldType.INTEGER, minimum=0, sample="1000",
                  description="Validity in days from the issue date."),
        _store(True, "The till or store tagged to the card series."),
    ),
    match_on=(),
    options=("disable_updates", "update_fields", "stores_by_external_id"),
)

_CARD_STATUSES = ("NOT_ISSUED", "ACTIVE", "INACTIVE", "DELETED", "EXPIRED")

CARDS = ImportProfile(
    name="cards",
    title="Cards",
    description="Historical card details of customers: each card, its series and status, "
    "tagged to the customer found by the template's unique identifier (link_user).",
    entity_type="person",
    fields=(
        FieldSpec("card_number", "Card Number", FieldType.TEXT, mandatory=True,
                  identifier="card_number", aliases=("Number",),
                  description="The unique number of the card, per the series configuration."),
        replace(_SERIES_CODE, sample=""),
        _choice("status_label", "Card Status Label", _CARD_STATUSES, mandatory=True,
                aliases=("Status Label",),
                description="Card status: not issued, active, inactive, deleted, expired."),
        _store(True, "The till or store tagged to the card series."),
        *_CUSTOMER_IDS,
        _text("card_external_id", "Card External ID", attribute="card_external_id",
              aliases=("Card External Id",), sample="E34334",
              description="The organization's own reference for the card."),
    ),
    match_on=MATCH_ON_KINDS,
    options=(
        "link_user",
        "disable_updates",
        "update_fields",
        "stores_by_external_id",
        "append_country_code",
    ),
)

COUPON_REDEMPTIONS = ImportProfile(
    name="coupon_redemptions",
    title="Coupon redemption",
    description="Redeem coupons offline, in bulk. The customer is found by the template's "
    "unique identifier in 'User Identification Input'.",
    entity_type="person",
    fields=(
        _text("voucher_series_id", "Voucher Series Id", mandatory=True, max_length=64,
              aliases=("Coupon Series Id",), description="The coupon (voucher) series."),
        _text("voucher_code", "Voucher Code", mandatory=True, max_length=64,
              aliases=("Coupon Code",), description="The coupon code redeemed."),
        _store(True, "The store (external id or terminal user name) where the coupon was "
               "redeemed.", label="Store's External ID/ Store Terminal User Name"),
        _text("user_identification", "User Identification Input", mandatory=True,
              description="The customer's identifier, of the kind the template's match_on "
              "names (a mobile number by default)."),
        FieldSpec("redeemed_at", "Date of Redemption", FieldType.DATETIME, mandatory=True,
                  past_only=True, aliases=("Redeemed Date", "Redemption Date"),
                  description="When the coupon was redeemed (12/15/2016 15:06, ISO 8601...)."),
        _text("transaction_number", "Transaction Number", mandatory=True, max_length=50,
              pattern=r"[A-Za-z0-9][A-Za-z0-9_./\-]*", checked_when="validate_transaction_number",
              error_code="INVALID_TRANSACTION_NUMBER", aliases=("Bill Number",),
              description="The bill number of the redemption."),
        FieldSpec("transaction_amount", "Transaction Amount", FieldType.DECIMAL, minimum=0,
                  aliases=("Bill Amount",), sample="1200.00"),
    ),
    match_on=MATCH_ON_KINDS,
    options=(
        "disable_updates",
        "stores_by_external_id",
        "update_fields",
        "validate_transaction_number",
        "skip_redemption_range_check",
        "replace_invalid_series",
        "append_country_code",
    ),
)

_STATUS_LABELS = ("Active", "Suspended", "Deleted", "Fraud Suspected", "Fraud Confirmed",
                  "Internal")

CUSTOMER_STATUS = ImportProfile(
    name="customer_status",
    title="Customer status update",
    description="Update customers' status labels. One customer identifier (user id, email, "
    "external id or mobile) is mandatory.",
    entity_type="person",
    fields=(
        *_CUSTOMER_IDS,
        _choice("status_label", "Status Label", _STATUS_LABELS, mandatory=True,
                attribute="status", aliases=("Customer Status Label", "Status"),
                description="New status of the customer."),
        _store(False, "The till or store to associate with the update.", sample="store.4683"),
    ),
    match_on=MATCH_ON_KINDS,
    one_of=_ONE_CUSTOMER_ID,
    options=("stores_by_external_id", "replace_invalid_store", "append_country_code"),
)

FRAUD_STATUS = ImportProfile(
    name="fraud_status",
    title="Update fraud status",
    description="Update the fraud status of customers. One customer identifier among mobile "
    "number, email, external id or user id is mandatory.",
    entity_type="person",
    fields=(
        *_CUSTOMER_IDS,
        _choice("fraud_status", "Fraud Status", ("INTERNAL", "MARKED", "CONFIRMED",
                                                 "RECONFIRMED", "NOT_FRAUD"),
                mandatory=True, attribute="fraud_status", aliases=("Status",)),
        _text("reason", "Fraud Reason", mandatory=True, attribute="fraud_reason",
              aliases=("Reason",), description="Why the status changes (Staff customer)."),
        _store(True, "The store recording the change.", label="Store Code"),
    ),
    match_on=MATCH_ON_KINDS,
    one_of=_ONE_CUSTOMER_ID,
    options=("replace_invalid_store", "stores_by_external_id", "append_country_code"),
)

_CHANNELS = ("line", "mobile", "email", "whatsapp", "ios", "android", "postmail", "mobilePush")

SUBSCRIPTIONS = ImportProfile(
    name="subscriptions",
    title="User subscription",
    description="Update customers' subscription status per channel. Only mobile numbers and "
    "emails registered in the organization can be used; the template's match_on says which "
    "column identifies the customer.",
    entity_type="person",
    fields=(
        *_CUSTOMER_IDS,
        _choice("channel", "Comm Channel", _CHANNELS, mandatory=True, aliases=("Channel",),
                choice_synonyms=(("SMS", "mobile"), ("push", "mobilePush"),
                                 ("post", "postmail"), ("mail", "postmail")),
                description="Channel: line, mobile, email, whatsapp, ios, android, postmail, "
                "mobilePush (SMS is read as mobile)."),
        _choice("priority", "Priority", ("TRANS", "BULK"), mandatory=True,
                choice_synonyms=(("transactional", "TRANS"), ("promotional", "BULK")),
                description="Type of message: TRANS (transactional) or BULK."),
        _choice("status", "Sub Status", ("OPTIN", "OPTOUT"), mandatory=True,
                aliases=("Subscription Status", "Status"),
                choice_synonyms=(("subscribed", "OPTIN"), ("unsubscribed", "OPTOUT")),
                description="New status: OPTIN or OPTOUT."),
        _text("account_name", "Account Name",
              description="Required for channels with multiple accounts."),
        _text("org_unit", "Org Unit or Concept Code", aliases=("Org Unit", "Concept Code"),
              description="Org unit or concept for which the subscription is updated."),
    ),
    match_on=MATCH_ON_KINDS,
    one_of=_ONE_CUSTOMER_ID,
    options=("append_country_code",),
)

LIFECYCLE = ImportProfile(
    name="lifecycle",
    title="Entity life cycle",
    description="Map customer registrations to the organization's source registration events "
    "(WeChat Follow, WeChat Register).",
    entity_type="person",
    fields=(
        _text("entity_type", "Entity Type", mandatory=True, sample="CUSTOMER"),
        _text("entity_id", "Entity ID", mandatory=True, sample="1234234"),
        _text("org_source_id", "Org Source ID", mandatory=True,
              description="The source through which the customer registered."),
        _text("activity", "Activity", mandatory=True,
              description="Activity the customer registered for (WeChat Follow)."),
        _text("state", "State", mandatory=True),
        _text("added_by", "Added by", mandatory=True),
        _text("reference_id", "Reference ID", mandatory=True),
        FieldSpec("updated_on", "Updated on", FieldType.DATETIME, mandatory=True,
                  past_only=True),
    ),
    match_on=(),
)

ID_MAP = ImportProfile(
    name="id_map",
    title="Cross-system ID map",
    description="Tell Allroads which ids other systems use for its customers: one row per "
    "person or account, column allroads_id, then one column per other system, named "
    "<source>_id, <source>_account_id or <source> (crm_account_id -> source crm).",
    entity_type=None,
    fields=(
        FieldSpec("allroads_id", "allroads_id", FieldType.TEXT, mandatory=True,
                  pattern=r"(per|acc)_[a-z0-9]{1,64}", aliases=("Allroads ID",),
                  description="The Allroads ID of the person (per_...) or account (acc_...).",
                  sample="acc_7x2kq4m9a3b5c6d8"),
        _choice("entity_type", "entity_type", ("person", "account"),
                choice_synonyms=(("contact", "person"), ("user", "person"),
                                 ("company", "account"), ("organization", "account")),
                description="person or account; when empty, read from the ID's prefix.",
                sample="account"),
    ),
    match_on=(),
    source_columns=True,
)

STORES = ImportProfile(
    name="stores",
    title="Stores",
    description="The reference table of stores (and tills) other profiles' store columns are "
    "checked against.",
    entity_type=None,
    fields=(
        _text("store_code", "Store Code", mandatory=True, max_length=64,
              aliases=("Till IUN", "StoreCode"), description="The store's (or till's) code."),
        _text("external_id", "Store External ID", max_length=64,
              aliases=("External ID", "Store Ext Id"), sample="ST-0042",
              description="The store's external id (used with stores_by_external_id)."),
        _text("name", "Store Name", aliases=("Name",), sample="Mall Road"),
        _text("city", "City", sample="Bengaluru"),
    ),
    match_on=(),
    options=("disable_updates", "update_fields"),
)

PROFILES: dict[str, ImportProfile] = {
    profile.name: profile
    for profile in (
        PEOPLE,
        ACCOUNTS,
        CARD_SERIES,
        CARDS,
        COUPON_REDEMPTIONS,
        CUSTOMER_STATUS,
        FRAUD_STATUS,
        SUBSCRIPTIONS,
        LIFECYCLE,
        ID_MAP,
        STORES,
    )
}


def get_profile(name: str) -> ImportProfile:
    """The profile called ``name``, or InvalidInput listing the valid names."""
    profile = PROFILES.get(name.strip().lower()) if isinstance(name, str) else None
    if profile is None:
        raise InvalidInput(
            f"Unknown import profile {name!r}",
            field="profile",
            hint=f"use one of: {', '.join(PROFILES)}",
        )
    return profile
