"""/accounts: companies and workspaces (people belong to them), served by the shared
entity router."""

from __future__ import annotations

from fastapi import APIRouter

from allroads.api.routes.entities import entity_router
from allroads.api.routes.resource import Resource
from allroads.api.schemas import AccountCreate, AccountList, AccountPublic, AccountUpdate
from allroads.domain.types import EntityType
from allroads.settings import Settings

ACCOUNTS = Resource(EntityType.ACCOUNT, "accounts", "Accounts", AccountCreate, AccountUpdate,
                    AccountPublic, AccountList)


def router(settings: Settings) -> APIRouter:
    return entity_router(ACCOUNTS, settings)
