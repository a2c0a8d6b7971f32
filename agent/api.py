"""The JSON API under /api/v1 (the README's "HTTP API" section) and the Alertmanager webhook:
bearer-token users with roles, pydantic bodies and response models (the OpenAPI document),
workflow errors as HTTP codes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.config import User
from agent.core.errors import (
    BackendRejected,
    BackendUnavailable,
    DocumentError,
    InvalidTransition,
    TicketNotFound,
)
from agent.core.model import Device, Secret
from ticketing import policy, workflow
from ticketing.models import EventKind, Fault, Ticket, TicketEvent
from ticketing.policy import ADMIN as ADMIN
from ticketing.policy import AGENCY as AGENCY
from ticketing.service import FAILING, RESTORED, Observation, TicketService
from ticketing.sop import Sop, StepSpec

log = logging.getLogger(__name__)

ALERT_SOURCE = "alertmanager"
PREFIX = "/api/v1"
WEBHOOK = f"{PREFIX}/alertmanager"


# -- wiring ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the API needs from the running agent (built by agent/app.py)."""

    service: TicketService
    users: Sequence[User]
    devices: Sequence[Device]
    devices_json: Callable[[], list[dict[str, Any]]]
    tz: str = "Asia/Jakarta"
    alert_device_label: str = "device"
    alert_token: Secret | None = None  # [alertmanager] token: accepted by the webhook only


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user (no token: only its hash is kept, in `Authenticator`)."""

    name: str
    role: str
    owner: str | None

    @property
    def actor(self) -> workflow.Actor:
        return workflow.Actor(name=self.name, role=self.role)

    # the rules are ticketing.policy's; these only say them for a signed-in user
    def may_see(self, owner: str) -> bool:
        return policy.may_see(self.role, self.owner, owner)

    def may_act(self, spec: StepSpec) -> bool:
        return policy.may_act(self.role, spec)

    @property
    def may_verify(self) -> bool:
        return policy.may_verify(self.role)

    @property
    def may_file(self) -> bool:
        return policy.may_file(self.role)


class Authenticator:
    """Bearer tokens to users. Only SHA-256 hashes of the tokens are kept; every lookup
    compares against every user's hash in constant time."""

    def __init__(self, tokens: Sequence[tuple[Secret, Principal]]) -> None:
        self._entries = tuple(
            (hashlib.sha256(token.reveal().encode()).digest(), who) for token, who in tokens)

    @classmethod
    def of_users(cls, users: Sequence[User]) -> Authenticator:
        return cls([(u.token, Principal(u.name, u.role, u.owner)) for u in users
                    if u.token is not None])

    def __call__(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for stored, principal in self._entries:
            if hmac.compare_digest(stored, digest) and found is None:
                found = principal
        return found


@dataclass(frozen=True, slots=True)
class ApiState:
    """Kept on `app.state.pantau_api`; holds no Secret."""

    service: TicketService
    auth: Authenticator
    alert_auth: Authenticator  # the [alertmanager] token, for the webhook only
    devices: Mapping[str, Device]
    devices_json: Callable[[], list[dict[str, Any]]]
    tz: str
    alert_device_label: str

    @property
    def sop(self) -> Sop:
        return self.service.sop


def install(app: FastAPI, ctx: ApiContext) -> None:
    """Add the /api/v1 routes and their error handlers to `app`."""
    app.state.pantau_api = ApiState(
        service=ctx.service, auth=Authenticator.of_users(ctx.users),
        alert_auth=Authenticator([] if ctx.alert_token is None else
                                 [(ctx.alert_token, Principal(ALERT_SOURCE, ALERT_SOURCE, None))]),
        devices={d.name: d for d in ctx.devices}, devices_json=ctx.devices_json, tz=ctx.tz,
        alert_device_label=ctx.alert_device_label)
    app.include_router(router)
    app.add_middleware(TokenGate, state=app.state.pantau_api)
    app.add_exception_handler(InvalidTransition, _conflict)
    app.add_exception_handler(BackendRejected, _conflict)
    app.add_exception_handler(TicketNotFound, _not_found)
    app.add_exception_handler(BackendUnavailable, _unavailable)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("ticket store unavailable",
                extra={"path": request.url.path, "error": str(exc)})
    return JSONResponse({"detail": f"ticket store unavailable: {exc}"}, status_code=503,
                        headers={"Retry-After": "5"})


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.pantau_api
    return state


bearer = HTTPBearer(auto_error=False, description="a user's token from [[users]]")


def _identify(creds: HTTPAuthorizationCredentials | None, *auths: Authenticator) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    for auth in auths:
        who = auth(creds.credentials)
        if who is not None:
            return who
    raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})


