"""Automatic column mapping: which column of a file feeds which field of a profile.

Headers are matched in this order, each column and each field at most once:

1. the template's explicit mapping (header -> field; ``""`` ignores the column);
2. when the headers look like a known export (Salesforce, HubSpot, Zendesk, Freshdesk,
   Intercom, Stripe, Shopify, Mailchimp), that export's meaning of its own columns: Zendesk's
   ``external_id`` is the user's id in *your* system (user_ref), its ``id`` is Zendesk's
   (external_id);
3. the profile's own labels, aliases and field names;
4. the vocabulary of every known export for the profile.

Headers are compared folded: case-insensitive, every character that is not a letter or digit
dropped (``Account.Name`` == ``Account Name``, ``E-mail`` == ``email``, ``Mobile No.*`` ==
``mobile no``). For ``id_map`` every other column names another system (``crm_account_id`` ->
source ``crm``). The vocabulary is data (``EXPORTS``), documented in docs/imports-profiles.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from allroads.domain.errors import InvalidInput
from allroads.ingest.issues import Issue, error, warning
from allroads.ingest.profiles import PROFILES, SOURCE_PREFIX, ImportProfile, source_field


@dataclass(frozen=True, slots=True)
class Export:
    """The columns a known system writes in one of its CSV exports (API names and labels).

    ``columns`` maps a header to the profile field it feeds, or to None for a column we know
    belongs to this export but do not import.
    """

    name: str
    profile: str
    columns: Mapping[str, str | None]


def _known(*headers: str) -> dict[str, str | None]:
    return dict.fromkeys(headers)


EXPORTS: tuple[Export, ...] = (
    Export("Salesforce Contact", "people", {
        # API names (Data Loader, Data Export, reports with API names)
        "Id": "external_id", "AccountId": "account_ref", "Account.Id": "account_ref",
        "Account.Name": "company", "FirstName": "first_name", "LastName": "last_name",
        "Name": "full_name", "Email": "email", "Phone": "phone", "MobilePhone": "mobile",
        "Title": "job_title", "MailingCity": "city", "MailingCountry": "country",
        # report labels
        "Contact ID": "external_id", "Account ID": "account_ref", "Account Name": "company",
        "First Name": "first_name", "Last Name": "last_name", "Mobile": "mobile",
        "Mailing City": "city", "Mailing Country": "country",
        **_known("Salutation", "HomePhone", "OtherPhone", "Fax", "Department", "Birthdate",
                 "MailingStreet", "MailingState", "MailingPostalCode", "LeadSource", "OwnerId",
                 "CreatedDate", "LastModifiedDate", "Description", "Mailing Street",
                 "Mailing State/Province", "Mailing Zip/Postal Code", "Contact Owner",
                 "Lead Source", "Home Phone", "Other Phone", "Created Date"),
    }),
    Export("HubSpot contacts", "people", {
        "Record ID": "external_id", "First Name": "first_name", "Last Name": "last_name",
        "Email": "email", "Phone Number": "phone", "Mobile Phone Number": "mobile",
        "Company Name": "company", "Job Title": "job_title", "City": "city",
        "Country/Region": "country",
        **_known("Contact owner", "Lifecycle Stage", "Lead Status", "Create Date",
                 "Last Activity Date", "State/Region", "Street Address", "Postal Code",
                 "Website URL", "Associated Company", "Associated Company IDs",
                 "Marketing contact status", "Email Domain", "Original Source"),
    }),
    Export("Zendesk users", "people", {
        "id": "external_id", "name": "full_name", "email": "email", "phone": "phone",
        "external_id": "user_ref", "organization_id": "account_ref",
        "organization": "company",
        **_known("role", "tags", "details", "notes", "time_zone", "locale", "created_at",
                 "updated_at", "url", "alias", "verified", "restriction", "last_login_at",
                 "shared_phone_number", "default_group_id", "brand"),
    }),
    Export("Freshdesk contacts", "people", {
        "Contact ID": "external_id", "Full name": "full_name", "Email": "email",
        "Work phone": "phone", "Mobile phone": "mobile", "Title": "job_title",
        "Company": "company", "Unique external ID": "user_ref",
        **_known("Twitter ID", "Facebook ID", "Address", "Time zone", "Language", "Tags",
                 "Description", "Created at", "Other emails",
                 "Can see all tickets from this company"),
    }),
    Export("Intercom users", "people", {
        "id": "external_id", "user_id": "user_ref", "User ID": "user_ref", "Name": "full_name",
        "Email": "email", "Phone": "phone", "Signed up": "registration_date",
        "signed_up_at": "registration_date", "City": "city", "Country": "country",
        "Company name": "company", "Company ID": "account_ref",
        **_known("First Seen", "Last seen", "Web sessions", "Owner", "Tags",
                 "Unsubscribed from Emails", "Browser Language", "created_at",
                 "last_request_at", "session_count", "unsubscribed_from_emails", "type"),
    }),
    Export("Stripe customers", "people", {
        "id": "external_id", "Email": "email", "Name": "full_name", "Phone": "phone",
        "Address City": "city", "Address Country": "country", "Total Spend": "lifetime_purchases",
        **_known("Description", "Created (UTC)", "Card ID", "Address Line1", "Address Line2",
                 "Address State", "Address Zip", "Shipping Name", "Shipping Phone",
                 "Shipping Address Line1", "Business Vat ID", "Tax Exempt", "Delinquent",
                 "Balance", "Currency", "Payment Count", "Refunded Volume", "Dispute Losses",
                 "Plan", "Status", "Cancel At Period End", "Coupon", "Default Source"),
    }),
    Export("Shopify customers", "people", {
        "Customer ID": "external_id", "First Name": "first_name", "Last Name": "last_name",
        "Email": "email", "Phone": "mobile", "Default Address Company": "company",
        "Default Address City": "city", "Default Address Country Code": "country",
        "Company": "company", "City": "city", "Country": "country",
        "Total Spent": "lifetime_purchases",
        **_known("Accepts Email Marketing", "Accepts SMS Marketing", "Accepts Marketing",
                 "Default Address Address1", "Default Address Address2",
                 "Default Address Province Code", "Default Address Zip",
                 "Default Address Phone", "Address1", "Address2", "Province",
                 "Province Code", "Country Code", "Zip", "Total Orders", "Note", "Tax Exempt",
                 "Tags"),
    }),
    Export("Mailchimp audience", "people", {
        "Email Address": "email", "First Name": "first_name", "Last Name": "last_name",
        "Phone Number": "phone", "CC": "country",
        **_known("Address", "Birthday", "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP",
                 "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE", "LONGITUDE", "GMTOFF", "DSTOFF",
                 "TIMEZONE", "REGION", "LAST_CHANGED", "LEID", "EUID", "NOTES", "TAGS"),
    }),
    Export("Salesforce Account", "accounts", {
        "Id": "external_ref", "Name": "display_name", "Website": "website",
        "Phone": "phone", "Industry": "industry", "Description": "description",
        "Owner.Name": "owner", "OwnerId": "owner",
        "Account ID": "external_ref", "Account Name": "display_name",
        "Account Owner": "owner",
        **_known("Type", "ParentId", "BillingStreet", "BillingCity", "BillingState",
                 "BillingPostalCode", "BillingCountry", "ShippingStreet", "ShippingCity",
                 "ShippingState", "ShippingPostalCode", "ShippingCountry", "Fax",
                 "AccountNumber", "Sic", "AnnualRevenue", "NumberOfEmployees", "Ownership",
                 "TickerSymbol", "Rating", "Site", "CreatedDate", "Billing City",
                 "Billing State/Province", "Billing Country", "Account Number",
                 "Annual Revenue", "Employees", "Parent Account", "Created Date"),
    }),
    Export("HubSpot companies", "accounts", {
        "Record ID": "external_ref", "Company name": "display_name",
        "Company Domain Name": "domains", "Website URL": "website", "Phone Number": "phone",
        "Industry": "industry", "Company owner": "owner", "Description": "description",
        **_known("City", "State/Region", "Country/Region", "Postal Code", "Street Address",
                 "Number of Employees", "Annual Revenue", "Type", "Lifecycle Stage",
                 "Create Date", "Time Zone", "LinkedIn Company Page", "Parent Company",
                 "Last Activity Date"),
    }),
    Export("Zendesk organizations", "accounts", {
        "id": "external_ref", "name": "display_name", "domain_names": "domains",
        "external_id": "org_ref", "details": "description", "tags": "tags",
        **_known("notes", "group_id", "shared_tickets", "shared_comments", "created_at",
                 "updated_at", "url", "organization_fields"),
    }),
    Export("Freshdesk companies", "accounts", {
        "Company ID": "external_ref", "Company Name": "display_name", "Name": "display_name",
        "Description": "description", "Domains": "domains", "Account tier": "tier",
        "Industry": "industry",
        **_known("Notes", "Health score", "Renewal date", "Created at"),
    }),
    Export("Intercom companies", "accounts", {
        "Company ID": "org_ref", "company_id": "org_ref", "id": "external_ref",
        "Company name": "display_name", "name": "display_name", "Website": "website",
        "website": "website", "Industry": "industry",
        **_known("Company size", "Monthly Spend", "Plan", "Company web sessions",
                 "Company last seen", "Company created at", "User count", "created_at"),
    }),
    Export("Stripe customers", "accounts", {
        "id": "external_ref", "Name": "display_name", "Description": "description",
        "Phone": "phone",
        **_known("Email", "Created (UTC)", "Business Vat ID", "Currency", "Balance",
                 "Delinquent", "Total Spend"),
    }),
)

# Plain-language synonyms seen in hand-made files, for every export's vocabulary pass.
COMMON: dict[str, dict[str, str]] = {
    "people": {
        "E-mail": "email", "Mail": "email", "Cell": "mobile", "Cell Phone": "mobile",
        "Mobile Phone": "mobile", "Mobile No": "mobile", "Contact Number": "mobile",
        "Customer ID": "external_id", "Forename": "first_name", "Family Name": "last_name",
        "Organization Name": "company", "Employer": "company", "Position": "job_title",
        "Signup Date": "registration_date", "Sign Up Date": "registration_date",
    },
    "accounts": {
        "Company": "display_name", "Company Name": "display_name",
        "Organization": "display_name", "Organization Name": "display_name",
        "Domain Name": "domains", "Website Domain": "domains", "URL": "website",
        "Homepage": "website", "Segment": "tier",
    },
}

_SOURCE_SUFFIXES = (
    "_record_id", "_account_id", "_person_id", "_contact_id", "_customer_id", "_user_id",
    "_company_id", "_organization_id", "_org_id", "_id",
)


def fold(header: str) -> str:
    """The comparison form of a header: case folded, only letters and digits kept."""
    text = unicodedata.normalize("NFKC", header).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def _snake(header: str) -> str:
    text = unicodedata.normalize("NFKC", header).casefold()
    return re.sub(r"[^0-9a-z]+", "_", text).strip("_")[:64]


def snake_case(header: str) -> str:
    """``Lifecycle Stage`` -> ``lifecycle_stage``; a leading digit gets ``f_`` in front."""
    name = _snake(header)
    if name and name[0].isdigit():
        name = f"f_{name}"
    return name


def custom_attribute_name(header: str) -> str | None:
    """The attribute name an unmapped column is kept under (keep_unmapped_as_custom)."""
    return snake_case(header) or None


def source_of_column(header: str) -> str | None:
    """For id_map: the source a column names (``crm_account_id`` -> ``crm``), else None."""
    name = _snake(header)
    for suffix in _SOURCE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if not name or name == "id" or not name[0].isalpha():
        return None
    return name


@dataclass(frozen=True, slots=True)
class ColumnMap:
    fields: dict[int, str]
    unmapped: list[str]
    missing_mandatory: list[str]
    recognized: str | None
    issues: list[Issue] = field(default_factory=list)


@cache
def _own_names(profile_name: str) -> dict[str, str]:
    """Folded label, alias and name -> field, for one profile."""
    out: dict[str, str] = {}
    for spec in PROFILES[profile_name].fields:
        for spelling in (spec.name, spec.label, *spec.aliases):
            out.setdefault(fold(spelling), spec.name)
    return out


_FOLDED: dict[tuple[str, str], dict[str, str | None]] = {
    (export.name, export.profile): {fold(h): target for h, target in export.columns.items()}
    for export in EXPORTS
}


def _folded(export: Export) -> dict[str, str | None]:
    return _FOLDED[(export.name, export.profile)]


@cache
def _vocabulary(profile_name: str) -> dict[str, str]:
    """Folded header -> field from every export of the profile (first export wins)."""
    out: dict[str, str] = {}
    for export in EXPORTS:
        if export.profile == profile_name:
            for key, target in _folded(export).items():
                if target is not None:
                    out.setdefault(key, target)
    for header, target in COMMON.get(profile_name, {}).items():
        out.setdefault(fold(header), target)
    return out


def _rank(exports: Sequence[Export], keys: Sequence[str]) -> list[tuple[int, int, Export]]:
    """(headers only this export has, headers it has, export), best first."""
    ranked = []
    for export in exports:
        mine = _folded(export)
        others = [_folded(other) for other in exports if other.name != export.name
                  or other.profile != export.profile]
        score = sum(1 for key in keys if key in mine)
        distinct = sum(1 for key in keys if key in mine and not any(key in o for o in others))
        ranked.append((distinct, score, export))
    ranked.sort(key=lambda item: (-item[0], -item[1]))
    return ranked


def recognize(headers: Sequence[str], profile: ImportProfile) -> Export | None:
    """The known export these headers come from, if they clearly look like one."""
    keys = [fold(h) for h in headers if fold(h)]
    own = _own_names(profile.name)
    native = sum(1 for key in keys if key in own)
    candidates = [e for e in EXPORTS if e.profile == profile.name]
    for distinct, score, export in _rank(candidates, keys)[:1]:
        if distinct >= 1 and score >= 3 and score > native:
            return export
    return None


def _other_profile(headers: Sequence[str], profile: ImportProfile) -> Export | None:
    """The export of another profile the headers clearly come from, if any."""
    keys = [fold(h) for h in headers if fold(h)]
    own = _own_names(profile.name)
    native = sum(1 for key in keys if key in own)
    for distinct, score, export in _rank(EXPORTS, keys)[:1]:
        if export.profile != profile.name and distinct >= 1 and score >= 3 and score > native:
            return export
    return None


class _Mapper:
    """Assigns columns to fields, one pass per matching rule, and collects the issues."""

    def __init__(self, headers: Sequence[str], profile: ImportProfile) -> None:
        self.headers = list(headers)
        self.profile = profile
        self.fields: dict[int, str] = {}
        self.claimed: dict[str, int] = {}
        self.done: set[int] = set()
        self.issues: list[Issue] = []
        self.pass_columns: set[int] = set()
        self.reserved: set[int] = set()  # known to a recognized export as "not imported"

    def _name(self, index: int) -> str:
        return self.headers[index]

    def claim(self, index: int, target: str, *, strict: bool) -> None:
        """Give column ``index`` to field ``target``. ``strict``: two columns of the same
        rule claiming one field is an error; otherwise the later column stays unmapped."""
        holder = self.claimed.get(target)
        if holder is not None:
            if strict and holder in self.pass_columns:
                self.issues.append(error(
                    "DUPLICATE_COLUMN",
                    f"Columns {self._name(holder)!r} and {self._name(index)!r} both map to "
                    f"field {target}; remove one, or map them explicitly in the template "
                    "(\"\" ignores a column)",
                    field=target, column=self._name(index)))
                self.done.add(index)
            return
        self.fields[index] = target
        self.claimed[target] = index
        self.done.add(index)
        self.pass_columns.add(index)

    def run_pass(
        self, lookup: Mapping[str, str | None], *, strict: bool, reserve: bool = False
    ) -> None:
        self.pass_columns = set()
        for index, header in enumerate(self.headers):
            if index in self.done or index in self.reserved:
                continue
            key = fold(header)
            target = lookup.get(key)
            if target:
                self.claim(index, target, strict=strict)
            elif reserve and key in lookup:
                self.reserved.add(index)

    def explicit(self, mapping: Mapping[str, str]) -> None:
        self.pass_columns = set()
        names = set(self.profile.field_names())
        exact = {h: i for i, h in reversed(list(enumerate(self.headers)))}
        folded = {fold(h): i for i, h in reversed(list(enumerate(self.headers)))}
        for header, target in mapping.items():
            if target and target not in names and not (
                self.profile.source_columns and target.startswith(SOURCE_PREFIX)
            ):
                raise InvalidInput(
                    f"mapping.{header}: profile {self.profile.name} has no field {target!r}",
                    field=f"mapping.{header}",
                    hint=f"valid fields: {', '.join(sorted(names))}",
                )
            index = exact.get(header, folded.get(fold(header)))
            if index is None:
                self.issues.append(warning(
                    "TEMPLATE_COLUMN_MISSING",
                    f"The template maps column {header!r} to {target or '(ignored)'}, but the "
                    "file has no such column",
                    field=target or None, column=header))
                continue
            if not target:
                self.done.add(index)
                continue
            if target.startswith(SOURCE_PREFIX):
                source_field(target[len(SOURCE_PREFIX):])
            self.claim(index, target, strict=True)

    def sources(self) -> None:
        for index, header in enumerate(self.headers):
            if index in self.done or index in self.reserved:
                continue
            source = source_of_column(header)
            if source is not None:
                self.claim(index, f"{SOURCE_PREFIX}{source}", strict=False)

    def leftovers(self, custom: bool) -> list[str]:
        unmapped: list[str] = []
        keep = (" or enable keep_unmapped_as_custom to keep it as a custom attribute"
                if custom else "")
        for index, header in enumerate(self.headers):
            if index in self.done:
                continue
            if not header.strip():
                self.issues.append(warning(
                    "UNMAPPED_COLUMN",
                    f"Column {index + 1} has no header and is ignored; give it a header or "
                    "remove it", column=f"#{index + 1}"))
                continue
            unmapped.append(header)
            target = _vocabulary(self.profile.name).get(fold(header)) or _own_names(
                self.profile.name).get(fold(header))
            reason = (f"field {target} already comes from column "
                      f"{self._name(self.claimed[target])!r}" if target in self.claimed
                      else f"it matches no field of profile {self.profile.name}")
            self.issues.append(warning(
                "UNMAPPED_COLUMN",
                f"Column {header!r} is ignored: {reason}; map it in the template{keep}",
                column=header))
        return unmapped


def map_columns(
    headers: Sequence[str],
    profile: ImportProfile,
    explicit: Mapping[str, str] | None = None,
) -> ColumnMap:
    """Map a file's headers to the profile's fields (see the module docstring for the order)."""
    mapper = _Mapper(headers, profile)
    if explicit:
        mapper.explicit(explicit)
    export = recognize(headers, profile)
    if export is not None:
        mapper.run_pass(_folded(export), strict=False, reserve=True)
    mapper.run_pass(_own_names(profile.name), strict=True)
    mapper.run_pass(_vocabulary(profile.name), strict=False)
    if profile.source_columns:
        mapper.sources()
        if not any(name.startswith(SOURCE_PREFIX) for name in mapper.fields.values()):
            mapper.issues.append(error(
                "NO_SOURCE_COLUMNS",
                "The ID map has no column of another system's ids; add one column per "
                "system, named after it (crm_account_id, zendesk_id, hubspot)"))
    unmapped = mapper.leftovers(profile.custom_fields)
    mapped = set(mapper.fields.values())
    missing = [name for name in profile.mandatory_fields() if name not in mapped]
    mismatch = _other_profile(headers, profile)
    if mismatch is not None:
        mapper.issues.append(warning(
            "PROFILE_MISMATCH",
            f"The headers look like a {mismatch.name} export, which is imported with profile "
            f"{mismatch.profile!r}, not {profile.name!r}"))
    return ColumnMap(
        fields=dict(sorted(mapper.fields.items())),
        unmapped=unmapped,
        missing_mandatory=missing,
        recognized=export.name if export is not None else None,
        issues=mapper.issues,
    )
