"""The pages: `install` adds them to the app from a `WebContext` (sign-in, the boards, a
manual request, a ticket's page with its actions and letters, the notification pages), with
the session cookie and the answers to a missing sign-in or a rejected CSRF token."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from agent.config import User, WebSettings
from agent.core.model import Device
from agent.core.outbox import NotificationDesk
from agent.reports.files import signer_for
from agent.throttle import Throttle
from agent.web import boards, filing, notifications, people, reports, signin, ticket
from agent.web.render import (
    CsrfRejected,
    PagesState,
    SignInRequired,
    error_page,
    state_of,
    templates,
    words_of,
)
from agent.web.session import SESSION_COOKIE, Accounts
from agent.web.signins import SignIns
from ticketing.service import TicketService

if TYPE_CHECKING:
    from agent.status import DevicesJson


@dataclass(frozen=True, slots=True)
class WebContext:
    """What the pages need from the running agent (built by agent/app.py)."""

    service: TicketService
    users: Sequence[User]
    devices: Sequence[Device]
    devices_json: DevicesJson
    web: WebSettings = field(default_factory=WebSettings)
    tz: str = "Asia/Jakarta"
    notifications: NotificationDesk | None = None  # None: no [notify] channel configured
    # a device's recent notifications of other kinds, newest first (agent/traps.py)
    device_traps: Callable[[str], list[dict[str, Any]]] = lambda name: []
    # the devices by name, kept up to date by reloads (None: built once from `devices`)
    device_index: Mapping[str, Device] | None = None
    # the monthly report (agent/web/reports.py): one month's report
    report_for: reports.ReportFor | None = None


def install(app: FastAPI, ctx: WebContext) -> None:
    """Add the pages, their static files and the session cookie to `app`."""
    key = (ctx.web.session_key.reveal() if ctx.web.session_key is not None
           else secrets.token_urlsafe(32))
    clock = ctx.service.clock
    # the cookie's max_age is renewed whenever the session changes; SignIns holds the hard end
    signins = SignIns(clock.monotonic, lifetime=ctx.web.session_hours * 3600)
    app.state.pantau_web = PagesState(
        service=ctx.service, accounts=Accounts(ctx.users, signins),
        throttle=Throttle(clock.monotonic),
        devices=ctx.device_index if ctx.device_index is not None else {
            d.name: d for d in ctx.devices}, devices_json=ctx.devices_json, web=ctx.web,
        tz=ctx.tz, env=templates(), notifications=ctx.notifications,
        device_traps=ctx.device_traps, people=people.signers(ctx.users),
        reports=reports.ReportSource(ctx.report_for, signer_for(tuple(ctx.users), None)))
    app.add_middleware(SessionMiddleware, secret_key=key, session_cookie=SESSION_COOKIE,
                       max_age=int(ctx.web.session_hours * 3600), same_site="strict",
                       https_only=ctx.web.secure_cookie)
    app.mount("/static", StaticFiles(packages=[("agent.web", "static")]), name="static")
    # in this order: /tickets/new is matched before /tickets/{ticket_id}
    for pages in (signin, boards, filing, ticket, notifications, reports):
        app.include_router(pages.router)
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    who = state_of(request).accounts.current(request)
    return error_page(request, 403, words_of(request)("error.csrf"), who)


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
