"""The boards: every device with its state and open ticket, and the tickets under their
current step (or the closed ones), as the signed-in user may see them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from agent.web import views
from agent.web.render import error_page, render, signed_in, state_of, words_of
from ticketing import json_view, policy
from ticketing.backend import TicketQuery

REFRESH_SECONDS = 30
#: The closed tab shows the most recently closed tickets, this many.
CLOSED_SHOWN = 500

router = APIRouter(include_in_schema=False)


@router.get("/devices")
async def device_board(request: Request, state_filter: str = "", q: str = "") -> Response:
    who = signed_in(request)
    state = state_of(request)
    shown = [d for d in state.devices_json() if who.may_see(str(d["owner"]))]
    owner = policy.visible_owner(who.role, who.owner)  # filtered by the store
    open_tickets = [json_view.ticket_json(t, tz=state.tz)
                    for t in await state.service.every("open", owner) if who.may_see(t.owner)]
    wanted = state_filter if state_filter in views.STATE_ORDER else None
    rows = views.device_rows(shown, views.device_tickets(open_tickets), wanted, q[:100])
    return render(request, "devices.html", who=who, rows=rows[:views.BOARD_LIMIT],
                  total=len(rows), counts=views.state_counts(shown), state_filter=wanted,
                  q=q[:100], refresh=REFRESH_SECONDS)


@router.get("/devices/{name}")
async def device_page(request: Request, name: str) -> Response:
    """One device: its state and faults, and its recent SNMP notifications of other kinds."""
    who = signed_in(request)
    state = state_of(request)
    device = state.devices.get(name)
    doc = None
    if device is not None and who.may_see(device.owner):
        doc = next(iter(state.devices_json(name)), None)
    if doc is None:
        return error_page(request, 404, words_of(request)("error.not_found"), who)
    return render(request, "device.html", who=who, device=doc, traps=state.device_traps(name))


# -- tickets -----------------------------------------------------------------------------------


@router.get("/tickets")
async def ticket_board(request: Request, status: str = "open") -> Response:
    who = signed_in(request)
    state = state_of(request)
    status = "closed" if status == "closed" else "open"
    now = state.service.clock.now()
    owner = policy.visible_owner(who.role, who.owner)  # filtered by the store
    if status == "closed":
        page = await state.service.summaries(TicketQuery(
            status="closed", owner=owner, limit=CLOSED_SHOWN, by_closed=True))
        closed = [json_view.summary_json(t, tz=state.tz) for t in page.summaries
                  if who.may_see(t.owner)]
        return render(request, "tickets.html", who=who, tab=status, groups=[],
                      closed=closed, now_ms=int(now.timestamp() * 1000))
    tickets = [json_view.ticket_json(t, tz=state.tz)
               for t in await state.service.every(status, owner) if who.may_see(t.owner)]
    return render(request, "tickets.html", who=who, tab=status,
                  groups=views.by_step(tickets, state.service.sop, now), closed=[],
                  now_ms=int(now.timestamp() * 1000))
