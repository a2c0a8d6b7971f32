"""Sign-in, sign-out and the language switch (the only pages shown to a stranger)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from agent.throttle import Attempt
from agent.web.i18n import LANGS
from agent.web.render import (
    checked_form,
    error_page,
    flash,
    local_path,
    render,
    signed_in,
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
    if state.accounts.busy:  # every scrypt thread and queue place taken: no wait in line
        log.warning("sign-in refused: busy", extra={"user": name, "client": _client(request)})
        return render(request, "login.html", status=429, next=target, name=name,
                      error=words("login.throttled", seconds=1))
    # reserved before the await: concurrent guesses cannot all pass one check of the count
    attempt = state.throttle.reserve(name, _client(request))
    if not isinstance(attempt, Attempt):
        log.warning("sign-in throttled", extra={"user": name, "client": _client(request)})
        return render(request, "login.html", status=429, next=target, name=name,
                      error=words("login.throttled", seconds=attempt))
    try:
        who = await state.accounts.check(name, str(form.get("password", "")))
    except BaseException:
        state.throttle.failed(attempt)  # a cancelled check counts: it cannot be retried free
        raise
    if who is None:
        state.throttle.failed(attempt)
        log.warning("sign-in failed", extra={"user": name, "client": _client(request)})
        return render(request, "login.html", status=401, next=target, name=name,
                      error=words("login.failed"))
    state.throttle.succeeded(attempt)
    state.accounts.sign_in(request, who)
    log.info("signed in", extra={"user": who.name, "role": who.role})
    return RedirectResponse(target, status_code=303)


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    state_of(request).accounts.sign_out(request)
    _signed_out(request, words_of(request)("login.signed_out"))
    return RedirectResponse("/login", status_code=303)


@router.post("/logout/everywhere")
async def logout_everywhere(request: Request) -> Response:
    """An administrator ends every sign-in of every user (their own too): after a lost phone or
    a leaked cookie. The button is in the page header, shown to administrators only."""
    who = signed_in(request)
    await checked_form(request)
    if not who.may_manage_outbox:
        return error_page(request, 403, words_of(request)("error.forbidden"), who)
    count = state_of(request).accounts.sign_out_everywhere()
    log.warning("signed out everywhere", extra={"user": who.name, "sessions": count})
    _signed_out(request, words_of(request)("login.signed_out_everywhere", count=count))
    return RedirectResponse("/login", status_code=303)


def _signed_out(request: Request, message: str) -> None:
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    flash(request, "info", message)


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/") -> Response:
    if code in LANGS:
        request.session["lang"] = code
    return RedirectResponse(local_path(next, "/"), status_code=303)
