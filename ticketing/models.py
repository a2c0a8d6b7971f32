"""Tickets as values: the append-only TicketEvent list and the Ticket folded from it.

A ticket's state is `workflow.fold(events)`; the store keeps the events and a materialized
row, and `fold(events) == row` is a tested property. Event `data` is JSON-able; the folded
ticket carries typed payloads (ticketing.payloads).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ticketing.payloads import Evidence, OutputDocument, Verification

JsonDict = Mapping[str, Any]


def aware_utc(moment: datetime, what: str = "time") -> datetime:
    """`moment` in UTC; ValueError naming `what` for a naive datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got the naive {moment.isoformat()}")
    return moment.astimezone(UTC)


class TicketStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Fault(StrEnum):
    DEVICE_DOWN = "device_down"
    INTERFACE_DOWN = "interface_down"
    SNMP_DOWN = "snmp_down"
    MANUAL = "manual"

    def phrase_id(self, item: str = "") -> str:
        """The fault in Indonesian, as the request's subject and the letters name it
        ("antarmuka Gi0/1 mati"); without `item`, the kind alone ("antarmuka mati")."""
        return " ".join(_FAULT_PHRASES_ID[self].format(item=item).split())

    def title_id(self, item: str = "") -> str:
        """`phrase_id` as a label or a letter's field starts: "Antarmuka Gi0/1 mati"."""
        phrase = self.phrase_id(item)
        return phrase[:1].upper() + phrase[1:]


_FAULT_PHRASES_ID = {
    Fault.DEVICE_DOWN: "perangkat tidak dapat dijangkau",
    Fault.INTERFACE_DOWN: "antarmuka {item} mati",
    Fault.SNMP_DOWN: "agen SNMP tidak merespons",
    Fault.MANUAL: "permohonan",
}


class Trigger(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


class EventKind(StrEnum):
    """What happened to a ticket. Every event is kept forever (the audit trail)."""

    OPENED = "opened"  # data: device, owner, fault, item, trigger, evidence, affected, ...
    STEP_COMPLETED = "step_completed"  # step, data: output document
    FAILURE_OBSERVED = "failure_observed"  # the fault (again) while open; data: evidence
    RESTORATION_OBSERVED = "restoration_observed"  # the fault cleared; never closes
    AFFECTED_ADDED = "affected_added"  # data: devices (UNREACHABLE children)
    FLAPPING_CHANGED = "flapping_changed"  # data: flapping (bool)
    VERIFICATION = "verification"  # data: passed, probes, reason (the live check)
    STEP_BREACHED = "step_breached"  # step: went past its due time while open
    REOPENED = "reopened"  # a recurrence soon after closing; data: evidence
    NOTE = "note"  # free comment, data: text
    CLOSED = "closed"  # after the last step


@dataclass(frozen=True, slots=True)
class TicketEvent:
    ticket_id: str
    seq: int  # 1, 2, ... per ticket, no gaps: the store refuses a duplicate (ticket_id, seq)
    kind: EventKind
    at: datetime  # aware UTC
    actor: str  # user name, or "pantau" for the agent itself
    role: str  # the actor's role ("system" for the agent)
    step: int | None = None
    data: JsonDict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepRecord:
    no: int
    role: str
    started_at: datetime | None  # None until the step before it is completed
    due_at: datetime | None
    completed_at: datetime | None = None
    completed_by: str | None = None
    breached: bool = False  # went past due_at while open (kept once set)
    output: OutputDocument = field(default_factory=OutputDocument)


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """What the service asks the backend to open. `dedup_key` makes one outage one ticket."""

    device: str
    owner: str
    fault: Fault
    trigger: Trigger
    opened_at: datetime
    item: str = ""  # the interface, for interface_down
    evidence: Evidence = field(default_factory=Evidence)
    affected: tuple[str, ...] = ()
    flapping: bool = False
    requested_by: str = "pantau"
    requested_role: str = "system"
    subject: str = ""  # Perihal of the Surat Permohonan
    description: str = ""

    @property
    def dedup_key(self) -> str:
        if self.trigger is Trigger.MANUAL:
            return ""  # manual requests are never merged
        return fault_key(self.device, self.fault, self.item)


def fault_key(device: str, fault: Fault, item: str) -> str:
    """The one open ticket per fault is found by this key: device, fault kind and item."""
    return f"{device}/{fault.value}/{item}"


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str  # "SOP006-2026-000001"
    device: str
    owner: str
    fault: Fault
    trigger: Trigger
    status: TicketStatus
    current_step: int  # the open step; 10 once closed
    sop_version: int
    opened_at: datetime
    steps: tuple[StepRecord, ...]
    item: str = ""
    dedup_key: str = ""
    flapping: bool = False
    affected: tuple[str, ...] = ()
    evidence: Evidence = field(default_factory=Evidence)
    restored: bool = False  # the fault has cleared since it was last observed
    restoration_observed_at: datetime | None = None
    closed_at: datetime | None = None
    reopened: int = 0
    last_verification: Verification | None = None
    seq: int = 0  # the last event folded in
    # When the fault was last observed (opening, a FAILURE_OBSERVED, a reopen); None for a
    # manual request. The step-7 gate refuses a verification that started before it.
    last_failure_at: datetime | None = None

    def step_record(self, no: int) -> StepRecord | None:
        """The record of step `no`, or None when the ticket has no such step."""
        return self.steps[no - 1] if 1 <= no <= len(self.steps) else None
