"""What the pages show, computed from the API's JSON shapes: device rows for the board, tickets
grouped by step with their SLA time left, a ticket's steps, timeline and verification."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.core.reason_text import shown
from agent.web.i18n import Words
from ticketing.payloads import REASON_CODE
from ticketing.sop import Sop, StepSpec

#: The board lists problems first.
STATE_ORDER = ("down", "unreachable", "flapping", "unknown", "maintenance", "up")
BOARD_LIMIT = 500  # rows on one board page; filter to see others
OUTPUT_SHOWN = 240  # characters of an output field shown in a ticket's steps table


@dataclass(frozen=True, slots=True)
class DeviceRow:
    name: str
    address: str
    owner: str
    site: str
    state: str
    since: str | None
    rtt_ms: float | None
    loss_pct: float | None
    interfaces_down: tuple[str, ...]
    ticket: str | None


def _sample(device: Mapping[str, Any], check: str, name: str) -> float | None:
    value = device.get("checks", {}).get(check, {}).get("samples", {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def device_rows(devices: Iterable[Mapping[str, Any]], tickets: Mapping[str, str],
                state: str | None = None, query: str = "") -> list[DeviceRow]:
    """Rows for the board: problems first, then by name; `tickets` maps a device to its open
    ticket (its own, or the one it is listed under as affected)."""
    rows = []
    needle = query.strip().lower()
    for d in devices:
        if state and d["state"] != state:
            continue
        text = f"{d['name']} {d['address']} {d['owner']} {d.get('site') or ''}".lower()
        if needle and needle not in text:
            continue
        rtt = _sample(d, "icmp", "icmp_rtt_seconds")
        loss = _sample(d, "icmp", "icmp_packet_loss_ratio")
        down = tuple(sorted({str(f["item"]) for f in d.get("faults", []) if f.get("item")}))
        rows.append(DeviceRow(
            name=str(d["name"]), address=str(d["address"]), owner=str(d["owner"]),
            site=str(d.get("site") or ""), state=str(d["state"]), since=d.get("since"),
            rtt_ms=None if rtt is None else rtt * 1000.0,
            loss_pct=None if loss is None else loss * 100.0,
            interfaces_down=down, ticket=tickets.get(str(d["name"]))))
    order = {s: i for i, s in enumerate(STATE_ORDER)}
    rows.sort(key=lambda r: (order.get(r.state, len(order)), r.name))
    return rows


def state_counts(devices: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATE_ORDER, 0)
    for d in devices:
        counts[str(d["state"])] = counts.get(str(d["state"]), 0) + 1
    return counts


def device_tickets(tickets: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tickets:
        for name in (t["device"], *t.get("affected", [])):
            out.setdefault(str(name), str(t["id"]))
    return out


@dataclass(frozen=True, slots=True)
class Clocked:
    """A step's SLA as shown: due time, seconds left (negative: over) and whether breached."""

    started_at: str | None
    due_at: str | None
    left_seconds: float | None
    breached: bool

    @property
    def due_epoch_ms(self) -> int | None:
        return None if self.due_at is None else int(
            datetime.fromisoformat(self.due_at).timestamp() * 1000)


def clocked(step: Mapping[str, Any], now: datetime) -> Clocked:
    due = step.get("due_at")
    left = None if due is None or step.get("completed_at") else (
        datetime.fromisoformat(due) - now).total_seconds()
    breached = bool(step.get("breached")) or (left is not None and left < 0)
    return Clocked(step.get("started_at"), due, left, breached)


@dataclass(frozen=True, slots=True)
class StepGroup:
    spec: StepSpec
    tickets: list[tuple[Mapping[str, Any], Clocked]]

    @property
    def breached(self) -> int:
        return sum(1 for _, c in self.tickets if c.breached)


