"""Real ICMP in the device lab: live, dead, lossy and IPv6 targets, in both socket modes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from agent.core.clock import SystemClock
from agent.core.errors import ProbeError
from agent.core.model import CheckResult, CheckSpec, Device, Status
from agent.core.reasons import of_result
from collectors.icmp import IcmpCollector, Pinger
from collectors.icmp.channel import COALESCE_SECONDS, Channel
from collectors.icmp.engine import ENV
from lab.lab import Lab
from tests.icmp_engines import ENGINES, need_engine

pytestmark = pytest.mark.lab

PRIVILEGED = {"unprivileged": "no", "privileged": "yes"}


@pytest.fixture(params=[(m, e) for m in sorted(PRIVILEGED) for e in ENGINES],
                ids=lambda p: "-".join(p))
async def pinger(
    request: pytest.FixtureRequest, in_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Pinger]:
    """A Pinger whose sockets live in the lab namespace, in each mode, with each echo table."""
    mode, engine = request.param
    need_engine(engine)
    monkeypatch.setenv(ENV, engine)
    opened = await Pinger.open(privileged=PRIVILEGED[mode], clock=SystemClock())
    assert (opened.mode, opened.engine) == (mode, engine)
    try:
        yield opened
    finally:
        await opened.aclose()


def spec(timeout: float) -> CheckSpec:
    return CheckSpec(
        check="icmp", interval_seconds=30, timeout_seconds=timeout, retry_interval_seconds=10
    )


def device(address: str) -> Device:
    return Device(name=f"dev-{address}", address=address, owner="Dinas Kesehatan")


async def check(
    pinger: Pinger, address: str, *, deadline: float = 1.0, count: int = 3, spacing: float = 0.02
) -> tuple[CheckResult, float]:
    """Run the icmp check as the scheduler does (under asyncio.timeout); (result, wall)."""
    collector = IcmpCollector(pinger, SystemClock(), count=count, spacing_seconds=spacing)
    started = time.monotonic()
    async with asyncio.timeout(deadline):
        result = await collector.check(device(address), spec(deadline))
    return result, time.monotonic() - started


class TestOpen:
    """In the lab, where ping_group_range allows it, "auto" picks unprivileged sockets."""

    async def test_auto_prefers_unprivileged(self, in_lab: Lab) -> None:
        opened = await Pinger.open(privileged="auto", clock=SystemClock())
        try:
            assert opened.mode == "unprivileged"
        finally:
            await opened.aclose()


class TestLive:
    """Answering addresses are OK with real round-trip times, over IPv4 and IPv6."""

    async def test_live_address_is_ok_with_rtt(self, pinger: Pinger, in_lab: Lab) -> None:
        result, _ = await check(pinger, in_lab.address(3))
        assert result.status is Status.OK
        rtt = result.sample("icmp_rtt_seconds")
        assert rtt is not None
        assert 0 < rtt < 0.5
        assert result.sample("icmp_packet_loss_ratio") == 0.0
        assert result.sample("icmp_packets_received") == 3

    async def test_ipv6_loopback_answers(self, pinger: Pinger) -> None:
        reply = await pinger.ping("::1", count=3, spacing_seconds=0.01, timeout_seconds=1.0)
        assert (reply.sent, reply.received) == (3, 3)
        assert all(0 < rtt < 0.5 for rtt in reply.rtts)

    async def test_localhost_is_resolved_and_pinged(self, pinger: Pinger) -> None:
        result, _ = await check(pinger, "localhost")
        assert result.status is Status.OK


class TestCoalescedReads:
    """With kernel receive times, replies are read in batches (one wake-up per
    COALESCE_SECONDS, not one per reply) and keep their true round-trip times."""

    async def test_rounds_are_read_together_with_true_rtts(
        self, pinger: Pinger, in_lab: Lab, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        reads: list[int] = []
        original = Channel._read_coalesced

        def counted(channel: Channel) -> None:
            reads.append(len(channel.table))
            original(channel)

        monkeypatch.setattr(Channel, "_read_coalesced", counted)
        addresses = [in_lab.address(i) for i in range(20)]
        spacing = COALESCE_SECONDS / 4  # four rounds fall in one coalescing window
        replies = await pinger.sweep(addresses, count=4, spacing_seconds=spacing,
                                     timeout_seconds=1.0)
        assert [(r.sent, r.received) for r in replies] == [(4, 4)] * len(addresses)
        assert all(rtt < spacing for r in replies for rtt in r.rtts), "read time, not kernel's"
        assert 1 <= len(reads) <= 2, reads  # not one wake-up per round (4) or per reply (80)


class TestDead:
    """Blackholed addresses are DOWN with all echoes lost, inside the check's deadline."""

    async def test_blackholed_is_down_within_timeout(self, pinger: Pinger, in_lab: Lab) -> None:
        address = in_lab.address(11)
        in_lab.blackhole(address)
        result, wall = await check(pinger, address, deadline=1.0, count=3, spacing=0.05)
        assert result.status is Status.DOWN
        assert result.sample("icmp_packet_loss_ratio") == 1.0
        assert result.sample("icmp_rtt_seconds") is None
        assert result.reason.startswith(f"no reply to 3 echo requests to {address} in ")
        cause = of_result(result.code, result.params)  # the same words, as a reason code
        assert cause is not None
        assert cause.text() == result.reason
        assert cause.text("id").startswith(
            f"tidak ada balasan atas 3 permintaan echo (ping) ke {address} dalam ")
        assert wall < 1.25  # the check's own deadline is 0.95 s; slack for a loaded CI box

    async def test_ping_waits_timeout_after_the_last_send(
        self, pinger: Pinger, in_lab: Lab
    ) -> None:
        address = in_lab.address(12)
        in_lab.blackhole(address)
        started = time.monotonic()
        reply = await pinger.ping(address, count=3, spacing_seconds=0.1, timeout_seconds=0.3)
        wall = time.monotonic() - started
        assert (reply.sent, reply.received) == (3, 0)
        assert 0.5 <= wall < 0.9  # bound 3 x 0.1 + 0.3 = 0.6, plus slack for a loaded CI box

    async def test_output_drop_is_a_probe_error(self, pinger: Pinger, in_lab: Lab) -> None:
        address = in_lab.address(13)
        rule = ["OUTPUT", "-d", f"{address}/32", "-j", "DROP"]
        assert in_lab.run(["iptables", "-I", *rule]).returncode == 0
        try:
            with pytest.raises(ProbeError, match=r"could be sent .*Operation not permitted"):
                await check(pinger, address)
        finally:
            assert in_lab.run(["iptables", "-D", *rule]).returncode == 0


