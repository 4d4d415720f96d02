"""The tables. Plain SQLAlchemy Core; migrations in store/migrations mirror this file."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on the way in and out, on SQLite too (which drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(dt.UTC) if dialect.name != "sqlite" else value.astimezone(
            dt.UTC
        ).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def _fk(name: str, target: str, *, nullable: bool = False, index: bool = False) -> sa.Column[int]:
    return sa.Column(
        name,
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.ForeignKey(target),
        nullable=nullable,
        index=index,
    )


tenants = sa.Table(
    "tenants",
    metadata,
    _id(),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("default_region", sa.String(2), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id", index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

sources = sa.Table(
    "sources",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "name"),
)

entities = sa.Table(
    "entities",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    _fk("merged_into", "entities.id", nullable=True),
    _fk("account_id", "entities.id", nullable=True, index=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_entities_tenant_type_id", "tenant_id", "entity_type", "id"),
)

records = sa.Table(
    "records",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("source_key", sa.String(255), nullable=False),
    _fk("entity_id", "entities.id", index=True),
    sa.Column("current_version", sa.Integer(), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "entity_type", "source", "source_key"),
)

record_versions = sa.Table(
    "record_versions",
    metadata,
    _id(),
    _fk("record_id", "records.id"),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("attributes", JSONType, nullable=False),
    sa.Column("identifiers", JSONType, nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("touchpoint", sa.String(32), nullable=False),
    sa.Column("initiator", sa.String(200), nullable=False),
    sa.Column("import_id", sa.String(40), nullable=True, index=True),
    sa.UniqueConstraint("record_id", "version"),
)

identifiers = sa.Table(
    "identifiers",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("value", sa.String(320), nullable=False),
    _fk("record_id", "records.id", index=True),
    sa.Column("added_at", UTCDateTime(), nullable=False),
    sa.Column("removed_at", UTCDateTime(), nullable=True),
    sa.Column("blocked", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index("ix_identifiers_lookup", "tenant_id", "entity_type", "kind", "value"),
)

links = sa.Table(
    "links",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    _fk("record_id", "records.id", index=True),
    _fk("entity_id", "entities.id", index=True),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("evidence", JSONType, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("touchpoint", sa.String(32), nullable=False),
    _fk("merge_id", "merges.id", nullable=True, index=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
)

merges = sa.Table(
    "merges",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("entity_type", sa.String(16), nullable=False),
    _fk("survivor_id", "entities.id", index=True),
    sa.Column("merged_ids", JSONType, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("evidence", JSONType, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("touchpoint", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("undone_at", UTCDateTime(), nullable=True),
    sa.Column("undone_by", sa.String(200), nullable=True),
)

decisions = sa.Table(
    "decisions",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    _fk("entity_a", "entities.id", index=True),
    _fk("entity_b", "entities.id", index=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column(
        "entity_id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.ForeignKey("entities.id"),
        primary_key=True,
    ),
    _fk("tenant_id", "tenants.id"),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("display_name", sa.String(500), nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("provenance", JSONType, nullable=False),
    sa.Column("search_text", sa.Text(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

changelog = sa.Table(
    "changelog",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    _fk("entity_id", "entities.id", index=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("touchpoint", sa.String(32), nullable=False),
    sa.Column("initiator", sa.String(200), nullable=False),
    sa.Column("field", sa.String(200), nullable=False),
    sa.Column("old", JSONType, nullable=True),
    sa.Column("new", JSONType, nullable=True),
    sa.Column("merge_public_id", sa.String(40), nullable=True),
    sa.Column("import_id", sa.String(40), nullable=True),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    _fk("tenant_id", "tenants.id"),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.String(500), nullable=False),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=False),
    sa.Column("response", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "key"),
)

rule_sets = sa.Table(
    "rule_sets",
    metadata,
    _fk("tenant_id", "tenants.id"),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "entity_type"),
)

review_items = sa.Table(
    "review_items",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("entity_type", sa.String(16), nullable=False),
    _fk("record_id", "records.id", nullable=True),
    sa.Column("entity_ids", JSONType, nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("evidence", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_by", sa.String(200), nullable=True),
    sa.Index("ix_review_items_tenant_status", "tenant_id", "status"),
)

# Imports -----------------------------------------------------------------------------
# An import job: the file, its profile and template, where it is, and what it did.
imports = sa.Table(
    "imports",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("profile", sa.String(64), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("template_name", sa.String(200), nullable=True),
    sa.Column("template", JSONType, nullable=False),
    sa.Column("filename", sa.String(500), nullable=False),
    sa.Column("file_path", sa.String(1000), nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("file_info", JSONType, nullable=False),
    # uploaded → validating → validated → committing → committed (or failed, undone)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("auto_commit", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("total_rows", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("validated_rows", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("committed_rows", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("counts", JSONType, nullable=False),
    sa.Column("columns", JSONType, nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("initiator", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
    sa.Column("validated_at", UTCDateTime(), nullable=True),
    sa.Column("committed_at", UTCDateTime(), nullable=True),
    sa.Column("undone_at", UTCDateTime(), nullable=True),
    sa.Index("ix_imports_tenant_created", "tenant_id", "created_at"),
    sa.Index("ix_imports_status", "status"),
)

# Staging: one row per data row of the file, parsed and checked, until (and after) commit.
import_rows = sa.Table(
    "import_rows",
    metadata,
    _fk("import_id", "imports.id"),
    sa.Column("row_number", sa.Integer(), nullable=False),
    # valid | rejected | committed | failed
    sa.Column("status", sa.String(16), nullable=False),
    # create | update | unchanged | rejected (the preview), then what commit did
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("cells", JSONType, nullable=False),
    sa.Column("issues", JSONType, nullable=False),
    sa.Column("entity_public_id", sa.String(40), nullable=True),
    sa.PrimaryKeyConstraint("import_id", "row_number"),
)

import_templates = sa.Table(
    "import_templates",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("profile", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "profile", "name"),
)

# Tenant-wide import settings (e.g. the mobile regex), one JSON document per tenant.
import_settings = sa.Table(
    "import_settings",
    metadata,
    _fk("tenant_id", "tenants.id"),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id"),
)

# Reference and loyalty tables the import profiles fill ---------------------------------
stores = sa.Table(
    "stores",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("code", sa.String(100), nullable=False),
    sa.Column("external_id", sa.String(100), nullable=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("city", sa.String(200), nullable=False, server_default=""),
    sa.Column("import_id", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "code"),
    sa.Index("ix_stores_external", "tenant_id", "external_id"),
)

card_series = sa.Table(
    "card_series",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("code", sa.String(50), nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("import_id", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "code"),
)

cards = sa.Table(
    "cards",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("number", sa.String(100), nullable=False),
    sa.Column("series_code", sa.String(50), nullable=False),
    _fk("entity_id", "entities.id", nullable=True, index=True),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("import_id", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "number"),
)

coupon_redemptions = sa.Table(
    "coupon_redemptions",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("series_id", sa.String(100), nullable=False),
    sa.Column("code", sa.String(100), nullable=False),
    _fk("entity_id", "entities.id", nullable=True, index=True),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("import_id", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "series_id", "code"),
)

lifecycle_events = sa.Table(
    "lifecycle_events",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("reference_id", sa.String(200), nullable=False),
    _fk("entity_id", "entities.id", nullable=True, index=True),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("import_id", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "reference_id"),
)

# Batch matching ------------------------------------------------------------------------
# Per tenant and entity type: the model's estimated parameters (MatchModel Parameters as
# JSON; null until a run or review estimates them) and the thresholds (probabilities).
match_settings = sa.Table(
    "match_settings",
    metadata,
    _fk("tenant_id", "tenants.id"),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("parameters", JSONType, nullable=True),
    sa.Column("link_threshold", sa.Float(), nullable=False),
    sa.Column("review_threshold", sa.Float(), nullable=False),
    sa.Column("trained_at", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "entity_type"),
)

# A batch match run over a tenant's stored records of one type.
match_runs = sa.Table(
    "match_runs",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("engine", sa.String(16), nullable=False),
    # queued → running → succeeded | failed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("step", sa.String(32), nullable=False, server_default=""),
    sa.Column("progress", sa.Float(), nullable=False, server_default="0"),
    sa.Column("counts", JSONType, nullable=False),
    sa.Column("timings", JSONType, nullable=False),
    sa.Column("training", JSONType, nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    # Refreshed by the process that holds the run (queued or running) every few seconds; a
    # run whose heartbeat is stale was left by a process that stopped (batch/runs.py).
    sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
    sa.Index("ix_match_runs_tenant_created", "tenant_id", "created_at"),
    # At most one queued or running run per tenant and type, across processes.
    sa.Index("ix_match_runs_active", "tenant_id", "entity_type", unique=True,
             sqlite_where=sa.text("status IN ('queued', 'running')"),
             postgresql_where=sa.text("status IN ('queued', 'running')")),
)

# The review queue: two entities a run scored between the thresholds. entity_a < entity_b;
# at most one open candidate per tenant and pair.
match_candidates = sa.Table(
    "match_candidates",
    metadata,
    _id(),
    _fk("tenant_id", "tenants.id"),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("entity_type", sa.String(16), nullable=False),
    _fk("entity_a", "entities.id", index=True),
    _fk("entity_b", "entities.id", index=True),
    _fk("record_a", "records.id"),
    _fk("record_b", "records.id"),
    sa.Column("probability", sa.Float(), nullable=False),
    sa.Column("match_weight", sa.Float(), nullable=False),
    sa.Column("breakdown", JSONType, nullable=False),
    # open → accepted | rejected
    sa.Column("status", sa.String(16), nullable=False),
    _fk("run_id", "match_runs.id", nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Index("ix_match_candidates_tenant_status", "tenant_id", "status", "id"),
    sa.Index("ix_match_candidates_open_pair", "tenant_id", "entity_a", "entity_b",
             unique=True, sqlite_where=sa.text("status = 'open'"),
             postgresql_where=sa.text("status = 'open'")),
)

# Blocking keys of the incremental matcher: per record, one row per key its features give
# ("bk_name=JN|SM0"; long values as a hash). Records that share a key are candidates.
# The primary key serves the look-up by (tenant, type, key); record_id to replace a
# record's keys.
match_keys = sa.Table(
    "match_keys",
    metadata,
    _fk("tenant_id", "tenants.id"),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    # Derived data: a record deleted (an import undone) takes its keys with it.
    sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
              sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.PrimaryKeyConstraint("tenant_id", "entity_type", "key", "record_id"),
)

# The comparison features of each record's current version, as the matching model reads
# them (JSON text, written with its keys): a fuzzy look-up reads its candidates' features
# here instead of re-parsing their names. `version` is the record version they were worked
# out from; a row behind the record's current version is not used.
match_features = sa.Table(
    "match_features",
    metadata,
    sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
              sa.ForeignKey("records.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("features", sa.Text(), nullable=False),
)

# Protection follows merges backwards (`merged_family`: who was merged into these?) on every
# fuzzy link; without an index that is a scan of the tenant's entities.
sa.Index("ix_entities_merged_into", entities.c.merged_into)
