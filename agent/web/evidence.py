"""A ticket's evidence as people read it, in Indonesian or English: labelled rows (what failed,
since when, why, who else is affected) and the last measurements, with units, numbers written
the language's way, reasons rendered from their codes, and times in local time.

Which zone: the device's site zone (`Device.timezone`), because the evidence tells what
happened at the device, and the agency and technicians at that site read its times on their
own clocks; `sla.timezone` when the device is not in the inventory (removed since, or a new
device of a manual request). Every time names its zone ("WIB", "WITA", "WIT", "UTC+hh:mm").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.core.model import Device
from agent.web import indonesian
from agent.web.indonesian import DASH, local
from ticketing.indonesian import MONTHS_EN, fault_title_en, zone_name
from ticketing.models import Ticket

#: label key -> (Indonesian, English)
LABELS: Mapping[str, tuple[str, str]] = {
    "device": ("Perangkat", "Device"),
    "owner": ("Perangkat Daerah", "Agency"),
    "fault": ("Gangguan", "Fault"),
    "interface": ("Antarmuka", "Interface"),
    "source": ("Sumber", "Source"),
    "since": ("Sejak", "Since"),
    "cause": ("Penyebab", "Cause"),
    "affected": ("Perangkat terdampak", "Affected devices"),
    "labels": ("Label peringatan", "Alert labels"),
    "alert": ("Alertmanager (peringatan {name})", "Alertmanager (alert {name})"),
}
_STATUSES = {"ok": ("Normal", "OK"), "warning": ("Sebagian", "Partial"),
             "down": ("Terputus", "Down"), "unknown": ("Tidak diketahui", "Unknown")}
_CHECKS = {"icmp": ("ICMP (ping)", "ICMP (ping)"), "snmp": ("SNMP", "SNMP"),
           "interface": ("Antarmuka", "Interface")}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled line of a table."""

    label: str
    value: str
    items: tuple[str, ...] = ()  # shown as a list under `value` (e.g. the devices to replace)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One check of the evidence's last measurements."""

    check: str
    status: str
    rtt_ms: str
    loss_pct: str
    at: str
    reason: str


def zone_of(ticket: Ticket, devices: Mapping[str, Device], default: str) -> str:
    """The zone the ticket's evidence is read in: its device's site zone, else `default`
    (`sla.timezone`) for a device not in the inventory."""
    device = devices.get(ticket.device)
    return device.timezone if device is not None else default


def local_time(moment: datetime | None, tz: str, lang: str, seconds: bool = False,
               fallback: str = "") -> str:
    """"24 November 2026 pukul 08.00 WIB" (id) or "24 November 2026 08:00 WIB" (en) in `tz`;
    without a time, `fallback` or "—"."""
    if lang != "en":
        return indonesian.when(moment, tz, seconds, fallback)
    if moment is None:
        return fallback or DASH
    at = local(moment, tz)
    clock = at.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{at.day} {MONTHS_EN[at.month - 1]} {at.year} {clock} {zone_name(at, tz)}"


def number(value: Any, scale: float, lang: str, digits: int = 1) -> str:
    """`value * scale` with the language's decimal mark ("0,4" / "0.4"), whole numbers without
    decimals; "—" when `value` is not a number."""
    text = indonesian.number(value, scale, digits)
    return text.replace(",", ".") if lang == "en" else text


def check_name(check: str, lang: str, item: str = "") -> str:
    pair = _CHECKS.get(check)
    name = _pick(pair, lang) if pair else check
    return f"{name} {item}" if item else name


def status_name(status: str, lang: str) -> str:
    pair = _STATUSES.get(status)
    return _pick(pair, lang) if pair else (status or DASH)


def fault_title(ticket: Ticket, lang: str) -> str:
    """"Antarmuka Gi0/1 mati" / "Interface Gi0/1 down", ..."""
    if lang == "en":
        return fault_title_en(ticket.fault, ticket.item or "?")
    return ticket.fault.title_id(ticket.item or "?")


def _flat(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_flat(v)}" for k, v in sorted(value.items(), key=str))
    if isinstance(value, list | tuple):
        return ", ".join(_flat(v) for v in value)
    return "" if value is None else str(value)


def evidence_rows(ticket: Ticket, tz: str, lang: str = "id") -> tuple[Row, ...]:
    """What failed, since when, why (the reason in `lang`), and who else is affected."""
    ev = ticket.evidence
    if not ev:
        return ()
    label = {key: _pick(pair, lang) for key, pair in LABELS.items()}
    rows = [Row(label["device"], ticket.device), Row(label["owner"], ticket.owner),
            Row(label["fault"], fault_title(ticket, lang))]
    interface = ev.interface or ticket.item
    if interface:
        rows.append(Row(label["interface"], interface))
    if ev.from_alert:
        alert = ev.alertname
        rows.append(Row(label["source"], label["alert"].format(name=alert) if alert
                        else "Alertmanager"))
    rows.append(Row(label["since"], local_time(ev.since, tz, lang, fallback=ev.since_text)
                    if ev.since_text else local_time(ticket.opened_at, tz, lang)))
    if ev.reason or ev.cause is not None:
        rows.append(Row(label["cause"], ev.reason_in(lang)))
    affected = ev.affected or ticket.affected
    if affected:
        rows.append(Row(label["affected"], _flat(affected)))
    if ev.labels:
        rows.append(Row(label["labels"], _flat(dict(ev.labels))))
    return tuple(rows)


def measurements(ticket: Ticket, tz: str, lang: str = "id") -> tuple[Measurement, ...]:
    """The last ICMP and SNMP results kept in the evidence: RTT in milliseconds, loss in
    percent, the time in `tz`, the reason in `lang`."""
    return tuple(Measurement(
        check=check_name(seen.check, lang), status=status_name(seen.status, lang),
        rtt_ms=number(seen.sample("icmp_rtt_seconds"), 1000.0, lang, 2),
        loss_pct=number(seen.sample("icmp_packet_loss_ratio", "loss"), 100.0, lang),
        at=local_time(seen.observed_at, tz, lang, seconds=True,
                      fallback=str(seen.record.get("observed_at") or "")),
        reason=seen.reason_in(lang) or DASH) for seen in ticket.evidence.last)
