"""Runs every (device, check) on its own cycle: deterministic jitter, bounded concurrency,
a deadline on every check, no drift, quick re-checks while a state is soft, and on-demand
checks (a parent re-checked when its child fails).

It is also the one place that turns collector errors into results.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent.core.clock import Clock
from agent.core.errors import (
    CollectorError,
)
from agent.core.model import CheckResult, CheckSpec, Device, Status
from collectors.base import Collector

log = logging.getLogger(__name__)



def jitter_fraction(device: str, check: str) -> float:
    """A stable fraction in [0, 1) from the device and check names: spreads load, reproducibly."""
    digest = hashlib.blake2b(f"{device}/{check}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(slots=True)
class Job:
    """One (device, check) pair and its schedule state."""

    device: Device
    spec: CheckSpec
    collector: Collector
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    runs: int = 0


@dataclass(slots=True)
class SchedulerStats:
    """Counters the metrics layer reads; only the scheduler writes them (on the loop)."""

    in_flight: int = 0
    lag_seconds_last: float = 0.0
    lag_seconds_max: float = 0.0


ResultSink = Callable[[CheckResult], None]
RetryPolicy = Callable[[str, str], bool]


class Scheduler:
    """Owns the per-job loops. `run()` returns only when cancelled.

    `sink(result)` receives every result, on the loop, in order per job. `retrying(device,
    check)` tells whether the subject is soft-failing, in which case the next check runs after
    `spec.retry_interval_seconds` instead of `spec.interval_seconds`. `observe_duration(check,
    seconds, status, error_kind)` and `observe_lag(seconds)` feed the agent's own health metrics.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        sink: ResultSink,
        retrying: RetryPolicy,
        max_in_flight: int,
        observe_duration: Callable[[str, float, Status, str], None] = lambda *a: None,
        observe_lag: Callable[[float], None] = lambda s: None,
    ) -> None:
        self._clock = clock
        self._sink = sink
        self._retrying = retrying
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._observe_duration = observe_duration
        self._observe_lag = observe_lag
        self._jobs: dict[tuple[str, str], Job] = {}
        self.stats = SchedulerStats()

    def request_check(self, device: str, check: str) -> bool:
        """Run that job's next check now (on-demand check). False when there is no such job."""
        job = self._jobs.get((device, check))
        if job is None:
            return False
        job.wake.set()
        return True

    async def run(self, jobs: Sequence[Job]) -> None:
        self._jobs = {(j.device.name, j.spec.check): j for j in jobs}
        start = self._clock.monotonic()
        async with asyncio.TaskGroup() as tg:
            for job in jobs:
                first = start + jitter_fraction(job.device.name, job.spec.check) * (
                    job.spec.interval_seconds
                )
                tg.create_task(self._loop(job, first), name=f"check {job.device.name}")

    async def _loop(self, job: Job, due: float) -> None:
        while True:
            woken = await self._wait_until(job, due)
            now = self._clock.monotonic()
            if not woken:
                lag = max(0.0, now - due)
                self.stats.lag_seconds_last = lag
                self.stats.lag_seconds_max = max(self.stats.lag_seconds_max, lag)
                self._observe_lag(lag)
            scheduled = now if woken else due
            result = await self.run_check(job)
            job.runs += 1
            self._sink(result)
            step = (
                job.spec.retry_interval_seconds
                if self._retrying(job.device.name, job.spec.check)
                else job.spec.interval_seconds
            )
            due = scheduled + step
            after = self._clock.monotonic()
            if due < after:
                # Overran a whole cycle (an overloaded agent): skip the missed slots rather than
                # bursting to catch up, keeping the phase so the schedule does not drift.
                missed = int((after - due) // step) + 1
                due += missed * step

    async def _wait_until(self, job: Job, due: float) -> bool:
        """Sleep until `due`; True when woken early by request_check()."""
        delay = due - self._clock.monotonic()
        if job.wake.is_set():
            job.wake.clear()
            return True
        if delay <= 0:
            return False
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        waker = asyncio.ensure_future(job.wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        if job.wake.is_set():
            job.wake.clear()
            return True
        return False

    async def run_check(self, job: Job) -> CheckResult:
        """One check under the concurrency bound and its deadline, errors turned into results."""
        device, spec = job.device, job.spec
        async with self._semaphore:
            self.stats.in_flight += 1
            started = self._clock.monotonic()
            try:
                async with asyncio.timeout(spec.timeout_seconds):
                    result = await job.collector.check(device, spec)
            except CollectorError as exc:
                result = self._failed(job, started, exc.status, str(exc), exc.kind)
            except TimeoutError:
                elapsed = self._clock.monotonic() - started
                result = self._failed(
                    job,
                    started,
                    Status.DOWN,
                    f"{spec.check} {device.name}: cancelled after {elapsed:.1f}s "
                    f"(deadline {spec.timeout_seconds:g}s, possible timeout) "
                    f"probing {device.address}",
                    "deadline",
                )
            except Exception:
                # A bug, not a device problem: keep the traceback, count it, keep polling.
                log.exception(
                    "check crashed", extra={"device": device.name, "check": spec.check}
                )
                result = self._failed(job, started, Status.UNKNOWN, "internal", "internal")
            finally:
                self.stats.in_flight -= 1
        self._observe_duration(spec.check, result.duration_seconds, result.status, result.error)
        log.debug(
            "check done",
            extra={"device": device.name, "check": spec.check, "status": str(result.status)},
        )
        return result

    def _failed(
        self, job: Job, started: float, status: Status, reason: str, kind: str
    ) -> CheckResult:
        return CheckResult(
            device=job.device.name,
            check=job.spec.check,
            status=status,
            observed_at=self._clock.now(),
            duration_seconds=self._clock.monotonic() - started,
            reason=reason,
            error=kind,
        )
