"""The leader loop on a FakeClock: it takes the lease and starts its duties, renews every
heartbeat, stops them when another member holds the lease, and stops them before its lease
can expire when renewals fail or hang; a clean stop hands the lease back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from agent.cluster.leader import LEADER_DUTY, STOP_SHARE, Duty, Leader, LeaderSettings
from agent.cluster.leader_outbox import LeaderOutbox
from agent.cluster.leader_store import ConnectingLeases
from agent.core.errors import BackendUnavailable
from agent.core.leases import Lease
from agent.core.outbox import Delivery
from tests.fakes import FakeClock
from tests.notify_delivery_support import envelope
from tests.notify_outbox_fake import FakeOutbox

HEARTBEAT, LEASE = 5.0, 15.0
ME = "agent-a"


@dataclass
class Probe:
    """What the test waits on: every take, duty start and stop, and leadership change
    notifies it."""

    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def until(self, pred: Callable[[], bool]) -> None:
        """Wait until `pred()` holds: woken by a notification, else re-checked every 10 ms
        (what the leader does after a take's answer notifies nobody); at most 5 s."""
        async with asyncio.timeout(5.0):  # real time: a bound, not a wait
            while not pred():
                async with self.changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(), 0.01)


class FakeLeases:
    """The LeaseStore with the SQL's rules, timed by the FakeClock's monotonic time (the
    database's clock): `down` makes takes raise, `hang` makes them never answer."""

    def __init__(self, clock: FakeClock, probe: Probe) -> None:
        self.clock, self.probe = clock, probe
        self.holder, self.epoch, self.until = "", 0, 0.0
        self.down = self.hang = False
        self.takes: list[float] = []
        self.released: list[str] = []

    async def take(self, duty: str, node: str, lease_seconds: float) -> Lease:
        assert duty == LEADER_DUTY
        now = self.clock.monotonic()
        self.takes.append(now)
        await self.probe.notify()
        if self.down:
            raise BackendUnavailable("database postgresql://pantau@db/pantau unavailable")
        if self.hang:
            await asyncio.Event().wait()  # a connection whose packets are dropped
        if self.holder == node and self.until > now:
            self.until = now + lease_seconds
        elif self.until <= now:
            self.holder, self.epoch, self.until = node, self.epoch + 1, now + lease_seconds
        return Lease(duty, self.holder, self.epoch, self.until - now)

    async def release(self, duty: str, node: str) -> None:
        self.released.append(node)
        if self.holder == node:
            self.until = self.clock.monotonic()

    async def aclose(self) -> None:
        return None

    def held_elsewhere(self, node: str) -> None:
        """Another member holds the lease from now on (as after a takeover)."""
        self.holder, self.epoch, self.until = node, self.epoch + 1, self.clock.monotonic() + 99


@dataclass
class DutyLog:
    """A duty that runs until cancelled, counting its starts and stops (at which time)."""

    clock: FakeClock
    probe: Probe
    running: int = 0
    starts: list[float] = field(default_factory=list)
    stops: list[float] = field(default_factory=list)

    def duty(self) -> Duty:
        async def run() -> None:
            self.running += 1
            self.starts.append(self.clock.monotonic())
            await self.probe.notify()
            try:
                await asyncio.Event().wait()
            finally:
                self.running -= 1
                self.stops.append(self.clock.monotonic())
                async with self.probe.changed:
                    self.probe.changed.notify_all()

        return ("sla", run)