class TokenGate:
    """ASGI middleware: a request under /api/v1 without a known bearer token is answered 401
    before its body is read, so an unknown caller never learns how a body is parsed. The
    routes identify the caller again (for the role); this only turns strangers away."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path.startswith(f"{PREFIX}/"):
            scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
            auths = ((self.state.alert_auth, self.state.auth) if path == WEBHOOK
                     else (self.state.auth,))
            if scheme.lower() != "bearer" or not any(auth(token.strip()) for auth in auths):
                detail = "missing bearer token" if not scheme else "unknown token"
                await JSONResponse({"detail": detail}, status_code=401, headers={
                    "WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return _identify(creds, _state(request).auth)


def _alert_sender(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    state = _state(request)
    return _identify(creds, state.alert_auth, state.auth)


Caller = Annotated[Principal, Depends(_principal)]
AlertSender = Annotated[Principal, Depends(_alert_sender)]
State = Annotated[ApiState, Depends(_state)]


def _unprocessable(loc: Sequence[str | int], msg: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field."""
    return HTTPException(422, [{"loc": list(loc), "msg": msg, "type": "value_error"}])


# -- response and body models ------------------------------------------------------------------


class ErrorOut(BaseModel):
    detail: str


class StepOut(BaseModel):
    no: int
    role: str
    started_at: str | None
    due_at: str | None
    completed_at: str | None
    completed_by: str | None
    breached: bool
    output: dict[str, Any]


class AuditOut(BaseModel):
    seq: int
    kind: str
    at: str | None
    actor: str
    role: str
    step: int | None
    data: dict[str, Any]


class TicketOut(BaseModel):
    """The ticket object, as every ticket route answers it."""

    id: str
    device: str
    owner: str
    fault: Literal["device_down", "interface_down", "snmp_down", "manual"]
    trigger: Literal["auto", "manual"]
    status: Literal["open", "closed"]
    current_step: int
    flapping: bool
    affected: list[str]
    opened_at: str
    steps: list[StepOut]
    item: str
    dedup_key: str
    evidence: dict[str, Any]
    restored: bool
    restoration_observed_at: str | None
    last_failure_at: str | None
    closed_at: str | None
    reopened: int
    sop_version: int
    last_verification: dict[str, Any] | None


class TicketDetailOut(TicketOut):
    """A ticket with its audit trail (every event: who, what, when)."""

    audit: list[AuditOut]


class TicketListOut(BaseModel):
    tickets: list[TicketOut]


class DeviceOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    address: str
    owner: str
    site: str | None
    parent: str | None
    state: str
    since: str | None
    flapping: bool
    maintenance: list[Any]
    affected: list[str]
    faults: list[dict[str, Any]]
    reboots: int
    last_reboot: str | None
    checks: dict[str, dict[str, Any]]


class DeviceListOut(BaseModel):
    devices: list[DeviceOut]


class VerifyOut(BaseModel):
    ticket: TicketOut
    verification: dict[str, Any]


_LIMITS = policy.REQUEST_LIMITS


