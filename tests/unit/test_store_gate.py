"""StoreGate: the ticket store joins in the background with backoff; until then every call
is BackendUnavailable, and the reason shown is the error's class, never its message."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from agent.core.errors import BackendUnavailable
from agent.store_gate import JOIN_MAX_SECONDS, StoreGate, TicketStore
from tests.fakes import FakeClock, InMemoryBackend


class TestJoining:
    """Before, during and after the join."""

    async def test_calls_fail_until_joined(self) -> None:
        gate = StoreGate()
        assert gate.state == "joining"
        with pytest.raises(BackendUnavailable, match="not joined yet"):
            await gate.find_open("sw-1/device_down")
        with pytest.raises(BackendUnavailable):
            await gate.stats()

    async def test_retries_with_backoff_then_refreshes(self) -> None:
        clock = FakeClock()
        gate = StoreGate()
        memory = InMemoryBackend()
        tries: list[float] = []
        refreshed: list[bool] = []

        async def connect() -> TicketStore:
            tries.append(clock.monotonic())
            if len(tries) < 8:
                raise BackendUnavailable("database postgresql://pantau@db.internal/x down")
            return memory

        async def then() -> None:
            refreshed.append(True)

        joining = asyncio.ensure_future(gate.join(connect, clock, then))
        for _ in range(7):
            await clock.wait_sleepers(1)
            assert gate.reason == "BackendUnavailable"  # the class: no host, no user
            clock.advance(JOIN_MAX_SECONDS)
        async with asyncio.timeout(5):
            await joining
        gaps = [b - a for a, b in itertools.pairwise(tries)]
        assert gaps == [JOIN_MAX_SECONDS] * 7  # each wait ended by the advance above
        assert gate.state == "ready"
        assert gate.reason == ""
        assert refreshed == [True]
        assert await gate.find_open("sw-1/device_down") is None  # the real store now
        await gate.aclose()
        with pytest.raises(BackendUnavailable):
            await memory.list()

    async def test_backoff_doubles_to_thirty_seconds(self) -> None:
        clock = FakeClock()
        gate = StoreGate()
        waits: list[float] = []

        async def connect() -> TicketStore:
            raise OSError("unable to open /var/lib/pantau/pantau.db")

        async def then() -> None:
            raise AssertionError("never joined")

        joining = asyncio.ensure_future(gate.join(connect, clock, then))
        try:
            for _ in range(7):
                await clock.wait_sleepers(1)
                [(deadline, _fut)] = [s for s in clock._sleepers if not s[1].done()]
                waits.append(deadline - clock.monotonic())
                clock.advance(deadline - clock.monotonic())
            assert waits == [1, 2, 4, 8, 16, 30, 30]
            assert gate.reason == "OSError"
        finally:
            joining.cancel()


class TestFirstAttempt:
    """The one bounded try at start-up: a store that is there is joined at once."""

    async def test_a_store_that_is_there_joins_in_one_try(self) -> None:
        gate, memory, refreshed = StoreGate(), InMemoryBackend(), []

        async def connect() -> TicketStore:
            return memory

        async def then() -> None:
            refreshed.append(True)

        assert await gate.attempt(connect, then, timeout_seconds=1.0)
        assert (gate.state, refreshed) == ("ready", [True])
        assert await gate.attempt(connect, then)  # joined: nothing runs again
        assert refreshed == [True]
