"""Scheduler: jitter, no drift, retries, on-demand checks, deadlines, error mapping, bounds."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agent.core import errors
from agent.core.errors import (
    AuthFailed,
    ProbeError,
    ProtocolError,
    TargetTimeout,
    TargetUnreachable,
)
from agent.core.model import ERROR_KINDS, CheckResult, CheckSpec, Device, Status
from agent.scheduler import Job, Scheduler, jitter_fraction
from tests.fakes import FakeClock

SPEC = CheckSpec(check="icmp", interval_seconds=10.0, timeout_seconds=2.0,
                 retry_interval_seconds=3.0)


def device(name: str) -> Device:
    return Device(name=name, address="127.0.0.1", owner="Dinas Uji")


class ScriptedCollector:
    """Answers from a script: a Status, an exception to raise, or "hang" to never answer."""

    def __init__(self, clock: FakeClock, script: list[object] | None = None,
                 started: asyncio.Queue[str] | None = None) -> None:
        self.clock = clock
        self.started = started
        self.script = list(script or [])
        self.calls: list[float] = []
        self.release = asyncio.Event()

    async def check(self, device: Device, spec: CheckSpec) -> CheckResult:
        self.calls.append(self.clock.monotonic())
        if self.started is not None:
            self.started.put_nowait(device.name)
        step = self.script.pop(0) if self.script else Status.OK
        if step == "hang":
            await self.release.wait()
            step = Status.OK
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, Status)
        return CheckResult(device.name, spec.check, step, self.clock.now(), 0.0)


class Harness:
    def __init__(self, clock: FakeClock, *, retrying: bool = False, max_in_flight: int = 100):
        self.clock = clock
        self.results: asyncio.Queue[CheckResult] = asyncio.Queue()
        self.retrying = retrying
        self.scheduler = Scheduler(
            clock=clock, sink=self.results.put_nowait,
            retrying=lambda d, c: self.retrying, max_in_flight=max_in_flight,
        )
        self.task: asyncio.Task[None] | None = None

    def start(self, jobs: list[Job]) -> None:
        self.task = asyncio.ensure_future(self.scheduler.run(jobs))

    async def next_result(self) -> CheckResult:
        return await asyncio.wait_for(self.results.get(), timeout=5)

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


class TestJitter:
    """Jitter comes from the names: spread out and reproducible."""

    def test_stable_and_in_range(self) -> None:
        values = [jitter_fraction(f"dev-{i}", "icmp") for i in range(1000)]
        assert values == [jitter_fraction(f"dev-{i}", "icmp") for i in range(1000)]
        assert all(0.0 <= v < 1.0 for v in values)
        # spread: every tenth of the interval gets some devices
        assert len({int(v * 10) for v in values}) == 10


class TestCycles:
    """Checks run on a fixed grid from their jittered start, without drift."""

    async def test_no_drift(self) -> None:
        clock = FakeClock()
        h = Harness(clock)
        collector = ScriptedCollector(clock)
        h.start([Job(device("a"), SPEC, collector)])
        first = 1000.0 + jitter_fraction("a", "icmp") * SPEC.interval_seconds
        for _ in range(5):
            await clock.wait_sleepers(1)
            clock.advance(SPEC.interval_seconds)
            await h.next_result()
        await h.stop()
        assert collector.calls[0] == pytest.approx(first, abs=SPEC.interval_seconds)
        gaps = [b - a for a, b in zip(collector.calls, collector.calls[1:], strict=False)]
        assert gaps == [pytest.approx(SPEC.interval_seconds)] * len(gaps)

    async def test_retry_interval_while_soft(self) -> None:
        clock = FakeClock()
        h = Harness(clock, retrying=True)
        collector = ScriptedCollector(clock, [Status.DOWN] * 5)
        h.start([Job(device("a"), SPEC, collector)])
        await clock.wait_sleepers(1)
        clock.advance(SPEC.interval_seconds)
        await h.next_result()
        for _ in range(3):
            await clock.wait_sleepers(1)
            clock.advance(SPEC.retry_interval_seconds)
            await h.next_result()
        await h.stop()
        gaps = [b - a for a, b in zip(collector.calls, collector.calls[1:], strict=False)]
        assert gaps == [pytest.approx(SPEC.retry_interval_seconds)] * 3

    async def test_request_check_runs_now(self) -> None:
        clock = FakeClock()
        h = Harness(clock)
        collector = ScriptedCollector(clock)
        h.start([Job(device("parent"), SPEC, collector)])
        await clock.wait_sleepers(1)
        clock.advance(SPEC.interval_seconds)
        await h.next_result()
        await clock.wait_sleepers(1)
        assert h.scheduler.request_check("parent", "icmp")
        await h.next_result()  # no clock advance: woken on demand
        assert not h.scheduler.request_check("nobody", "icmp")
        await h.stop()
        assert len(collector.calls) == 2
        assert collector.calls[1] - collector.calls[0] < SPEC.interval_seconds


class TestErrors:
    """Collector errors become results; bugs are logged and polling goes on."""

    @pytest.mark.parametrize(
        ("exc", "status", "kind"),
        [
            (TargetTimeout("a", "icmp", "no answer"), Status.DOWN, "timeout"),
            (TargetUnreachable("a", "icmp", "no route"), Status.DOWN, "unreachable"),
            (AuthFailed("a", "icmp", "bad key"), Status.UNKNOWN, "auth"),
            (ProtocolError("a", "icmp", "garbled"), Status.UNKNOWN, "protocol"),
            (ProbeError("a", "icmp", "sent nothing"), Status.UNKNOWN, "probe"),
        ],
    )
    async def test_mapping(self, exc: Exception, status: Status, kind: str) -> None:
        clock = FakeClock()
        h = Harness(clock)
        result = await h.scheduler.run_check(
            Job(device("a"), SPEC, ScriptedCollector(clock, [exc]))
        )
        assert (result.status, result.error) == (status, kind)
        assert str(exc) in result.reason

    async def test_bug_is_logged_and_polling_continues(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        clock = FakeClock()
        h = Harness(clock)
        collector = ScriptedCollector(clock, [ZeroDivisionError("boom"), Status.OK])
        h.start([Job(device("a"), SPEC, collector)])
        await clock.wait_sleepers(1)
        with caplog.at_level(logging.ERROR):
            clock.advance(SPEC.interval_seconds)
            first = await h.next_result()
        await clock.wait_sleepers(1)
        clock.advance(SPEC.interval_seconds)
        second = await h.next_result()
        await h.stop()
        assert (first.status, first.error, first.reason) == (Status.UNKNOWN, "internal",
                                                             "internal")
        assert second.status is Status.OK
        assert any("check crashed" in r.message and r.exc_info for r in caplog.records)


class TestDeadlines:
    """A hung check is cut at its deadline and never delays another device."""

    async def test_hung_device_does_not_delay_others(self) -> None:
        clock = FakeClock()
        h = Harness(clock)
        fast_spec = CheckSpec("icmp", 10.0, 0.05, 3.0)  # real 50 ms deadline on loop time
        hung = ScriptedCollector(clock, ["hang"] * 10)
        healthy = ScriptedCollector(clock)
        h.start([Job(device("dead"), fast_spec, hung), Job(device("alive"), fast_spec, healthy)])
        await clock.wait_sleepers(1)  # one scheduling loop, not a task per job
        clock.advance(fast_spec.interval_seconds)
        got: dict[str, CheckResult] = {}
        while len(got) < 2:
            r = await h.next_result()
            got[r.device] = r
        await h.stop()
        assert got["alive"].status is Status.OK
        assert got["dead"].status is Status.DOWN
        assert got["dead"].error == "deadline"
        assert "cancelled after" in got["dead"].reason

    async def test_in_flight_is_bounded(self) -> None:
        clock = FakeClock()
        h = Harness(clock, max_in_flight=2)
        started: asyncio.Queue[str] = asyncio.Queue()
        collectors = [ScriptedCollector(clock, ["hang"], started) for _ in range(5)]
        slow = CheckSpec("icmp", 10.0, 30.0, 3.0)
        jobs = [Job(device(f"d{i}"), slow, c) for i, c in enumerate(collectors)]
        checks = [asyncio.ensure_future(h.scheduler.run_check(j)) for j in jobs]
        for _ in range(2):
            await asyncio.wait_for(started.get(), timeout=5)
        assert h.scheduler.stats.in_flight == 2
        assert sum(len(c.calls) for c in collectors) == 2
        for c in collectors:
            c.release.set()
        results = await asyncio.gather(*checks)
        assert [r.status for r in results] == [Status.OK] * 5
        assert h.scheduler.stats.in_flight == 0


class TestErrorKinds:
    """Each collector error carries its kind and status: the one map of failures."""

    @pytest.mark.parametrize(
        ("cls", "kind", "status"),
        [
            (errors.TargetTimeout, "timeout", Status.DOWN),
            (errors.TargetUnreachable, "unreachable", Status.DOWN),
            (errors.AuthFailed, "auth", Status.UNKNOWN),
            (errors.ProtocolError, "protocol", Status.UNKNOWN),
            (errors.ProbeError, "probe", Status.UNKNOWN),
            (errors.CollectorError, "internal", Status.UNKNOWN),
        ],
    )
    def test_kind_and_status(
        self, cls: type[errors.CollectorError], kind: str, status: Status
    ) -> None:
        exc = cls("sw-01", "snmp", "x")
        assert (exc.kind, exc.status) == (kind, status)
        assert exc.kind in ERROR_KINDS
