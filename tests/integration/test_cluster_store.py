"""The cluster's members on a real PostgreSQL (issue 15): leases by the database's clock,
epochs, and ticket writes refused for a stale epoch or an ended lease, in their own
transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, select

from agent.app import Agent
from agent.cluster.membership import Membership
from agent.config import loads
from agent.core.cluster import Writer
from agent.core.errors import BackendUnavailable, WriterFenced
from agent.core.settings import ClusterSettings
from tests.backend_fixtures import reset_postgres
from tests.fakes import FakeClock
from tests.postgres_fixtures import postgres_url
from tests.store_samples import builder, draft, follow
from ticketing.store.cluster import ClusterStore
from ticketing.store.engine import database_url
from ticketing.store.schema import ticket_events
from ticketing.store.sql import SqlBackend

pytestmark = pytest.mark.postgres

LEASE = 0.6


@dataclass
class Who:
    """The member a backend writes as; tests change it as a member's state would."""

    writer: Writer

    def __call__(self) -> Writer:
        return self.writer


@pytest.fixture
async def members() -> AsyncIterator[tuple[str, ClusterStore]]:
    url = postgres_url()
    reset_postgres(url)
    store = ClusterStore(url, lease_seconds=LEASE, connect_seconds=2)
    try:
        yield url, store
    finally:
        await store.aclose()


def writers(url: str) -> list[tuple[str, int, str]]:
    engine = create_engine(database_url(url))
    try:
        with engine.begin() as conn:
            return [tuple(r) for r in conn.execute(
                select(ticket_events.c.ticket_id, ticket_events.c.seq, ticket_events.c.writer)
                .order_by(ticket_events.c.ticket_id, ticket_events.c.seq))]
    finally:
        engine.dispose()


class TestLeases:
    """A heartbeat renews a lease from the database's clock; an ended lease takes a new
    epoch, and so does a new process."""

    async def test_join_renew_expire_rejoin(self, members: tuple[str, ClusterStore]) -> None:
        _, store = members
        first = await store.beat("agent-a", "127.0.0.1:1", "h1", 0, LEASE)
        assert first.epoch == 1
        [row] = first.members
        assert (row.node, row.address, row.inventory_hash, row.live) == (
            "agent-a", "127.0.0.1:1", "h1", True)
        assert 0.5 <= (row.lease_until - row.last_seen).total_seconds() <= 0.7
        again = await store.beat("agent-a", "127.0.0.1:1", "h2", 1, LEASE)
        assert again.epoch == 1
        assert again.members[0].inventory_hash == "h2"
        await asyncio.sleep(LEASE + 0.2)  # the lease runs out (real time: the DB's clock)
        assert [m.live for m in await store.members()] == [False]
        back = await store.beat("agent-a", "127.0.0.1:1", "h2", 1, LEASE)
        assert back.epoch == 2
        assert back.members[0].live

    async def test_a_new_process_takes_the_next_epoch(
            self, members: tuple[str, ClusterStore]) -> None:
        _, store = members
        assert (await store.beat("agent-a", "a", "h", 0, 30)).epoch == 1
        assert (await store.beat("agent-a", "a", "h", 0, 30)).epoch == 2

    async def test_members_and_leave(self, members: tuple[str, ClusterStore]) -> None:
        _, store = members
        await store.beat("agent-b", "b", "h", 0, 30)
        beat = await store.beat("agent-a", "a", "h", 0, 30)
        assert [(m.node, m.live) for m in beat.members] == [("agent-a", True),
                                                             ("agent-b", True)]
        await store.leave("agent-b", 7)  # not its epoch: nothing happens
        assert all(m.live for m in await store.members())
        await store.leave("agent-b", 1)
        assert [(m.node, m.live) for m in await store.members()] == [("agent-a", True),
                                                                     ("agent-b", False)]


