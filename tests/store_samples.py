"""Hand-made tickets and events for the store tests (independent of ticketing.workflow)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ticketing.backend import Builder
from ticketing.models import (
    EventKind,
    Fault,
    StepRecord,
    Ticket,
    TicketDraft,
    TicketEvent,
    TicketStatus,
    Trigger,
)
from ticketing.payloads import Evidence, OutputDocument

T0 = datetime(2026, 11, 24, 1, 0, 0, 123456, tzinfo=UTC)


def draft(device: str = "sw-dinkes-01", *, fault: Fault = Fault.DEVICE_DOWN,
          trigger: Trigger = Trigger.AUTO, opened_at: datetime = T0, item: str = "",
          evidence: Mapping[str, Any] | None = None) -> TicketDraft:
    return TicketDraft(
        device=device, owner="Dinas Kesehatan", fault=fault, trigger=trigger,
        opened_at=opened_at, item=item,
        evidence=Evidence(evidence) if evidence is not None else Evidence({
            "check": "icmp", "since": "2026-11-24T00:58:00+00:00",
            "samples": [{"name": "loss_ratio", "value": 1.0}], "rtt_seconds": None}),
        affected=("ap-dinkes-02",),
    )


def builder(d: TicketDraft, *, calls: list[str] | None = None) -> Builder:
    """A Builder for `d`: OPENED and step 1 completed, the ticket at step 2.

    Appends each id it is asked for to `calls` when given.
    """

    def build(ticket_id: str) -> tuple[Sequence[TicketEvent], Ticket]:
        if calls is not None:
            calls.append(ticket_id)
        at = d.opened_at
        opened = TicketEvent(ticket_id, 1, EventKind.OPENED, at, d.requested_by,
                             d.requested_role,
                             data={"device": d.device, "fault": d.fault.value,
                                   "evidence": d.evidence.to_json()})
        step1 = TicketEvent(ticket_id, 2, EventKind.STEP_COMPLETED, at, d.requested_by,
                            d.requested_role, step=1,
                            data={"subject": f"{d.device} down", "description": "auto"})
        steps = (
            StepRecord(1, "perangkat_daerah", at, at + timedelta(hours=1), at, "pantau",
                       output=OutputDocument({"subject": f"{d.device} down"})),
            StepRecord(2, "kepala_dinas", at, at + timedelta(days=1)),
            *(StepRecord(n, "teknisi", None, None) for n in range(3, 10)),
        )
        ticket = Ticket(
            id=ticket_id, device=d.device, owner=d.owner, fault=d.fault, trigger=d.trigger,
            status=TicketStatus.OPEN, current_step=2, sop_version=1, opened_at=at,
            steps=steps, item=d.item, dedup_key=d.dedup_key, flapping=d.flapping,
            affected=d.affected, evidence=d.evidence, seq=2, last_failure_at=at,
        )
        return (opened, step1), ticket

    return build


def follow(ticket: Ticket, kind: EventKind = EventKind.NOTE, *, at: datetime | None = None,
           data: Mapping[str, Any] | None = None, seq: int | None = None,
           **changes: Any) -> tuple[tuple[TicketEvent, ...], Ticket]:
    """One event after `ticket` (seq + 1 unless `seq` is given) and the ticket with it."""
    n = ticket.seq + 1 if seq is None else seq
    when = at or ticket.opened_at + timedelta(minutes=n)
    event = TicketEvent(ticket.id, n, kind, when, "budi", "kabid",
                        data=dict(data) if data is not None else {"text": f"note {n}"})
    return (event,), replace(ticket, seq=n, **changes)


def close(ticket: Ticket, at: datetime) -> tuple[tuple[TicketEvent, ...], Ticket]:
    return follow(ticket, EventKind.CLOSED, at=at, data={}, status=TicketStatus.CLOSED,
                  current_step=10, closed_at=at)
