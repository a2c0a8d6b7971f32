"""What an accepted SNMP notification means to the agent: a confirming poll, a lowered
threshold for the interface it names, a count, or a place in the device's ring of recent
notifications. A trap alone never changes a state and never opens a ticket."""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.core.clock import Clock
from agent.core.model import CheckResult, Device
from agent.core.traps import MONITORED_IF_INDEX, OTHER, Trap
from agent.detect import CONFIRM_WINDOW_SECONDS

log = logging.getLogger(__name__)

MAX_OIDS_PER_DEVICE = 100  # distinct OIDs labelled per device; more count as "other"
MAX_WAITING = 64  # link traps per device kept for the interface map (distinct ifIndexes)
SNMP = "snmp"
_LINK = frozenset({"linkDown", "linkUp"})
_RESTART = frozenset({"coldStart", "warmStart"})

Recheck = Callable[[str, str], object]  # Scheduler.request_check(device, check): False
# when there is no such job
Announce = Callable[[str, str, datetime, bool], None]  # (device, interface, at, down)
Count = Callable[[str, str], None]  # (device, trap label)


@dataclass(slots=True, eq=False)
class _DeviceTraps:
    """One device's trap state: its monitored interfaces by ifIndex (from its latest SNMP
    result), the OIDs labelled so far, the ring, and a confirming poll asked for."""

    ring: deque[Trap]
    by_index: dict[str, str] | None = None  # None until an SNMP result says
    by_index_text: str | None = None  # the info text `by_index` was read from
    oids: set[str] = field(default_factory=set)
    confirm_until: float | None = None  # monotonic: a confirming poll is pending until then
    # link traps waiting for the interface map (no SNMP result yet): (ifIndex, down, at)
    waiting: list[tuple[str, bool, datetime]] = field(default_factory=list)


class TrapMeaning:
    """Turns each accepted Trap into what it means (the app feeds `on_trap` and, for every
    SNMP result before its interfaces reach the detector, `on_snmp_result`).

    - linkDown/linkUp about a monitored interface of a device with SNMP: one confirming poll
      of the device (`recheck(device, "snmp")`, not again while one asked for is pending:
      until an SNMP result of the device arrives, at most CONFIRM_WINDOW_SECONDS), and
      `announce(device, interface, at, down)` so the detector applies `confirm_after` to that
      poll's verdict. Before the device's first SNMP result the interface map is unknown:
      the poll is asked for and the announcement made when its result names the interface.
      A trap without ifIndex, or about an interface that is not monitored, is only counted.
    - coldStart/warmStart of a device with SNMP: one confirming poll; sysUpTime decides
      whether it rebooted (agent/detect/reboots.py), never the trap.
    - authenticationFailure: counted.
    - any other OID: counted and kept in the device's ring (newest first, `ring_size`).

    Every trap is counted with `count(device, label)`: the kind, or the dotted OID for
    other kinds, "other" past MAX_OIDS_PER_DEVICE distinct OIDs of one device.
    """

    def __init__(self, *, devices: Iterable[Device], clock: Clock, ring_size: int,
                 recheck: Recheck, announce: Announce, count: Count) -> None:
        self._clock = clock
        self._ring_size = ring_size
        self._recheck = recheck
        self._announce = announce
        self._count = count
        self._devices: dict[str, Device] = {}
        self._state: dict[str, _DeviceTraps] = {}
        self.update_devices(devices)

    def update_devices(self, devices: Iterable[Device]) -> None:
        """A new inventory: removed devices' state goes, kept devices keep theirs."""
        self._devices = {d.name: d for d in devices}
        self._state = {name: self._state.get(name) or _DeviceTraps(deque(maxlen=self._ring_size))
                       for name in self._devices}

    def on_trap(self, trap: Trap) -> None:
        """The receiver's sink: one accepted notification, matched to `trap.device`."""
        device = self._devices.get(trap.device)
        state = self._state.get(trap.device)
        if device is None or state is None:
            log.debug("trap for a device no longer in the inventory",
                      extra={"device": trap.device, "trap": trap.kind})
            return
        self._count(trap.device, self._label(state, trap))
        kind = trap.kind
        if kind == OTHER:
            state.ring.appendleft(trap)
            return
        if device.snmp_auth is None or not (kind in _LINK or kind in _RESTART):
            return  # authenticationFailure, or a device we cannot poll: counted only
        if kind in _RESTART:
            self._confirm(device.name, state)
            return
        if trap.if_index is None:
            return  # which interface? not ours to guess
        index, down = str(trap.if_index), kind == "linkDown"
        if state.by_index is None:
            state.waiting = [w for w in state.waiting if w[0] != index][-MAX_WAITING + 1:]
            state.waiting.append((index, down, trap.received_at))
            self._confirm(device.name, state)
            return
        interface = state.by_index.get(index)
        if interface is None:
            return  # not monitored: counted, not polled
        self._announce(device.name, interface, trap.received_at, down)
        self._confirm(device.name, state)

    def on_snmp_result(self, result: CheckResult) -> None:
        """An SNMP result of a device: learn its monitored interfaces by ifIndex, end its
        pending confirmation, and make the announcements that waited for the map."""
        state = self._state.get(result.device)
        if state is None:
            return
        state.confirm_until = None
        if result.status.answered:
            text = dict(result.info).get(MONITORED_IF_INDEX, "")
            if text != state.by_index_text:
                state.by_index_text = text
                state.by_index = _parse_by_index(text)
        if state.waiting and state.by_index is not None:
            waiting, state.waiting = state.waiting, []
            for index, down, at in waiting:
                interface = state.by_index.get(index)
                if interface is not None:
                    self._announce(result.device, interface, at, down)

    def recent(self, device: str) -> list[dict[str, Any]]:
        """The device's ring of other notifications, newest first, as the API shows it."""
        state = self._state.get(device)
        if state is None:
            return []
        return [
            {"received_at": t.received_at.isoformat(), "version": t.version,
             "oid": ".".join(map(str, t.oid)), "kind": t.kind,
             "varbinds": [[oid, value] for oid, value in t.varbinds]}
            for t in state.ring
        ]

    def _label(self, state: _DeviceTraps, trap: Trap) -> str:
        if trap.kind != OTHER:
            return trap.kind
        dotted = ".".join(map(str, trap.oid))
        if dotted in state.oids:
            return dotted
        if len(state.oids) >= MAX_OIDS_PER_DEVICE:
            return OTHER
        state.oids.add(dotted)
        return dotted

    def _confirm(self, device: str, state: _DeviceTraps) -> None:
        now = self._clock.monotonic()
        if state.confirm_until is not None and now < state.confirm_until:
            return  # one is pending: the scheduler would coalesce it anyway
        if self._recheck(device, SNMP) is not False:  # False: no such job (not yet running)
            state.confirm_until = now + CONFIRM_WINDOW_SECONDS


def _parse_by_index(text: str) -> dict[str, str]:
    """The info's JSON object of ifIndex -> interface label; {} when absent or unreadable."""
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(k): v for k, v in parsed.items() if isinstance(v, str)}