class TestFencedWrites:
    """Ticket writes carry their member's epoch; the store refuses a stale one or an ended
    lease in the write's own transaction, and records the writer of every event."""

    async def test_writes_name_their_member(self, members: tuple[str, ClusterStore]) -> None:
        url, store = members
        await store.beat("agent-a", "a", "h", 0, 30)
        who = Who(Writer("agent-a", 1))
        backend = await SqlBackend.connect(url, clock=FakeClock(), writer=who)
        try:
            d = draft()
            ticket, created = await backend.open(d, builder(d))
            assert created
            events, after = follow(ticket)
            await backend.append(ticket.id, events, after)
        finally:
            await backend.aclose()
        assert writers(url) == [(ticket.id, 1, "agent-a"), (ticket.id, 2, "agent-a"),
                                (ticket.id, 3, "agent-a")]

    async def test_a_stale_epoch_is_refused(self, members: tuple[str, ClusterStore]) -> None:
        url, store = members
        await store.beat("agent-a", "a", "h", 0, 30)
        who = Who(Writer("agent-a", 1))
        backend = await SqlBackend.connect(url, clock=FakeClock(), writer=who)
        try:
            d = draft()
            ticket, _ = await backend.open(d, builder(d))
            await store.beat("agent-a", "a", "h", 0, 30)  # the member re-joined: epoch 2
            events, after = follow(ticket)
            with pytest.raises(WriterFenced, match="epoch 1, the store holds epoch 2"):
                await backend.append(ticket.id, events, after)
            other = draft("sw-other")
            with pytest.raises(WriterFenced):
                await backend.open(other, builder(other))
            who.writer = Writer("agent-a", 2)
            await backend.append(ticket.id, events, after)  # now it may
        finally:
            await backend.aclose()
        assert [w for *_, w in writers(url)] == ["agent-a"] * 3  # nothing of the refused writes

    async def test_an_ended_lease_is_refused(self, members: tuple[str, ClusterStore]) -> None:
        url, store = members
        await store.beat("agent-a", "a", "h", 0, LEASE)
        backend = await SqlBackend.connect(url, clock=FakeClock(),
                                           writer=Who(Writer("agent-a", 1)))
        try:
            await asyncio.sleep(LEASE + 0.2)
            d = draft()
            with pytest.raises(WriterFenced, match="lease ran out"):
                await backend.open(d, builder(d))
            unknown = await SqlBackend.connect(url, clock=FakeClock(),
                                               writer=Who(Writer("agent-z", 1)))
            try:
                with pytest.raises(WriterFenced, match="no row"):
                    await unknown.open(d, builder(d))
            finally:
                await unknown.aclose()
        finally:
            await backend.aclose()
        assert writers(url) == []

    async def test_a_locally_fenced_member_writes_nothing(
            self, members: tuple[str, ClusterStore]) -> None:
        url, store = members
        await store.beat("agent-a", "a", "h", 0, 30)

        def fenced() -> Writer:
            raise WriterFenced("cluster member agent-a holds no fresh lease")

        backend = await SqlBackend.connect(url, clock=FakeClock(), writer=fenced)
        try:
            d = draft()
            with pytest.raises(WriterFenced):
                await backend.open(d, builder(d))
        finally:
            await backend.aclose()
        assert writers(url) == []


class TestSecrets:
    """The database password never shows in a heartbeat's error or the member's log."""

    async def test_the_password_is_hidden(self, caplog: pytest.LogCaptureFixture) -> None:
        secret = "hunter2-cluster-secret"
        # port 1 on loopback: nothing listens, the connection is refused at once
        store = ClusterStore(f"postgresql://pantau:{secret}@127.0.0.1:1/pantau",
                             lease_seconds=3, connect_seconds=1)
        clock = FakeClock()
        m = Membership(ClusterSettings(node="agent-a", heartbeat_seconds=1, lease_seconds=3),
                       store, clock, address="127.0.0.1:9", devices=(), apply=lambda _: None)
        with pytest.raises(BackendUnavailable) as caught:
            await store.beat("agent-a", "a", "h", 0, 3)
        assert "pantau:***@127.0.0.1:1" in str(caught.value)
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value)
        with caplog.at_level(logging.DEBUG):
            await m.beat_once()  # logs the failure
        assert "cluster heartbeat failed" in caplog.text
        assert all(secret not in str(r.__dict__) for r in caplog.records)
        assert m.fenced
        await store.aclose()


class TestAgentStores:
    """The running member writes in its name; `pantau tickets` on a member's config writes
    as a person, in no member's name, and is never fenced."""

    async def test_the_cli_store_writes_as_no_member(
            self, members: tuple[str, ClusterStore]) -> None:
        url, _ = members
        config = loads(f'[agent]\ndatabase = "{url}"\n[cluster]\nenabled = true\n'
                       'node = "agent-a"\n[[devices]]\nname = "sw-1"\naddress = "127.2.0.1"\n'
                       'owner = "Dinas Kesehatan"\n')
        agent = Agent(config, clock=FakeClock())
        store = await agent.open_store()  # no member joined: a member's store would refuse
        try:
            d = draft()
            ticket, _ = await store.open(d, builder(d))
        finally:
            await store.aclose()
        assert writers(url) == [(ticket.id, 1, ""), (ticket.id, 2, "")]
        member_store = await agent._open_member_store()
        try:
            other = draft("sw-2")
            with pytest.raises(WriterFenced, match="not joined yet"):
                await member_store.open(other, builder(other))
        finally:
            await member_store.aclose()
