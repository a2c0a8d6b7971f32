"""Reboot events from sysUpTime: the device's boot time moved later.

Comparing boot times (observed_at - uptime) rather than raw uptimes catches a reboot even
after a long outage, ignores the 497-day TimeTicks wrap, and never fires after a timeout
(only answered polls are compared).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.core.model import CheckResult

#: sysUpTime is TimeTicks (1/100 s) in 32 bits: it wraps after 497.1 days.
WRAP = timedelta(seconds=2**32 / 100)
#: How far the boot time may wobble between polls (request latency, clock steps).
TOLERANCE = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Reboot:
    device: str
    at: datetime
    uptime_before_seconds: float
    uptime_after_seconds: float


class RebootTracker:
    """Remembers each device's boot time; `observe()` returns a Reboot when it moves."""

    def __init__(self) -> None:
        self._boot: dict[str, tuple[datetime, float]] = {}  # device -> (boot time, uptime)
        self.counts: dict[str, int] = {}

    def forget(self, device: str) -> None:
        """Drop what is known of `device` (removed from the inventory by a reload)."""
        self._boot.pop(device, None)
        self.counts.pop(device, None)

    def observe(self, result: CheckResult) -> Reboot | None:
        if not result.status.answered:
            return None
        uptime = result.sample("snmp_uptime_seconds")
        if uptime is None:
            return None
        boot = result.observed_at - timedelta(seconds=uptime)
        previous = self._boot.get(result.device)
        self._boot[result.device] = (boot, uptime)
        if previous is None:
            return None
        moved = boot - previous[0]
        if moved <= TOLERANCE or abs(moved - WRAP) <= TOLERANCE:
            return None
        self.counts[result.device] = self.counts.get(result.device, 0) + 1
        return Reboot(result.device, result.observed_at, previous[1], uptime)
