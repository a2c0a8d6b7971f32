"""KeyedLocks: one writer per key; a key's lock is gone once nobody holds or awaits it."""

from __future__ import annotations

import asyncio

from ticketing.locks import KeyedLocks


class TestKeyedLocks:
    """The lock table holds only the keys in use."""

    async def test_writers_of_one_key_take_turns_and_leave_nothing(self) -> None:
        locks = KeyedLocks()
        inside: list[int] = []
        most = 0

        async def write(i: int) -> None:
            nonlocal most
            async with locks.hold("k"):
                inside.append(i)
                most = max(most, len(inside))
                await asyncio.sleep(0)
                inside.remove(i)

        await asyncio.gather(*(write(i) for i in range(10)))
        assert most == 1
        assert len(locks) == 0

    async def test_a_cancelled_waiter_leaves_nothing(self) -> None:
        locks = KeyedLocks()
        release = asyncio.Event()

        async def holder() -> None:
            async with locks.hold("k"):
                await release.wait()

        async def waiter() -> None:
            async with locks.hold("k"):
                pass

        held = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiting = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        assert len(locks) == 1
        waiting.cancel()
        release.set()
        await asyncio.gather(held, waiting, return_exceptions=True)
        assert len(locks) == 0

    async def test_ten_thousand_keys_used_once_leave_nothing(self) -> None:
        locks = KeyedLocks()
        for i in range(10_000):
            async with locks.hold(f"sw-{i}/device_down/"):
                pass
        assert len(locks) == 0
