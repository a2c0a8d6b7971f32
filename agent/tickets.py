"""The bridge from detection to ticketing: hard transitions become Observations, applied in
batches (a ticket's in order, runs of AFFECTED merged) by a task that retries while the ticket
store is unavailable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from agent.core import topology
from agent.core.clock import Clock
from agent.core.errors import BackendUnavailable
from agent.core.model import Device, DeviceState
from agent.detect import INTERFACE_CHECK, Transition
from ticketing.models import Fault
from ticketing.observation import AFFECTED, FAILING, FLAPPING, RESTORED, Observation
from ticketing.payloads import Evidence
from ticketing.service import TicketService

log = logging.getLogger(__name__)

FAULTS = {"icmp": Fault.DEVICE_DOWN, "snmp": Fault.SNMP_DOWN,
          INTERFACE_CHECK: Fault.INTERFACE_DOWN}
RETRY_MIN_SECONDS = 0.5
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


#: Observations taken off the queue at once (a mass event arrives in one burst).
BATCH_MAX = 4096
#: Tickets written at the same time: the store works through one call after another, but
#: keeping several in flight hides the event loop's own latency between them.
PARALLEL_KEYS = 8


def coalesce(batch: Sequence[Observation]) -> list[Observation]:
    """The batch with each run of AFFECTED observations of one ticket merged into one (the
    devices in order, the time of the last): 2,000 children behind a core switch become one
    AFFECTED_ADDED event, not 2,000 writes. Nothing is reordered within a ticket: an
    AFFECTED merges only into the last observation of its key, and only if that is one too."""
    out: list[Observation] = []
    last: dict[str, int] = {}  # dedup key -> index in `out` of its last observation
    for obs in batch:
        key = obs.dedup_key
        i = last.get(key)
        if obs.kind == AFFECTED and i is not None and out[i].kind == AFFECTED:
            prev = out[i]
            out[i] = replace(prev, at=max(prev.at, obs.at),
                             affected=tuple(dict.fromkeys(prev.affected + obs.affected)))
            continue
        last[key] = len(out)
        out.append(obs)
    return out


def by_key(batch: Sequence[Observation]) -> list[list[Observation]]:
    """The observations of each ticket (dedup key), each list in arrival order."""
    keyed: dict[str, list[Observation]] = {}
    for obs in batch:
        keyed.setdefault(obs.dedup_key, []).append(obs)
    return list(keyed.values())


class TicketFeed:
    """Queues observations from the (synchronous) result path and applies them: each ticket's
    in order, different tickets side by side, every observation retried while the store is
    unavailable (never dropped, never applied twice: the store is idempotent on the key)."""

    def __init__(self, service: TicketService, clock: Clock, *,
                 parallel: int = PARALLEL_KEYS) -> None:
        self.service = service
        self.clock = clock
        self.queue: asyncio.Queue[Observation] = asyncio.Queue()
        self._slots = asyncio.Semaphore(parallel)
        self._delay = RETRY_MIN_SECONDS

    def put(self, obs: Observation) -> None:
        self.queue.put_nowait(obs)

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < BATCH_MAX and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self.apply(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def apply(self, batch: Sequence[Observation]) -> None:
        """Apply a batch: coalesced, then one task per ticket, `parallel` at a time."""
        async with asyncio.TaskGroup() as tg:
            for observations in by_key(coalesce(batch)):
                tg.create_task(self._apply_key(observations))

    async def _apply_key(self, observations: Sequence[Observation]) -> None:
        async with self._slots:
            for obs in observations:
                await self._apply_one(obs)

    async def _apply_one(self, obs: Observation) -> None:
        while True:
            try:
                await self.service.observe(obs)
                self._delay = RETRY_MIN_SECONDS
                return
            except BackendUnavailable as exc:
                # Keep the observation: the store will be back (locked, restarting).
                delay = self._delay
                log.warning("ticket store unavailable; retrying", extra={
                    "device": obs.device, "error": str(exc), "retry_in": delay})
                self._delay = min(RETRY_MAX_SECONDS, delay * 2)
                await self.clock.sleep(delay)
            except Exception:
                log.exception("ticket observation failed", extra={"device": obs.device})
                return

