"""TicketFeed with its journal (issue 14, finding 9): what the store has not taken is kept
on disk, replayed in order before new observations, never written twice, and an observation
the store refuses is retried after re-reading the ticket, then set aside, never dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from agent.core.errors import BackendError, BackendRejected, TicketNotFound
from agent.journal import Journal
from agent.metrics import Metrics
from agent.tickets import OBSERVED, REJECT_RETRIES, TicketFeed
from tests.fakes import FakeClock, InMemoryBackend
from tests.unit.test_service import make, obs
from ticketing.models import EventKind, Ticket
from ticketing.observation import FAILING, RESTORED


class Refusing(InMemoryBackend):
    """A store that refuses the first `refuse` reads of an open ticket with `error`."""

    def __init__(self, refuse: int, error: type[Exception] = BackendRejected) -> None:
        super().__init__()
        self.refuse = refuse
        self.error = error
        self.refused = 0

    async def find_open(self, dedup_key: str) -> Ticket | None:
        if self.refused < self.refuse:
            self.refused += 1
            raise self.error(f"ticket of {dedup_key} changed meanwhile (test)")
        return await super().find_open(dedup_key)


async def settle(feed: TicketFeed, clock: FakeClock) -> None:
    """Run the feed until its queue is empty, moving the fake clock past every backoff."""
    running = asyncio.ensure_future(feed.run())
    joined = asyncio.ensure_future(feed.queue.join())
    try:
        async with asyncio.timeout(5):
            while not joined.done():
                await asyncio.sleep(0)
                clock.advance(30)
    finally:
        running.cancel()
        joined.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def observed(memory: InMemoryBackend, ticket_id: str) -> list[EventKind]:
    return [e.kind for e in await memory.events(ticket_id) if e.kind in OBSERVED]


class TestStopAndRestart:
    """A stop (or crash) with the store away loses nothing; the next start replays it."""

    async def test_observations_survive_a_stop_with_the_store_down(self, tmp_path: Path
                                                                    ) -> None:
        path = str(tmp_path / "j.db")
        memory = InMemoryBackend()
        service, clock, _, _ = make(backend=memory)
        memory.unavailable = True
        journal = await Journal.open(path)
        feed = TicketFeed(service, clock, journal)
        running = asyncio.ensure_future(feed.run())
        for i in range(10):
            feed.put(obs(clock, FAILING, device=f"sw-{i}"))
        await clock.wait_sleepers(1)  # retrying: the store is away
        running.cancel()  # the stop
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await journal.aclose()

        memory.unavailable = False
        journal = await Journal.open(path)
        feed = TicketFeed(service, clock, journal)
        assert await feed.load() == 10
        await settle(feed, clock)
        tickets = await memory.list("open")
        assert sorted(t.device for t in tickets) == sorted(f"sw-{i}" for i in range(10))
        assert await journal.flush()
        assert await journal.pending() == []
        await journal.aclose()

    async def test_replayed_in_order_before_new_observations(self, tmp_path: Path) -> None:
        path = str(tmp_path / "j.db")
        clock = FakeClock()
        last_run = await Journal.open(path)
        last_run.put(obs(clock, FAILING))
        clock.advance(60)
        last_run.put(obs(clock, RESTORED))
        await last_run.aclose()

        clock.advance(60)
        memory = InMemoryBackend()
        service, _, _, _ = make(clock, memory)
        journal = await Journal.open(path)
        feed = TicketFeed(service, clock, journal)
        await feed.load()
        feed.put(obs(clock, FAILING))  # seen after the start: after the replay
        await settle(feed, clock)
        [ticket] = await memory.list("open")
        assert await observed(memory, ticket.id) == [
            EventKind.OPENED, EventKind.RESTORATION_OBSERVED, EventKind.FAILURE_OBSERVED]
        await journal.aclose()


class TestReplayIsIdempotent:
    """Observations stored just before a crash, still in the journal, are not written twice."""

    async def test_the_store_alone_would_write_a_replayed_sequence_twice(self) -> None:
        """Why the replay checks: observe() is idempotent per observation, not per sequence."""
        memory = InMemoryBackend()
        service, clock, _, _ = make(backend=memory)
        sequence = []
        for kind in (FAILING, RESTORED, FAILING):
            sequence.append(obs(clock, kind))
            clock.advance(60)
        for o in sequence + sequence:
            await service.observe(o)
        [ticket] = await memory.list("open")
        assert (await observed(memory, ticket.id)).count(EventKind.RESTORATION_OBSERVED) == 2

    @pytest.mark.parametrize("stored", [0, 1, 2, 3])
    async def test_a_replay_writes_each_observation_once(self, tmp_path: Path, stored: int
                                                         ) -> None:
        memory = InMemoryBackend()
        service, clock, _, _ = make(backend=memory)
        path = str(tmp_path / "j.db")
        last_run = await Journal.open(path)
        sequence = []
        for kind in (FAILING, RESTORED, FAILING):
            sequence.append(obs(clock, kind))
            last_run.put(sequence[-1])
            clock.advance(60)
        for o in sequence[:stored]:  # stored, then the crash before the journal forgot them
            await service.observe(o)
        await last_run.aclose()

        journal = await Journal.open(path)
        feed = TicketFeed(service, clock, journal)
        await feed.load()
        await settle(feed, clock)
        [ticket] = await memory.list("open")
        assert await observed(memory, ticket.id) == [
            EventKind.OPENED, EventKind.RESTORATION_OBSERVED, EventKind.FAILURE_OBSERVED]
        assert await journal.pending() == []
        await journal.aclose()


class TestRefused:
    """BackendRejected and TicketNotFound are retried after re-reading, then set aside."""

    @pytest.mark.parametrize("error", [BackendRejected, TicketNotFound])
    async def test_a_refusal_is_retried_after_re_reading(
            self, error: type[BackendError]) -> None:
        memory = Refusing(2, error)  # twice: two retries, each after a re-read
        service, clock, _, _ = make(backend=memory)
        journal = await Journal.open(":memory:")
        feed = TicketFeed(service, clock, journal)
        feed.put(obs(clock, FAILING))
        await settle(feed, clock)
        assert memory.refused == 2
        assert [t.device for t in await memory.list("open")] == ["sw-1"]
        assert await journal.rejected() == []
        await journal.aclose()

    async def test_what_stays_refused_is_kept_counted_and_logged_once(
            self, caplog: pytest.LogCaptureFixture) -> None:
        memory = Refusing(refuse=1000)
        service, clock, _, _ = make(backend=memory)
        metrics = Metrics()
        journal = await Journal.open(":memory:")
        feed = TicketFeed(service, clock, journal,
                          on_rejected=metrics.observations_rejected.inc)
        refused = obs(clock, FAILING)
        feed.put(refused)
        with caplog.at_level(logging.DEBUG, "agent.tickets"):
            await settle(feed, clock)
        assert memory.refused == REJECT_RETRIES + 1
        [kept] = await journal.rejected()
        assert kept.observation == refused
        assert kept.reason.startswith("BackendRejected: ticket of sw-1/")
        assert await journal.pending() == []
        assert metrics.registry.get_sample_value("pantau_observations_rejected_total") == 1
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.message for r in warnings] == [
            "ticket observation rejected; kept in the journal"]
        await journal.aclose()

    async def test_a_bug_keeps_the_observation_too(self, caplog: pytest.LogCaptureFixture
                                                   ) -> None:
        memory = Refusing(refuse=1, error=RuntimeError)
        service, clock, _, _ = make(backend=memory)
        journal = await Journal.open(":memory:")
        feed = TicketFeed(service, clock, journal)
        feed.put(obs(clock, FAILING))
        with caplog.at_level(logging.ERROR, "agent.tickets"):
            await settle(feed, clock)
        [kept] = await journal.rejected()
        assert kept.reason.startswith("internal: RuntimeError")
        assert any(r.exc_info for r in caplog.records)  # with its traceback
        await journal.aclose()
