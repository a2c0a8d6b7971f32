"""Designed fakes for the seams pantau injects: the clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A Clock whose time moves only when a test calls `advance()`.

    `sleep()` parks the caller until `advance()` has moved monotonic time past its deadline.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._wall = start or datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
        self._mono = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._parked: asyncio.Condition | None = None

    def now(self) -> datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, fut))
        cond = self._condition()
        async with cond:
            cond.notify_all()
        await fut

    def _condition(self) -> asyncio.Condition:
        if self._parked is None:
            self._parked = asyncio.Condition()
        return self._parked

    async def wait_sleepers(self, count: int) -> None:
        """Wait (in real time, at most 5 s) until at least `count` tasks sleep on this clock."""
        cond = self._condition()
        async with asyncio.timeout(5.0), cond:
            await cond.wait_for(
                lambda: sum(1 for _, f in self._sleepers if not f.done()) >= count
            )

    def advance(self, seconds: float) -> None:
        """Move both clocks forward and wake every sleeper whose deadline has passed."""
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)
        due = [f for t, f in self._sleepers if t <= self._mono]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._mono]
        for f in due:
            if not f.done():
                f.set_result(None)
