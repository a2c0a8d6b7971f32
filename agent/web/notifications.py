"""The notification pages: an admin's list of the failed and waiting messages with a retry
("Kirim ulang") for each, and every user's own channels ("Saluran notifikasi saya") with a
test message ("Kirim pesan uji"), through the app's NotificationDesk."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import RedirectResponse, Response

from agent.api.auth import Principal
from agent.api.notifications import ID_MAX, unsettled
from agent.core.errors import BackendUnavailable
from agent.core.outbox import NotificationDesk, TrialOutcome
from agent.web.i18n import Words
from agent.web.render import (
    checked_form,
    error_page,
    flash,
    render,
    signed_in,
    state_of,
    words_of,
)

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

#: messages on the admin's page, newest first
SHOWN = 200
#: one test message per user this often at most (each goes out on every channel at once)
TEST_EVERY_SECONDS = 30.0
ADMIN_PAGE = "/notifications"
OWN_PAGE = "/me/notifications"


def channel_label(channel: str, words: Words) -> str:
    """"Telegram", "Surel (e-mail)", "Webhook wa-gateway"."""
    kind, _, name = channel.partition(":")
    if kind == "webhook":
        return words("channel.webhook", name=name)
    return words(f"channel.{kind}") if kind in ("telegram", "email") else channel


def _admin(request: Request) -> tuple[Principal, Response | None]:
    who = signed_in(request)
    if not who.may_manage_outbox:
        return who, error_page(request, 403, words_of(request)("error.forbidden"), who)
    return who, None


@router.get(ADMIN_PAGE)
async def outbox_page(request: Request) -> Response:
    who, refused = _admin(request)
    if refused is not None:
        return refused
    desk = state_of(request).notifications
    if desk is None:
        return render(request, "notifications.html", who=who, configured=False, messages=[],
                      stats=None, label=channel_label)
    try:
        messages = await unsettled(desk, None, SHOWN)
        stats = await desk.stats()
    except BackendUnavailable:
        return error_page(request, 503, words_of(request)("error.unavailable"), who)
    return render(request, "notifications.html", who=who, configured=True, messages=messages,
                  stats=stats, label=channel_label)


@router.post(ADMIN_PAGE + "/{message_id}/retry")
async def retry(request: Request,
                message_id: Annotated[int, Path(ge=1, le=ID_MAX)]) -> Response:
    who, refused = _admin(request)
    await checked_form(request)
    if refused is not None:
        return refused
    words = words_of(request)
    desk = state_of(request).notifications
    if desk is None:
        return error_page(request, 404, words("notify.not_configured"), who)
    try:
        queued = await desk.retry(message_id)
    except BackendUnavailable:
        return error_page(request, 503, words("error.unavailable"), who)
    if queued:
        log.info("notification retried", extra={"message_id": message_id, "user": who.name})
        flash(request, "ok", words("notify.retried", id=message_id))
    else:
        flash(request, "error", words("notify.not_retried", id=message_id))
    return RedirectResponse(ADMIN_PAGE, status_code=303)


def _own(request: Request, who: Principal, desk: NotificationDesk | None,
         outcomes: list[TrialOutcome] | None = None, status: int = 200) -> Response:
    channels = list(desk.channels(who.name)) if desk is not None else []
    return render(request, "my_notifications.html", status=status, who=who,
                  configured=desk is not None, channels=channels, outcomes=outcomes,
                  label=channel_label)


@router.get(OWN_PAGE)
async def own_page(request: Request) -> Response:
    who = signed_in(request)
    return _own(request, who, state_of(request).notifications)


@router.post(OWN_PAGE + "/test")
async def send_test(request: Request) -> Response:
    who = signed_in(request)
    await checked_form(request)
    state = state_of(request)
    words = words_of(request)
    desk = state.notifications
    if desk is None:
        return error_page(request, 404, words("notify.not_configured"), who)
    now = state.service.clock.monotonic()
    last = state.tested.get(who.name)
    if last is not None and now - last < TEST_EVERY_SECONDS:
        flash(request, "error", words("notify.test_wait",
                                      seconds=int(TEST_EVERY_SECONDS - (now - last) + 0.999)))
        return _own(request, who, desk, status=429)
    state.tested[who.name] = now
    outcomes = list(await desk.send_test(who.name))
    log.info("test notification sent", extra={
        "user": who.name, "sent": sum(o.sent for o in outcomes), "channels": len(outcomes)})
    return _own(request, who, desk, outcomes)
