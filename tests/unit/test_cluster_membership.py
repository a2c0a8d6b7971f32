"""A cluster member's heartbeat, assignment and fencing deadlines, on a FakeClock (issue 15)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from agent.cluster.assign import inventory_hash, owned
from agent.cluster.membership import Membership
from agent.core.cluster import Beat, MemberRow
from agent.core.errors import BackendUnavailable, WriterFenced
from agent.core.model import Device
from agent.core.settings import ClusterSettings
from tests.fakes import FakeClock

DEVICES = [Device(name=f"sw-{i:03d}", address=f"127.2.0.{i + 1}", owner="x") for i in range(60)]
SETTINGS = ClusterSettings(node="agent-a", heartbeat_seconds=1.0, lease_seconds=3.0)


class FakeMembers:
    """The members' table on the fake clock: the 'database' grants leases from its own
    monotonic time, as PostgreSQL does from now()."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.rows: dict[str, tuple[int, float, str]] = {}  # node -> epoch, lease_until, hash
        self.down = False
        self.gate: asyncio.Event | None = None  # set: answers wait for it (a hung network)
        self.beats = 0

    def join(self, node: str, hash_: str, lease: float = 3.0) -> None:
        epoch = self.rows.get(node, (0, 0.0, ""))[0]
        self.rows[node] = (epoch + 1, self.clock.monotonic() + lease, hash_)

    async def beat(self, node: str, address: str, inventory_hash: str, epoch: int,
                   lease_seconds: float) -> Beat:
        self.beats += 1
        if self.down:
            raise BackendUnavailable("database unavailable while renewing")
        if self.gate is not None:
            await self.gate.wait()
        now = self.clock.monotonic()
        row_epoch, until, _ = self.rows.get(node, (0, 0.0, ""))
        fresh = until > now
        new_epoch = row_epoch if (epoch == row_epoch and fresh and epoch) else row_epoch + 1
        self.rows[node] = (new_epoch, now + lease_seconds, inventory_hash)
        wall = self.clock.now()
        members = tuple(
            MemberRow(node=n, address="", started_at=wall, last_seen=wall,
                      lease_until=wall + timedelta(seconds=u - now), inventory_hash=h,
                      epoch=e, live=u > now)
            for n, (e, u, h) in sorted(self.rows.items()))
        return Beat(epoch=new_epoch, members=members)

    async def leave(self, node: str, epoch: int) -> None:
        e, _, h = self.rows[node]
        if e == epoch:
            self.rows[node] = (e, self.clock.monotonic(), h)


class Member:
    def __init__(self, clock: FakeClock, store: FakeMembers) -> None:
        self.applied: list[tuple[Device, ...]] = []
        self.m = Membership(SETTINGS, store, clock, address="127.0.0.1:9", devices=DEVICES,
                            apply=self.applied.append)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> FakeMembers:
    return FakeMembers(clock)


@pytest.fixture
async def member(clock: FakeClock, store: FakeMembers) -> AsyncIterator[Member]:
    m = Member(clock, store)
    task = asyncio.create_task(m.m.run())
    await clock.wait_sleepers(2)  # the first beat done, both loops asleep
    yield m
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def step(clock: FakeClock, seconds: float, tick: float = 0.1) -> None:
    """Advance in small ticks, letting the loops run between them."""
    for _ in range(round(seconds / tick)):
        clock.advance(tick)
        for _ in range(5):
            await asyncio.sleep(0)


