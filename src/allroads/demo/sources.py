"""How each demo system's rows become identify requests: the field mapping, one function a table.

This is what a connector for each system would send:

* product accounts carry their id as ``org_ref`` (the account id all roads lead to); product
  users name their account by that id (``account_external_id``), which Allroads matches
  against the accounts' ``org_ref``;
* CRM accounts turn ``MyId`` and ``Support__Id`` into ``source_id`` identifiers
  (``product:34``, ``support:2101``): ids of the same account in the other systems;
* CRM contacts and support users are sent with their account (the CRM account or support
  organization, exactly as it was sent before), the way a connector sends a contact together
  with its company; without one, Allroads tries the email domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from allroads.demo.data import CRM_ACCOUNTS, SUPPORT_ORGANIZATIONS, Row
from allroads.domain.types import EntityType, IdentifyRequest

ACCOUNT, PERSON = EntityType.ACCOUNT, EntityType.PERSON

_CRM_ACCOUNTS: Mapping[str, Row] = {row["Id"]: row for row in CRM_ACCOUNTS}
_SUPPORT_ORGS: Mapping[int, Row] = {row["id"]: row for row in SUPPORT_ORGANIZATIONS}


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != "" and v != []}


def product_account(row: Row) -> IdentifyRequest:
    return IdentifyRequest(ACCOUNT, "product", str(row["id"]),
                           _present({"org_ref": str(row["id"]), "domain": row["domain"]}),
                           _present({"display_name": row["name"], "plan": row["plan"]}))


def product_user(row: Row) -> IdentifyRequest:
    return IdentifyRequest(PERSON, "product", str(row["id"]),
                           _present({"user_ref": str(row["id"]), "email": row["email"]}),
                           _present({"name": row["name"],
                                     "account_external_id": str(row["account_id"])}))


def crm_account(row: Row) -> IdentifyRequest:
    elsewhere = [f"{source}:{row[field]}" for source, field in
                 (("product", "MyId"), ("support", "Support__Id")) if row.get(field)]
    return IdentifyRequest(ACCOUNT, "crm", str(row["Id"]),
                           _present({"domain": row["Website"], "phone": row["Phone"],
                                     "source_id": elsewhere}),
                           _present({"display_name": row["Name"],
                                     "industry": row["Industry"]}))


def crm_contact(row: Row) -> IdentifyRequest:
    account = _CRM_ACCOUNTS.get(row["AccountId"]) if row["AccountId"] else None
    return IdentifyRequest(PERSON, "crm", str(row["Id"]),
                           _present({"email": row["Email"], "phone": row["Phone"]}),
                           _present({"first_name": row["FirstName"],
                                     "last_name": row["LastName"], "title": row["Title"]}),
                           account=crm_account(account) if account else None)


def support_organization(row: Row) -> IdentifyRequest:
    return IdentifyRequest(ACCOUNT, "support", str(row["id"]),
                           _present({"domain": list(row["domain_names"])}),
                           _present({"display_name": row["name"]}))


def support_user(row: Row) -> IdentifyRequest:
    org = _SUPPORT_ORGS.get(row["organization_id"]) if row["organization_id"] else None
    return IdentifyRequest(PERSON, "support", str(row["id"]),
                           _present({"email": row["email"], "phone": row["phone"]}),
                           _present({"name": row["name"]}),
                           account=support_organization(org) if org else None)
