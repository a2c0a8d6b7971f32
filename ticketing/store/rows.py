"""The rows the SQL store writes and reads: a ticket's row and body, an event's row, the
checks on what a caller asks to store, and which constraint an IntegrityError broke.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.exc import IntegrityError

from agent.core.errors import BackendRejected
from ticketing.models import Ticket, TicketDraft, TicketEvent
from ticketing.store import codec

ID_PREFIX = "SOP006"


def ticket_id(year: int, number: int) -> str:
    """"SOP006-2026-000001"."""
    return f"{ID_PREFIX}-{year}-{number:06d}"


def ticket_row(ticket: Ticket, now: datetime) -> dict[str, Any]:
    try:
        body = codec.ticket_to_json(ticket)
        codec.dumps(body)  # fail here, with the ticket's name, rather than inside the driver
    except (TypeError, ValueError) as exc:
        raise BackendRejected(f"ticket {ticket.id} cannot be stored as JSON: {exc}") from exc
    return {
        "id": ticket.id,
        "device": ticket.device,
        "owner": ticket.owner,
        "fault": ticket.fault.value,
        "item": ticket.item,
        "trigger": ticket.trigger.value,
        "status": ticket.status.value,
        "current_step": ticket.current_step,
        "flapping": ticket.flapping,
        "opened_at": ticket.opened_at,
        "closed_at": ticket.closed_at,
        "dedup_key": ticket.dedup_key,
        "sop_version": ticket.sop_version,
        "seq": ticket.seq,
        "body": body,
        "updated_at": now,
    }


def event_row(event: TicketEvent) -> dict[str, Any]:
    try:
        data = codec.event_to_json(event)["data"]
        codec.dumps(data)
    except (TypeError, ValueError) as exc:
        raise BackendRejected(
            f"event {event.seq} of {event.ticket_id} cannot be stored as JSON: {exc}") from exc
    return {"ticket_id": event.ticket_id, "seq": event.seq, "kind": event.kind.value,
            "at": event.at, "actor": event.actor, "role": event.role, "step": event.step,
            "data": data}


def year(draft: TicketDraft, year_tz: tzinfo) -> int:
    """The year that numbers the draft's ticket: of its opening time, in `year_tz`."""
    if draft.opened_at.tzinfo is None or draft.opened_at.utcoffset() is None:
        raise BackendRejected(f"draft for {draft.device}: opened_at is a naive datetime")
    return draft.opened_at.astimezone(year_tz).year


def decode(ticket_id: str, body: Any) -> Ticket:
    try:
        return codec.ticket_from_json(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackendRejected(f"ticket {ticket_id}: stored body cannot be read: {exc!r}"
                              ) from exc


def _check_events(ticket_id: str, events: Sequence[TicketEvent], first_seq: int | None,
                  ticket: Ticket) -> None:
    if not events:
        raise BackendRejected(f"ticket {ticket_id}: no events to store")
    if ticket.id != ticket_id:
        raise BackendRejected(f"ticket {ticket_id}: the ticket given is {ticket.id}")
    start = events[0].seq if first_seq is None else first_seq
    for offset, ev in enumerate(events):
        if ev.ticket_id != ticket_id or ev.seq != start + offset:
            raise BackendRejected(
                f"ticket {ticket_id}: event {offset} is {ev.ticket_id} seq {ev.seq}, "
                f"expected seq {start + offset}")
    if ticket.seq != events[-1].seq:
        raise BackendRejected(
            f"ticket {ticket_id}: ticket seq {ticket.seq} is not its last event's "
            f"{events[-1].seq}")


def check_built(ticket_id: str, draft: TicketDraft, events: Sequence[TicketEvent],
                 ticket: Ticket) -> None:
    """What `build()` returned must be a new ticket under `ticket_id` with the draft's key."""
    _check_events(ticket_id, events, 1, ticket)
    if ticket.dedup_key != draft.dedup_key:
        raise BackendRejected(f"ticket {ticket_id}: built with key {ticket.dedup_key!r}, "
                              f"the draft's is {draft.dedup_key!r}")


def check_appended(ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket) -> None:
    """The events must follow each other and end at the ticket's seq."""
    _check_events(ticket_id, events, None, ticket)


def conflict(exc: IntegrityError) -> str:
    """Which rule an insert or update broke: "dedup", "number" or the database's words."""
    diag = getattr(exc.orig, "diag", None)  # psycopg names the constraint
    named = getattr(diag, "constraint_name", None)
    message = str(exc.orig)
    if named == "uq_tickets_open_dedup" or "tickets.dedup_key" in message:
        return "dedup"
    if named in ("uq_tickets_year_number", "pk_tickets") or (
            "tickets.year" in message or "tickets.id" in message):
        return "number"
    if named:
        return str(named)
    lines = message.strip().splitlines()
    return lines[0] if lines else "integrity error"