class TestJoining:
    """The first beat takes epoch 1 and every device (alone); a second member takes its share
    within one heartbeat."""

    async def test_alone_it_owns_everything(self, member: Member) -> None:
        assert member.m.epoch == 1
        assert not member.m.fenced
        assert member.applied == [tuple(DEVICES)]
        assert member.m.writer().node == "agent-a"
        assert member.m.writer().epoch == 1

    async def test_a_second_member_takes_its_share_within_one_heartbeat(
            self, member: Member, store: FakeMembers, clock: FakeClock) -> None:
        store.join("agent-b", inventory_hash(DEVICES))
        await step(clock, SETTINGS.heartbeat_seconds)
        expected = owned(DEVICES, ["agent-a", "agent-b"], "agent-a")
        assert member.applied[-1] == expected
        assert 0 < len(expected) < len(DEVICES)

    async def test_a_dead_member_s_devices_come_back_after_its_lease(
            self, member: Member, store: FakeMembers, clock: FakeClock) -> None:
        store.join("agent-b", inventory_hash(DEVICES), lease=3.0)
        await step(clock, 1.0)
        assert len(member.m.owned) < len(DEVICES)
        # agent-b never renews: its lease ends 3 s after it joined; a beat 1 s later at most
        await step(clock, 3.0)
        assert member.m.owned == tuple(DEVICES)

    async def test_different_inventories_hold_the_assignment(
            self, member: Member, store: FakeMembers, clock: FakeClock) -> None:
        store.join("agent-b", "another-inventory", lease=30)
        await step(clock, 2.0)
        assert member.m.holding
        assert member.m.owned == tuple(DEVICES)  # nothing moved
        store.rows["agent-b"] = (1, clock.monotonic() + 30, inventory_hash(DEVICES))
        await step(clock, 1.0)
        assert not member.m.holding
        assert member.m.owned == owned(DEVICES, ["agent-a", "agent-b"], "agent-a")


class TestFencing:
    """A member that cannot renew stops before its lease can end in the database."""

    async def test_fenced_at_the_local_deadline_not_before(
            self, member: Member, store: FakeMembers, clock: FakeClock) -> None:
        last_start = clock.monotonic()  # the first beat's start: no time had passed
        store.down = True
        deadline = last_start + SETTINGS.lease_seconds * 0.8  # 2.4 s
        await step(clock, 2.3)
        assert not member.m.fenced
        assert member.m.owned == tuple(DEVICES)
        member.m.writer()  # still writes
        await step(clock, 0.2)
        assert member.m.fenced
        assert member.applied[-1] == ()
        assert member.m.fenced_at is not None
        assert deadline <= member.m.fenced_at < deadline + 0.2
        # before the database's lease ends (3 s after the renewal began)
        assert member.m.fenced_at < last_start + SETTINGS.lease_seconds
        with pytest.raises(WriterFenced, match="agent-a holds no fresh lease"):
            member.m.writer()

    async def test_a_hung_renewal_fences_too(
            self, member: Member, store: FakeMembers, clock: FakeClock) -> None:
        store.gate = asyncio.Event()  # every answer waits: a cut-off network
        await step(clock, 2.5)
        assert member.m.fenced
        assert member.m.owned == ()

    async def test_rejoining_after_the_lease_ended_takes_the_next_epoch(
            self, member: Member, store: FakeMembers, clock: FakeClock) -> None:
        store.down = True
        await step(clock, 4.0)  # past the lease in the "database" too
        assert member.m.fenced
        store.down = False
        await step(clock, 1.0)
        assert not member.m.fenced
        assert member.m.epoch == 2
        assert member.m.owned == tuple(DEVICES)
        assert member.m.writer().epoch == 2

    async def test_a_late_answer_does_not_count(
            self, member: Member, store: FakeMembers, clock: FakeClock) -> None:
        store.gate = asyncio.Event()
        await step(clock, 3.6)  # the renewal sent at 1.0 would have held until 3.4
        assert member.m.fenced
        store.down = True  # the beats after it fail
        store.gate.set()  # it answers now: too late to count
        await step(clock, 0.5)
        assert member.m.fenced
        assert member.m.owned == ()
        store.down = False
        await step(clock, 1.0)  # a beat sent now counts
        assert not member.m.fenced


class TestLeaving:
    """A clean stop ends the lease at once, so the others need not wait it out."""

    async def test_leave(self, member: Member, store: FakeMembers, clock: FakeClock) -> None:
        await member.m.leave()
        assert store.rows["agent-a"][1] == clock.monotonic()
        with pytest.raises(WriterFenced):
            member.m.writer()
