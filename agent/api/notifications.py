"""The notifications routes under /api/v1 (admins only): the failed and waiting messages of
the outbox with its stats, and a retry of one message, through the app's NotificationDesk."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from agent.api.auth import PREFIX, Principal
from agent.api.context import ApiState, Caller, State
from agent.api.schemas import (
    ERRORS,
    UNAVAILABLE,
    ErrorOut,
    NotificationListOut,
    RetryOut,
)
from agent.core.outbox import Delivery, NotificationDesk, Queued
from ticketing.json_view import iso_in
from ticketing.policy import ADMIN

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, responses=ERRORS)

#: Messages in one answer unless `limit` says otherwise, and the most `limit` may ask for.
LIST_SIZE = 100
LIST_MAX = 1000
#: SQLite and PostgreSQL keep ids as signed 64-bit integers: a larger one names no message.
ID_MAX = 2**63 - 1
NOT_CONFIGURED = "notifications are not configured (no [notify] channel)"
#: without `status`: what an admin has to look at
UNSETTLED = (Delivery.WAITING, Delivery.FAILED)


def desk_for(state: ApiState, who: Principal) -> NotificationDesk:
    """The desk, for an admin; 403 for anyone else, 404 when no channel is configured."""
    if not who.may_manage_outbox:
        raise HTTPException(403, f"notifications are for an {ADMIN}; {who.name} is {who.role}")
    if state.notifications is None:
        raise HTTPException(404, NOT_CONFIGURED)
    return state.notifications


def queued_json(q: Queued, tz: str) -> dict[str, Any]:
    """One message as the API answers it (an admin may see the address; the text is not
    shown: the subject says what it is about)."""
    e = q.envelope
    iso = iso_in(tz)
    return {"id": q.id, "channel": e.channel, "recipient": e.recipient,
            "address": e.message.address, "kind": e.kind, "ticket": e.ticket_id,
            "subject": e.message.subject, "status": q.status.value, "tries": q.tries,
            "next_at": iso(q.next_at), "last_error": q.last_error,
            "created_at": iso(e.created_at), "done_at": iso(q.done_at)}


async def unsettled(desk: NotificationDesk, status: Delivery | None, limit: int
                    ) -> list[Queued]:
    """Messages of `status` (None: waiting and failed), newest first, at most `limit`."""
    wanted = UNSETTLED if status is None else (status,)
    found = [q for s in wanted for q in await desk.messages(s, limit)]
    return sorted(found, key=lambda q: q.id, reverse=True)[:limit]


@router.get("/notifications", response_model=NotificationListOut, tags=["notifications"],
            responses={404: {"model": ErrorOut, "description": NOT_CONFIGURED},
                       **UNAVAILABLE})
async def list_notifications(
    state: State, who: Caller,
    status: Literal["waiting", "failed", "sent"] | None = Query(
        None, description="only these; default: waiting and failed"),
    limit: int = Query(LIST_SIZE, ge=1, le=LIST_MAX, description="the most messages listed"),
) -> dict[str, Any]:
    """Queued messages, newest first (default: the waiting and the failed ones), with the
    outbox's waiting count and oldest waiting message."""
    desk = desk_for(state, who)
    found = await unsettled(desk, None if status is None else Delivery(status), limit)
    stats = await desk.stats()
    return {"notifications": [queued_json(q, state.tz) for q in found],
            "stats": {"waiting": stats.waiting,
                      "oldest_waiting_at": iso_in(state.tz)(stats.oldest_waiting_at)}}


@router.post("/notifications/{message_id}/retry", response_model=RetryOut,
             tags=["notifications"],
             responses={404: {"model": ErrorOut,
                              "description": "no such message, it was sent, or "
                                             f"{NOT_CONFIGURED}"}, **UNAVAILABLE})
async def retry_notification(
    state: State, who: Caller,
    message_id: Annotated[int, Path(ge=1, le=ID_MAX, description="the message's `id`")],
) -> dict[str, Any]:
    """Queue a failed (or waiting) message again, due now; delivery is woken."""
    desk = desk_for(state, who)
    if not await desk.retry(message_id):
        raise HTTPException(404, f"no message {message_id} to retry (unknown, or sent)")
    log.info("notification retried", extra={"message_id": message_id, "user": who.name})
    return {"id": message_id, "status": Delivery.WAITING.value}