@dataclass
class Rig:
    clock: FakeClock
    probe: Probe
    store: FakeLeases
    duties: DutyLog
    leader: Leader
    changes: list[tuple[bool, int]]

    async def beat(self) -> None:
        """Let one heartbeat pass and wait for the take it makes."""
        await self.clock.wait_sleepers(1)
        before = len(self.store.takes)
        self.clock.advance(HEARTBEAT)
        await self.probe.until(lambda: len(self.store.takes) > before)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock, probe = FakeClock(), Probe()
    store = FakeLeases(clock, probe)
    duties = DutyLog(clock, probe)
    changes: list[tuple[bool, int]] = []
    leader = Leader(store, LeaderSettings(ME, HEARTBEAT, LEASE), clock, [duties.duty()],
                    on_change=lambda leading, epoch: changes.append((leading, epoch)))
    task = asyncio.create_task(leader.run())
    try:
        yield Rig(clock, probe, store, duties, leader, changes)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class TestTakingAndRenewing:
    """A free lease is taken at the first heartbeat and renewed at each one after."""

    async def test_takes_the_free_lease_and_starts_its_duties(self, rig: Rig) -> None:
        await rig.probe.until(lambda: rig.duties.running == 1)
        assert rig.leader.leading
        assert (rig.store.holder, rig.leader.epoch) == (ME, 1)
        assert rig.changes == [(True, 1)]

    async def test_renews_every_heartbeat_in_one_term(self, rig: Rig) -> None:
        await rig.probe.until(lambda: rig.duties.running == 1)
        for _ in range(4):
            await rig.beat()
        assert rig.store.takes == [1000.0 + HEARTBEAT * i for i in range(5)]
        assert rig.store.epoch == 1
        assert rig.duties.starts == [1000.0]
        assert rig.duties.stops == []
        assert rig.changes == [(True, 1)]

    async def test_a_member_finding_the_lease_held_runs_no_duty(self) -> None:
        clock, probe = FakeClock(), Probe()
        store = FakeLeases(clock, probe)
        store.held_elsewhere("agent-b")
        duties = DutyLog(clock, probe)
        leader = Leader(store, LeaderSettings(ME, HEARTBEAT, LEASE), clock, [duties.duty()])
        task = asyncio.create_task(leader.run())
        try:
            await probe.until(lambda: leader.holder == "agent-b")
            assert not leader.leading
            assert duties.starts == []
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert store.released == []  # it held nothing to hand back


class TestTakingOver:
    """A contender tries again as the holder's lease ends, not at its next heartbeat."""

    async def test_a_dead_leaders_lease_is_taken_as_it_ends(self) -> None:
        clock, probe = FakeClock(), Probe()
        store = FakeLeases(clock, probe)
        store.held_elsewhere("agent-b")
        store.until = clock.monotonic() + 1.2  # its last renewal: 1.2 s of lease left
        duties = DutyLog(clock, probe)
        leader = Leader(store, LeaderSettings(ME, HEARTBEAT, LEASE), clock, [duties.duty()])
        task = asyncio.create_task(leader.run())
        try:
            await probe.until(lambda: leader.holder == "agent-b")
            await clock.wait_sleepers(1)
            clock.advance(1.3)  # past the lease's end, well before the next heartbeat
            await probe.until(lambda: duties.running == 1)
            assert store.takes == [1000.0, 1000.0 + 1.3]
            assert leader.leading
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class TestLosing:
    """The duties stop when the lease is elsewhere, or before it can expire unrenewed."""

    async def test_stops_when_another_member_holds_the_lease(self, rig: Rig) -> None:
        await rig.probe.until(lambda: rig.duties.running == 1)
        rig.store.held_elsewhere("agent-b")
        await rig.beat()
        await rig.probe.until(lambda: len(rig.changes) == 2)
        assert not rig.leader.leading
        assert rig.duties.running == 0
        assert rig.changes == [(True, 1), (False, 1)]

    @pytest.mark.parametrize("failure", ["down", "hang"])
    async def test_stops_before_the_lease_can_expire(self, rig: Rig, failure: str) -> None:
        await rig.probe.until(lambda: rig.duties.running == 1)
        renewed = rig.store.takes[-1]  # the start of the last successful renewal
        setattr(rig.store, failure, True)
        await rig.beat()  # fails (or hangs): the duties go on, the lease is still valid
        await rig.clock.wait_sleepers(1)
        assert rig.duties.running == 1
        # the next heartbeat (if not hung), and on to just before the deadline
        rig.clock.advance(STOP_SHARE * LEASE - HEARTBEAT - 0.01)
        await rig.clock.wait_sleepers(1)
        assert rig.duties.running == 1
        rig.clock.advance(0.01)
        await rig.probe.until(lambda: len(rig.changes) == 2)
        stopped = rig.duties.stops[0]
        assert stopped - renewed == pytest.approx(STOP_SHARE * LEASE)
        assert stopped < rig.store.until  # before the database lets another member take it
        assert rig.changes == [(True, 1), (False, 1)]

    async def test_takes_the_lease_again_once_the_database_answers(self, rig: Rig) -> None:
        await rig.probe.until(lambda: rig.duties.running == 1)
        rig.store.down = True
        while rig.leader.leading:
            await rig.beat()
        await rig.probe.until(lambda: rig.duties.running == 0)
        rig.store.down = False
        while rig.duties.running == 0:  # expired by then (or not): taken at a heartbeat
            await rig.beat()
            await rig.clock.wait_sleepers(1)
        assert rig.leader.leading
        assert len(rig.duties.starts) == 2
        assert rig.changes[-1][0] is True


