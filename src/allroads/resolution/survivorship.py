"""Survivorship: the golden record of an entity, computed from its records.

For every attribute the value comes from the record with the highest source priority, then
the most recent, and an empty value never beats a non-empty one. List attributes (tags) and
identifiers are unions, in the same order. Each field remembers where its value came from;
a list also where each of its values came from (its origin's `values`, in the list's
order: a second email sent by the support desk is credited to the support desk).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from allroads.domain.normalize.person_name import split_full_name
from allroads.domain.types import EntityType

PERSON_FIELDS = ("first_name", "last_name", "name", "birthdate", "gender", "area", "timezone")
ACCOUNT_FIELDS = ("display_name", "description", "tier", "owner")
LIST_FIELDS = ("tags",)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record's current version, as survivorship needs it."""

    record_id: int
    source: str
    source_key: str
    priority: int
    received_at: float
    attributes: Mapping[str, Any]
    identifiers: Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class Golden:
    display_name: str
    data: dict[str, Any]
    provenance: dict[str, Any]
    search_text: str


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _order(records: Iterable[SourceRecord]) -> list[SourceRecord]:
    return sorted(records, key=lambda r: (-r.priority, -r.received_at, r.record_id))


def _origin(r: SourceRecord) -> dict[str, Any]:
    return {"source": r.source, "source_id": r.source_key, "record": r.record_id}


def _union(bucket: list[Any], values: Iterable[Any], provenance: dict[str, Any], key: str,
           rec: SourceRecord) -> None:
    """Add `rec`'s values that `bucket` lacks, each credited to `rec`: the field's origin is
    its first value's, with every value's in `values`."""
    here: dict[str, Any] | None = None  # rec's origin, worked out for its first new value
    for value in values:
        if value not in bucket:
            bucket.append(value)
            here = here or _origin(rec)
            origin = provenance.get(key)
            if origin is None:
                provenance[key] = origin = {**here, "values": []}
            origin["values"].append({"value": value, **here})


def golden_record(entity_type: EntityType, public_id: str,
                  records: Iterable[SourceRecord]) -> Golden:
    ordered = _order(records)
    attributes: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    for rec in ordered:
        for key, value in rec.attributes.items():
            if key.startswith("_") or is_empty(value):
                continue
            if key in LIST_FIELDS and isinstance(value, list):
                _union(lists.setdefault(key, []), value, provenance, key, rec)
            elif key not in attributes:
                attributes[key] = value
                provenance[key] = _origin(rec)
    attributes.update(lists)
    idents: dict[str, list[str]] = {}
    for rec in ordered:
        for kind, values in rec.identifiers.items():
            _union(idents.setdefault(kind, []), values, provenance, f"identifiers.{kind}", rec)
    sources: dict[str, list[str]] = {}
    for rec in sorted(ordered, key=lambda r: r.record_id):
        sources.setdefault(rec.source, []).append(rec.source_key)

    if entity_type is EntityType.PERSON and attributes.get("name") and not (
            attributes.get("first_name") or attributes.get("last_name")):
        first, last = split_full_name(str(attributes["name"]))
        for key, value in (("first_name", first), ("last_name", last)):
            if value:
                attributes[key] = value
                provenance[key] = provenance["name"]
    display = _display_name(entity_type, public_id, attributes, idents)
    data = {"attributes": dict(sorted(attributes.items())),
            "identifiers": dict(sorted(idents.items())), "sources": sources}
    words = [display, *(v for vs in idents.values() for v in vs)]
    words += [str(v) for k, v in attributes.items() if k in PERSON_FIELDS + ACCOUNT_FIELDS]
    return Golden(display, data, provenance, " ".join(words).lower())


def _display_name(entity_type: EntityType, public_id: str, attributes: Mapping[str, Any],
                  idents: Mapping[str, list[str]]) -> str:
    if entity_type is EntityType.ACCOUNT:
        for key in ("display_name", "name"):
            if attributes.get(key):
                return str(attributes[key])
        if idents.get("domain"):
            return idents["domain"][0]
        return public_id
    if attributes.get("name"):
        return str(attributes["name"])
    full = " ".join(str(attributes[k]) for k in ("first_name", "last_name") if attributes.get(k))
    if full:
        return full
    for kind in ("email", "phone", "user_ref", "external_id"):
        if idents.get(kind):
            return idents[kind][0]
    return public_id


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """A profile as field → value, the way the changelog names fields."""
    flat: dict[str, Any] = dict(data.get("attributes", {}))
    for kind, values in data.get("identifiers", {}).items():
        if kind != "source_id":
            flat[f"identifiers.{kind}"] = values
    return flat
