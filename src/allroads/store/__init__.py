"""The store: the one place that talks to the database (SQLite or PostgreSQL)."""

from allroads.store.imports import ImportedVersion, ImportRow, StagedRow, TemplateRow
from allroads.store.rows import (
    ApiKeyRow,
    ChangeRow,
    DecisionRow,
    EntityRow,
    IdentifierHit,
    IdentifierRow,
    LinkRow,
    MergeRow,
    NewChange,
    ProfileRow,
    RecordRow,
    RecordVersionRow,
    SourceRow,
    StoredResponse,
    TenantRow,
)
from allroads.store.store import Store, Tx

__all__ = [
    "ApiKeyRow",
    "ChangeRow",
    "DecisionRow",
    "EntityRow",
    "IdentifierHit",
    "IdentifierRow",
    "ImportRow",
    "ImportedVersion",
    "LinkRow",
    "MergeRow",
    "NewChange",
    "ProfileRow",
    "RecordRow",
    "RecordVersionRow",
    "SourceRow",
    "StagedRow",
    "Store",
    "StoredResponse",
    "TemplateRow",
    "TenantRow",
    "Tx",
]
