"""The device and ticket routes under /api/v1: list, read, file, complete a step and verify,
each checking the caller's role (ticketing.policy) and then asking the TicketService."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query

from agent.api.auth import PREFIX, Principal
from agent.api.context import ApiState, Caller, State, unprocessable
from agent.api.schemas import (
    ERRORS,
    UNAVAILABLE,
    UNREADABLE,
    DeviceDetailOut,
    DeviceListOut,
    ErrorOut,
    FileRequest,
    OutputDocument,
    TicketDetailOut,
    TicketListOut,
    TicketOut,
    VerifyOut,
)
from agent.core.errors import BackendRejected, DocumentError, TicketNotFound
from ticketing import documents, json_view, policy
from ticketing.backend import PAGE_MAX, TicketQuery
from ticketing.models import Ticket
from ticketing.sop import StepSpec

router = APIRouter(prefix=PREFIX, responses=ERRORS)

#: Tickets on a page of GET /tickets unless `limit` says otherwise.
PAGE_SIZE = 100


def _ticket_doc(state: ApiState, ticket: Ticket) -> dict[str, Any]:
    return json_view.ticket_json(ticket, tz=state.tz)


async def _visible_ticket(state: ApiState, who: Principal, ticket_id: str) -> Ticket:
    ticket = await state.service.ticket(ticket_id)
    if not who.may_see(ticket.owner):
        # the very answer of a missing ticket: ids of other agencies are not confirmed
        raise TicketNotFound(f"no ticket {ticket_id}")
    return ticket


@router.get("/devices", response_model=DeviceListOut, tags=["devices"])
async def list_devices(state: State, who: Caller) -> dict[str, Any]:
    """Every device with its current state and last measurements (an agency: its own)."""
    return {"devices": [d for d in state.devices_json() if who.may_see(str(d["owner"]))]}


@router.get("/devices/{name}", response_model=DeviceDetailOut, tags=["devices"],
            responses={404: {"model": ErrorOut}})
async def get_device(state: State, who: Caller, name: str) -> dict[str, Any]:
    """One device as the list shows it, with `traps`: its recent SNMP notifications of other
    kinds, newest first (an agency: its own devices only; another's is not found)."""
    device = state.devices.get(name)
    if device is None or not who.may_see(device.owner):
        raise HTTPException(404, f"no device {name}")
    docs = state.devices_json(name)
    if not docs:
        raise HTTPException(404, f"no device {name}")
    return {**docs[0], "traps": state.device_traps(name)}


@router.get("/tickets", response_model=TicketListOut, tags=["tickets"], responses=UNAVAILABLE)
async def list_tickets(
    state: State, who: Caller,
    status: Literal["open", "closed", "all"] = Query("open"),
    limit: int = Query(PAGE_SIZE, ge=1, le=PAGE_MAX,
                       description="the most tickets on the page"),
    after: str | None = Query(None, max_length=40,
                              description="the `next` of the previous page"),
) -> dict[str, Any]:
    """Tickets (an agency: its own), newest first, a page at a time."""
    query = TicketQuery(status=None if status == "all" else status,
                        owner=policy.visible_owner(who.role, who.owner), limit=limit,
                        after=after)
    try:
        page = await state.service.page(query)
    except BackendRejected as exc:
        if after is None:
            raise
        raise unprocessable(("query", "after"), str(exc)) from None
    return {"tickets": [_ticket_doc(state, t) for t in page.tickets if who.may_see(t.owner)],
            "next": page.next}


@router.get("/tickets/{ticket_id}", response_model=TicketDetailOut, tags=["tickets"],
            responses={404: {"model": ErrorOut}, **UNAVAILABLE})
async def get_ticket(ticket_id: str, state: State, who: Caller) -> dict[str, Any]:
    """One ticket with its steps, evidence and audit trail."""
    ticket = await _visible_ticket(state, who, ticket_id)
    events = await state.service.events(ticket_id)
    return json_view.ticket_json(ticket, events, tz=state.tz)


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
            raise HTTPException(403, str(refusal)) from None
        raise unprocessable(("body", refusal.field or ""), str(refusal)) from None
    ticket = await state.service.file_manual(who.actor, device=body.device, owner=owner,
                                             subject=body.subject, description=body.description)
    return _ticket_doc(state, ticket)


def check_document(spec: StepSpec, output: Mapping[str, Any]) -> None:
    """A 422 naming the first bad field of the output document (the workflow's check, made
    before a step 7 completion starts its live probes)."""
    try:
        documents.validate_output(spec, output)
    except DocumentError as exc:
        raise unprocessable(("body", exc.field), str(exc)) from None


@router.post("/tickets/{ticket_id}/steps/{no}/complete", response_model=TicketOut,
             tags=["tickets"],
             responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, **UNAVAILABLE,
                        **UNREADABLE})
async def complete_step(ticket_id: str, no: int, state: State, who: Caller,
                        output: Annotated[OutputDocument, Body(
                            description="the step's output document fields")]
                        ) -> dict[str, Any]:
    """Complete a step with its output document (step 7: after a passed live verification)."""
    if state.sop.find(no) is None:
        raise unprocessable(("path", "no"), f"steps are 1..{len(state.sop.steps)}")
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
    return {"ticket": _ticket_doc(state, ticket), "verification": json_view.ticket_json(
        ticket, tz=state.tz)["last_verification"] or result.to_json()}