class TestCleanStop:
    """A stopped leader ends its duties and hands the lease back."""

    async def test_cancelling_stops_the_duties_and_releases_the_lease(self) -> None:
        clock, probe = FakeClock(), Probe()
        store = FakeLeases(clock, probe)
        duties = DutyLog(clock, probe)
        leader = Leader(store, LeaderSettings(ME, HEARTBEAT, LEASE), clock, [duties.duty()])
        task = asyncio.create_task(leader.run())
        await probe.until(lambda: duties.running == 1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert duties.running == 0
        assert store.released == [ME]
        assert store.until == clock.monotonic()  # free for the next member now
        assert task.cancelled()


class TestConnecting:
    """The lease store is connected at the first heartbeat, and again after a failure."""

    async def test_a_failed_connect_is_tried_again_at_the_next_heartbeat(self) -> None:
        clock, probe = FakeClock(), Probe()
        store = FakeLeases(clock, probe)
        attempts: list[float] = []

        async def connect() -> FakeLeases:
            attempts.append(clock.monotonic())
            await probe.notify()
            if len(attempts) == 1:
                raise BackendUnavailable("database postgresql://pantau@db/pantau unavailable")
            return store

        duties = DutyLog(clock, probe)
        leases = ConnectingLeases(connect)
        leader = Leader(leases, LeaderSettings(ME, HEARTBEAT, LEASE), clock, [duties.duty()])
        task = asyncio.create_task(leader.run())
        try:
            await probe.until(lambda: len(attempts) == 1)
            await clock.wait_sleepers(1)
            assert not leader.leading
            clock.advance(HEARTBEAT)
            await probe.until(lambda: duties.running == 1)
            assert attempts == [1000.0, 1000.0 + HEARTBEAT]
            assert leader.leading
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await leases.aclose()


class TestStalls:
    """After a stall of the whole process past the deadline, nothing acts as the leader
    before the leader loop runs again: `valid()` is False and the outbox offers nothing."""

    async def test_valid_turns_false_at_the_deadline_before_the_loop_runs(self, rig: Rig
                                                                          ) -> None:
        await rig.probe.until(lambda: rig.duties.running == 1)
        assert rig.leader.valid()
        await rig.clock.wait_sleepers(1)
        rig.clock.advance(STOP_SHARE * LEASE)  # SIGSTOP for that long; no task ran since
        assert rig.leader.leading  # the loop has not seen it yet
        assert not rig.leader.valid()

    async def test_the_outbox_offers_nothing_to_a_member_not_valid(self) -> None:
        clock = FakeClock()
        box = FakeOutbox()
        queued = box.put(envelope("m1", at=clock.now()))
        valid = [False]
        outbox = LeaderOutbox(box, lambda: valid[0])
        assert list(await outbox.due(clock.now(), 10)) == []
        assert box.calls.get("due", 0) == 0  # the store is not even asked
        valid[0] = True
        assert [q.id for q in await outbox.due(clock.now(), 10)] == [queued]
        await outbox.mark_sent(queued, clock.now())
        assert [q.status for q in await outbox.messages(None, 10)] == [Delivery.SENT]
