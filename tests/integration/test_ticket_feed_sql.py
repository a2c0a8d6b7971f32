"""Mass events through the TicketFeed into the SQLite store: one ticket for a core switch
and its 2,000 children in a bounded number of writes; 500 failing devices, 500 tickets, at a
cost per ticket that does not grow with the burst."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.journal import Journal
from agent.tickets import Entry, TicketFeed
from tests.fakes import FakeClock
from tests.ticket_feed_support import CountingBackend
from tests.unit.test_service import make, obs
from ticketing.models import EventKind
from ticketing.observation import AFFECTED, FAILING
from ticketing.store.sql import SqlBackend


@pytest.fixture
async def journal() -> AsyncIterator[Journal]:
    j = await Journal.open(":memory:")
    yield j
    await j.aclose()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingBackend]:
    backend = await SqlBackend.connect(f"sqlite:///{tmp_path / 'pantau.db'}", clock=FakeClock())
    yield CountingBackend(backend)
    await backend.aclose()


class TestCoreWithChildren:
    """A core switch goes DOWN and 2,000 devices behind it become UNREACHABLE."""

    async def test_one_ticket_lists_the_two_thousand_children(
            self, store: CountingBackend, journal: Journal) -> None:
        service, clock, _, _ = make(backend=store)
        feed = TicketFeed(service, clock, journal)
        batch = [obs(clock, FAILING, device="core-1")] + [
            obs(clock, AFFECTED, device="core-1", affected=(f"leaf-{i:04d}",))
            for i in range(2000)]
        await feed.apply([Entry((journal.put(o),), o) for o in batch])
        [ticket] = await store.inner.list("open")
        assert ticket.affected == tuple(f"leaf-{i:04d}" for i in range(2000))
        events = await store.inner.events(ticket.id)
        added = [e for e in events if e.kind is EventKind.AFFECTED_ADDED]
        assert len(added) == 1
        assert len(added[0].data["devices"]) == 2000
        assert store.writes == 2
        assert store.total <= 6


class TestManyDevicesFailing:
    """500 devices fail in the same cycle."""

    async def test_each_gets_its_ticket_at_a_cost_that_does_not_grow(
            self, store: CountingBackend, journal: Journal) -> None:
        service, clock, _, _ = make(backend=store)
        feed = TicketFeed(service, clock, journal)

        async def drain(prefix: str, n: int) -> tuple[float, int]:
            before = store.total
            started = time.perf_counter()
            batch = [obs(clock, FAILING, device=f"{prefix}-{i:03d}") for i in range(n)]
            await feed.apply([Entry((journal.put(o),), o) for o in batch])
            return time.perf_counter() - started, store.total - before

        small, small_calls = await drain("a", 50)
        large, large_calls = await drain("b", 500)
        tickets = await store.inner.list("open")
        assert len(tickets) == 550
        assert len({t.dedup_key for t in tickets}) == 550
        # three store calls per new ticket (find open, find recently closed, open), each
        # its own transaction, and the time per ticket stays flat (a wide ratio: 10x the
        # tickets in well under 30x the time)
        assert small_calls == 3 * 50
        assert large_calls == 3 * 500
        assert large < 30 * small, (small, large)
