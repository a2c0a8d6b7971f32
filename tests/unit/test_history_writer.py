"""The state history writer: batches, liveness, maintenance edges, store outages, stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from agent.core.errors import BackendUnavailable
from agent.core.model import CheckResult, Device, DeviceState, Status
from agent.core.settings import MaintenanceWindow
from agent.detect import Transition
from agent.history import HistorySink, HistoryWriter
from tests.fakes import FakeClock
from ticketing.history import MAINTENANCE, WINDOW_CLOSED, WINDOW_OPEN, MonitorRun, StateChange

SW = Device("sw", "127.0.0.2", "Dinas A")


class FakeSink:
    def __init__(self) -> None:
        self.writes: list[tuple[MonitorRun, list[StateChange]]] = []
        self.down = False
        self.closed = False

    async def record(self, run: MonitorRun, changes: Sequence[StateChange]) -> None:
        if self.down:
            raise BackendUnavailable("store down (test)")
        self.writes.append((run, list(changes)))

    async def aclose(self) -> None:
        self.closed = True

    @property
    def changes(self) -> list[StateChange]:
        return [c for _, cs in self.writes for c in cs]


def transition(clock: FakeClock, device: str, new: DeviceState,
               old: DeviceState = DeviceState.UP) -> Transition:
    evidence = CheckResult(device, "icmp", Status.OK, clock.now(), 0.1)
    return Transition(device, "icmp", "", old, new, clock.now(), "test", evidence)


def writer(clock: FakeClock, sink: FakeSink, windows: Sequence[MaintenanceWindow] = (),
           devices: Sequence[Device] = (SW,)) -> HistoryWriter:
    async def open_sink() -> HistorySink:
        return sink

    return HistoryWriter(clock, "node-a", open_sink, lambda: (windows, devices),
                         flush_seconds=5.0, alive_seconds=60.0)


class TestHistoryWriter:
    """Only changes are written, in batches, with the run's last-alive time."""

    async def test_a_mass_event_is_one_write(self) -> None:
        clock, sink = FakeClock(), FakeSink()
        w = writer(clock, sink)
        task = asyncio.create_task(w.run_forever())
        await clock.wait_sleepers(1)
        assert len(sink.writes) == 1  # the run's row at once
        for i in range(2000):
            w.on_transition(transition(clock, f"d{i}", DeviceState.DOWN))
        for _ in range(6):
            clock.advance(1.0)
            await clock.wait_sleepers(1)
        task.cancel()
        assert len(sink.writes) == 2
        assert len(sink.writes[1][1]) == 2000
        assert sink.writes[1][0].last_alive == clock.now() - timedelta(seconds=1)

    async def test_without_changes_only_the_liveness_is_written_each_minute(self) -> None:
        clock, sink = FakeClock(), FakeSink()
        w = writer(clock, sink)
        task = asyncio.create_task(w.run_forever())
        await clock.wait_sleepers(1)
        for _ in range(180):
            clock.advance(1.0)
            await clock.wait_sleepers(1)
        task.cancel()
        assert len(sink.writes) == 4  # at start, then after 60, 120, 180 s
        assert sink.changes == []
        assert sink.writes[-1][0].last_alive == w.run.started_at + timedelta(seconds=180)

    async def test_changes_survive_a_store_outage(self) -> None:
        clock, sink = FakeClock(), FakeSink()
        w = writer(clock, sink)
        sink.down = True
        w.on_transition(transition(clock, "sw", DeviceState.DOWN))
        assert not await w.write()
        clock.advance(30)
        w.on_transition(transition(clock, "sw", DeviceState.UP, DeviceState.DOWN))
        assert not await w.write()
        assert len(w.pending) == 2
        sink.down = False
        assert await w.write()
        assert [c.state for c in sink.changes] == ["down", "up"]
        assert w.pending == []
        assert w.written == 2

    async def test_a_change_made_during_a_write_waits_for_the_next(self) -> None:
        clock, sink = FakeClock(), FakeSink()
        w = writer(clock, sink)
        w.on_transition(transition(clock, "sw", DeviceState.DOWN))
        record = sink.record

        async def record_and_change(run: MonitorRun, changes: Sequence[StateChange]) -> None:
            w.on_transition(transition(clock, "sw", DeviceState.UP, DeviceState.DOWN))
            await record(run, changes)

        sink.record = record_and_change  # type: ignore[method-assign]
        assert await w.write()
        assert [c.state for c in w.pending] == ["up"]
        assert [c.state for c in sink.changes] == ["down"]

    async def test_writes_do_not_overlap(self) -> None:
        # a stop's write while a write (a cancelled run's) still waits on the store: each
        # change is written once, and none is dropped from pending unwritten
        clock, sink = FakeClock(), FakeSink()
        w = writer(clock, sink)
        record, entered, go = sink.record, asyncio.Event(), asyncio.Event()

        async def slow_first(run: MonitorRun, changes: Sequence[StateChange]) -> None:
            if not entered.is_set():
                entered.set()
                await go.wait()
            await record(run, changes)

        sink.record = slow_first  # type: ignore[method-assign]
        w.on_transition(transition(clock, "sw", DeviceState.DOWN))
        first = asyncio.create_task(w.write())
        await entered.wait()
        w.on_transition(transition(clock, "sw", DeviceState.UP, DeviceState.DOWN))
        second = asyncio.create_task(w.write(stopping=True))
        for _ in range(5):
            await asyncio.sleep(0)
        assert sink.writes == []
        assert not second.done()  # the stop waits its turn
        go.set()
        assert await first
        assert await second
        assert [[c.state for c in cs] for _, cs in sink.writes] == [["down"], ["up"]]
        assert sink.writes[-1][0].stopped_at == clock.now()
        assert w.pending == []
        assert w.written == 2

    async def test_a_bug_in_the_store_keeps_the_changes_and_the_agent(self) -> None:
        clock, sink = FakeClock(), FakeSink()
        w = writer(clock, sink)

        async def broken(run: MonitorRun, changes: Sequence[StateChange]) -> None:
            raise RuntimeError("bug (test)")

        sink.record = broken  # type: ignore[method-assign]
        w.on_transition(transition(clock, "sw", DeviceState.DOWN))
        assert not await w.write()
        assert len(w.pending) == 1

    async def test_a_bug_is_logged_once_per_failing_streak(
            self, caplog: pytest.LogCaptureFixture) -> None:
        clock, sink = FakeClock(), FakeSink()
        w = writer(clock, sink)
        record = sink.record

        async def broken(run: MonitorRun, changes: Sequence[StateChange]) -> None:
            raise RuntimeError("bug (test)")

        def bugs() -> int:
            return sum(1 for r in caplog.records
                       if r.message == "state history write failed" and r.exc_info)

        sink.record = broken  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="agent.history"):
            for _ in range(3):
                assert not await w.write()
            assert bugs() == 1
            sink.record = record  # type: ignore[method-assign]
            assert await w.write()
            assert "state history written again" in caplog.messages
            sink.record = broken  # type: ignore[method-assign]
            assert not await w.write()
            assert bugs() == 2  # a new streak

    async def test_stop_writes_the_stop_time(self) -> None:
        clock, sink = FakeClock(), FakeSink()
        w = writer(clock, sink)
        await w.write()
        clock.advance(10)
        w.on_transition(transition(clock, "sw", DeviceState.DOWN))
        assert await w.stop()
        run, changes = sink.writes[-1]
        assert run.stopped_at == clock.now()
        assert [c.state for c in changes] == ["down"]
        assert sink.closed

    async def test_maintenance_windows_are_recorded_as_edges(self) -> None:
        clock, sink = FakeClock(), FakeSink()
        start = clock.now() + timedelta(seconds=10)
        window = MaintenanceWindow("swap", devices=frozenset({"sw"}), start=start,
                                   end=start + timedelta(seconds=20))
        other = Device("other", "127.0.0.3", "Dinas B")
        w = writer(clock, sink, [window], [SW, other])
        for _ in range(40):
            w.tick(clock.now())
            clock.advance(1.0)
        assert [(c.device, c.check, c.state, c.at - start) for c in w.pending] == [
            ("sw", MAINTENANCE, WINDOW_OPEN, timedelta()),
            ("sw", MAINTENANCE, WINDOW_CLOSED, timedelta(seconds=20))]

    async def test_a_reload_forgets_removed_and_changed_devices(self) -> None:
        clock, sink = FakeClock(), FakeSink()
        w = writer(clock, sink)
        w.forget(["gone", "changed"], clock.now())
        assert [(c.device, c.check, c.state) for c in w.pending] == [
            ("gone", "icmp", "unknown"), ("changed", "icmp", "unknown")]


