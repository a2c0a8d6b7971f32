"""Reload without restart: the scheduler adds and removes jobs while running, the detector
takes a new inventory keeping the unchanged devices' states, and an invalid config file
changes nothing."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import FlappingSettings, PollingSettings, load
from agent.core.model import CheckResult, CheckSpec, Device, DeviceState, Status
from agent.detect import Detector, Transition
from agent.metrics import Metrics
from agent.reload import InventoryChange, Reloader, diff_inventory
from agent.scheduler import Job, Scheduler
from tests.fakes import FakeClock

SPEC = CheckSpec(check="icmp", interval_seconds=10.0, timeout_seconds=2.0,
                 retry_interval_seconds=3.0)
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def device(name: str, parent: str | None = None, address: str = "127.0.0.1") -> Device:
    return Device(name=name, address=address, owner="Dinas Uji", parent=parent)


class Collector:
    """Answers OK at once, or holds the devices in `hang` until `release` is set."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[str] = []
        self.hang: set[str] = set()
        self.started: asyncio.Queue[str] = asyncio.Queue()
        self.release = asyncio.Event()

    async def check(self, device: Device, spec: CheckSpec) -> CheckResult:
        self.calls.append(device.name)
        self.started.put_nowait(device.name)
        if device.name in self.hang:
            await self.release.wait()
        return CheckResult(device.name, spec.check, Status.OK, self.clock.now(), 0.0)


class TestSchedulerWhileRunning:
    async def _cycle(self, clock: FakeClock, results: asyncio.Queue[CheckResult],
                     count: int) -> set[str]:
        """Advance one interval; the devices of the `count` results that come."""
        await clock.wait_sleepers(1)
        clock.advance(SPEC.interval_seconds)
        got = [await asyncio.wait_for(results.get(), 5) for _ in range(count)]
        await asyncio.sleep(0)
        assert results.empty()
        return {r.device for r in got}

    async def test_adds_and_removes_jobs(self) -> None:
        clock = FakeClock()
        results: asyncio.Queue[CheckResult] = asyncio.Queue()
        scheduler = Scheduler(clock=clock, sink=results.put_nowait,
                              retrying=lambda d, c: False, max_in_flight=10)
        collector = Collector(clock)
        task = asyncio.ensure_future(scheduler.run(
            [Job(device(n), SPEC, collector) for n in ("a", "b", "c")]))
        try:
            assert await self._cycle(clock, results, 3) == {"a", "b", "c"}
            scheduler.add_jobs([Job(device("d"), SPEC, collector)])
            assert scheduler.remove_devices(["b"]) == 1
            assert scheduler.job_count() == 3
            # the new one is first checked within one interval; the removed one never again
            assert await self._cycle(clock, results, 3) == {"a", "c", "d"}
            assert await self._cycle(clock, results, 3) == {"a", "c", "d"}
            assert not scheduler.request_check("b", "icmp")
            assert scheduler.request_check("d", "icmp")
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert collector.calls.count("b") == 1

    async def test_a_removed_check_in_flight_is_dropped(self) -> None:
        clock = FakeClock()
        results: asyncio.Queue[CheckResult] = asyncio.Queue()
        scheduler = Scheduler(clock=clock, sink=results.put_nowait,
                              retrying=lambda d, c: False, max_in_flight=10)
        collector = Collector(clock)
        collector.hang = {"a"}
        task = asyncio.ensure_future(scheduler.run([Job(device("a"), SPEC, collector)]))
        try:
            await clock.wait_sleepers(1)
            clock.advance(SPEC.interval_seconds)
            assert await asyncio.wait_for(collector.started.get(), 5) == "a"
            scheduler.remove_devices(["a"])
            collector.release.set()
            for _ in range(5):
                await asyncio.sleep(0)
            assert results.empty()  # neither seen nor scheduled again
            assert scheduler.job_count() == 0
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


def feed(detector: Detector, names: list[str], status: Status, start: float,
         rounds: int) -> list[Transition]:
    out: list[Transition] = []
    for i in range(rounds):
        for name in names:
            at = T0 + timedelta(seconds=start + i)
            events = detector.observe(CheckResult(name, "icmp", status, at, 0.01))
            out += [e for e in events if isinstance(e, Transition)]
    return out


