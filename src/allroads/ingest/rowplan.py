"""What a checked row means: the customer it targets and the record it becomes.

A row's `data` (as staged) holds the parsed fields under "fields", unmapped columns kept as
custom attributes under "custom", and, once checked against the store, the record key
("key") and the customer it updates ("target", a public id). Commit turns it into an
`IdentifyRequest` here, so validation and commit read a row the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from allroads.domain.types import EntityType, IdentifyRequest
from allroads.ingest.profiles import ImportProfile
from allroads.ingest.templates import TemplateOptions
from allroads.store import RecordVersionRow

# Profiles whose rows are customers (a record each), and those that update a customer's
# attributes on the record this source holds for it.
ENTITY_PROFILES = ("people", "accounts")
ATTRIBUTE_PROFILES = ("customer_status", "fraud_status", "subscriptions")
# Profiles that fill a reference table: profile -> store table kind.
REFERENCE_PROFILES = {"stores": "stores", "card_series": "card_series", "cards": "cards",
                      "coupon_redemptions": "coupon_redemptions",
                      "lifecycle": "lifecycle_events"}

# The unique identifier a template matches on -> the field and identifier kind.
MATCH_ON = {"mobile": ("mobile", "phone"), "email": ("email", "email"),
            "external_id": ("external_id", "external_id"), "user_id": ("user_id", None)}


def match_field(profile: ImportProfile, match_on: str | None) -> str | None:
    """The profile's field holding the unique identifier a template matches on."""
    if match_on not in MATCH_ON:
        return None
    name, kind = MATCH_ON[match_on]
    if any(s.name == name for s in profile.fields):
        return name
    # e.g. accounts' external_ref; None when the profile names the customer otherwise
    # (coupon redemptions' "User Identification Input")
    return next((s.name for s in profile.fields if kind and s.identifier == kind), None)


def entity_type(profile: ImportProfile) -> EntityType:
    return EntityType(profile.entity_type or "person")


def row_identifiers(profile: ImportProfile, fields: Mapping[str, Any]) -> dict[str, list[str]]:
    """The identifier values a row carries, by kind (already normalized by the checks)."""
    out: dict[str, list[str]] = {}
    for name, kind in _identifier_fields(profile):
        value = fields.get(name)
        if value is None or value == "" or value == []:
            continue
        values = value if isinstance(value, list) else [value]
        bucket = out.setdefault(kind, [])
        bucket.extend(str(v) for v in values if str(v) not in bucket)
    return out


def _identifier_fields(profile: ImportProfile) -> tuple[tuple[str, str], ...]:
    """(field name, identifier kind) of the profile's identifier fields, in order; worked
    out once per profile object (profiles are immutable)."""
    known = _IDENTIFIER_FIELDS.get(id(profile))
    if known is not None and known[0] is profile:
        return known[1]
    found = tuple((s.name, s.identifier) for s in profile.fields if s.identifier is not None)
    _IDENTIFIER_FIELDS[id(profile)] = (profile, found)
    return found


_IDENTIFIER_FIELDS: dict[int, tuple[ImportProfile, tuple[tuple[str, str], ...]]] = {}


def row_attributes(profile: ImportProfile, data: Mapping[str, Any]) -> dict[str, Any]:
    """The profile attributes a row sets (custom columns included)."""
    fields: Mapping[str, Any] = data.get("fields", {})
    out: dict[str, Any] = {}
    for spec in profile.fields:
        if spec.attribute is not None and spec.name in fields:
            out[spec.attribute] = fields[spec.name]
    for key, value in (data.get("custom") or {}).items():
        out.setdefault(key, value)
    return out


def record_key(profile: ImportProfile, match_on: str | None, fields: Mapping[str, Any]
               ) -> str | None:
    """The row's id in its source system: its external id, else the unique identifier the
    template matches on (normalized), else None (the store derives one)."""
    external = match_field(profile, "external_id")
    if external and fields.get(external):
        return str(fields[external])
    name = match_field(profile, match_on)
    if name and fields.get(name):
        return str(fields[name])
    return None


