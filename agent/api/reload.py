"""`POST /api/v1/reload` (admins only): reload the configuration file as SIGHUP does
(agent/reload.py); 200 with what changed, 422 with the problems of a refused file."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from agent.api.auth import PREFIX
from agent.api.context import Caller, State
from agent.api.schemas import ERRORS, ErrorOut
from ticketing.policy import ADMIN

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, responses=ERRORS)

NOT_RELOADABLE = "this server does not reload a configuration"


class ReloadOut(BaseModel):
    """A reload that was applied: the devices by name, and the sections left for a restart."""

    reloaded: bool
    added: list[str]
    removed: list[str]
    changed: list[str]
    restart_needed: list[str]


class ReloadRefusedOut(BaseModel):
    """A refused file: every problem as `FILE:LINE: KEY: what was expected`; nothing changed."""

    reloaded: bool
    problems: list[str]


@router.post("/reload", response_model=ReloadOut, tags=["admin"], responses={
    404: {"model": ErrorOut, "description": NOT_RELOADABLE},
    422: {"model": ReloadRefusedOut, "description": "the new file is invalid: nothing changed"},
})
async def reload_config(state: State, who: Caller) -> Any:
    """Reload the config file: the inventory is applied, other sections need a restart."""
    if who.role != ADMIN:
        raise HTTPException(403, f"reloading is for an {ADMIN}; {who.name} is {who.role}")
    if state.reload is None:
        raise HTTPException(404, NOT_RELOADABLE)
    log.info("config reload requested", extra={"by": who.name})
    answer = dict(state.reload())
    if not answer.get("reloaded"):
        return JSONResponse(answer, status_code=422)
    return answer
