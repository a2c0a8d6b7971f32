"""The pages' routes: sign-in, the device board, tickets per step, a ticket's page with the
signed-in role's action, "verify now", a manual request, and the printable letters. Every form
carries the session's CSRF token; every page checks the role as the API does."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import APIRouter, FastAPI, Request
from starlette.datastructures import FormData
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from agent.api.auth import Principal
from agent.config import User, WebSettings
from agent.core.errors import BackendUnavailable, DocumentError, InvalidTransition, TicketNotFound
from agent.core.model import Device
from agent.web import letters, views
from agent.web.i18n import LANGS, Words, pick_lang
from agent.web.session import CSRF_FIELD, SESSION_COOKIE, Accounts, Throttle, csrf_ok, csrf_token
from ticketing import policy, workflow
from ticketing.service import TicketService
from ticketing.sop import StepSpec

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; "
                                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class WebContext:
    """What the pages need from the running agent (built by agent/app.py)."""

    service: TicketService
    users: Sequence[User]
    devices: Sequence[Device]
    devices_json: Callable[[], list[dict[str, Any]]]
    web: WebSettings = field(default_factory=WebSettings)
    tz: str = "Asia/Jakarta"


@dataclass(slots=True)
class PagesState:
    """Kept on `app.state.pantau_web`; holds no secret but the password hashes in Accounts."""

    service: TicketService
    accounts: Accounts
    throttle: Throttle
    devices: Mapping[str, Device]
    devices_json: Callable[[], list[dict[str, Any]]]
    web: WebSettings
    tz: str
    env: jinja2.Environment


def templates() -> jinja2.Environment:
    """The one Jinja2 environment of the pages and letters (autoescaped)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("agent.web", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def install(app: FastAPI, ctx: WebContext) -> None:
    """Add the pages, their static files and the session cookie to `app`."""
    key = (ctx.web.session_key.reveal() if ctx.web.session_key is not None
           else secrets.token_urlsafe(32))
    app.state.pantau_web = PagesState(
        service=ctx.service, accounts=Accounts(ctx.users),
        throttle=Throttle(ctx.service.clock.monotonic),
        devices={d.name: d for d in ctx.devices}, devices_json=ctx.devices_json, web=ctx.web,
        tz=ctx.tz, env=templates())
    app.add_middleware(SessionMiddleware, secret_key=key, session_cookie=SESSION_COOKIE,
                       max_age=int(ctx.web.session_hours * 3600), same_site="strict",
                       https_only=ctx.web.secure_cookie)
    app.mount("/static", StaticFiles(packages=[("agent.web", "static")]), name="static")
    app.include_router(router)
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)


router = APIRouter(include_in_schema=False)


class SignInRequired(Exception):
    pass


class CsrfRejected(Exception):
    pass


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    who = _state(request).accounts.current(request)
    return _error(request, 403, _words(request)("error.csrf"), who)


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _state(request: Request) -> PagesState:
    state: PagesState = request.app.state.pantau_web
    return state


def _words(request: Request) -> Words:
    return Words(pick_lang(request.session.get("lang")), _state(request).tz)


def _user(request: Request) -> Principal:
    who = _state(request).accounts.current(request)
    if who is None:
        if request.session.get("user"):
            request.session.clear()
            _flash(request, "info", _words(request)("login.expired"))
        raise SignInRequired
    return who


def _flash(request: Request, kind: str, text: str) -> None:
    request.session.setdefault("flash", []).append([kind, text])
    request.session["flash"] = request.session["flash"][-5:]


