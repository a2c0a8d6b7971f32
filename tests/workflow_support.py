"""Builders for workflow tests: drafts, valid step documents, verifications, tickets at a step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ticketing import gates, workflow
from ticketing.calendar import Calendar, CalendarTime
from ticketing.models import Fault, Ticket, TicketDraft, TicketEvent, Trigger
from ticketing.payloads import Evidence, Verification
from ticketing.sop import SOP_006, Role, Sop, StepSpec

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # Tuesday 08:00 in Asia/Jakarta
TICKET_ID = "SOP006-2026-000001"
NAMES = {
    Role.PERANGKAT_DAERAH.value: "siti",
    Role.KEPALA_DINAS.value: "ahmad",
    Role.KABID.value: "rina",
    Role.KASI.value: "budi",
    Role.TEKNISI.value: "joko",
    Role.ADMIN.value: "root",
    workflow.SYSTEM_ROLE: "pantau",
}
ALL_ROLES = tuple(NAMES)  # the six SOP roles (admin included) and "system"


def actor(role: str) -> workflow.Actor:
    return workflow.Actor(NAMES[role], role)


def auto_draft(at: datetime = T0, **changes: Any) -> TicketDraft:
    base: dict[str, Any] = {
        "device": "sw-dinkes-01", "owner": "Dinas Kesehatan", "fault": Fault.DEVICE_DOWN,
        "trigger": Trigger.AUTO, "opened_at": at,
        "evidence": {"since": at.isoformat(), "reason": "no echo reply (3 of 3 lost)",
                     "last": {"icmp": {"status": "down", "loss": 1.0}}},
    }
    base.update(changes)
    base["evidence"] = Evidence(base["evidence"])
    return TicketDraft(**base)


def manual_draft(role: str = "perangkat_daerah", at: datetime = T0, **changes: Any
                 ) -> TicketDraft:
    base: dict[str, Any] = {
        "device": "ap-baru-01", "owner": "Dinas Kesehatan", "fault": Fault.MANUAL,
        "trigger": Trigger.MANUAL, "opened_at": at, "requested_by": NAMES[role],
        "requested_role": role, "subject": "Pemasangan access point baru",
        "description": "Ruang rapat lantai 2 belum terjangkau Wi-Fi.",
    }
    base.update(changes)
    return TicketDraft(**base)


def valid_output(spec: StepSpec) -> dict[str, Any]:
    """A complete, well-typed output document for `spec`."""
    values: dict[str, Any] = {"text": "ok: " + spec.output, "bool": True, "list": ["sw-new-01"]}
    return {f.name: values[f.kind] for f in spec.fields}


def verification(passed: bool, started: datetime, finished: datetime,
                 reason: str = "") -> Verification:
    probe = {"round": 1, "device": "sw-dinkes-01", "check": "icmp",
             "status": "ok" if passed else "down", "at": finished.isoformat(),
             "healthy": passed, "reason": "" if passed else (reason or "timeout")}
    return Verification.from_json({
        "passed": passed, "started_at": started.isoformat(), "finished_at": finished.isoformat(),
        "reason": "1 device(s) healthy" if passed else f"sw-dinkes-01 icmp: {probe['reason']}",
        "probes": [probe]})


@dataclass
class Run:
    """A ticket driven through the workflow, keeping every event (the audit trail)."""

    sop: Sop = SOP_006
    calendar: Calendar = field(default_factory=CalendarTime)
    events: list[TicketEvent] = field(default_factory=list)
    ticket: Ticket | None = None

    @property
    def t(self) -> Ticket:
        assert self.ticket is not None
        return self.ticket

    def add(self, events: list[TicketEvent]) -> list[TicketEvent]:
        for e in events:
            self.ticket = workflow.apply(self.ticket, e, self.sop, self.calendar)
        self.events += events
        return events

    def open(self, draft: TicketDraft, now: datetime | None = None) -> Ticket:
        self.add(workflow.new_ticket_events(TICKET_ID, draft, self.sop, now or draft.opened_at))
        return self.t

    def complete(self, step: int, now: datetime, who: workflow.Actor | None = None,
                 output: Mapping[str, Any] | None = None,
                 verified: Verification | None = None) -> list[TicketEvent]:
        spec = self.sop.step(step)
        facts = gates.Facts(now=now, verification=verified)
        return self.add(workflow.complete_step(
            self.t, step, who or actor(spec.role.value),
            valid_output(spec) if output is None else output, self.sop, facts))

    def advance_to(self, step: int, now: datetime) -> Ticket:
        """Complete steps as their roles (step 7 with a fresh passed verification) at `now`."""
        while self.t.current_step < step:
            no = self.t.current_step
            gate = verification(True, now - timedelta(seconds=60), now) if (
                self.sop.step(no).gate) else None
            self.complete(no, now, verified=gate)
        return self.t
