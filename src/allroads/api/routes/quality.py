"""GET /quality: what needs a person's attention (orphan contacts, accounts without an
external reference, blocked and shared identifiers, open reviews)."""

# No `from __future__ import annotations` here: the page size limit in the annotations
# comes from the settings, known only when the router is built.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from allroads.api.deps import HubDep, ReaderKey
from allroads.api.schemas import QualityOut
from allroads.settings import Settings


def router(settings: Settings) -> APIRouter:
    most = settings.page_limit_max

    def quality(principal: ReaderKey, hub: HubDep,
                limit: Annotated[int, Query(ge=1, le=most, description="items per list")
                                 ] = min(50, most)) -> dict[str, Any]:
        return hub.quality(principal.actor(), limit=limit)

    r = APIRouter(tags=["Quality"])
    r.add_api_route("/quality", quality, methods=["GET"], response_model=QualityOut,
                    summary="Data quality report",
                    description="Counts and first items of: people without an account, "
                    "accounts without an external reference, identifiers that are blocked or "
                    "shared by several customers, open review items and recently rejected "
                    "records.")
    return r
