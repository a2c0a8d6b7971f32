"""The ticket as the API's JSON object (also `pantau tickets show --json` and the pages):
times in ISO 8601 with the offset of the agency's zone, the audit trail on request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ticketing.backend import TicketSummary
from ticketing.models import Ticket, TicketEvent
from ticketing.payloads import json_plain

TimeText = Callable[[datetime | None], str | None]


def ticket_fields(ticket: Ticket, iso: TimeText) -> dict[str, Any]:
    """The ticket object's fields, each time written by `iso`: the one list of keys that the
    API's JSON and the store's body (`ticketing.store.codec`) share."""
    return {
        "id": ticket.id,
        "device": ticket.device,
        "owner": ticket.owner,
        "fault": ticket.fault.value,
        "trigger": ticket.trigger.value,
        "status": ticket.status.value,
        "current_step": ticket.current_step,
        "flapping": ticket.flapping,
        "affected": list(ticket.affected),
        "opened_at": iso(ticket.opened_at),
        "steps": [
            {
                "no": s.no,
                "role": s.role,
                "started_at": iso(s.started_at),
                "due_at": iso(s.due_at),
                "completed_at": iso(s.completed_at),
                "completed_by": s.completed_by,
                "breached": s.breached,
                "output": s.output.to_json(),
            }
            for s in ticket.steps
        ],
        "item": ticket.item,
        "dedup_key": ticket.dedup_key,
        "evidence": ticket.evidence.to_json(),
        "restored": ticket.restored,
        "restoration_observed_at": iso(ticket.restoration_observed_at),
        "last_failure_at": iso(ticket.last_failure_at),
        "closed_at": iso(ticket.closed_at),
        "reopened": ticket.reopened,
        "sop_version": ticket.sop_version,
        "last_verification": ticket.last_verification.to_json()
        if ticket.last_verification is not None else None,
    }


def iso_in(tz: str) -> TimeText:
    """ISO 8601 with the offset of `tz` (None stays None): how the API writes a time."""
    zone = ZoneInfo(tz)

    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(zone).isoformat()

    return iso


def summary_json(s: TicketSummary, tz: str = "Asia/Jakarta") -> dict[str, Any]:
    """A list row: the ticket object's keys that a summary has, written the same way."""
    iso = iso_in(tz)
    return {"id": s.id, "device": s.device, "owner": s.owner, "fault": s.fault.value,
            "status": s.status.value, "current_step": s.current_step, "flapping": s.flapping,
            "opened_at": iso(s.opened_at), "item": s.item, "closed_at": iso(s.closed_at)}


def ticket_json(ticket: Ticket, events: Sequence[TicketEvent] | None = None,
                tz: str = "Asia/Jakarta") -> dict[str, Any]:
    """The ticket object (the API's and `pantau tickets show --json`'s), times in ISO
    8601 with the offset of `tz`; with `events`, the audit trail under "audit"."""
    iso = iso_in(tz)
    out = ticket_fields(ticket, iso)
    if events is not None:
        out["audit"] = [
            {"seq": e.seq, "kind": e.kind.value, "at": iso(e.at), "actor": e.actor,
             "role": e.role, "step": e.step, "data": json_plain(e.data)}
            for e in events
        ]
    return out