def to_request(profile: ImportProfile, source: str, data: Mapping[str, Any],
               base_attributes: Mapping[str, Any] | None = None, *,
               skip_empty: bool = False, update_fields: tuple[str, ...] | None = None,
               ) -> IdentifyRequest:
    """The identify request a staged row becomes. `base_attributes` are those of the record
    this source already holds (kept unless the row sets them; with `skip_empty` an empty
    cell never clears one; with `update_fields` only those fields change)."""
    fields: Mapping[str, Any] = data.get("fields", {})
    attributes = {k: v for k, v in (base_attributes or {}).items() if not k.startswith("_")}
    allowed = None if update_fields is None or base_attributes is None else {
        profile.field(f).attribute or f for f in update_fields}
    cleared = {profile.field(n).attribute for n in data.get("empty", [])} - {None}
    if not skip_empty:
        for key in cleared:
            if allowed is None or key in allowed:
                attributes.pop(str(key), None)
    for key, value in row_attributes(profile, data).items():
        if allowed is not None and key not in allowed:
            continue
        if value is None or value == "" or value == []:
            if not skip_empty:
                attributes.pop(key, None)
            continue
        if isinstance(value, dict) and isinstance(attributes.get(key), dict):
            attributes[key] = _deep_merge(attributes[key], value)
        else:
            attributes[key] = value
    return IdentifyRequest(entity_type(profile), source, data.get("key"),
                           dict(row_identifiers(profile, fields)), attributes,
                           touchpoint="import")


def attribute_update(profile: ImportProfile, fields: Mapping[str, Any],
                     base: Mapping[str, Any] | None) -> dict[str, Any]:
    """The attributes an attribute profile's row leaves on the customer's record."""
    attrs = {k: v for k, v in (base or {}).items() if not k.startswith("_")}
    if profile.name == "subscriptions":
        subs = dict(attrs.get("subscriptions") or {})
        channel = dict(subs.get(str(fields["channel"])) or {})
        channel[str(fields["priority"])] = fields["status"]
        subs[str(fields["channel"])] = channel
        attrs["subscriptions"] = subs
        return attrs
    for spec in profile.fields:
        if spec.attribute and spec.name in fields:
            attrs[spec.attribute] = fields[spec.name]
    return attrs


def row_request(profile: ImportProfile, source: str, data: Mapping[str, Any],
                base: RecordVersionRow | None, options: TemplateOptions) -> IdentifyRequest:
    """The request a staged row becomes, given the version this source holds now (if
    any). An attribute profile's row keeps the record's identifiers and other attributes."""
    if profile.name in ATTRIBUTE_PROFILES:  # identifiers: the stored record's own values
        identifiers = {k: list(v) for k, v in (base.identifiers if base else {}).items()
                       if k != "source_id"}
        return IdentifyRequest(entity_type(profile), source, data.get("key"), identifiers,
                               attribute_update(profile, data.get("fields", {}),
                                                base.attributes if base else None),
                               touchpoint="import", normalized=True)
    req = to_request(profile, source, data, base.attributes if base else None,
                     skip_empty=options.skip_empty_values, update_fields=options.update_fields)
    # The checks normalized the values already, unless the template switched them off.
    req.normalized = not (options.disable_mobile_validation
                          or options.disable_email_validation)
    return req


def _deep_merge(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for key, value in new.items():
        out[key] = _deep_merge(out[key], value) if (
            isinstance(value, dict) and isinstance(out.get(key), dict)) else value
    return out


# Reference profiles: the field(s) that make a row's natural key in its table.
REFERENCE_KEYS = {"stores": ("store_code",), "card_series": ("series_code",),
                  "cards": ("card_number",),
                  "coupon_redemptions": ("voucher_series_id", "voucher_code"),
                  "lifecycle": ("reference_id",)}


def reference_key(profile: ImportProfile, fields: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(fields.get(name, "")) for name in REFERENCE_KEYS[profile.name])
