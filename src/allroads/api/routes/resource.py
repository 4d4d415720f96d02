"""A resource served by the shared entity routers: people and accounts differ only in this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel

from allroads.api.schemas import EntityPublic, Page
from allroads.domain.types import EntityType

EntityId = Annotated[str, Path(max_length=64, description="the entity's id (per_... or "
                                                            "acc_...); a merged-away id works")]
Cursor = Annotated[str | None, Query(max_length=32, description="next_cursor of the previous "
                                                                 "page")]


@dataclass(frozen=True)
class Resource:
    etype: EntityType
    collection: str                     # the URL segment: "people"
    tag: str                            # the OpenAPI tag: "People"
    create: type[BaseModel]
    update: type[BaseModel]
    public: type[EntityPublic]
    page: type[Page]
    member_filters: bool = False        # lists filter by ?account= and ?orphans=

    @property
    def noun(self) -> str:
        return self.etype.value
