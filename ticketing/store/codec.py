"""Tickets and ticket events as JSON-able dicts, and back, exactly.

Aware datetimes become ISO 8601 strings in UTC ("2026-11-24T01:00:00.123456+00:00"), enums
their values, tuples lists. Decoding gives back values equal to the ones encoded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ticketing.json_view import ticket_fields
from ticketing.models import (
    EventKind,
    Fault,
    StepRecord,
    Ticket,
    TicketEvent,
    TicketStatus,
    Trigger,
)
from ticketing.payloads import Evidence, OutputDocument, Verification


def encode_time(value: datetime) -> str:
    """An aware datetime as an ISO 8601 string in UTC; ValueError for a naive one."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (times must be aware)")
    return value.astimezone(UTC).isoformat()


def decode_time(text: str) -> datetime:
    """The aware UTC datetime of an ISO 8601 string written by `encode_time`."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return value.astimezone(UTC)


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else encode_time(value)


def _opt_decode(text: str | None) -> datetime | None:
    return None if text is None else decode_time(text)


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(data)


def step_from_json(data: Mapping[str, Any]) -> StepRecord:
    return StepRecord(
        no=int(data["no"]),
        role=str(data["role"]),
        started_at=_opt_decode(data.get("started_at")),
        due_at=_opt_decode(data.get("due_at")),
        completed_at=_opt_decode(data.get("completed_at")),
        completed_by=data.get("completed_by"),
        breached=bool(data.get("breached", False)),
        output=OutputDocument.from_json(data.get("output", {})),
    )


def ticket_to_json(ticket: Ticket) -> dict[str, Any]:
    """The ticket as a JSON-able dict: the keys of the API's ticket object (one list, in
    `ticketing.json_view`), times in UTC, and the event sequence number it was folded to."""
    return {**ticket_fields(ticket, _opt_time), "seq": ticket.seq}


def ticket_from_json(data: Mapping[str, Any]) -> Ticket:
    """The Ticket of a dict written by `ticket_to_json`; KeyError/ValueError if malformed.

    Keys of fields that have a default may be missing (bodies written before they existed).
    """
    verification = data.get("last_verification")
    return Ticket(
        id=str(data["id"]),
        device=str(data["device"]),
        owner=str(data["owner"]),
        fault=Fault(data["fault"]),
        trigger=Trigger(data["trigger"]),
        status=TicketStatus(data["status"]),
        current_step=int(data["current_step"]),
        sop_version=int(data["sop_version"]),
        opened_at=decode_time(data["opened_at"]),
        steps=tuple(step_from_json(s) for s in data["steps"]),
        item=str(data.get("item", "")),
        dedup_key=str(data.get("dedup_key", "")),
        flapping=bool(data.get("flapping", False)),
        affected=tuple(str(a) for a in data.get("affected", ())),
        evidence=Evidence(data.get("evidence", {})),
        restored=bool(data.get("restored", False)),
        restoration_observed_at=_opt_decode(data.get("restoration_observed_at")),
        closed_at=_opt_decode(data.get("closed_at")),
        reopened=int(data.get("reopened", 0)),
        last_verification=None if verification is None else Verification.from_json(verification),
        seq=int(data.get("seq", 0)),
        last_failure_at=_opt_decode(data.get("last_failure_at")),
    )


def event_to_json(event: TicketEvent) -> dict[str, Any]:
    return {
        "ticket_id": event.ticket_id,
        "seq": event.seq,
        "kind": event.kind.value,
        "at": encode_time(event.at),
        "actor": event.actor,
        "role": event.role,
        "step": event.step,
        "data": _plain(event.data),
    }


def event_from_json(data: Mapping[str, Any]) -> TicketEvent:
    step = data.get("step")
    return TicketEvent(
        ticket_id=str(data["ticket_id"]),
        seq=int(data["seq"]),
        kind=EventKind(data["kind"]),
        at=decode_time(data["at"]),
        actor=str(data["actor"]),
        role=str(data["role"]),
        step=None if step is None else int(step),
        data=dict(data.get("data", {})),
    )


def dumps(value: Any) -> str:
    """Strict JSON text: TypeError for values JSON cannot hold, ValueError for NaN/inf
    (PostgreSQL's jsonb refuses them, so SQLite must too)."""
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Any:
    return json.loads(text)
