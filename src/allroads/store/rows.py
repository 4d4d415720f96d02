"""Plain rows the store hands out, so no layer above it touches SQLAlchemy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: int
    slug: str
    name: str
    default_region: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: int
    tenant_id: int
    name: str
    prefix: str
    role: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SourceRow:
    id: int
    name: str
    priority: int
    description: str


@dataclass(frozen=True, slots=True)
class EntityRow:
    id: int
    tenant_id: int
    entity_type: str
    public_id: str
    status: str
    merged_into: int | None
    account_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RecordRow:
    id: int
    entity_type: str
    source: str
    source_key: str
    entity_id: int
    current_version: int
    content_hash: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RecordVersionRow:
    record_id: int
    source: str
    source_key: str
    version: int
    attributes: dict[str, Any]
    identifiers: dict[str, Any]
    received_at: dt.datetime
    touchpoint: str
    initiator: str
    record_created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class IdentifierHit:
    kind: str
    value: str
    entity_id: int
    record_id: int


@dataclass(frozen=True, slots=True)
class IdentifierRow:
    kind: str
    value: str
    record_id: int
    source: str
    source_key: str
    added_at: dt.datetime
    removed_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class LinkRow:
    id: int
    record_id: int
    entity_id: int
    rule: str
    evidence: dict[str, Any]
    actor: str
    touchpoint: str
    merge_id: int | None
    created_at: dt.datetime
    ended_at: dt.datetime | None
    source: str = ""
    source_key: str = ""


@dataclass(frozen=True, slots=True)
class MergeRow:
    id: int
    public_id: str
    entity_type: str
    survivor_id: int
    merged_ids: list[int]
    reason: str
    evidence: dict[str, Any]
    actor: str
    touchpoint: str
    created_at: dt.datetime
    undone_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class DecisionRow:
    id: int
    kind: str
    entity_a: int
    entity_b: int
    actor: str
    reason: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ProfileRow:
    entity_id: int
    public_id: str
    entity_type: str
    display_name: str
    data: dict[str, Any]
    provenance: dict[str, Any]
    updated_at: dt.datetime
    created_at: dt.datetime
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeRow:
    id: int
    entity_id: int
    at: dt.datetime
    touchpoint: str
    initiator: str
    field: str
    old: Any
    new: Any
    merge_public_id: str | None
    import_id: str | None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    method: str
    path: str
    body_hash: str
    status_code: int
    response: str


@dataclass(slots=True)
class NewChange:
    entity_id: int
    field: str
    old: Any
    new: Any
    touchpoint: str
    initiator: str
    at: dt.datetime
    merge_public_id: str | None = None
    import_id: str | None = None
