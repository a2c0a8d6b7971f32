"""The results flow of a running agent: scheduler → detector → reboots and interfaces →
rechecks (back to the scheduler) and ticket observations (to the feed)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from agent.core.model import CheckResult, Device, Status
from agent.detect import (
    INTERFACE_CHECK,
    RETIRE_AFTER_POLLS,
    RETIRED,
    Detector,
    Reboot,
    RebootTracker,
    Recheck,
    Transition,
    interface_results,
)
from agent.status import result_json
from agent.tickets import observation
from ticketing.observation import Observation

log = logging.getLogger(__name__)


class ResultPipeline:
    """Feeds each check result to the detector and routes what comes out of it.

    Holds what the views read: the last result per device and check, the reboot tracker with
    each device's last reboot, and the monitored interfaces seen per device. Rechecks and
    observations are dropped until `connect()` names where they go (the scheduler and the
    ticket feed are built after the pipeline, since the scheduler sends its results here).
    """

    def __init__(self, devices: Iterable[Device], detector: Detector) -> None:
        self.detector = detector
        self.devices = {d.name: d for d in devices}
        # device -> check -> last result: a transition's evidence reads its own device only.
        self.last_results: dict[str, dict[str, CheckResult]] = {}
        self.reboots = RebootTracker()
        self.last_reboot: dict[str, Reboot] = {}
        self.interfaces: dict[str, tuple[str, ...]] = {}  # device -> monitored interfaces seen
        self._absent: dict[str, dict[str, int]] = {}  # device -> interface -> walks without it
        self._recheck: Callable[[str, str], object] | None = None
        self._observe: Callable[[Observation], None] | None = None
        self._on_snmp: Callable[[CheckResult], None] | None = None
        self._on_transition: Callable[[Transition], None] | None = None
        self.results_read = 0  # results read for evidence: the work counter of the tests

    def connect(self, *, recheck: Callable[[str, str], object],
                observe: Callable[[Observation], None],
                on_snmp: Callable[[CheckResult], None] | None = None,
                on_transition: Callable[[Transition], None] | None = None) -> None:
        """Send rechecks to `recheck(device, check)` and observations to `observe(obs)`;
        `on_snmp(result)` sees each SNMP result before its interfaces reach the detector
        (the trap meaning learns the interfaces there and makes waiting announcements);
        `on_transition(t)` sees every hard transition (the state history)."""
        self._recheck = recheck
        self._observe = observe
        self._on_snmp = on_snmp
        self._on_transition = on_transition

    def update_devices(self, devices: Sequence[Device], changed: Iterable[str]) -> None:
        """A reloaded inventory (`changed`: the names whose device is new or differs): the
        detector keeps the unchanged devices' states, and what is kept here of a removed or
        changed device goes. `devices` is updated in place (the verifier reads it)."""
        self.detector.update_devices(devices)
        names = {d.name for d in devices}
        stale = set(changed) | (self.devices.keys() - names)
        self.devices.clear()
        self.devices.update((d.name, d) for d in devices)
        for kept in (self.last_results, self.last_reboot, self.interfaces, self._absent):
            for name in stale & kept.keys():
                del kept[name]
        for name in stale:
            self.reboots.forget(name)

    def on_result(self, result: CheckResult) -> None:
        """The scheduler's sink: one check result, in the order the checks finished."""
        self.last_results.setdefault(result.device, {})[result.check] = result
        self.handle_events(self.detector.observe(result))
        if result.check != "snmp":
            return
        reboot = self.reboots.observe(result)
        if reboot is not None:
            self.last_reboot[result.device] = reboot
            log.info("device rebooted", extra={
                "device": reboot.device, "uptime_before": reboot.uptime_before_seconds,
                "uptime_after": reboot.uptime_after_seconds})
        if self._on_snmp is not None:
            self._on_snmp(result)
        subjects = interface_results(result)
        names = tuple(name for name, _ in subjects)
        for name, iface in subjects:
            self.handle_events(self.detector.observe(iface, item=name))
        if result.status is Status.OK:  # a complete walk: a missing interface is gone
            for name in self._age(result.device, names):
                self.handle_events(self.detector.retire(
                    result.device, INTERFACE_CHECK, name, result.observed_at, RETIRED))
        elif names:  # partial data: keep the ones it missed, and their counts
            known = self.interfaces.get(result.device, ())
            self.interfaces[result.device] = (*names, *(n for n in known if n not in names))

    def _age(self, device: str, seen: tuple[str, ...]) -> list[str]:
        """Count a complete walk of `device` that reported `seen`; return the interfaces now
        missing from RETIRE_AFTER_POLLS walks in a row (they are forgotten here)."""
        absent = self._absent.setdefault(device, {})
        present = set(seen)
        for name in self.interfaces.get(device, ()):
            if name not in present:
                absent[name] = absent.get(name, 0) + 1
        for name in seen:
            absent.pop(name, None)
        retired = [name for name, n in absent.items() if n >= RETIRE_AFTER_POLLS]
        for name in retired:
            del absent[name]
        self.interfaces[device] = (*seen, *absent)
        return retired

    def tick(self, now: datetime) -> None:
        """Re-evaluate maintenance windows and held states."""
        self.handle_events(self.detector.tick(now))

    def handle_events(self, events: Sequence[Transition | Recheck]) -> None:
        """Rechecks go to the scheduler; hard transitions (logged by the detector) go to
        ticketing as observations."""
        for event in events:
            if isinstance(event, Recheck):
                if self._recheck is not None:
                    self._recheck(event.device, event.check)
                continue
            if self._on_transition is not None:
                self._on_transition(event)
            obs = observation(event, self.devices, self.detector.device_state, self.evidence_of)
            if obs is not None and self._observe is not None:
                self._observe(obs)

    def evidence_of(self, device: str) -> Mapping[str, Mapping[str, Any]]:
        """The device's last result per check (ICMP, SNMP) as the API shows them, for a
        transition's evidence: reads that one device's results only."""
        out: dict[str, Mapping[str, Any]] = {}
        results = self.last_results.get(device, {})
        self.results_read += len(results)
        for check, result in sorted(results.items()):
            doc = result_json(result)
            doc.pop("interfaces", None)  # the whole IF-MIB is too much for a letter
            out[check] = doc
        return out

    def retrying(self, device: str, check: str) -> bool:
        """Re-check sooner while the subject, or for SNMP any monitored interface, is soft."""
        if self.detector.is_retrying(device, check):
            return True
        return check == "snmp" and any(
            self.detector.is_retrying(device, INTERFACE_CHECK, name)
            for name in self.interfaces.get(device, ())
        )