class TestLossy:
    """A link that drops half the packets shows a loss ratio near one half."""

    async def test_lossy_half(self, pinger: Pinger, in_lab: Lab) -> None:
        address = in_lab.address(21)
        in_lab.lossy(address, probability=0.5)
        reply = await pinger.ping(address, count=60, spacing_seconds=0.005, timeout_seconds=0.5)
        assert reply.sent == 60
        assert 0.2 <= reply.loss_ratio <= 0.8  # binomial(60, 0.5): outside ~1e-6 of the time


class TestConcurrency:
    """Many callers share one Pinger without stealing each other's replies."""

    async def test_2000_concurrent_pings_with_100_dead(self, pinger: Pinger, in_lab: Lab) -> None:
        addresses = [in_lab.address(1000 + i) for i in range(2000)]
        dead = set(addresses[::20])
        in_lab.blackhole(*dead)
        replies = await asyncio.gather(
            *(pinger.ping(a, count=1, spacing_seconds=0, timeout_seconds=0.5) for a in addresses)
        )
        assert all(r.sent == 1 for r in replies)
        assert {r.address for r in replies if r.received == 0} == dead
        assert all(r.received == 1 for r in replies if r.address not in dead)

    async def test_concurrent_pings_to_one_address_each_get_their_own(
        self, pinger: Pinger, in_lab: Lab
    ) -> None:
        address = in_lab.address(5)
        replies = await asyncio.gather(
            *(
                pinger.ping(address, count=4, spacing_seconds=0.005, timeout_seconds=0.5)
                for _ in range(50)
            )
        )
        assert [(r.sent, r.received) for r in replies] == [(4, 4)] * 50

    async def test_sweep_finds_exactly_the_dead(self, pinger: Pinger, in_lab: Lab) -> None:
        addresses = [in_lab.address(5000 + i) for i in range(1000)] + ["::1"]
        dead = set(addresses[7::20])
        in_lab.blackhole(*dead)
        replies = await pinger.sweep(addresses, count=2, spacing_seconds=0.01, timeout_seconds=0.5)
        assert [r.address for r in replies] == addresses
        assert all(r.sent == 2 for r in replies)
        assert {r.address for r in replies if r.received == 0} == dead
        assert all(r.received == 2 for r in replies if r.address not in dead)