class TestPipelineHook:
    """The result pipeline hands every hard transition to the history."""

    def test_hard_transitions_reach_the_hook(self) -> None:
        from agent.config import FlappingSettings, PollingSettings
        from agent.detect import Detector
        from agent.pipeline import ResultPipeline

        clock = FakeClock()
        detector = Detector(devices=[SW], polling=PollingSettings(down_after=2, up_after=1),
                            flapping=FlappingSettings(enabled=False), maintenance=())
        pipeline = ResultPipeline([SW], detector)
        seen: list[Transition] = []
        pipeline.connect(recheck=lambda d, c: None, observe=lambda o: None,
                         on_transition=seen.append)
        for status in (Status.OK, Status.DOWN, Status.DOWN):
            pipeline.on_result(CheckResult("sw", "icmp", status, clock.now(), 0.1))
            clock.advance(30)
        assert [(t.device, t.new) for t in seen] == [("sw", DeviceState.UP),
                                                      ("sw", DeviceState.DOWN)]


class TestReloadWiring:
    """The agent's reload tells the history which devices' states were forgotten."""

    def test_removed_and_changed_devices_are_forgotten(self) -> None:
        from types import SimpleNamespace

        from agent.app import Agent
        from agent.config import loads
        from agent.reload import InventoryChange

        config = loads('[[devices]]\nname = "sw"\naddress = "127.0.0.2"\nowner = "A"\n'
                       '[[devices]]\nname = "ap"\naddress = "127.0.0.3"\nowner = "A"\n')
        clock = FakeClock()
        agent = Agent(config, clock=clock)
        agent.history = writer(clock, FakeSink())
        moved = Device("ap", "127.0.0.4", "A")
        change = InventoryChange(devices=(moved,), added=(), removed=("sw",), changed=("ap",))
        idle: Any = SimpleNamespace(remove_devices=lambda names: None,
                                    add_jobs=lambda jobs, within=None: None,
                                    forget=lambda names: None,
                                    jobs=lambda cfg, devices: [])
        agent._apply_inventory(change, idle, idle, idle)
        assert [(c.device, c.state) for c in agent.history.pending] == [
            ("sw", "unknown"), ("ap", "unknown")]