class FileRequest(BaseModel):
    """A manual request (Surat Permohonan): a new installation, a fault pantau cannot see."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device: str = Field(min_length=1, max_length=_LIMITS["device"])
    owner: str | None = Field(default=None, min_length=1, max_length=_LIMITS["owner"],
                              description="the agency; default: the device's or the user's")
    subject: str = Field(min_length=1, max_length=_LIMITS["subject"], description="Perihal")
    description: str = Field(min_length=1, max_length=_LIMITS["description"],
                             description="Uraian")

    @field_validator("device", "owner", "subject", "description")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        # pydantic strips Unicode White_Space only; the workflow strips as str.strip() does
        # (control separators such as U+001E too), so check here and answer 422, not 409
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value


OutputDocument = dict[str, str | bool | list[str]]


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str = Field(default="", alias="startsAt")
    ends_at: str = Field(default="", alias="endsAt")
    fingerprint: str = Field(min_length=1)


class AlertmanagerIn(BaseModel):
    """Alertmanager's webhook payload, version 4."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: list[AlertIn]


class AlertResultOut(BaseModel):
    fingerprint: str
    status: str
    device: str
    fault: str
    ticket: str | None
    changed: bool


class AlertmanagerOut(BaseModel):
    results: list[AlertResultOut]


# -- routes ------------------------------------------------------------------------------------

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or unknown token"},
    403: {"model": ErrorOut, "description": "the user's role may not do this"},
}
#: the ticket store is down or locked: retry after Retry-After seconds
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "ticket store unavailable: retry"}}
#: FastAPI reads a request body before it authenticates: bytes that are not UTF-8 get 400
#: (and text that is not JSON the usual 422), whoever sends them
UNREADABLE: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not UTF-8 text"}}
router = APIRouter(prefix=PREFIX, responses=ERRORS)


def _ticket_doc(state: ApiState, ticket: Ticket) -> dict[str, Any]:
    return workflow.ticket_json(ticket, tz=state.tz)


async def _visible_ticket(state: ApiState, who: Principal, ticket_id: str) -> Ticket:
    ticket = await state.service.ticket(ticket_id)
    if not who.may_see(ticket.owner):
        raise HTTPException(403, f"ticket {ticket_id} belongs to another agency")
    return ticket


@router.get("/devices", response_model=DeviceListOut, tags=["devices"])
async def list_devices(state: State, who: Caller) -> dict[str, Any]:
    """Every device with its current state and last measurements (an agency: its own)."""
    return {"devices": [d for d in state.devices_json() if who.may_see(str(d["owner"]))]}


@router.get("/tickets", response_model=TicketListOut, tags=["tickets"], responses=UNAVAILABLE)
async def list_tickets(state: State, who: Caller,
                       status: Literal["open", "closed", "all"] = Query("open")
                       ) -> dict[str, Any]:
    """Tickets (an agency: its own)."""
    tickets = await state.service.tickets(None if status == "all" else status)
    return {"tickets": [_ticket_doc(state, t) for t in tickets if who.may_see(t.owner)]}


@router.get("/tickets/{ticket_id}", response_model=TicketDetailOut, tags=["tickets"],
            responses={404: {"model": ErrorOut}, **UNAVAILABLE})
async def get_ticket(ticket_id: str, state: State, who: Caller) -> dict[str, Any]:
    """One ticket with its steps, evidence and audit trail."""
    ticket = await _visible_ticket(state, who, ticket_id)
    events = await state.service.events(ticket_id)
    return workflow.ticket_json(ticket, events, tz=state.tz)


@router.post("/tickets", response_model=TicketOut, status_code=201, tags=["tickets"],
             responses={409: {"model": ErrorOut}, **UNAVAILABLE, **UNREADABLE})
async def file_ticket(body: FileRequest, state: State, who: Caller) -> dict[str, Any]:
    """File a manual request: an agency user for its own agency, or an admin for any."""
    device = state.devices.get(body.device)
    try:
        owner = policy.request_owner(who.name, who.role, who.owner, body.owner,
                                     device.owner if device is not None else None)
    except policy.Refusal as refusal:
        if refusal.forbidden:
            raise HTTPException(403, refusal.message) from None
        raise _unprocessable(("body", refusal.field or ""), refusal.message) from None
    ticket = await state.service.file_manual(who.actor, device=body.device, owner=owner,
                                             subject=body.subject, description=body.description)
    return _ticket_doc(state, ticket)


