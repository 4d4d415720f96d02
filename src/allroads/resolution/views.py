"""Public views: a profile as the API and CLI show it, and fields sent in, as a record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from allroads.domain.types import EntityType
from allroads.store import ProfileRow

PERSON_FIELDS = ("first_name", "last_name", "name", "birthdate", "gender", "area", "timezone")
ACCOUNT_FIELDS = ("display_name", "description", "tier", "owner", "tags")
# Fields sent to create/update that are identifiers of the manual record, by entity type.
PERSON_IDENTIFIER_FIELDS = {"emails": "email", "phones": "phone", "external_ref": "user_ref",
                            "external_id": "external_id"}
ACCOUNT_IDENTIFIER_FIELDS = {"domains": "domain", "external_ref": "org_ref",
                             "external_id": "external_id", "phones": "phone"}


def identifier_fields(entity_type: EntityType) -> dict[str, str]:
    return PERSON_IDENTIFIER_FIELDS if entity_type is EntityType.PERSON \
        else ACCOUNT_IDENTIFIER_FIELDS


def plain_fields(entity_type: EntityType) -> tuple[str, ...]:
    return PERSON_FIELDS if entity_type is EntityType.PERSON else ACCOUNT_FIELDS


def entity_view(profile: ProfileRow, *, account_public_id: str | None = None,
                provenance: bool = True) -> dict[str, Any]:
    etype = EntityType(profile.entity_type)
    attrs: Mapping[str, Any] = profile.data.get("attributes", {})
    idents: Mapping[str, list[str]] = profile.data.get("identifiers", {})
    view: dict[str, Any] = {"id": profile.public_id, "type": etype.value,
                            "display_name": profile.display_name}
    known = plain_fields(etype)
    for name in known:
        if name != "display_name":
            view[name] = attrs.get(name, [] if name == "tags" else None)
    for name, kind in identifier_fields(etype).items():
        values = list(idents.get(kind, []))
        view[name] = values if name in ("emails", "phones", "domains") else (
            values[0] if values else None)
    if etype is EntityType.PERSON:
        view["account"] = account_public_id
    view["identifiers"] = {k: v for k, v in idents.items() if k != "source_id"}
    view["custom_attributes"] = {k: v for k, v in attrs.items()
                                 if k not in known and not k.startswith("_")
                                 and k not in ("account",)}
    view["sources"] = profile.data.get("sources", {})
    view["created_at"] = profile.created_at.isoformat()
    view["updated_at"] = profile.updated_at.isoformat()
    if provenance:
        view["provenance"] = profile.provenance
    return view


def fields_to_record(entity_type: EntityType, fields: Mapping[str, Any],
                     base_attributes: Mapping[str, Any], base_identifiers: Mapping[str, Any]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply create/update fields to a manual record's attributes and identifiers.
    A field set to null clears it; fields not sent are kept."""
    attributes = {k: v for k, v in base_attributes.items() if not k.startswith("_")}
    identifiers = {k: list(v) for k, v in base_identifiers.items() if k != "source_id"}
    id_fields = identifier_fields(entity_type)
    for name, value in fields.items():
        if name in id_fields:
            kind = id_fields[name]
            if value is None or value == []:
                identifiers.pop(kind, None)
            else:
                identifiers[kind] = value if isinstance(value, list) else [value]
        elif name == "custom_attributes":
            for key, custom in (value or {}).items():
                if custom is None:
                    attributes.pop(key, None)
                else:
                    attributes[key] = custom
        elif name == "account":
            continue
        elif value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    return attributes, identifiers
