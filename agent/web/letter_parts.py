"""A letter's parts as plain values for its template (the verification's probes, the
signature), each written out in Indonesian from a Ticket's typed payloads (the evidence's rows
and measurements are agent/web/evidence.py's, asked for in Indonesian: lang "id")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from agent.web import evidence
from agent.web.indonesian import DASH, clock_time, local, number, when
from ticketing import payloads
from ticketing.models import EventKind, Ticket, TicketEvent, Trigger
from ticketing.sop import Sop, StepSpec


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """One live probe of the verification that opened the gate (steps 7-9)."""

    round: str
    device: str
    check: str
    status: str
    rtt_ms: str
    loss_pct: str
    at: str
    reason: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The verification as the report shows it."""

    passed: bool
    verdict: str  # "LULUS" | "GAGAL"
    reason: str
    started: str
    finished: str
    probes: tuple[ProbeRow, ...]


@dataclass(frozen=True, slots=True)
class Signature:
    """The block at the right: an optional first line ("Pemohon,"), the signing title (the
    signer's jabatan, else the role's title), and the signer's full name and NIP, or for an
    automatic request a plain statement that no one signed it. An empty name or NIP is printed
    as a blank line to be filled in by hand."""

    opening: str
    title: str
    name: str
    automatic: bool
    nip: str = ""


@dataclass(frozen=True, slots=True)
class Signer:
    """What a letter prints of the user who signs it (agent.core.settings.User's fields)."""

    full_name: str = ""
    nip: str = ""
    jabatan: str = ""


def gate_step(sop: Sop, no: int) -> StepSpec | None:
    """The gated step whose verification a report shows: the last gated step up to `no`."""
    gated = [s for s in sop.steps if s.gate is not None and s.no <= no]
    return gated[-1] if gated else None


def gate_verification(ticket: Ticket, gate_no: int, events: Sequence[TicketEvent] = ()
                      ) -> payloads.Verification | None:
    """The verification that opened step `gate_no`'s gate: the one the gate stored in the
    step's report; else the last passed verification in the audit trail (`events`) recorded
    before the step's (last) completion; else the ticket's `last_verification`."""
    record = ticket.step_record(gate_no)
    if record is not None and record.output.verification is not None:
        return record.output.verification
    completions = [e.seq for e in events
                   if e.kind is EventKind.STEP_COMPLETED and e.step == gate_no]
    if completions:
        before = max(completions)
        passed = [v for e in events if e.kind is EventKind.VERIFICATION and e.seq < before
                  and (v := payloads.Verification.from_json(e.data)).passed]
        if passed:
            return passed[-1]
    return ticket.last_verification


def _probe_time(moment: datetime | None, started: datetime | None, tz: str) -> str:
    """"08.00.05" on the day the verification started (its row names the zone); the whole
    date and time on another day."""
    if moment is None or started is None or local(moment, tz).date() != local(
            started, tz).date():
        return when(moment, tz, seconds=True)
    return clock_time(local(moment, tz), seconds=True)


def verification_rows(v: payloads.Verification | None, tz: str) -> Verification | None:
    if v is None:
        return None
    probes = tuple(ProbeRow(
        round=str(p.round), device=p.device, check=evidence.check_name(p.check, "id", p.item),
        status=evidence.status_name(p.status, "id"),
        rtt_ms=number(p.sample("icmp_rtt_seconds"), 1000.0, 2),
        loss_pct=number(p.sample("icmp_packet_loss_ratio"), 100.0),
        at=_probe_time(p.at, v.started_at, tz), reason=p.reason_in("id") or DASH)
        for p in v.probes)
    return Verification(passed=v.passed, verdict="LULUS" if v.passed else "GAGAL",
                        reason=v.reason_in("id") or DASH,
                        started=when(v.started_at, tz, seconds=True),
                        finished=when(v.finished_at, tz, seconds=True), probes=probes)


def automatic(ticket: Ticket) -> bool:
    return ticket.trigger is Trigger.AUTO
