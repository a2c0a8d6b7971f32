"""TicketFeed: observations are journaled, applied in batches, a ticket's in order, runs of
AFFECTED merged into one write, none lost or doubled while the store is away, refuses them,
or the agent stops or crashes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from agent.journal import Journal
from agent.tickets import Entry, TicketFeed, by_key, coalesce
from tests.fakes import FakeClock, InMemoryBackend
from tests.ticket_feed_support import CountingBackend
from tests.unit.test_service import make, obs
from ticketing.models import EventKind, Fault
from ticketing.observation import AFFECTED, FAILING, RESTORED


def children(clock: FakeClock, n: int, root: str = "core-1") -> list[Any]:
    return [obs(clock, AFFECTED, device=root, affected=(f"leaf-{i:04d}",)) for i in range(n)]


def entries(batch: Sequence[Any]) -> list[Entry]:
    return [Entry((i,), o) for i, o in enumerate(batch)]


def observations(batch: Sequence[Entry]) -> list[Any]:
    return [e.obs for e in batch]


@pytest.fixture
async def journal() -> AsyncIterator[Journal]:
    j = await Journal.open(":memory:")
    yield j
    await j.aclose()


class TestCoalesce:
    """Merging runs of AFFECTED observations."""

    def test_a_run_of_affected_becomes_one_observation(self) -> None:
        clock = FakeClock()
        batch = [obs(clock, FAILING, device="core-1")]
        for o in children(clock, 3):
            clock.advance(1)
            batch.append(replace(o, at=clock.now()))
        merged = observations(coalesce(entries(batch)))
        assert [o.kind for o in merged] == [FAILING, AFFECTED]
        assert merged[1].affected == ("leaf-0000", "leaf-0001", "leaf-0002")
        assert merged[1].at == batch[-1].at

    def test_other_tickets_between_do_not_break_the_run(self) -> None:
        clock = FakeClock()
        a, b = children(clock, 2)
        other = obs(clock, FAILING, device="sw-9")
        assert [(o.device, o.kind, o.affected)
                for o in observations(coalesce(entries([a, other, b])))] == [
            ("core-1", AFFECTED, ("leaf-0000", "leaf-0001")), ("sw-9", FAILING, ())]

    def test_nothing_merges_across_another_observation_of_the_same_ticket(self) -> None:
        clock = FakeClock()
        a, b = children(clock, 2)
        restored = obs(clock, RESTORED, device="core-1")
        assert [o.kind for o in observations(coalesce(entries([a, restored, b])))] == [
            AFFECTED, RESTORED, AFFECTED]

    def test_a_device_listed_twice_is_listed_once(self) -> None:
        clock = FakeClock()
        a, _ = children(clock, 2)
        assert coalesce(entries([a, a]))[0].obs.affected == ("leaf-0000",)

    def test_a_merged_observation_keeps_every_journal_id(self) -> None:
        clock = FakeClock()
        merged = coalesce(entries(children(clock, 3)))
        assert [m.ids for m in merged] == [(0, 1, 2)]

    def test_by_key_keeps_each_tickets_order(self) -> None:
        clock = FakeClock()
        a1 = obs(clock, FAILING, device="a")
        b1 = obs(clock, FAILING, device="b")
        a2 = obs(clock, RESTORED, device="a")
        e1, f1, e2 = entries([a1, b1, a2])
        assert by_key([e1, f1, e2]) == [[e1, e2], [f1]]


class TestMassEvents:
    """A core switch with its children, and many devices failing at once."""

    async def test_two_thousand_children_make_one_ticket_and_one_event(
            self, journal: Journal) -> None:
        backend = CountingBackend(InMemoryBackend())
        service, clock, _, _ = make(backend=backend)
        feed = TicketFeed(service, clock, journal)
        await feed.apply(entries([obs(clock, FAILING, device="core-1"),
                                  *children(clock, 2000)]))
        [ticket] = await backend.list("open")
        assert len(ticket.affected) == 2000
        assert ticket.affected[0] == "leaf-0000"
        kinds = [e.kind for e in await backend.events(ticket.id)]
        assert kinds.count(EventKind.AFFECTED_ADDED) == 1
        assert backend.writes == 2  # open + one append

    async def test_five_hundred_failing_devices_get_five_hundred_tickets(
            self, journal: Journal) -> None:
        backend = CountingBackend(InMemoryBackend())
        service, clock, _, _ = make(backend=backend)
        feed = TicketFeed(service, clock, journal)
        batch = [obs(clock, FAILING, device=f"sw-{i:03d}") for i in range(500)]
        await feed.apply(entries(batch + batch[:50]))  # repeated: appended, never a second ticket
        tickets = await backend.list("open")
        assert sorted(t.device for t in tickets) == sorted(o.device for o in batch)
        assert backend.calls["open"] == 500

    async def test_the_lock_table_is_empty_after_the_burst(self, journal: Journal) -> None:
        service, clock, _, _ = make()
        await TicketFeed(service, clock, journal).apply(
            entries([obs(clock, FAILING, device=f"sw-{i:03d}") for i in range(100)]))
        assert service.locks_held == 0


class TestOutage:
    """The store goes away in the middle of a burst."""

    async def test_observations_wait_for_the_store_and_none_is_lost_or_doubled(
            self, journal: Journal) -> None:
        memory = InMemoryBackend()
        service, clock, _, _ = make(backend=memory)
        feed = TicketFeed(service, clock, journal, parallel=4)
        memory.unavailable = True
        for o in [obs(clock, FAILING, device=f"sw-{i}") for i in range(10)]:
            feed.put(o)
        for o in children(clock, 50, root="sw-0"):
            feed.put(o)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(feed.run())
            await clock.wait_sleepers(1)
            memory.unavailable = False
            for _ in range(20):
                clock.advance(30)
                await asyncio.sleep(0)
            async with asyncio.timeout(5):
                await feed.queue.join()
            task.cancel()
        tickets = await memory.list("open")
        assert sorted(t.device for t in tickets) == sorted(f"sw-{i}" for i in range(10))
        root = next(t for t in tickets if t.device == "sw-0")
        assert len(root.affected) == 50
        assert [e.kind for e in await memory.events(root.id)].count(
            EventKind.AFFECTED_ADDED) == 1
        assert all(t.fault is Fault.DEVICE_DOWN for t in tickets)
        assert await journal.flush()
        assert await journal.pending() == []  # each left the journal once stored
        assert journal.depth == 0
