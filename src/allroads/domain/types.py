"""Pure value types shared by every layer: entity types, roles, requests, results, evidence."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EntityType(StrEnum):
    PERSON = "person"
    ACCOUNT = "account"

    @property
    def prefix(self) -> str:
        return "per" if self is EntityType.PERSON else "acc"


class Role(StrEnum):
    """What an API key may do. Each role is a set of permissions (see `ROLE_PERMISSIONS`)."""

    VIEWER = "viewer"
    INGEST = "ingest"
    EDITOR = "editor"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """Does this role include everything `needed` may do?"""
        return ROLE_PERMISSIONS[needed] <= ROLE_PERMISSIONS[self]


# read: GET anything; ingest: send records in (identify); edit: change entities by hand;
# admin: keys, sources and rules.
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.VIEWER: frozenset({"read"}),
    Role.INGEST: frozenset({"read", "ingest"}),
    Role.EDITOR: frozenset({"read", "ingest", "edit"}),
    Role.ADMIN: frozenset({"read", "ingest", "edit", "admin"}),
}


class Action(StrEnum):
    CREATED = "created"
    MATCHED = "matched"
    MERGED = "merged"
    REJECTED = "rejected"
    REVIEW = "review"


class Policy(StrEnum):
    """What to do when one request's identifiers point at more than one entity."""

    REJECT = "reject"
    REVIEW = "review"
    MERGE = "merge"


TOUCHPOINTS = ("api", "import", "ui", "channel", "widget", "cli", "demo")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, for which tenant, through which touchpoint."""

    tenant_id: int
    initiator: str
    touchpoint: str = "api"
    region: str | None = None
    import_id: str | None = None


@dataclass(slots=True)
class IdentifyRequest:
    type: EntityType
    source: str
    source_id: str | None = None
    identifiers: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    account: IdentifyRequest | None = None
    touchpoint: str | None = None
    # The identifiers were normalized by these normalizers already (an import's checks):
    # identify uses them as they are, without normalizing them again.
    normalized: bool = False


@dataclass(slots=True)
class IdentifyResult:
    id: str | None
    type: EntityType
    action: Action
    evidence: list[dict[str, Any]]
    message: str | None = None
    account: IdentifyResult | None = None
    merge_id: str | None = None
    review_id: str | None = None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
