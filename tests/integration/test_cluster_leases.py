"""The duty lease's SQL against a real PostgreSQL: two contenders, renewal, expiry by the
database's clock, the epoch of each term, a clean release, and a race of simultaneous takes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent.core.errors import BackendRejected, BackendUnavailable
from tests.backend_fixtures import reset_postgres
from tests.postgres_fixtures import postgres_url
from ticketing.store.cluster_leases import SqlLeases

pytestmark = pytest.mark.postgres

LEADER = "leader"


@pytest.fixture
async def leases() -> AsyncIterator[tuple[SqlLeases, SqlLeases]]:
    url = postgres_url()
    reset_postgres(url)
    a, b = await SqlLeases.connect(url), await SqlLeases.connect(url)
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


class TestLeaderLease:
    """One holder at a time, renewed by its holder, taken over only once expired."""

    async def test_the_first_takes_and_the_second_sees_it(
            self, leases: tuple[SqlLeases, SqlLeases]) -> None:
        a, b = leases
        mine = await a.take(LEADER, "agent-a", 30)
        assert (mine.holder, mine.epoch) == ("agent-a", 1)
        assert 29 < mine.remaining_seconds <= 30
        theirs = await b.take(LEADER, "agent-b", 30)
        assert (theirs.holder, theirs.epoch) == ("agent-a", 1)
        assert not theirs.held_by("agent-b")
        assert theirs.held_by("agent-a")

    async def test_the_holder_renews_in_the_same_term(
            self, leases: tuple[SqlLeases, SqlLeases]) -> None:
        a, _ = leases
        await a.take(LEADER, "agent-a", 1)
        renewed = await a.take(LEADER, "agent-a", 30)
        assert (renewed.holder, renewed.epoch) == ("agent-a", 1)
        assert renewed.remaining_seconds > 29  # extended, not left at 1 s

    async def test_an_expired_lease_goes_to_the_next_with_a_new_epoch(
            self, leases: tuple[SqlLeases, SqlLeases]) -> None:
        a, b = leases
        await a.take(LEADER, "agent-a", 0.5)
        assert (await b.take(LEADER, "agent-b", 30)).holder == "agent-a"  # not yet
        await asyncio.sleep(0.7)  # the database's clock passes the lease
        taken = await b.take(LEADER, "agent-b", 30)
        assert (taken.holder, taken.epoch) == ("agent-b", 2)
        back = await a.take(LEADER, "agent-a", 30)  # the old holder cannot renew
        assert (back.holder, back.epoch) == ("agent-b", 2)

    async def test_a_lease_taken_again_after_expiry_is_a_new_term(
            self, leases: tuple[SqlLeases, SqlLeases]) -> None:
        a, _ = leases
        await a.take(LEADER, "agent-a", 0.3)
        await asyncio.sleep(0.5)
        again = await a.take(LEADER, "agent-a", 30)
        assert (again.holder, again.epoch) == ("agent-a", 2)

    async def test_a_release_hands_over_at_once(
            self, leases: tuple[SqlLeases, SqlLeases]) -> None:
        a, b = leases
        await a.take(LEADER, "agent-a", 30)
        await b.release(LEADER, "agent-b")  # not the holder: nothing happens
        assert (await b.take(LEADER, "agent-b", 30)).holder == "agent-a"
        await a.release(LEADER, "agent-a")
        taken = await b.take(LEADER, "agent-b", 30)
        assert (taken.holder, taken.epoch) == ("agent-b", 2)

    async def test_simultaneous_takes_make_one_holder(
            self, leases: tuple[SqlLeases, SqlLeases]) -> None:
        a, b = leases
        for round_ in range(10):
            await a.release(LEADER, "agent-a")
            await b.release(LEADER, "agent-b")
            got = await asyncio.gather(a.take(LEADER, "agent-a", 30),
                                       b.take(LEADER, "agent-b", 30))
            holders = {lease.holder for lease in got}
            assert len(holders) == 1, (round_, got)
            assert sum(lease.held_by(lease.holder) and lease.holder == node
                       for lease, node in zip(got, ("agent-a", "agent-b"), strict=True)) == 1

    async def test_read_shows_the_lease_as_it_stands(
            self, leases: tuple[SqlLeases, SqlLeases]) -> None:
        a, b = leases
        assert await b.read(LEADER) is None  # never taken
        await a.take(LEADER, "agent-a", 30)
        seen = await b.read(LEADER)
        assert seen is not None
        assert (seen.holder, seen.epoch) == ("agent-a", 1)
        assert seen.held_by("agent-a")

    async def test_sqlite_is_refused(self, tmp_path: object) -> None:
        with pytest.raises(BackendRejected, match="need PostgreSQL"):
            await SqlLeases.connect(f"sqlite:///{tmp_path}/x.db")


class TestErrors:
    """A lease store that cannot connect says so without the password."""

    async def test_the_password_is_hidden(self) -> None:
        secret = "hunter2-lease-secret"
        # Port 1 on loopback: nothing listens there, so the connection is refused at once.
        with pytest.raises(BackendUnavailable) as caught:
            await SqlLeases.connect(f"postgresql://pantau:{secret}@127.0.0.1:1/pantau",
                                    timeout_seconds=2)
        assert "pantau:***@127.0.0.1:1" in str(caught.value)
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value)