def _local(target: str | None, default: str = "/devices") -> str:
    """Only a path on this server is followed after sign-in or a language switch."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def _render(request: Request, template: str, *, status: int = 200, who: Principal | None = None,
            **context: Any) -> HTMLResponse:
    state = _state(request)
    words = _words(request)
    flashes = request.session.pop("flash", [])
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = state.env.get_template(template).render(
        t=words, lang=words.lang, langs=LANGS, user=who, csrf=csrf_token(request),
        csrf_field=CSRF_FIELD, flashes=flashes, here=here, views=views,
        role_label=lambda role: words(f"role.{role}"), sop=state.service.sop,
        is_agency_or_admin=who is not None and who.may_file, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _error(request: Request, status: int, message: str, who: Principal | None) -> HTMLResponse:
    return _render(request, "error.html", status=status, who=who, message=message)


async def _form(request: Request) -> FormData:
    """The posted form, after its CSRF token was checked (a 403 page otherwise)."""
    form = await request.form(max_files=0, max_fields=50, max_part_size=64 * 1024)
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        raise CsrfRejected
    return form


# -- sign-in -----------------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    signed_in = _state(request).accounts.current(request) is not None
    return RedirectResponse("/devices" if signed_in else "/login", status_code=303)


@router.get("/login")
async def login_page(request: Request, next: str = "/devices") -> Response:
    return _render(request, "login.html", next=_local(next), name="", error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    state = _state(request)
    words = _words(request)
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    name = str(form.get("username", "")).strip()[:200]
    target = _local(str(form.get("next", "")))
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        return _render(request, "login.html", status=403, next=target, name=name,
                       error=words("error.csrf"))
    wait = state.throttle.wait(name)
    if wait:
        log.warning("sign-in throttled", extra={"user": name, "client": _client(request)})
        return _render(request, "login.html", status=429, next=target, name=name,
                       error=words("login.throttled", seconds=wait))
    who = await state.accounts.check(name, str(form.get("password", "")))
    if who is None:
        state.throttle.failed(name)
        log.warning("sign-in failed", extra={"user": name, "client": _client(request)})
        return _render(request, "login.html", status=401, next=target, name=name,
                       error=words("login.failed"))
    state.throttle.succeeded(name)
    state.accounts.sign_in(request, who)
    log.info("signed in", extra={"user": who.name, "role": who.role})
    return RedirectResponse(target, status_code=303)


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


@router.post("/logout")
async def logout(request: Request) -> Response:
    await _form(request)
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    _flash(request, "info", _words(request)("login.signed_out"))
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/") -> Response:
    if code in LANGS:
        request.session["lang"] = code
    return RedirectResponse(_local(next, "/"), status_code=303)


# -- the device board --------------------------------------------------------------------------


@router.get("/devices")
async def device_board(request: Request, state_filter: str = "", q: str = "") -> Response:
    who = _user(request)
    state = _state(request)
    shown = [d for d in state.devices_json() if who.may_see(str(d["owner"]))]
    open_tickets = [workflow.ticket_json(t, tz=state.tz)
                    for t in await state.service.tickets("open")
                    if who.may_see(t.owner)]
    wanted = state_filter if state_filter in views.STATE_ORDER else None
    rows = views.device_rows(shown, views.device_tickets(open_tickets), wanted, q[:100])
    return _render(request, "devices.html", who=who, rows=rows[:views.BOARD_LIMIT],
                   total=len(rows), counts=views.state_counts(shown), state_filter=wanted,
                   q=q[:100], refresh=REFRESH_SECONDS)


# -- tickets -----------------------------------------------------------------------------------


@router.get("/tickets")
async def ticket_board(request: Request, status: str = "open") -> Response:
    who = _user(request)
    state = _state(request)
    status = "closed" if status == "closed" else "open"
    tickets = [workflow.ticket_json(t, tz=state.tz)
               for t in await state.service.tickets(status)
               if who.may_see(t.owner)]
    now = state.service.clock.now()
    if status == "closed":
        tickets.sort(key=lambda t: t["closed_at"] or "", reverse=True)
        return _render(request, "tickets.html", who=who, tab=status, groups=[],
                       closed=tickets[:500], now_ms=int(now.timestamp() * 1000))
    return _render(request, "tickets.html", who=who, tab=status,
                   groups=views.by_step(tickets, state.service.sop, now), closed=[],
                   now_ms=int(now.timestamp() * 1000))


@router.get("/tickets/new")
async def new_request_page(request: Request) -> Response:
    who = _user(request)
    if not who.may_file:
        return _error(request, 403, _words(request)("error.forbidden"), who)
    return _new_request(request, who, {}, None)


def _new_request(request: Request, who: Principal, values: Mapping[str, str],
                 error: str | None, status: int = 200) -> HTMLResponse:
    state = _state(request)
    devices = sorted(d.name for d in state.devices.values() if who.may_see(d.owner))
    owners = sorted({d.owner for d in state.devices.values()})
    return _render(request, "new_ticket.html", status=status, who=who, values=values,
                   error=error, device_names=devices, owners=owners)


@router.post("/tickets/new")
async def file_request(request: Request) -> Response:
    who = _user(request)
    state = _state(request)
    words = _words(request)
    form = await _form(request)
    values = {k: str(form.get(k, "")).strip() for k in ("device", "owner", "subject",
                                                          "description")}
    if not who.may_file:
        return _error(request, 403, words("error.forbidden"), who)
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
            return _error(request, 403, words("error.forbidden"), who)
        return _new_request(request, who, values, words(
            "ticket.field_error", field=words(f"new.{refusal.field}"),
            message=f"> {refusal.limit}" if refusal.limit else "—"), 422)
    try:
        ticket = await state.service.file_manual(
            who.actor, device=values["device"], owner=owner, subject=values["subject"],
            description=values["description"])
    except InvalidTransition as exc:
        return _new_request(request, who, values, words("ticket.refused", reason=str(exc)), 409)
    except BackendUnavailable:
        return _error(request, 503, words("error.unavailable"), who)
    _flash(request, "ok", words("new.filed", id=ticket.id))
    return RedirectResponse(f"/tickets/{quote(ticket.id)}", status_code=303)


async def _ticket_doc(request: Request, who: Principal, ticket_id: str
                      ) -> dict[str, Any] | HTMLResponse:
    """The ticket with its audit trail, or the error page to answer with."""
    state = _state(request)
    words = _words(request)
    try:
        ticket = await state.service.ticket(ticket_id)
        if not who.may_see(ticket.owner):
            return _error(request, 403, words("error.forbidden"), who)
        events = await state.service.events(ticket_id)
    except TicketNotFound:
        return _error(request, 404, words("error.not_found"), who)
    except BackendUnavailable:
        return _error(request, 503, words("error.unavailable"), who)
    return workflow.ticket_json(ticket, events, tz=state.tz)


@router.get("/tickets/{ticket_id}")
async def ticket_page(request: Request, ticket_id: str) -> Response:
    who = _user(request)
    doc = await _ticket_doc(request, who, ticket_id)
    if isinstance(doc, HTMLResponse):
        return doc
    return _ticket_view(request, who, doc)


def _ticket_view(request: Request, who: Principal, doc: Mapping[str, Any], *,
                 values: Mapping[str, Any] | None = None, error: str | None = None,
                 status: int = 200) -> HTMLResponse:
    state = _state(request)
    sop = state.service.sop
    now = state.service.clock.now()
    current = sop.step(int(doc["current_step"])) if doc["status"] == "open" else None
    steps = []
    for record in doc["steps"]:
        spec = sop.step(int(record["no"]))
        steps.append((spec, record, views.clocked(record, now),
                      letters.letter_available(doc, spec.no)))
    return _render(
        request, "ticket.html", status=status, who=who, ticket=doc, steps=steps,
        current=current, may_act=current is not None and who.may_act(current),
        may_verify=doc["status"] == "open" and who.may_verify,
        values=values or {}, error=error, now_ms=int(now.timestamp() * 1000),
        verification=doc.get("last_verification"),
        timeline=list(reversed(doc.get("audit", []))))


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
    doc: dict[str, Any]


async def _post_on_ticket(request: Request, ticket_id: str) -> _Post | HTMLResponse:
    who = _user(request)
    form = await _form(request)
    doc = await _ticket_doc(request, who, ticket_id)
    if isinstance(doc, HTMLResponse):
        return doc
    return _Post(who, _state(request), _words(request), form, doc)


@router.post("/tickets/{ticket_id}/steps/{no}")
async def complete_step(request: Request, ticket_id: str, no: int) -> Response:
    post = await _post_on_ticket(request, ticket_id)
    if isinstance(post, HTMLResponse):
        return post
    who, state, words, form, doc = post.who, post.state, post.words, post.form, post.doc
    if not 1 <= no <= len(state.service.sop.steps):
        return _error(request, 404, words("error.not_found"), who)
    spec = state.service.sop.step(no)
    if not who.may_act(spec):
        return _error(request, 403, words("error.forbidden"), who)
    values = {k: v for k, v in form.items() if k != CSRF_FIELD}
    output = _output(spec, form)
    try:
        workflow.validate_output(spec, output)
    except DocumentError as exc:
        return _ticket_view(request, who, doc, values=values, status=422, error=words(
            "ticket.field_error", field=views.field_label(spec, exc.field, words.lang),
            message=str(exc)))
    try:
        await state.service.complete(ticket_id, no, who.actor, output)
    except InvalidTransition as exc:
        fresh = await _ticket_doc(request, who, ticket_id)
        if isinstance(fresh, HTMLResponse):
            return fresh
        return _ticket_view(request, who, fresh, values=values, status=409,
                            error=words("ticket.refused", reason=str(exc)))
    except BackendUnavailable:
        return _error(request, 503, words("error.unavailable"), who)
    log.info("step completed on the pages", extra={"ticket": ticket_id, "step": no,
                                                   "user": who.name})
    _flash(request, "ok", words("ticket.step_done", step=no))
    return RedirectResponse(f"/tickets/{quote(ticket_id)}", status_code=303)


@router.post("/tickets/{ticket_id}/verify")
async def verify_now(request: Request, ticket_id: str) -> Response:
    post = await _post_on_ticket(request, ticket_id)
    if isinstance(post, HTMLResponse):
        return post
    who, state, words = post.who, post.state, post.words
    if not who.may_verify:
        return _error(request, 403, words("error.forbidden"), who)
    try:
        _, result = await state.service.verify(ticket_id, who.actor)
    except InvalidTransition as exc:
        _flash(request, "error", words("ticket.refused", reason=str(exc)))
    except BackendUnavailable:
        return _error(request, 503, words("error.unavailable"), who)
    else:
        verdict = words("verify.passed") if result.get("passed") else words("verify.failed")
        _flash(request, "ok" if result.get("passed") else "error",
               words("verify.result", verdict=verdict, reason=result.get("reason", "")))
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
                            error=words("ticket.refused", reason=str(exc)))
    except BackendUnavailable:
        return _error(request, 503, words("error.unavailable"), who)
    _flash(request, "ok", words("ticket.noted"))
    return RedirectResponse(f"/tickets/{quote(ticket_id)}#riwayat", status_code=303)


@router.get("/tickets/{ticket_id}/documents/{no}")
async def document(request: Request, ticket_id: str, no: int) -> Response:
    """A step's output document as a printable Indonesian government letter."""
    who = _user(request)
    state = _state(request)
    doc = await _ticket_doc(request, who, ticket_id)
    if isinstance(doc, HTMLResponse):
        return doc
    if not 1 <= no <= len(state.service.sop.steps) or not letters.letter_available(doc, no):
        return _error(request, 404, _words(request)("error.not_found"), who)
    html = letters.render_letter(state.env, doc, no, state.service.sop, state.web,
                                 tz=state.tz)
    return HTMLResponse(html, headers=SECURITY_HEADERS)