def by_step(tickets: Sequence[Mapping[str, Any]], sop: Sop, now: datetime) -> list[StepGroup]:
    """Open tickets under their current step, the most urgent first."""
    groups = [StepGroup(spec, []) for spec in sop.steps]
    for t in tickets:
        no = int(t["current_step"])
        if not 1 <= no <= len(groups):
            continue
        step: Mapping[str, Any] = next((s for s in t["steps"] if s["no"] == no), {})
        groups[no - 1].tickets.append((t, clocked(step, now)))
    for g in groups:
        g.tickets.sort(key=lambda tc: (tc[1].left_seconds is None,
                                       tc[1].left_seconds or 0.0, tc[0]["id"]))
    return groups


def step_title(spec: StepSpec, lang: str) -> str:
    return spec.title_id if lang == "id" else spec.title_en


def sla_text(spec: StepSpec, words: Words) -> str:
    return f"{spec.sla.amount} {words(f'sla.unit.{spec.sla.unit}')}"


def field_label(spec: StepSpec, name: str, lang: str) -> str:
    for f in spec.fields:
        if f.name == name:
            return f.label_id if lang == "id" else f.label_en
    return name


def output_lines(spec: StepSpec, output: Mapping[str, Any], words: Words,
                 automatic: bool = False) -> list[tuple[str, str]]:
    """A completed step's output document as (label, text) pairs, in the SOP's field order.
    The description of an `automatic` request is left out: it is written from the evidence,
    which the page shows as a table in the reader's language."""
    lines = []
    for f in spec.fields:
        if f.name not in output or (automatic and spec.no == 1 and f.name == "description"):
            continue
        value = output[f.name]
        if isinstance(value, bool):
            text = words("ticket.yes") if value else words("ticket.no")
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        if len(text) > OUTPUT_SHOWN:  # the whole text is in the step's printable document
            text = text[:OUTPUT_SHOWN].rstrip() + " …"
        lines.append((f.label_id if words.lang == "id" else f.label_en, text))
    return lines


def event_summary(event: Mapping[str, Any], words: Words) -> str:
    """One line of detail for the timeline."""
    data = event.get("data") or {}
    kind = event["kind"]
    if kind == "verification":
        verdict = words("verify.passed") if data.get("passed") else words("verify.failed")
        return f"{verdict}: {reason_of(data, words.lang)}"
    if kind in ("opened", "failure_observed", "reopened"):
        evidence = data.get("evidence") or {}
        if isinstance(evidence, Mapping):
            return reason_of(evidence, words.lang) or str(data.get("subject") or "")
    if kind == "note":
        return str(data.get("text", ""))
    if kind == "affected_added":
        return ", ".join(str(d) for d in data.get("devices", []))
    if kind == "flapping_changed":
        return words("ticket.yes") if data.get("flapping") else words("ticket.no")
    if kind == "step_completed":
        first = next((v for v in data.values() if isinstance(v, str) and v), "")
        return first[:200]
    return ""


def event_title(event: Mapping[str, Any], words: Words) -> str:
    return words(f"event.{event['kind']}", step=event.get("step") or "")


def reason_of(record: Mapping[str, Any] | None, lang: str) -> str:
    """The reason of a JSON record (evidence, verification, probe) in `lang`: rendered from
    its "reason_code" when it has one, else its (old, text only) "reason" read back into a
    code, else that text as stored."""
    if not record:
        return ""
    return shown(str(record.get("reason") or ""), record.get(REASON_CODE), lang)


def probe_rows(verification: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not verification:
        return []
    return [p for p in verification.get("probes", []) if isinstance(p, Mapping)]


def probe_rtt_ms(probe: Mapping[str, Any]) -> float | None:
    for key in ("rtt_seconds", "icmp_rtt_seconds"):
        value = probe.get(key)
        if isinstance(value, int | float):
            return float(value) * 1000.0
    value = probe.get("rtt_ms")
    return float(value) if isinstance(value, int | float) else None


def probe_loss_pct(probe: Mapping[str, Any]) -> float | None:
    for key in ("loss_ratio", "icmp_packet_loss_ratio"):
        value = probe.get(key)
        if isinstance(value, int | float):
            return float(value) * 100.0
    return None
