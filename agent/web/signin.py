"""Sign-in, sign-out and the language switch (the only pages shown to a stranger)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from agent.web.i18n import LANGS
from agent.web.render import (
    checked_form,
    flash,
    local_path,
    render,
    state_of,
    words_of,
)
from agent.web.session import CSRF_FIELD, csrf_ok

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    signed_in = state_of(request).accounts.current(request) is not None
    return RedirectResponse("/devices" if signed_in else "/login", status_code=303)


@router.get("/login")
async def login_page(request: Request, next: str = "/devices") -> Response:
    return render(request, "login.html", next=local_path(next), name="", error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    state = state_of(request)
    words = words_of(request)
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    name = str(form.get("username", "")).strip()[:200]
    target = local_path(str(form.get("next", "")))
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        return render(request, "login.html", status=403, next=target, name=name,
                      error=words("error.csrf"))
    wait = state.throttle.wait(name)
    if wait:
        log.warning("sign-in throttled", extra={"user": name, "client": _client(request)})
        return render(request, "login.html", status=429, next=target, name=name,
                      error=words("login.throttled", seconds=wait))
    who = await state.accounts.check(name, str(form.get("password", "")))
    if who is None:
        state.throttle.failed(name)
        log.warning("sign-in failed", extra={"user": name, "client": _client(request)})
        return render(request, "login.html", status=401, next=target, name=name,
                      error=words("login.failed"))
    state.throttle.succeeded(name)
    state.accounts.sign_in(request, who)
    log.info("signed in", extra={"user": who.name, "role": who.role})
    return RedirectResponse(target, status_code=303)


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    flash(request, "info", words_of(request)("login.signed_out"))
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/") -> Response:
    if code in LANGS:
        request.session["lang"] = code
    return RedirectResponse(local_path(next, "/"), status_code=303)
