"""The JSON API under /api/v1 (the README's "HTTP API" section) and the Alertmanager webhook:
`install` adds them to the app from an `ApiContext`, with workflow errors as HTTP codes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from agent.api import alertmanager, notifications, reload, tickets
from agent.api.auth import ALERT_SOURCE, Authenticator, Principal, TokenGate
from agent.api.context import ApiState
from agent.config import User
from agent.core.clock import SystemClock
from agent.core.errors import (
    BackendRejected,
    BackendUnavailable,
    InvalidTransition,
    TicketNotFound,
)
from agent.core.model import Device, Secret
from agent.core.outbox import NotificationDesk
from agent.throttle import RefusalThrottle
from ticketing.service import TicketService

if TYPE_CHECKING:
    from agent.status import DevicesJson

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the API needs from the running agent (built by agent/app.py)."""

    service: TicketService
    users: Sequence[User]
    devices: Sequence[Device]
    devices_json: DevicesJson
    tz: str = "Asia/Jakarta"
    alert_device_label: str = "device"
    alert_token: Secret | None = None  # [alertmanager] token: accepted by the webhook only
    notifications: NotificationDesk | None = None  # None: no [notify] channel configured
    # a device's recent notifications of other kinds, newest first (agent/traps.py)
    device_traps: Callable[[str], list[dict[str, Any]]] = lambda name: []
    # the devices by name, kept up to date by reloads (None: built once from `devices`)
    device_index: Mapping[str, Device] | None = None
    # reload the config file (agent/reload.py): its answer, "reloaded" false when refused
    reload: Callable[[], Mapping[str, Any]] | None = None


def install(app: FastAPI, ctx: ApiContext, *, throttle: RefusalThrottle | None = None,
            on_unauthorized: Callable[[], None] | None = None) -> None:
    """Add the /api/v1 routes and their error handlers to `app`; each 401 calls
    `on_unauthorized` and counts against the client's address in `throttle`."""
    state = ApiState(
        service=ctx.service, auth=Authenticator.of_users(ctx.users),
        alert_auth=Authenticator([] if ctx.alert_token is None else
                                 [(ctx.alert_token, Principal(ALERT_SOURCE, ALERT_SOURCE, None))]),
        devices=ctx.device_index if ctx.device_index is not None else {
            d.name: d for d in ctx.devices}, devices_json=ctx.devices_json, tz=ctx.tz,
        alert_device_label=ctx.alert_device_label, notifications=ctx.notifications,
        device_traps=ctx.device_traps, reload=ctx.reload)
    app.state.pantau_api = state
    app.include_router(tickets.router)
    app.include_router(alertmanager.router)
    app.include_router(notifications.router)
    app.include_router(reload.router)
    app.add_middleware(TokenGate, auth=state.auth, alert_auth=state.alert_auth,
                       throttle=throttle or RefusalThrottle(SystemClock()),
                       on_refused=on_unauthorized)
    app.add_exception_handler(InvalidTransition, _conflict)
    app.add_exception_handler(BackendRejected, _conflict)
    app.add_exception_handler(TicketNotFound, _not_found)
    app.add_exception_handler(BackendUnavailable, _unavailable)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    # `detail` stays English; `code` (agent/core/refusals.py) lets a client word it itself
    code = exc.code if isinstance(exc, InvalidTransition) else None
    return JSONResponse({"detail": str(exc)} if code is None else
                        {"detail": str(exc), "code": code}, status_code=409)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


#: what a caller is told when the store is down; the cause (a path, an address) is logged
UNAVAILABLE_DETAIL = "ticket store unavailable; try again shortly"


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # the message names the database (path or user@host:port; never a password: the stores
    # scrub it), so it goes to the log only
    log.warning("ticket store unavailable",
                extra={"path": request.url.path, "error": str(exc)})
    return JSONResponse({"detail": UNAVAILABLE_DETAIL}, status_code=503,
                        headers={"Retry-After": "5"})
