"""Real ICMP in the device lab while the agent itself is late: replies that reached the
socket in time count (kernel timestamps, drained before judging), and a blocked loop turns
no live device DOWN."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent.core.clock import SystemClock
from agent.core.model import CheckResult, CheckSpec, Device, Status
from agent.lag import LagMonitor
from agent.scheduler import Job, Scheduler
from collectors.icmp import IcmpCollector, Pinger
from collectors.icmp.engine import ENV
from lab.lab import Lab
from tests.icmp_engines import ENGINES, need_engine

pytestmark = pytest.mark.lab

BLOCK_SECONDS = 1.5


def stall() -> None:
    """Block the event loop on purpose, as an overloaded or paused agent would be."""
    time.sleep(BLOCK_SECONDS)


class TestKernelTimestamps:
    """Replies read long after they arrived keep their true round-trip time."""

    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize("privileged", ["no", "yes"])
    async def test_replies_during_a_blocked_loop_count_with_true_rtt(
        self, in_lab: Lab, privileged: str, engine: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        need_engine(engine)
        monkeypatch.setenv(ENV, engine)
        pinger = await Pinger.open(privileged=privileged, clock=SystemClock())
        assert pinger.engine == engine
        try:
            addresses = [in_lab.address(i) for i in range(20)]
            sweep = asyncio.ensure_future(pinger.sweep(addresses, timeout_seconds=0.3))
            await asyncio.sleep(0)  # the sweep sends everything and waits
            stall()  # the agent stalls: replies queue on the socket
            replies = await sweep
        finally:
            await pinger.aclose()
        assert [r.received for r in replies] == [1] * len(addresses)
        assert all(r.rtts[0] < 0.2 for r in replies), [r.rtts for r in replies]


class TestBlockedAgent:
    """A scheduler whose loop is blocked for seconds marks no live device DOWN."""

    async def test_no_false_down_through_a_stall(self, in_lab: Lab) -> None:
        clock = SystemClock()
        lag = LagMonitor(clock)
        pinger = await Pinger.open(privileged="no", clock=clock)
        results: list[CheckResult] = []
        scheduler = Scheduler(clock=clock, sink=results.append, retrying=lambda d, c: False,
                              max_in_flight=50, lag=lag)
        spec = CheckSpec("icmp", interval_seconds=1.0, timeout_seconds=0.5,
                         retry_interval_seconds=1.0)
        collector = IcmpCollector(pinger, clock, count=1, spacing_seconds=0.0)
        devices = [Device(f"d{i}", in_lab.address(i), "Dinas Uji") for i in range(200)]
        try:
            async with asyncio.TaskGroup() as tg:
                monitor = tg.create_task(lag.run())
                run = tg.create_task(scheduler.run([Job(d, spec, collector) for d in devices]))
                await asyncio.sleep(1.2)  # a cycle on time
                for _ in range(3):  # stalls in the middle of checks
                    await asyncio.sleep(0.33)
                    stall()
                await asyncio.sleep(1.5)
                run.cancel()
                monitor.cancel()
        finally:
            await pinger.aclose()
        down = [r for r in results if r.status is Status.DOWN]
        assert not down, down[:3]
        assert sum(r.status is Status.OK for r in results) >= len(devices) * 3
        assert scheduler.stats.sweeps < len(results) / 5  # swept together, not one by one
