"""The state history writer: every hard state change the detector makes, and each device's
maintenance window edges, buffered in memory and written in batches with the run's
last-alive time (one transaction: the store's history is complete up to `last_alive`).

Called on the synchronous result path (`on_transition`), it only appends to a list; its
task writes at most every `flush_seconds` when something changed, and at least every
`alive_seconds`. While the store is unavailable it keeps the changes and retries; if the
agent dies meanwhile, the store's run ends at its last write, and the time after it counts
as not monitored (never UP). A clean stop writes `stopped_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from agent.core.clock import Clock
from agent.core.errors import BackendError
from agent.core.model import Device, DeviceState
from agent.core.settings import MaintenanceWindow
from agent.detect import ICMP, Transition, active_windows
from agent.detect.maintenance import matches
from ticketing.history import MAINTENANCE, WINDOW_CLOSED, WINDOW_OPEN, MonitorRun, StateChange

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # how often maintenance windows are looked at
FLUSH_SECONDS = 5.0  # the least time between two writes of changes
ALIVE_SECONDS = 60.0  # the most time between two writes (the run's last-alive time)
REMATCH_SECONDS = 60.0  # how often the devices with windows are found again (reloads)


class HistorySink(Protocol):
    """Where the history goes (ticketing.store.history.SqlHistory)."""

    async def record(self, run: MonitorRun, changes: Sequence[StateChange]) -> None:
        """Store the changes and the run's row (last_alive, stopped_at) together.
        BackendError when it cannot."""
        ...

    async def aclose(self) -> None: ...


def node_name(cluster_node: str | None) -> str:
    """The run's node: the cluster member's name, else the host's."""
    return (cluster_node or socket.gethostname())[:64]


Inventory = Callable[[], tuple[Sequence[MaintenanceWindow], Sequence[Device]]]


class HistoryWriter:
    """One run's history. `open_sink()` connects to the store (retried while it fails)."""

    def __init__(self, clock: Clock, node: str, open_sink: Callable[[], Awaitable[HistorySink]],
                 inventory: Inventory, *, flush_seconds: float = FLUSH_SECONDS,
                 alive_seconds: float = ALIVE_SECONDS) -> None:
        self.clock = clock
        now = clock.now()
        self.run = MonitorRun(id=uuid.uuid4().hex, node=node, started_at=now, last_alive=now)
        self._open_sink = open_sink
        self._sink: HistorySink | None = None
        self._inventory = inventory
        self._flush = flush_seconds
        self._alive = alive_seconds
        self.pending: list[StateChange] = []
        self.written = 0  # changes stored (the counter tests read)
        self._last_write = clock.monotonic() - alive_seconds  # the first write is at once
        self._windowed: list[tuple[Device, list[MaintenanceWindow]]] = []
        self._matched_at: float | None = None
        self._in_window: set[str] = set()
        self._failing = False
        # one write at a time: a write takes the pending changes it read, so a stop's write
        # must not overlap the write of a run being cancelled
        self._writing = asyncio.Lock()

    def on_transition(self, t: Transition) -> None:
        """The pipeline's hook: one hard transition (maintenance ones too: the window is
        recorded apart, the state is the detected one)."""
        self.pending.append(StateChange(self.run.id, t.device, t.check, t.item,
                                        DeviceState(t.new).value, t.at))

    def forget(self, devices: Sequence[str], at: datetime) -> None:
        """A reload removed or changed these devices: the detector forgot their states (no
        transition), so their time is not monitored until their next hard state."""
        for name in devices:
            self.pending.append(StateChange(self.run.id, name, ICMP, "",
                                            DeviceState.UNKNOWN.value, at))
        self._matched_at = None  # find the devices with windows again at the next tick

    def tick(self, now: datetime) -> None:
        """Record maintenance windows opening and closing for the devices that have them."""
        mono = self.clock.monotonic()
        if self._matched_at is None or mono - self._matched_at >= REMATCH_SECONDS:
            windows, devices = self._inventory()
            self._windowed = [(d, ws) for d in devices
                              if (ws := [w for w in windows if matches(w, d)])]
            self._matched_at = mono
            names = {d.name for d, _ in self._windowed}
            for gone in self._in_window - names:  # a window removed by a reload
                self._edge(gone, WINDOW_CLOSED, now)
        for device, windows in self._windowed:
            inside = bool(active_windows(windows, device, now))
            if inside != (device.name in self._in_window):
                self._edge(device.name, WINDOW_OPEN if inside else WINDOW_CLOSED, now)

    def _edge(self, device: str, state: str, now: datetime) -> None:
        if state == WINDOW_OPEN:
            self._in_window.add(device)
        else:
            self._in_window.discard(device)
        self.pending.append(StateChange(self.run.id, device, MAINTENANCE, "", state, now))

    async def run_forever(self) -> None:
        while True:
            self.tick(self.clock.now())
            since = self.clock.monotonic() - self._last_write
            if (self.pending and since >= self._flush) or since >= self._alive:
                await self.write()
            await self.clock.sleep(TICK_SECONDS)

    async def write(self, *, stopping: bool = False) -> bool:
        """Write what is pending with the run's new last-alive time; False (the changes
        kept) when the store is unavailable. One write at a time."""
        async with self._writing:
            return await self._write(stopping)

    async def _write(self, stopping: bool) -> bool:
        now = self.clock.now()
        run = replace(self.run, last_alive=now, stopped_at=now if stopping else None)
        batch = list(self.pending)
        try:
            if self._sink is None:
                self._sink = await self._open_sink()
            await self._sink.record(run, batch)
        except Exception as exc:
            if self._failing:
                pass  # logged once per failing streak, retried every flush_seconds
            elif not isinstance(exc, BackendError):  # a bug: shown with its traceback, and
                log.exception("state history write failed")  # the changes kept, not lost
            else:
                log.warning("state history not written; kept in memory", extra={
                    "changes": len(self.pending), "error": str(exc)})
            self._failing = True
            self._last_write = self.clock.monotonic()  # the next try after flush_seconds
            return False
        del self.pending[:len(batch)]
        self.written += len(batch)
        self.run = run
        self._last_write = self.clock.monotonic()
        if self._failing:
            log.warning("state history written again", extra={"changes": len(batch)})
            self._failing = False
        return True

    async def stop(self) -> bool:
        """The last write (what is pending and the run's stop time), then close the store."""
        self.tick(self.clock.now())
        try:
            return await self.write(stopping=True)
        finally:
            if self._sink is not None:
                with contextlib.suppress(BackendError):
                    await self._sink.aclose()
                self._sink = None
