"""What every page shares: the pages' state on the app, the signed-in user, flash messages,
the CSRF-checked form, and a template rendered with the security headers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jinja2
from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse

from agent.api.auth import Principal
from agent.config import WebSettings
from agent.core.model import Device
from agent.core.outbox import NotificationDesk
from agent.throttle import Throttle
from agent.web import views
from agent.web.i18n import LANGS, Words, pick_lang
from agent.web.letter_parts import Signer
from agent.web.people import display_name
from agent.web.report_view import may_read
from agent.web.session import CSRF_FIELD, Accounts, csrf_ok, csrf_token
from ticketing.service import TicketService

if TYPE_CHECKING:
    from agent.status import DevicesJson
    from agent.web.reports import ReportSource

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; "
                                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(slots=True)
class PagesState:
    """Kept on `app.state.pantau_web`; holds no secret but the password hashes in Accounts."""

    service: TicketService
    accounts: Accounts
    throttle: Throttle
    devices: Mapping[str, Device]
    devices_json: DevicesJson
    web: WebSettings
    tz: str
    env: jinja2.Environment
    notifications: NotificationDesk | None = None  # None: no [notify] channel configured
    device_traps: Callable[[str], list[dict[str, Any]]] = lambda name: []  # [traps]' ring
    tested: dict[str, float] = field(default_factory=dict)  # user -> last test message (mono)
    reports: ReportSource | None = None  # the monthly report (agent/web/reports.py)
    people: Mapping[str, Signer] = field(default_factory=dict)  # user -> name, NIP, jabatan


def templates() -> jinja2.Environment:
    """The one Jinja2 environment of the pages and letters (autoescaped)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("agent.web", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


class SignInRequired(Exception):
    pass


class CsrfRejected(Exception):
    pass


def state_of(request: Request) -> PagesState:
    state: PagesState = request.app.state.pantau_web
    return state


def words_of(request: Request) -> Words:
    return Words(pick_lang(request.session.get("lang")), state_of(request).tz)


def signed_in(request: Request) -> Principal:
    """The signed-in user; else raise SignInRequired (answered with the sign-in page)."""
    who = state_of(request).accounts.current(request)
    if who is None:
        if request.session.get("user"):
            request.session.clear()
            flash(request, "info", words_of(request)("login.expired"))
        raise SignInRequired
    return who


def flash(request: Request, kind: str, text: str) -> None:
    request.session.setdefault("flash", []).append([kind, text])
    request.session["flash"] = request.session["flash"][-5:]


def local_path(target: str | None, default: str = "/devices") -> str:
    """Only a path on this server is followed after sign-in or a language switch."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def render(request: Request, template: str, *, status: int = 200, who: Principal | None = None,
           **context: Any) -> HTMLResponse:
    state = state_of(request)
    words = words_of(request)
    flashes = request.session.pop("flash", [])
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = state.env.get_template(template).render(
        t=words, lang=words.lang, langs=LANGS, user=who, csrf=csrf_token(request),
        csrf_field=CSRF_FIELD, flashes=flashes, here=here, views=views,
        role_label=lambda role: words(f"role.{role}"), sop=state.service.sop,
        person=lambda name, short=False: display_name(str(name or ""), state.people, short),
        is_agency_or_admin=who is not None and who.may_file,
        is_admin=who is not None and who.may_manage_outbox,
        may_report=who is not None and may_read(who.role), **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, status: int, message: str, who: Principal | None
               ) -> HTMLResponse:
    return render(request, "error.html", status=status, who=who, message=message)


async def checked_form(request: Request) -> FormData:
    """The posted form, after its CSRF token was checked (a 403 page otherwise)."""
    form = await request.form(max_files=0, max_fields=50, max_part_size=64 * 1024)
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        raise CsrfRejected
    return form