class TestDetectorInventory:
    def test_keeps_the_states_of_unchanged_devices(self) -> None:
        polling = PollingSettings(interval_seconds=30.0, down_after=3, up_after=2)
        core, edge, gone, moved = (device("core"), device("edge", parent="core"),
                                   device("gone"), device("moved", address="127.0.0.2"))
        detector = Detector([core, edge, gone, moved], polling, FlappingSettings(), ())
        feed(detector, ["core", "edge", "gone", "moved"], Status.OK, 0, 3)
        feed(detector, ["edge"], Status.DOWN, 10, 3)
        detector.tick(T0 + timedelta(seconds=60))  # its parent never answered: the hold ends
        assert detector.device_state("edge") is DeviceState.DOWN
        since = detector.snapshot().devices["core"].since
        # "core" changes (a new address): "edge" stays, and now hangs under the new record
        new = [device("core", address="127.0.0.9"), edge,
               device("moved", address="127.0.0.3"), device("fresh")]
        detector.update_devices(new)
        assert detector.device_state("edge") is DeviceState.DOWN  # no re-convergence
        assert detector.device_state("core") is DeviceState.UNKNOWN  # re-built
        assert detector.device_state("fresh") is DeviceState.UNKNOWN
        with pytest.raises(KeyError):
            detector.device_state("gone")
        assert set(detector.snapshot().devices) == {"core", "edge", "moved", "fresh"}
        assert detector.snapshot().devices["core"].since != since or since is None
        # the kept child follows its parent's new record: a failing parent explains it
        transitions = feed(detector, ["core"], Status.DOWN, 20, 3)
        transitions += feed(detector, ["edge"], Status.DOWN, 30, 1)
        assert detector.device_state("edge") is DeviceState.UNREACHABLE
        assert not [t for t in transitions if t.device == "edge" and t.new is DeviceState.DOWN]
        # results of a removed device are ignored
        assert detector.observe(CheckResult("gone", "icmp", Status.OK, T0, 0.0)) == []

    def test_unchanged_inventory_makes_no_transition(self) -> None:
        polling = PollingSettings(interval_seconds=30.0, down_after=1, up_after=1)
        devices = [device(f"d{i}") for i in range(5)]
        detector = Detector(devices, polling, FlappingSettings(), ())
        feed(detector, [d.name for d in devices], Status.OK, 0, 2)
        before = {n: s.since for n, s in detector.snapshot().devices.items()}
        detector.update_devices([*devices[:3], device("new")])
        after = detector.snapshot().devices
        assert {n: after[n].since for n in ("d0", "d1", "d2")} == {
            n: before[n] for n in ("d0", "d1", "d2")}
        assert feed(detector, ["d0", "d1", "d2"], Status.OK, 10, 3) == []


def write(path: Path, devices: list[str], extra: str = "") -> None:
    body = "".join(f'[[devices]]\nname = "{n}"\naddress = "127.0.0.1"\nowner = "Dinas Uji"\n\n'
                   for n in devices)
    path.write_text(f'[agent]\nlisten = "127.0.0.1:0"\n{extra}\n{body}', encoding="utf-8")


class TestReloader:
    def _reloader(self, tmp_path: Path) -> tuple[Reloader, list[InventoryChange], Metrics]:
        path = tmp_path / "pantau.toml"
        write(path, ["a", "b", "c"])
        applied: list[InventoryChange] = []
        metrics = Metrics()
        reloader = Reloader(load(path), applied.append, clock=FakeClock(),
                            success=metrics.reload_success,
                            success_at=metrics.reload_success_at)
        return reloader, applied, metrics

    def _success(self, metrics: Metrics) -> float | None:
        return metrics.registry.get_sample_value("pantau_config_last_reload_success")

    def test_an_invalid_file_changes_nothing(self, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
        reloader, applied, metrics = self._reloader(tmp_path)
        config = reloader.config
        assert self._success(metrics) == 1
        path = tmp_path / "pantau.toml"
        write(path, ["a", "d"], extra="[polling]\ninterval_seconds = -5\n")
        with caplog.at_level(logging.ERROR):
            outcome = reloader.reload()
        assert not outcome.ok
        assert applied == []
        assert reloader.config is config
        assert self._success(metrics) == 0
        assert any("interval_seconds" in p for p in outcome.problems)
        logged = [r for r in caplog.records if r.getMessage() == "config reload refused"]
        assert logged
        assert all(getattr(r, "file", None) == str(path) for r in logged)
        assert any("interval_seconds" in str(getattr(r, "problem", "")) for r in logged)
        path.write_text("[agent\n", encoding="utf-8")  # not even TOML
        assert not reloader.reload().ok
        assert applied == []

    def test_a_valid_file_applies_the_inventory_only(
            self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        reloader, applied, metrics = self._reloader(tmp_path)
        write(tmp_path / "pantau.toml", ["a", "c", "d"], extra="log_level = \"DEBUG\"\n")
        with caplog.at_level(logging.WARNING):
            outcome = reloader.reload()
        assert outcome.ok
        assert (outcome.added, outcome.removed, outcome.changed) == (("d",), ("b",), ())
        assert outcome.restart_needed == ("agent",)
        assert [d.name for d in applied[0].devices] == ["a", "c", "d"]
        assert [d.name for d in reloader.config.devices] == ["a", "c", "d"]
        assert reloader.config.agent.log_level == "INFO"  # not applied: needs a restart
        assert any(getattr(r, "keys", None) == "agent" for r in caplog.records)
        assert self._success(metrics) == 1
        assert outcome.as_json()["added"] == ["d"]


    def test_a_device_naming_a_new_credential_set_is_refused(self, tmp_path: Path) -> None:
        reloader, applied, metrics = self._reloader(tmp_path)
        path = tmp_path / "pantau.toml"
        path.write_text(
            '[snmp.auth.fresh]\nversion = "2c"\ncommunity = "c0mmunity-secret"\n\n'
            '[[devices]]\nname = "a"\naddress = "127.0.0.1"\nowner = "Dinas Uji"\n'
            'snmp_auth = "fresh"\n', encoding="utf-8")
        outcome = reloader.reload()
        assert not outcome.ok
        assert applied == []
        assert self._success(metrics) == 0
        assert outcome.problems == (f"{path}: devices[0].snmp_auth: credential set 'fresh' is "
                                    "new; new [snmp.auth.*] sets need a restart",)
        assert "c0mmunity-secret" not in repr(outcome)


def test_diff_names_added_removed_and_changed() -> None:
    change = diff_inventory([device("a"), device("b"), device("c")],
                            [device("c", address="127.0.0.2"), device("a"), device("z")])
    assert (change.added, change.removed, change.changed) == (("z",), ("b",), ("c",))
