"""The boards: every device with its state and open ticket, and the tickets under their
current step (or the closed ones), as the signed-in user may see them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from agent.web import views
from agent.web.render import render, signed_in, state_of
from ticketing import json_view

REFRESH_SECONDS = 30

router = APIRouter(include_in_schema=False)


@router.get("/devices")
async def device_board(request: Request, state_filter: str = "", q: str = "") -> Response:
    who = signed_in(request)
    state = state_of(request)
    shown = [d for d in state.devices_json() if who.may_see(str(d["owner"]))]
    open_tickets = [json_view.ticket_json(t, tz=state.tz)
                    for t in await state.service.tickets("open")
                    if who.may_see(t.owner)]
    wanted = state_filter if state_filter in views.STATE_ORDER else None
    rows = views.device_rows(shown, views.device_tickets(open_tickets), wanted, q[:100])
    return render(request, "devices.html", who=who, rows=rows[:views.BOARD_LIMIT],
                  total=len(rows), counts=views.state_counts(shown), state_filter=wanted,
                  q=q[:100], refresh=REFRESH_SECONDS)


# -- tickets -----------------------------------------------------------------------------------


@router.get("/tickets")
async def ticket_board(request: Request, status: str = "open") -> Response:
    who = signed_in(request)
    state = state_of(request)
    status = "closed" if status == "closed" else "open"
    tickets = [json_view.ticket_json(t, tz=state.tz)
               for t in await state.service.tickets(status)
               if who.may_see(t.owner)]
    now = state.service.clock.now()
    if status == "closed":
        tickets.sort(key=lambda t: t["closed_at"] or "", reverse=True)
        return render(request, "tickets.html", who=who, tab=status, groups=[],
                      closed=tickets[:500], now_ms=int(now.timestamp() * 1000))
    return render(request, "tickets.html", who=who, tab=status,
                  groups=views.by_step(tickets, state.service.sop, now), closed=[],
                  now_ms=int(now.timestamp() * 1000))
