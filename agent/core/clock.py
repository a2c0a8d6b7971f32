"""Time as an injected dependency: the Clock protocol and the real SystemClock.

Nothing else in pantau calls `datetime.now()`, `time.time()` or `asyncio.sleep()` directly,
so tests drive time with `tests.fakes.FakeClock`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time for timestamps, monotonic time for durations and scheduling."""

    def now(self) -> datetime:
        """Aware UTC wall-clock time, for timestamps and SLA due times."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards, for durations and schedules."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for `seconds` (no-op for values <= 0)."""
        ...


class SystemClock:
    """The real clock: `datetime.now(UTC)`, `time.monotonic()` and `asyncio.sleep()`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    # The builtin itself, not a method calling it: the sweep reads it once per echo request.
    monotonic = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