def check_document(spec: StepSpec, output: Mapping[str, Any]) -> None:
    """A 422 naming the first bad field of the output document (the workflow's check, made
    before a step 7 completion starts its live probes)."""
    try:
        workflow.validate_output(spec, output)
    except DocumentError as exc:
        raise _unprocessable(("body", exc.field), str(exc)) from None


@router.post("/tickets/{ticket_id}/steps/{no}/complete", response_model=TicketOut,
             tags=["tickets"],
             responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, **UNAVAILABLE,
                        **UNREADABLE})
async def complete_step(ticket_id: str, no: int, state: State, who: Caller,
                        output: Annotated[OutputDocument, Body(
                            description="the step's output document fields")]
                        ) -> dict[str, Any]:
    """Complete a step with its output document (step 7: after a passed live verification)."""
    if not 1 <= no <= len(state.sop.steps):
        raise _unprocessable(("path", "no"), f"steps are 1..{len(state.sop.steps)}")
    await _visible_ticket(state, who, ticket_id)
    spec = state.sop.step(no)
    if not who.may_act(spec):
        raise HTTPException(403, f"step {no} is for {spec.role.value}; {who.name} is {who.role}")
    check_document(spec, output)
    ticket = await state.service.complete(ticket_id, no, who.actor, output)
    return _ticket_doc(state, ticket)


@router.post("/tickets/{ticket_id}/verify", response_model=VerifyOut, tags=["tickets"],
             responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, **UNAVAILABLE})
async def verify_ticket(ticket_id: str, state: State, who: Caller) -> dict[str, Any]:
    """Probe the ticket's devices live now, record the result on the ticket and return it."""
    if not who.may_verify:
        raise HTTPException(403, f"{who.name} is {who.role}: verification is run by the "
                                 "department's staff")
    await _visible_ticket(state, who, ticket_id)
    ticket, result = await state.service.verify(ticket_id, who.actor)
    return {"ticket": _ticket_doc(state, ticket), "verification": workflow.ticket_json(
        ticket, tz=state.tz)["last_verification"] or dict(result)}


# -- Alertmanager ------------------------------------------------------------------------------


def _host(instance: str) -> str:
    """The host part of a Prometheus `instance` label: "127.20.0.5:9100", "[::1]:9100", "sw"."""
    if instance.startswith("["):
        return instance[1:].partition("]")[0]
    if instance.count(":") == 1:
        return instance.partition(":")[0]
    return instance


def alert_device(alert: AlertIn, devices: Mapping[str, Device], label: str) -> Device | None:
    """The device an alert names: label `label` (a device name), else the host part of
    `instance` matched against device names, then addresses."""
    name = alert.labels.get(label)
    if name:
        return devices.get(name)
    instance = alert.labels.get("instance")
    if not instance:
        return None
    host = _host(instance)
    if host in devices:
        return devices[host]
    return next((d for d in devices.values() if d.address == host), None)


def alert_fault(alert: AlertIn) -> tuple[Fault, str]:
    """(fault, item): an explicit `fault` label (device_down, interface_down, snmp_down) wins;
    else an `interface` (or `ifName`) label means interface_down of that interface; else an
    alertname containing "snmp" means snmp_down; otherwise device_down."""
    labels = alert.labels
    explicit = labels.get("fault", "")
    interface = labels.get("interface") or labels.get("ifName") or ""
    if explicit in (Fault.DEVICE_DOWN, Fault.SNMP_DOWN):
        return Fault(explicit), ""
    if explicit == Fault.INTERFACE_DOWN or interface:
        return Fault.INTERFACE_DOWN, interface
    if "snmp" in labels.get("alertname", "").lower():
        return Fault.SNMP_DOWN, ""
    return Fault.DEVICE_DOWN, ""


