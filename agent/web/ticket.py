"""A ticket's page and what may be done on it: complete the current step, verify now, add a
note, and print a step's document as a letter."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from agent.api.auth import Principal
from agent.core.errors import BackendUnavailable, DocumentError, InvalidTransition, TicketNotFound
from agent.web import evidence, letters, views
from agent.web.i18n import Words
from agent.web.render import (
    SECURITY_HEADERS,
    PagesState,
    checked_form,
    error_page,
    flash,
    render,
    signed_in,
    state_of,
    words_of,
)
from agent.web.session import CSRF_FIELD
from ticketing import documents, json_view
from ticketing.models import Ticket, TicketEvent
from ticketing.sop import StepSpec

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class _Shown:
    """A ticket with its audit trail, and its JSON for the page's template."""

    ticket: Ticket
    events: Sequence[TicketEvent]
    doc: dict[str, Any]


async def _ticket_doc(request: Request, who: Principal, ticket_id: str
                      ) -> _Shown | HTMLResponse:
    """The ticket with its audit trail, or the error page to answer with."""
    state = state_of(request)
    words = words_of(request)
    try:
        ticket = await state.service.ticket(ticket_id)
        if not who.may_see(ticket.owner):  # as if missing: other agencies' ids stay unknown
            return error_page(request, 404, words("error.not_found"), who)
        events = await state.service.events(ticket_id)
    except TicketNotFound:
        return error_page(request, 404, words("error.not_found"), who)
    except BackendUnavailable:
        return error_page(request, 503, words("error.unavailable"), who)
    return _Shown(ticket, events, json_view.ticket_json(ticket, events, tz=state.tz))


@router.get("/tickets/{ticket_id}")
async def ticket_page(request: Request, ticket_id: str) -> Response:
    who = signed_in(request)
    doc = await _ticket_doc(request, who, ticket_id)
    if isinstance(doc, HTMLResponse):
        return doc
    return _ticket_view(request, who, doc)


def _ticket_view(request: Request, who: Principal, shown: _Shown, *,
                 values: Mapping[str, Any] | None = None, error: str | None = None,
                 status: int = 200) -> HTMLResponse:
    doc = shown.doc
    state = state_of(request)
    sop = state.service.sop
    now = state.service.clock.now()
    current = sop.step(int(doc["current_step"])) if doc["status"] == "open" else None
    steps = []
    for record in doc["steps"]:
        spec = sop.step(int(record["no"]))
        steps.append((spec, record, views.clocked(record, now),
                      letters.letter_available(shown.ticket, spec.no)))
    lang = words_of(request).lang
    zone = evidence.zone_of(shown.ticket, state.devices, state.tz)
    return render(
        request, "ticket.html", status=status, who=who, ticket=doc, steps=steps,
        current=current, may_act=current is not None and who.may_act(current),
        may_verify=doc["status"] == "open" and who.may_verify,
        values=values or {}, error=error, now_ms=int(now.timestamp() * 1000),
        verification=doc.get("last_verification"),
        timeline=list(reversed(doc.get("audit", []))),
        evidence_rows=evidence.evidence_rows(shown.ticket, zone, lang),
        measured=evidence.measurements(shown.ticket, zone, lang))


def _output(spec: StepSpec, form: FormData) -> dict[str, Any]:
    """The step's output document from the form: text stripped, "ya"/"tidak" radio buttons
    as booleans, one list item per line."""
    out: dict[str, Any] = {}
    for f in spec.fields:
        raw = form.get(f.name)
        if raw is None or not isinstance(raw, str):
            continue
        if f.kind == "bool":
            if raw in ("yes", "no"):
                out[f.name] = raw == "yes"
        elif f.kind == "list":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if items:
                out[f.name] = items
        elif raw.strip():
            out[f.name] = raw.strip()
    return out


@dataclass(frozen=True, slots=True)
class _Post:
    """A form posted on a ticket's page: who, the checked form, and the ticket they may see."""

    who: Principal
    state: PagesState
    words: Words
    form: FormData
    doc: _Shown


async def _post_on_ticket(request: Request, ticket_id: str) -> _Post | HTMLResponse:
    who = signed_in(request)
    form = await checked_form(request)
    doc = await _ticket_doc(request, who, ticket_id)
    if isinstance(doc, HTMLResponse):
        return doc
    return _Post(who, state_of(request), words_of(request), form, doc)


