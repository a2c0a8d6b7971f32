"""State history as values: the hard state changes of each subject and the runs of the agents
that watched them (what the store keeps for the monthly reports, issue 16)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: The `check` of a maintenance row: `state` is WINDOW_OPEN or WINDOW_CLOSED.
MAINTENANCE = "maintenance"
WINDOW_OPEN = "open"
WINDOW_CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StateChange:
    """A subject's hard state from `at` on, as one agent run saw it.

    `check` is "icmp" (the device itself), "snmp" or "interface" (with `item`), and `state`
    a DeviceState value ("up", "down", "unreachable", "flapping", "unknown"); or `check`
    MAINTENANCE with `state` WINDOW_OPEN/WINDOW_CLOSED: the device's maintenance windows.
    """

    run_id: str
    device: str
    check: str
    item: str
    state: str
    at: datetime  # aware UTC


@dataclass(frozen=True, slots=True)
class MonitorRun:
    """One agent's run: watching from `started_at` until `stopped_at` (a clean stop) or, when
    it died, `last_alive` (refreshed with every write, at least once a minute). Outside its
    runs nothing was watched: that time is "not monitored", never UP. Within a run the
    history is complete up to `last_alive` (each write stores the changes and the new
    `last_alive` in one transaction)."""

    id: str
    node: str
    started_at: datetime
    last_alive: datetime
    stopped_at: datetime | None = None

    @property
    def end(self) -> datetime:
        return self.stopped_at if self.stopped_at is not None else self.last_alive
