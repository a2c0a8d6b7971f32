"""Views of a running agent's state: the metrics snapshot, the device documents of the API and
pages, and a check result as JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.core.clock import Clock
from agent.core.model import CheckResult, Device, DeviceState
from agent.core.reasons import of_result
from agent.detect import Detector, Reboot, RebootTracker
from agent.metrics import DeviceView, OpenTicketView, Snapshot
from agent.scheduler import Scheduler
from ticketing import workflow
from ticketing.calendar import Calendar
from ticketing.payloads import REASON_CODE
from ticketing.service import TicketService
from ticketing.sop import Sop

FAULT_STATES = frozenset({DeviceState.DOWN, DeviceState.UNREACHABLE, DeviceState.FLAPPING})


def result_json(result: CheckResult) -> dict[str, Any]:
    """A check result for the API and `pantau probe --json`."""
    out: dict[str, Any] = {
        "status": result.status.value,
        "observed_at": result.observed_at.isoformat(),
        "duration_seconds": round(result.duration_seconds, 6),
        "reason": result.reason,
        "error": result.error,
        "samples": {s.name: s.value for s in result.samples if not s.labels},
    }
    cause = of_result(result.code, result.params)
    if cause is not None:
        out[REASON_CODE] = cause.to_json()
    if result.info:
        out["info"] = dict(result.info)
    interfaces: dict[str, dict[str, float]] = {}
    for s in result.samples:
        if s.labels:
            interfaces.setdefault(s.labels[0][1], {})[s.name] = s.value
    if interfaces:
        out["interfaces"] = [{"name": n, **v} for n, v in sorted(interfaces.items())]
    return out


class DevicesJson(Protocol):
    """`StatusViews.devices_json` as the API and the pages call it."""

    def __call__(self, name: str | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusViews:
    """Reads the detector, the reboots seen, the scheduler and the open tickets on the event
    loop, and hands back plain values: `snapshot()` for /metrics, `devices_json()` for the API
    and the pages."""

    devices: Sequence[Device]
    sop: Sop
    calendar: Calendar
    clock: Clock
    detector: Detector
    reboots: RebootTracker
    last_reboot: Mapping[str, Reboot]  # device -> its last reboot, kept by the pipeline
    scheduler: Scheduler
    service: TicketService
    # (device, check) -> (its last result, that result's JSON): the devices' documents
    # re-encode only the results that changed
    json_cache: dict[tuple[str, str], tuple[CheckResult, dict[str, Any]]] = field(
        default_factory=dict)
    # every device by name: the agent's index, kept by reloads (the device page reads one)
    index: Mapping[str, Device] = field(default_factory=dict)

    def snapshot(self) -> Snapshot:
        """What /metrics renders: O(devices) references, no copies of results or subjects."""
        detector = self.detector
        views = tuple(
            DeviceView(device=device, state=detector.device_state(device.name),
                       results=detector.device_results(device.name))
            for device in self.devices
        )
        now = self.clock.now()
        tickets = tuple(
            OpenTicketView(
                device=t.device, owner=t.owner, step=t.current_step,
                remaining_seconds=workflow.remaining_seconds(t, now, self.calendar),
            )
            for t in self.service.open_tickets
            if workflow.open_step(t) is not None
        )
        sla = {step.no: self.calendar.nominal_seconds(step.sla) for step in self.sop.steps}
        return Snapshot(devices=views, transitions=detector.transition_counts(),
                        reboots=dict(self.reboots.counts),
                        in_flight=self.scheduler.stats.in_flight,
                        tickets=tickets, step_sla_seconds=sla)

    def devices_json(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every device's document (only `name`'s, when given: [] for an unknown name): its
        faults come from its failing subjects only, and a check's JSON is reused while its
        result is the same."""
        out = []
        devices = self.devices if name is None else [
            d for d in (self.index.get(name),) if d is not None]
        for device in devices:
            ds = self.detector.fault_snapshot(device.name)
            reboot = self.last_reboot.get(device.name)
            out.append(
                {
                    "name": device.name,
                    "address": device.address,
                    "owner": device.owner,
                    "site": device.site,
                    "parent": device.parent,
                    "state": ds.state.value,
                    "since": ds.since.isoformat() if ds.since else None,
                    "flapping": ds.flapping,
                    "maintenance": list(ds.maintenance),
                    "affected": list(ds.affected),
                    "faults": [
                        {"check": s.check, "item": s.item, "state": s.state.value,
                         "since": s.since.isoformat() if s.since else None}
                        for s in ds.subjects if s.state in FAULT_STATES
                    ],
                    "reboots": self.reboots.counts.get(device.name, 0),
                    "last_reboot": None if reboot is None else reboot.at.isoformat(),
                    "checks": {c: self._result_json(r) for c, r in sorted(ds.results.items())},
                }
            )
        return out

    def forget(self, names: Iterable[str]) -> None:
        """After a reload (`devices` changed in place): drop what is cached of `names`."""
        gone = set(names)
        for key in [k for k in self.json_cache if k[0] in gone]:
            del self.json_cache[key]

    def _result_json(self, result: CheckResult) -> dict[str, Any]:
        """`result_json(result)`, kept per (device, check) while the result is the same."""
        key = (result.device, result.check)
        hit = self.json_cache.get(key)
        if hit is None or hit[0] is not result:
            hit = self.json_cache[key] = (result, result_json(result))
        return hit[1]