@router.post("/tickets/{ticket_id}/steps/{no}")
async def complete_step(request: Request, ticket_id: str, no: int) -> Response:
    post = await _post_on_ticket(request, ticket_id)
    if isinstance(post, HTMLResponse):
        return post
    who, state, words, form, doc = post.who, post.state, post.words, post.form, post.doc
    spec = state.service.sop.find(no)
    if spec is None:
        return error_page(request, 404, words("error.not_found"), who)
    if not who.may_act(spec):
        return error_page(request, 403, words("error.forbidden"), who)
    values = {k: v for k, v in form.items() if k != CSRF_FIELD}
    output = _output(spec, form)
    try:
        documents.validate_output(spec, output)
    except DocumentError as exc:
        return _ticket_view(request, who, doc, values=values, status=422, error=words(
            "ticket.field_error", field=views.field_label(spec, exc.field, words.lang),
            message=exc.text(words.lang)))
    try:
        await state.service.complete(ticket_id, no, who.actor, output)
    except InvalidTransition as exc:
        fresh = await _ticket_doc(request, who, ticket_id)
        if isinstance(fresh, HTMLResponse):
            return fresh
        return _ticket_view(request, who, fresh, values=values, status=409,
                            error=words("ticket.refused", reason=exc.text(words.lang)))
    except BackendUnavailable:
        return error_page(request, 503, words("error.unavailable"), who)
    log.info("step completed on the pages", extra={"ticket": ticket_id, "step": no,
                                                   "user": who.name})
    flash(request, "ok", words("ticket.step_done", step=no))
    return RedirectResponse(f"/tickets/{quote(ticket_id)}", status_code=303)


@router.post("/tickets/{ticket_id}/verify")
async def verify_now(request: Request, ticket_id: str) -> Response:
    post = await _post_on_ticket(request, ticket_id)
    if isinstance(post, HTMLResponse):
        return post
    who, state, words = post.who, post.state, post.words
    if not who.may_verify:
        return error_page(request, 403, words("error.forbidden"), who)
    try:
        _, result = await state.service.verify(ticket_id, who.actor)
    except InvalidTransition as exc:
        flash(request, "error", words("ticket.refused", reason=exc.text(words.lang)))
    except BackendUnavailable:
        return error_page(request, 503, words("error.unavailable"), who)
    else:
        verdict = words("verify.passed") if result.passed else words("verify.failed")
        flash(request, "ok" if result.passed else "error",
              words("verify.result", verdict=verdict, reason=result.reason_in(words.lang)))
    return RedirectResponse(f"/tickets/{quote(ticket_id)}#verifikasi", status_code=303)


@router.post("/tickets/{ticket_id}/notes")
async def add_note(request: Request, ticket_id: str) -> Response:
    post = await _post_on_ticket(request, ticket_id)
    if isinstance(post, HTMLResponse):
        return post
    who, state, words, form, doc = post.who, post.state, post.words, post.form, post.doc
    text = str(form.get("text", "")).strip()
    if not text or len(text) > 5000:
        return _ticket_view(request, who, doc, status=422, error=words(
            "ticket.field_error", field=words("event.note"), message="1..5000"))
    try:
        await state.service.note(ticket_id, who.actor, text)
    except InvalidTransition as exc:
        return _ticket_view(request, who, doc, status=409,
                            error=words("ticket.refused", reason=exc.text(words.lang)))
    except BackendUnavailable:
        return error_page(request, 503, words("error.unavailable"), who)
    flash(request, "ok", words("ticket.noted"))
    return RedirectResponse(f"/tickets/{quote(ticket_id)}#riwayat", status_code=303)


@router.get("/tickets/{ticket_id}/documents/{no}")
async def document(request: Request, ticket_id: str, no: int) -> Response:
    """A step's output document as a printable Indonesian government letter."""
    who = signed_in(request)
    state = state_of(request)
    doc = await _ticket_doc(request, who, ticket_id)
    if isinstance(doc, HTMLResponse):
        return doc
    if state.service.sop.find(no) is None or not letters.letter_available(
            doc.ticket, no):
        return error_page(request, 404, words_of(request)("error.not_found"), who)
    html = letters.render_letter(
        state.env, doc.ticket, no, state.service.sop, state.web, tz=state.tz,
        events=doc.events, signers=state.people,
        evidence_tz=evidence.zone_of(doc.ticket, state.devices, state.tz))
    return HTMLResponse(html, headers=SECURITY_HEADERS)
