"""/people: persons (customers, contacts, users), served by the shared entity router."""

from __future__ import annotations

from fastapi import APIRouter

from allroads.api.routes.entities import entity_router
from allroads.api.routes.resource import Resource
from allroads.api.schemas import PersonCreate, PersonList, PersonPublic, PersonUpdate
from allroads.domain.types import EntityType
from allroads.settings import Settings

PEOPLE = Resource(EntityType.PERSON, "people", "People", PersonCreate, PersonUpdate,
                  PersonPublic, PersonList, member_filters=True)


def router(settings: Settings) -> APIRouter:
    return entity_router(PEOPLE, settings)
