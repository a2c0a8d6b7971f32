"""`POST /api/v1/reload` (admins only): reload the configuration file as SIGHUP does
(agent/reload.py); 200 with what changed, 422 with the problems of a refused file."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from agent.api.auth import PREFIX
from agent.api.context import Caller, State
from ticketing.policy import ADMIN

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX)


@router.post("/reload", response_model=None)
async def reload_config(state: State, who: Caller) -> JSONResponse:
    """Reload the config file: the inventory is applied, other sections need a restart."""
    if who.role != ADMIN:
        raise HTTPException(403, f"reloading is for an {ADMIN}; {who.name} is {who.role}")
    if state.reload is None:
        raise HTTPException(404, "this server does not reload a configuration")
    log.info("config reload requested", extra={"by": who.name})
    answer: dict[str, Any] = dict(state.reload())
    return JSONResponse(answer, status_code=200 if answer.get("reloaded") else 422)
