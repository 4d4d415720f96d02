"""Seed the demo tenant through the Hub, idempotently.

Every record goes through `Hub.identify`, which is idempotent per (source, source_id): seeding
twice changes nothing the second time. Accounts go first (product, support, CRM: so the CRM's
ACME record finds both the product account and the support organization, and bridges them),
then people in the same order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from allroads.demo import data, sources
from allroads.domain.types import Action, Actor, EntityType, IdentifyRequest
from allroads.resolution.hub import Hub

SEED_INITIATOR = "demo:seed"
UNCHANGED = "unchanged"

# (source, entity type, rows, mapping), in the order they are sent.
Batch = tuple[str, EntityType, list[data.Row], Callable[[data.Row], IdentifyRequest]]
BATCHES: tuple[Batch, ...] = (
    ("product", EntityType.ACCOUNT, data.PRODUCT_ACCOUNTS, sources.product_account),
    ("support", EntityType.ACCOUNT, data.SUPPORT_ORGANIZATIONS, sources.support_organization),
    ("crm", EntityType.ACCOUNT, data.CRM_ACCOUNTS, sources.crm_account),
    ("product", EntityType.PERSON, data.PRODUCT_USERS, sources.product_user),
    ("support", EntityType.PERSON, data.SUPPORT_USERS, sources.support_user),
    ("crm", EntityType.PERSON, data.CRM_CONTACTS, sources.crm_contact),
)


@dataclass(frozen=True)
class DemoSummary:
    """What seeding found and did."""

    tenant: str
    # records sent, per source and entity type: {"crm": {"account": 17, "person": 30}, ...}
    records: dict[str, dict[str, int]]
    # entities after resolution
    accounts: int
    people: int
    # what identify did with each record in this run: created, matched (to an existing
    # entity), merged (bridged two entities), unchanged (already seeded), rejected, review
    actions: dict[str, int]
    merge_ids: list[str]
    acme_account_id: str
    people_without_account: int
    blocked: list[str] = field(default_factory=list)

    @property
    def records_total(self) -> int:
        return sum(n for per in self.records.values() for n in per.values())

    @property
    def changed(self) -> bool:
        """False when the demo data was already there and nothing was written."""
        return any(n for action, n in self.actions.items() if action != UNCHANGED)


def demo_actor(hub: Hub, tenant_slug: str = data.TENANT_SLUG) -> Actor:
    tenant = hub.ensure_tenant(tenant_slug, name=data.TENANT_NAME,
                               default_region=data.TENANT_REGION)
    return Actor(tenant.id, SEED_INITIATOR, "demo", tenant.default_region)


def seed_demo(hub: Hub, tenant_slug: str = data.TENANT_SLUG) -> DemoSummary:
    """Send every demo record through `hub.identify`; return what it found and did."""
    actor = demo_actor(hub, tenant_slug)
    actions: Counter[str] = Counter()
    merges: list[str] = []
    records: dict[str, dict[str, int]] = {}
    for source, etype, rows, mapping in BATCHES:
        per = records.setdefault(source, {"account": 0, "person": 0})
        for row in rows:
            result = hub.identify(actor, mapping(row))
            per[etype.value] += 1
            unchanged = result.action is Action.MATCHED and any(
                e.get("unchanged") for e in result.evidence)
            actions[UNCHANGED if unchanged else result.action.value] += 1
            if result.merge_id:
                merges.append(result.merge_id)
    quality = hub.quality(actor, limit=100)
    acme = hub.resolve(actor, EntityType.ACCOUNT, source="product",
                       source_id=str(data.ACME_PRODUCT_ID))
    return DemoSummary(
        tenant=tenant_slug,
        records=records,
        accounts=count_entities(hub, actor, EntityType.ACCOUNT),
        people=count_entities(hub, actor, EntityType.PERSON),
        actions=dict(actions),
        merge_ids=merges,
        acme_account_id=str(acme["id"]),
        people_without_account=int(quality["people_without_account"]["count"]),
        blocked=sorted({str(b["value"]) for b in quality["blocked_identifiers"]}),
    )


def count_entities(hub: Hub, actor: Actor, etype: EntityType) -> int:
    return sum(1 for _ in iter_entities(hub, actor, etype))


def iter_entities(hub: Hub, actor: Actor, etype: EntityType) -> Iterable[dict[str, Any]]:
    cursor: str | None = None
    while True:
        page, cursor = hub.list_entities(actor, etype, cursor=cursor, limit=200)
        yield from page
        if cursor is None:
            return
