"""The bridge from detection to ticketing: hard transitions become Observations, handled one
at a time by a task that retries while the ticket store is unavailable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from agent.core import topology
from agent.core.clock import Clock
from agent.core.errors import BackendUnavailable
from agent.core.model import CheckResult, Device, DeviceState
from agent.detect import INTERFACE_CHECK, Transition
from ticketing.models import Fault
from ticketing.payloads import Evidence
from ticketing.service import AFFECTED, FAILING, FLAPPING, RESTORED, Observation, TicketService

log = logging.getLogger(__name__)

FAULTS = {"icmp": Fault.DEVICE_DOWN, "snmp": Fault.SNMP_DOWN,
          INTERFACE_CHECK: Fault.INTERFACE_DOWN}
RETRY_MAX_SECONDS = 30.0


def root_cause(device: Device, devices: Mapping[str, Device],
               state: Callable[[str], DeviceState]) -> Device | None:
    """The nearest ancestor that is DOWN or FLAPPING (the device whose ticket lists this
    UNREACHABLE one), or None."""
    def parent(name: str) -> str | None:
        up = (device if name == device.name else devices[name]).parent
        return up if up in devices else None

    for name in topology.ancestors(device.name, parent):
        if state(name) in (DeviceState.DOWN, DeviceState.FLAPPING):
            return devices[name]
    return None


def observation(t: Transition, devices: Mapping[str, Device],
                state: Callable[[str], DeviceState],
                last_results: Callable[[str], Mapping[str, Mapping[str, Any]]]
                ) -> Observation | None:
    """The ticketing meaning of a hard transition, or None (maintenance, unknown states)."""
    fault = FAULTS.get(t.check)
    device = devices.get(t.device)
    if t.maintenance or fault is None or device is None:
        return None
    new = DeviceState(t.new)
    item = t.item if t.check == INTERFACE_CHECK else ""
    if new is DeviceState.UNREACHABLE:
        if t.check != "icmp":
            return None  # SNMP and interfaces behind a failing device: the device's ticket
        root = root_cause(device, devices, state)
        if root is None:
            return None
        return Observation(device=root.name, owner=root.owner, fault=Fault.DEVICE_DOWN,
                           kind=AFFECTED, at=t.at, affected=(device.name,),
                           reason=f"{device.name} unreachable behind {root.name}")
    kind = {DeviceState.DOWN: FAILING, DeviceState.FLAPPING: FLAPPING,
            DeviceState.UP: RESTORED}.get(new)
    if kind is None:
        return None
    affected = tuple(t.affected) if t.check == "icmp" else ()
    proof = Evidence.of_detection(fault=fault.value, state=new.value, since=t.at,
                                  reason=t.reason, last=last_results(device.name),
                                  interface=item, affected=affected)
    return Observation(device=device.name, owner=device.owner, fault=fault, kind=kind, at=t.at,
                       item=item, reason=t.reason, evidence=proof, affected=affected)


class TicketFeed:
    """Queues observations from the (synchronous) result path and applies them in order."""

    def __init__(self, service: TicketService, clock: Clock) -> None:
        self.service = service
        self.clock = clock
        self.queue: asyncio.Queue[Observation] = asyncio.Queue()

    def put(self, obs: Observation) -> None:
        self.queue.put_nowait(obs)

    async def run(self) -> None:
        delay = 0.5
        while True:
            obs = await self.queue.get()
            while True:
                try:
                    await self.service.observe(obs)
                    delay = 0.5
                    break
                except BackendUnavailable as exc:
                    # Keep the observation: the store will be back (locked, restarting).
                    log.warning("ticket store unavailable; retrying", extra={
                        "device": obs.device, "error": str(exc), "retry_in": delay})
                    await self.clock.sleep(delay)
                    delay = min(RETRY_MAX_SECONDS, delay * 2)
                except Exception:
                    log.exception("ticket observation failed", extra={"device": obs.device})
                    break
            self.queue.task_done()


def last_results_of(results: Mapping[tuple[str, str], CheckResult],
                    result_json: Callable[[CheckResult], dict[str, Any]]
                    ) -> Callable[[str], Mapping[str, Mapping[str, Any]]]:
    """The last results of a device by check (its last ICMP and SNMP results), as the API
    shows them, for the evidence."""

    def of(device: str) -> Mapping[str, Mapping[str, Any]]:
        checks = {check: result_json(r) for (d, check), r in sorted(results.items())
                  if d == device}
        for c in checks.values():
            c.pop("interfaces", None)  # the whole IF-MIB is too much for a letter
        return checks

    return of
