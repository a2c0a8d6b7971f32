"""A letter's parts as plain values for its template (rows, measurements, the verification's
probes, the signature), each written out in Indonesian from a Ticket's typed payloads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from agent.web.indonesian import DASH, clock_time, local, number, when
from ticketing import payloads
from ticketing.models import EventKind, Ticket, TicketEvent, Trigger
from ticketing.sop import Sop, StepSpec

_STATUSES = {"ok": "Normal", "warning": "Sebagian", "down": "Terputus",
             "unknown": "Tidak diketahui"}
_CHECKS = {"icmp": "ICMP (ping)", "snmp": "SNMP", "interface": "Antarmuka"}


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled line of a letter's table."""

    label: str
    value: str
    items: tuple[str, ...] = ()  # shown as a list under `value` (e.g. the devices to replace)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One check of the evidence's last measurements (step 1 of an automatic request)."""

    check: str
    status: str
    rtt_ms: str
    loss_pct: str
    at: str
    reason: str


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
    """The block at the right: an optional first line ("Pemohon,"), the signing title, and the
    signer's name, or for an automatic request a plain statement that no one signed it."""

    opening: str
    title: str
    name: str
    automatic: bool


def check_name(check: str, item: str = "") -> str:
    name = _CHECKS.get(check, check)
    return f"{name} {item}" if item else name


def status_name(status: str) -> str:
    return _STATUSES.get(status, status or DASH)


def fault_title(ticket: Ticket) -> str:
    """"Antarmuka Gi0/1 mati", "Perangkat tidak dapat dijangkau", ..."""
    return ticket.fault.title_id(ticket.item or "?")


def _flat(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_flat(v)}" for k, v in sorted(value.items(), key=str))
    if isinstance(value, list | tuple):
        return ", ".join(_flat(v) for v in value)
    return "" if value is None else str(value)


def evidence_rows(ticket: Ticket, tz: str) -> tuple[Row, ...]:
    """Bukti gangguan: what failed, since when, why, and who else is affected."""
    ev = ticket.evidence
    if not ev:
        return ()
    rows = [Row("Perangkat", ticket.device), Row("Perangkat Daerah", ticket.owner),
            Row("Gangguan", fault_title(ticket))]
    interface = ev.interface or ticket.item
    if interface:
        rows.append(Row("Antarmuka", interface))
    if ev.from_alert:
        alert = ev.alertname
        rows.append(Row("Sumber", "Alertmanager" + (f" (peringatan {alert})" if alert else "")))
    rows.append(Row("Sejak", when(ev.since, tz, fallback=ev.since_text) if ev.since_text
                    else when(ticket.opened_at, tz)))
    if ev.reason:
        rows.append(Row("Penyebab", ev.reason))
    affected = ev.affected or ticket.affected
    if affected:
        rows.append(Row("Perangkat terdampak", _flat(affected)))
    if ev.labels:
        rows.append(Row("Label peringatan", _flat(dict(ev.labels))))
    return tuple(rows)


def measurements(ticket: Ticket, tz: str) -> tuple[Measurement, ...]:
    """The last ICMP and SNMP results kept in the evidence."""
    return tuple(Measurement(
        check=check_name(seen.check), status=status_name(seen.status),
        rtt_ms=number(seen.sample("icmp_rtt_seconds"), 1000.0, 2),
        loss_pct=number(seen.sample("icmp_packet_loss_ratio", "loss"), 100.0),
        at=when(seen.observed_at, tz, seconds=True,
                fallback=str(seen.record.get("observed_at") or "")),
        reason=seen.reason or DASH) for seen in ticket.evidence.last)


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
        round=str(p.round), device=p.device, check=check_name(p.check, p.item),
        status=status_name(p.status), rtt_ms=number(p.sample("icmp_rtt_seconds"), 1000.0, 2),
        loss_pct=number(p.sample("icmp_packet_loss_ratio"), 100.0),
        at=_probe_time(p.at, v.started_at, tz), reason=p.reason or DASH) for p in v.probes)
    return Verification(passed=v.passed, verdict="LULUS" if v.passed else "GAGAL",
                        reason=v.reason or DASH,
                        started=when(v.started_at, tz, seconds=True),
                        finished=when(v.finished_at, tz, seconds=True), probes=probes)


def automatic(ticket: Ticket) -> bool:
    return ticket.trigger is Trigger.AUTO
