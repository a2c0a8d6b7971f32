"""What every route is handed: the API's state on the app (`ApiState`), the caller it names
(`Caller`, `AlertSender`), and a 422 shaped like FastAPI's own."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials

from agent.api.auth import Authenticator, Principal, bearer, identify
from agent.core.model import Device
from agent.core.outbox import NotificationDesk
from ticketing.service import TicketService
from ticketing.sop import Sop

if TYPE_CHECKING:
    from agent.status import DevicesJson


@dataclass(frozen=True, slots=True)
class ApiState:
    """Kept on `app.state.pantau_api`; holds no Secret."""

    service: TicketService
    auth: Authenticator
    alert_auth: Authenticator  # the [alertmanager] token, for the webhook only
    devices: Mapping[str, Device]
    devices_json: DevicesJson
    tz: str
    alert_device_label: str
    notifications: NotificationDesk | None = None  # None: no [notify] channel configured
    device_traps: Callable[[str], list[dict[str, Any]]] = lambda name: []  # [traps]' ring
    reload: Callable[[], Mapping[str, Any]] | None = None  # None: not a running agent

    @property
    def sop(self) -> Sop:
        return self.service.sop


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.pantau_api
    return state


def _principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return identify(creds, _state(request).auth)


def _alert_sender(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    state = _state(request)
    return identify(creds, state.alert_auth, state.auth)


Caller = Annotated[Principal, Depends(_principal)]
AlertSender = Annotated[Principal, Depends(_alert_sender)]
State = Annotated[ApiState, Depends(_state)]


def unprocessable(loc: Sequence[str | int], msg: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field."""
    return HTTPException(422, [{"loc": list(loc), "msg": msg, "type": "value_error"}])
