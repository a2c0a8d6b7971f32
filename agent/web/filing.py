"""The manual request (Surat Permohonan) form: who may file, for which agency, and the field
rules are ticketing.policy's; this page only asks and shows the answer."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from agent.api.auth import Principal
from agent.core.errors import BackendUnavailable, InvalidTransition
from agent.web.render import (
    checked_form,
    error_page,
    flash,
    render,
    signed_in,
    state_of,
    words_of,
)
from ticketing import policy

router = APIRouter(include_in_schema=False)


@router.get("/tickets/new")
async def new_request_page(request: Request) -> Response:
    who = signed_in(request)
    if not who.may_file:
        return error_page(request, 403, words_of(request)("error.forbidden"), who)
    return _new_request(request, who, {}, None)


def _new_request(request: Request, who: Principal, values: Mapping[str, str],
                 error: str | None, status: int = 200) -> HTMLResponse:
    state = state_of(request)
    devices = sorted(d.name for d in state.devices.values() if who.may_see(d.owner))
    owners = sorted({d.owner for d in state.devices.values()})
    return render(request, "new_ticket.html", status=status, who=who, values=values,
                  error=error, device_names=devices, owners=owners)


@router.post("/tickets/new")
async def file_request(request: Request) -> Response:
    who = signed_in(request)
    state = state_of(request)
    words = words_of(request)
    form = await checked_form(request)
    values = {k: str(form.get(k, "")).strip() for k in ("device", "owner", "subject",
                                                          "description")}
    if not who.may_file:
        return error_page(request, 403, words("error.forbidden"), who)
    device = state.devices.get(values["device"])
    try:
        refusal = policy.request_problem(values)
        owner = "" if refusal else policy.request_owner(
            who.name, who.role, who.owner, values["owner"] or None,
            device.owner if device is not None else None)
    except policy.Refusal as refused:
        refusal = refused
    if refusal is not None:
        if refusal.forbidden:
            return error_page(request, 403, words("error.forbidden"), who)
        return _new_request(request, who, values, words(
            "ticket.field_error", field=words(f"new.{refusal.field}"),
            message=f"> {refusal.limit}" if refusal.limit else "—"), 422)
    try:
        ticket = await state.service.file_manual(
            who.actor, device=values["device"], owner=owner, subject=values["subject"],
            description=values["description"])
    except InvalidTransition as exc:
        return _new_request(request, who, values,
                            words("ticket.refused", reason=exc.text(words.lang)), 409)
    except BackendUnavailable:
        return error_page(request, 503, words("error.unavailable"), who)
    flash(request, "ok", words("new.filed", id=ticket.id))
    return RedirectResponse(f"/tickets/{quote(ticket.id)}", status_code=303)
