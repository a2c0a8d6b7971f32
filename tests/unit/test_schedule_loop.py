"""The one scheduling loop: sweeps of same-tick batch jobs, skipped slots, on-demand checks
joining the next burst, and the agent's own lateness reported UNKNOWN, never DOWN."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import pytest

from agent.core.errors import CollectorError, TargetTimeout
from agent.core.model import CheckResult, CheckSpec, Device, Status
from agent.lag import LagMonitor
from agent.scheduler import BATCH_WINDOW_SECONDS, Job, Scheduler, jitter_fraction
from tests.fakes import FakeClock
from tests.unit.test_scheduler import SPEC, Harness, ScriptedCollector, device


class SweepingCollector:
    """A batch collector: records each check_many call; every device answers OK."""

    def __init__(self, clock: FakeClock, takes: float = 0.0) -> None:
        self.clock = clock
        self.takes = takes
        self.sweeps: list[list[str]] = []
        self.singles: list[str] = []

    async def check(self, device: Device, spec: CheckSpec) -> CheckResult:
        self.singles.append(device.name)
        return CheckResult(device.name, spec.check, Status.OK, self.clock.now(), 0.0)

    async def check_many(
        self, devices: Sequence[Device], spec: CheckSpec
    ) -> list[CheckResult | CollectorError]:
        self.sweeps.append([d.name for d in devices])
        self.clock.advance(self.takes)
        return [CheckResult(d.name, spec.check, Status.OK, self.clock.now(), 0.0)
                for d in devices]


async def results(h: Harness, n: int) -> list[CheckResult]:
    return [await h.next_result() for _ in range(n)]


class TestOneLoop:
    """One loop sleeps for all jobs; batch jobs due in the same tick go out as one sweep."""

    async def test_one_sleeper_for_a_thousand_jobs(self) -> None:
        clock = FakeClock()
        h = Harness(clock)
        sweeper = SweepingCollector(clock)
        h.start([Job(device(f"d{i}"), SPEC, sweeper) for i in range(1000)])
        await clock.wait_sleepers(1)
        await asyncio.sleep(0)
        assert len([f for _, f in clock._sleepers if not f.done()]) == 1
        clock.advance(SPEC.interval_seconds)
        got = await results(h, 1000)
        await h.stop()
        assert {r.device for r in got} == {f"d{i}" for i in range(1000)}
        assert sweeper.singles == []
        assert sum(len(s) for s in sweeper.sweeps) == 1000
        assert len(sweeper.sweeps) < 100  # grouped by tick, not one call per device

    async def test_same_tick_jobs_share_a_sweep_and_keep_their_jitter(self) -> None:
        clock = FakeClock()
        h = Harness(clock)
        sweeper = SweepingCollector(clock)
        names = [f"d{i}" for i in range(200)]
        h.start([Job(device(n), SPEC, sweeper) for n in names])
        seen: dict[str, float] = {}
        for _ in range(400):  # walk the cycle in 50 ms steps
            await clock.wait_sleepers(1)
            clock.advance(0.05)
            await asyncio.sleep(0)
            while not h.results.empty():
                seen.setdefault(h.results.get_nowait().device, clock.monotonic())  # 1st run
            if len(seen) == len(names):
                break
        await h.stop()
        # each device ran at most one batch window before its own jittered slot, and no
        # later than the clock step after it
        for n in names:
            slot = 1000.0 + jitter_fraction(n, "icmp") * SPEC.interval_seconds
            assert slot - BATCH_WINDOW_SECONDS <= seen[n] <= slot + 0.11, n
        assert 1 < len(sweeper.sweeps) < len(names)

    async def test_on_demand_joins_the_next_burst(self) -> None:
        clock = FakeClock()
        h = Harness(clock)
        sweeper = SweepingCollector(clock)
        h.start([Job(device("a"), SPEC, sweeper), Job(device("b"), SPEC, sweeper)])
        await clock.wait_sleepers(1)
        clock.advance(SPEC.interval_seconds)
        await results(h, 2)
        await clock.wait_sleepers(1)
        before = len(sweeper.sweeps)
        assert h.scheduler.request_check("a", "icmp")
        assert h.scheduler.request_check("b", "icmp")
        got = await results(h, 2)
        await h.stop()
        assert {r.device for r in got} == {"a", "b"}
        assert sweeper.sweeps[before:] == [["a", "b"]]


class TestSkip:
    """A check that overran whole intervals skips the missed slots, keeping the phase."""

    async def test_overrun_skips_slots(self) -> None:
        clock = FakeClock()
        overruns: list[tuple[str, str]] = []
        h = Harness(clock)
        h.scheduler = Scheduler(clock=clock, sink=h.results.put_nowait,
                                retrying=lambda d, c: False, max_in_flight=10,
                                observe_overrun=lambda c, k: overruns.append((c, k)))
        slow = SweepingCollector(clock, takes=25.0)  # 2.5 intervals
        h.start([Job(device("a"), SPEC, slow)])
        await clock.wait_sleepers(1)
        clock.advance(SPEC.interval_seconds)
        await h.next_result()
        await clock.wait_sleepers(1)
        slow.takes = 0.0
        clock.advance(SPEC.interval_seconds)
        await h.next_result()
        await h.stop()
        assert overruns == [("icmp", "skipped")] * 2
        assert h.scheduler.stats.skipped == 2


class TestLateness:
    """A failure that fell while the agent was late is UNKNOWN "pantau was late", not DOWN."""

    def scheduler(self, clock: FakeClock, lag: LagMonitor | None = None) -> tuple[
            Scheduler, list[tuple[str, str]]]:
        overruns: list[tuple[str, str]] = []
        s = Scheduler(clock=clock, sink=lambda r: None, retrying=lambda d, c: False,
                      max_in_flight=10, lag=lag, sweep_backstop=0.05,
                      observe_overrun=lambda c, k: overruns.append((c, k)))
        return s, overruns

    async def test_timeout_during_a_loop_stall_is_unknown(self) -> None:
        clock = FakeClock()
        lag = LagMonitor(clock)
        s, overruns = self.scheduler(clock, lag)

        class Stalled:
            async def check(self, device: Device, spec: CheckSpec) -> CheckResult:
                start = clock.monotonic()
                clock.advance(3.0)  # the loop was blocked for 3 s during the check
                lag.record(start + 0.1, clock.monotonic())
                raise TargetTimeout(device.name, "snmp", "no answer")

        result = await s.run_check(Job(device("a"), SPEC, Stalled()))
        assert (result.status, result.error) == (Status.UNKNOWN, "late")
        assert "pantau was late by 2.9s" in result.reason
        assert overruns == [("icmp", "late")]

    async def test_deadline_passed_long_after_it_was_due_is_unknown(self) -> None:
        clock = FakeClock()
        s, overruns = self.scheduler(clock)
        spec = CheckSpec("icmp", 10.0, 0.05, 3.0)

        class Frozen:
            async def check(self, device: Device, spec: CheckSpec) -> CheckResult:
                clock.advance(9.4)  # the deadline (real loop time) fires, 9.4 s later
                await asyncio.Event().wait()
                raise AssertionError

        result = await s.run_check(Job(device("a"), spec, Frozen()))
        assert (result.status, result.error) == (Status.UNKNOWN, "late")
        assert "pantau was late by 9.3s" in result.reason
        assert overruns == [("icmp", "late")]

    async def test_on_time_timeout_stays_down(self) -> None:
        clock = FakeClock()
        lag = LagMonitor(clock)
        lag.record(990.0, 995.0)  # a stall long before this check
        s, overruns = self.scheduler(clock, lag)
        collector = ScriptedCollector(clock, [TargetTimeout("a", "icmp", "no answer")])
        result = await s.run_check(Job(device("a"), SPEC, collector))
        assert (result.status, result.error) == (Status.DOWN, "timeout")
        assert overruns == []

    async def test_late_batch_deadline_is_unknown_for_every_device(self) -> None:
        clock = FakeClock()
        s, _ = self.scheduler(clock)
        spec = CheckSpec("icmp", 10.0, 0.05, 3.0)

        class FrozenSweep(SweepingCollector):
            async def check_many(self, devices: Sequence[Device], spec: CheckSpec
                                 ) -> list[CheckResult | CollectorError]:
                self.clock.advance(7.0)
                await asyncio.Event().wait()
                raise AssertionError

        jobs = [Job(device(n), spec, FrozenSweep(clock)) for n in ("a", "b")]
        got = await s.run_batch(jobs)
        assert [(r.status, r.error) for r in got] == [(Status.UNKNOWN, "late")] * 2

    async def test_sweep_past_its_timeout_keeps_what_it_judged(self) -> None:
        """A loop stalled past a sweep's timeout does not cancel the sweep: its devices get
        what the collector judged from its reply table (here OK), not a deadline DOWN."""
        clock = FakeClock()
        s, overruns = self.scheduler(clock)
        spec = CheckSpec("icmp", 10.0, 0.01, 3.0)

        class SlowSweep(SweepingCollector):
            async def check_many(self, devices: Sequence[Device], spec: CheckSpec
                                 ) -> list[CheckResult | CollectorError]:
                await asyncio.sleep(0.03)  # real loop time, three times the timeout
                return await super().check_many(devices, spec)

        jobs = [Job(device(n), spec, SlowSweep(clock)) for n in ("a", "b")]
        got = await s.run_batch(jobs)
        assert [(r.status, r.error) for r in got] == [(Status.OK, "")] * 2
        assert overruns == []


class TestLateRecheck:
    """The first "pantau was late" result of a streak is re-checked at the retry interval;
    a second one in a row waits the whole interval (no extra load on a busy agent)."""

    async def test_late_then_late_then_on_time(self) -> None:
        clock = FakeClock()
        calls: list[float] = []
        errors = ["late", "late", "", ""]

        class Scripted:
            async def check(self, device: Device, spec: CheckSpec) -> CheckResult:
                calls.append(clock.monotonic())
                error = errors.pop(0)
                status = Status.UNKNOWN if error else Status.OK
                return CheckResult(device.name, spec.check, status, clock.now(), 0.0,
                                   error=error)

        h = Harness(clock)
        h.start([Job(device("a"), SPEC, Scripted())])
        for _ in range(4):
            while len(calls) < 4 and h.results.empty():
                await clock.wait_sleepers(1)
                clock.advance(0.5)
                await asyncio.sleep(0)
            if h.results.empty():
                break
            await h.next_result()
        await h.stop()
        gaps = [round(b - a, 1) for a, b in itertools.pairwise(calls)]
        # after the 1st late: the retry interval; after the 2nd late and after OK: the interval
        assert gaps == [SPEC.retry_interval_seconds, SPEC.interval_seconds,
                        SPEC.interval_seconds]


class TestLagMonitor:
    """The monitor records stalls and answers how late the agent was during a window."""

    def test_lateness_of_a_window(self) -> None:
        clock = FakeClock()
        lag = LagMonitor(clock)
        assert lag.record(10.0, 10.01) == pytest.approx(0.01)  # under the floor: not a stall
        assert lag.record(20.0, 25.0) == pytest.approx(5.0)
        assert lag.lateness(19.0, 21.0) == pytest.approx(5.0)  # overlaps the stall
        assert lag.lateness(26.0, 30.0) == 0.0
        assert lag.lateness(9.0, 11.0) == 0.0
        assert lag.max_lag == pytest.approx(5.0)

    async def test_samples_on_the_clock(self) -> None:
        clock = FakeClock()
        seen: list[float] = []
        lag = LagMonitor(clock, observe=seen.append)
        task = asyncio.ensure_future(lag.run())
        await clock.wait_sleepers(1)
        clock.advance(2.1)  # woke 2 s after it was due
        await clock.wait_sleepers(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen == [pytest.approx(2.0)]
        assert lag.lateness(1000.0, 1002.0) == pytest.approx(2.0)
