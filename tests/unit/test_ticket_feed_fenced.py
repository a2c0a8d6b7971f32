"""A cluster member's observations held back while it was fenced (issue 15): written once it
holds a lease again, unless the device's ticket meanwhile holds newer observations (of the
member that took the device over)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from agent.core.errors import BackendUnavailable, WriterFenced
from agent.journal import Journal
from agent.tickets import TicketFeed
from tests.fakes import InMemoryBackend
from tests.unit.test_service import make, obs
from ticketing.models import EventKind
from ticketing.observation import FAILING, RESTORED


class FencedBackend(InMemoryBackend):
    """Refuses every call with `error` while `error` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.error: BackendUnavailable | None = None

    def _usable(self) -> None:
        super()._usable()
        if self.error is not None:
            raise self.error


@pytest.fixture
async def journal() -> AsyncIterator[Journal]:
    j = await Journal.open(":memory:")
    yield j
    await j.aclose()


async def held_back_then_written(journal: Journal, error: BackendUnavailable) -> list[EventKind]:
    """sw-1's FAILING is held back by `error`; meanwhile another member opens its ticket and
    sees it restored; then the held observation is retried. The ticket's event kinds."""
    memory = FencedBackend()
    service, clock, _, _ = make(backend=memory)
    feed = TicketFeed(service, clock, journal)
    memory.error = error
    feed.put(obs(clock, FAILING))  # seen at t0 by the member that is now fenced
    task = asyncio.create_task(feed.run())
    try:
        await clock.wait_sleepers(1)  # refused, waiting to retry
        memory.error = None
        clock.advance(0.1)  # (the retry waits 0.5 s: not yet)
        other = make(clock=clock, backend=memory)[0]  # the new owner, writing meanwhile
        await other.observe(obs(clock, FAILING))
        clock.advance(0.1)
        await other.observe(obs(clock, RESTORED))
        for _ in range(10):
            clock.advance(1)
            await asyncio.sleep(0)
        async with asyncio.timeout(5):
            await feed.queue.join()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    [ticket] = await memory.list(None)
    return [e.kind for e in await memory.events(ticket.id)]


class TestFencedObservations:
    """A fenced member's held observation does not overwrite the new owner's newer ones."""

    async def test_an_older_held_observation_is_skipped(self, journal: Journal) -> None:
        kinds = await held_back_then_written(journal, WriterFenced("agent-a is fenced"))
        assert EventKind.FAILURE_OBSERVED not in kinds
        assert kinds.count(EventKind.RESTORATION_OBSERVED) == 1
        assert await journal.pending() == []  # it left the journal: the store has newer

    async def test_a_plain_outage_writes_it_as_before(self, journal: Journal) -> None:
        # the contrast: an unavailable store keeps the observation as it was, and it is
        # written after the restoration (what the fenced case must not do)
        kinds = await held_back_then_written(journal, BackendUnavailable("store away"))
        assert EventKind.FAILURE_OBSERVED in kinds[kinds.index(EventKind.RESTORATION_OBSERVED):]