def _evidence(alert: AlertIn) -> dict[str, Any]:
    reason = (alert.annotations.get("summary") or alert.annotations.get("description")
              or alert.labels.get("alertname", "alert"))
    return {"source": ALERT_SOURCE, "fingerprint": alert.fingerprint, "status": alert.status,
            "starts_at": alert.starts_at, "since": alert.starts_at, "reason": reason,
            "alertname": alert.labels.get("alertname", ""), "labels": dict(alert.labels),
            "annotations": dict(alert.annotations)}


def _same_alert(evidence: Any, alert: AlertIn) -> bool | None:
    """True: the same firing (fingerprint and start); False: another firing of the same alert;
    None: not from Alertmanager, or another alert."""
    if not isinstance(evidence, Mapping) or evidence.get("source") != ALERT_SOURCE:
        return None
    if evidence.get("fingerprint") != alert.fingerprint:
        return None
    return bool(evidence.get("starts_at") == alert.starts_at)


def _stale_delivery(obs: Observation, alert: AlertIn, ticket: Ticket,
                   events: Sequence[TicketEvent]) -> bool:
    """Whether a replayed delivery would undo a newer state of `ticket` (open, with `events`):
    a firing alert after its own resolution was recorded, or a resolution of an older firing
    than the one on the ticket. Decided by TicketService under the ticket's lock."""
    if obs.kind == FAILING and not ticket.restored:
        return False
    if obs.kind == RESTORED and ticket.restored:
        return False
    wanted = ({EventKind.RESTORATION_OBSERVED} if obs.kind == FAILING else
              {EventKind.OPENED, EventKind.FAILURE_OBSERVED, EventKind.REOPENED})
    for event in reversed(events):
        if event.kind in wanted:
            same = _same_alert(event.data.get("evidence"), alert)
            return same is True if obs.kind == FAILING else same is False
    return False


@router.post("/alertmanager", response_model=AlertmanagerOut, tags=["alertmanager"],
             responses={**UNAVAILABLE, **UNREADABLE})
async def alertmanager(payload: AlertmanagerIn, state: State, who: AlertSender
                       ) -> dict[str, Any]:
    """Alertmanager webhook (version 4): a firing alert opens or updates the ticket of the
    device it names; a resolved one records restoration observed (never closure). Replays
    change nothing. Answers 2xx only after every write is stored."""
    if who.role not in (ADMIN, ALERT_SOURCE):
        raise HTTPException(403, f"the webhook takes the [alertmanager] token or an {ADMIN}'s; "
                                 f"{who.name} is {who.role}")
    planned: list[tuple[AlertIn, Observation]] = []
    now = state.service.clock.now()
    for i, alert in enumerate(payload.alerts):
        device = alert_device(alert, state.devices, state.alert_device_label)
        if device is None:
            named = (alert.labels.get(state.alert_device_label)
                     or alert.labels.get("instance"))
            msg = (f"no device {named!r} in the inventory" if named else
                   f"no '{state.alert_device_label}' or 'instance' label")
            raise _unprocessable(("body", "alerts", i, "labels"), msg)
        fault, item = alert_fault(alert)
        planned.append((alert, Observation(
            device=device.name, owner=device.owner, fault=fault,
            kind=FAILING if alert.status == "firing" else RESTORED, at=now, item=item,
            reason=str(_evidence(alert)["reason"]), evidence=_evidence(alert))))
    results = []
    for alert, obs in planned:
        outcome = await state.service.observe_unless(
            obs, functools.partial(_stale_delivery, obs, alert))
        log.info("alert received", extra={"device": obs.device, "fault": obs.fault.value,
                                           "status": alert.status, "changed": outcome.changed})
        results.append({"fingerprint": alert.fingerprint, "status": alert.status,
                        "device": obs.device, "fault": obs.fault.value,
                        "ticket": outcome.ticket.id if outcome.ticket else None,
                        "changed": outcome.changed})
    return {"results": results}
