"""GET /healthz: is the server up and its database reachable (no API key needed)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from allroads.api.deps import HubDep
from allroads.api.errors import problem
from allroads.api.schemas import Health
from allroads.domain.errors import AllroadsError

log = logging.getLogger("allroads.api")


def router() -> APIRouter:
    r = APIRouter(tags=["Health"])
    r.add_api_route("/healthz", healthz, methods=["GET"], response_model=Health,
                    summary="Health check", responses={503: {"description": "no database"}})
    return r


def healthz(request: Request, hub: HubDep) -> Any:
    try:
        hub.store.check_migrated()
    except AllroadsError as exc:
        return problem(request, 503, exc.code, exc.message, hint=exc.hint)
    except Exception as exc:  # the driver's own errors: the database is unreachable
        log.warning("health check failed: %s", exc)
        return problem(request, 503, "store_error",
                       f"the database ({hub.store.backend}) does not answer",
                       hint="check that the database server is up and ALLROADS_DATABASE_URL")
    return {"status": "ok", "database": hub.store.backend}
