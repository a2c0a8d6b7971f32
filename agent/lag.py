"""The agent's own lateness: a small monitor on the event loop that compares expected with
actual wake-ups, so a check cut short by the agent's stall is never charged to the device.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from agent.core.clock import Clock

PERIOD_SECONDS = 0.1  # how often the monitor wakes; a stall shorter than this may go unseen
_KEEP = 4096  # stalls remembered; old ones are also dropped after `memory_seconds`


class LagMonitor:
    """Wakes every `period` seconds on the injected Clock and records each stall.

    A stall is a wake-up later than expected by more than `record_above` seconds: the loop
    was blocked, the process paused (SIGSTOP, VM steal, GC), or the CPU starved. `lateness()`
    says how late the agent was during a window of monotonic time.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        period: float = PERIOD_SECONDS,
        record_above: float = 0.02,
        memory_seconds: float = 600.0,
        observe: Callable[[float], None] = lambda s: None,
    ) -> None:
        self._clock = clock
        self._period = period
        self._record_above = record_above
        self._memory = memory_seconds
        self._observe = observe
        self._stalls: deque[tuple[float, float]] = deque(maxlen=_KEEP)  # (began, ended)
        self._expected: float | None = None  # when the monitor should wake next
        self.last_lag = 0.0
        self.max_lag = 0.0

    async def run(self) -> None:
        """Sample forever (returns only when cancelled)."""
        while True:
            self._expected = self._clock.monotonic() + self._period
            await self._clock.sleep(self._period)
            self.record(self._expected, self._clock.monotonic())

    def record(self, expected: float, woke: float) -> float:
        """Note one wake-up due at `expected` that happened at `woke`; the lag in seconds."""
        lag = max(0.0, woke - expected)
        self.last_lag = lag
        self.max_lag = max(self.max_lag, lag)
        self._observe(lag)
        if lag > self._record_above:
            self._stalls.append((expected, woke))
        while self._stalls and self._stalls[0][1] < woke - self._memory:
            self._stalls.popleft()
        return lag

    def lateness(self, start: float, end: float) -> float:
        """The longest stall overlapping [start, end], the one still going on at `end`
        included (seconds; 0.0 when the agent was on time)."""
        worst = 0.0
        if self._expected is not None and end > self._expected:
            worst = end - self._expected  # the monitor itself has not woken yet
        for began, ended in reversed(self._stalls):
            if ended < start:
                break
            if began <= end:
                worst = max(worst, ended - began)
        return worst
