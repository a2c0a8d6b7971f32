"""Work per result and per transition does not grow with the inventory: the detector's and
the pipeline's operation counters at 100 and at 10,000 devices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from agent.config import FlappingSettings, PollingSettings
from agent.core.model import CheckResult, Device, Sample, Status
from agent.detect import Detector, Transition
from agent.pipeline import ResultPipeline
from agent.status import FAULT_STATES, StatusViews
from tests.fakes import FakeClock
from ticketing.calendar import CalendarTime
from ticketing.observation import Observation
from ticketing.sop import SOP_006

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
POLLING = PollingSettings(interval_seconds=30.0, down_after=1, up_after=1)
OK, DOWN = Status.OK, Status.DOWN


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def inventory(others: int, *, children: int = 0) -> list[Device]:
    """A core "core" with `children` behind it, and `others` unrelated devices."""
    devices = [Device(name="core", address="127.0.0.1", owner="a")]
    devices += [Device(name=f"c{i}", address="127.0.0.1", owner="a", parent="core")
                for i in range(children)]
    devices += [Device(name=f"d{i}", address="127.0.0.1", owner="b") for i in range(others)]
    return devices


def icmp(device: str, status: Status, seconds: float) -> CheckResult:
    return CheckResult(device, "icmp", status, at(seconds), 0.01,
                       reason="timeout" if status is DOWN else "")


def snmp(device: str, seconds: float, interfaces: int, down: frozenset[int] = frozenset()
         ) -> CheckResult:
    samples = [Sample("snmp_uptime_seconds", 100.0 + seconds)]
    for i in range(interfaces):
        labels = (("interface", f"ge-{i}"),)
        samples += [Sample("interface_monitored", 1.0, labels),
                    Sample("interface_admin_up", 1.0, labels),
                    Sample("interface_oper_up", 0.0 if i in down else 1.0, labels)]
    return CheckResult(device, "snmp", OK, at(seconds), 0.01, samples=tuple(samples))


def all_up(pipeline: ResultPipeline, devices: list[Device]) -> None:
    for d in devices:
        pipeline.on_result(icmp(d.name, OK, 0))


def pipeline_of(devices: list[Device]) -> tuple[ResultPipeline, list[Observation]]:
    detector = Detector(devices, POLLING, FlappingSettings(enabled=False), ())
    pipeline = ResultPipeline(devices, detector)
    seen: list[Observation] = []
    pipeline.connect(recheck=lambda device, check: None, observe=seen.append)
    return pipeline, seen


def transition_cost(others: int) -> tuple[int, int, list[Observation]]:
    """Subjects decided and results read for one device going DOWN and its observation."""
    devices = inventory(others)
    pipeline, seen = pipeline_of(devices)
    all_up(pipeline, devices)
    visited, read = pipeline.detector.visited, pipeline.results_read
    seen.clear()
    pipeline.on_result(icmp("d7", DOWN, 30))
    return pipeline.detector.visited - visited, pipeline.results_read - read, seen


class TestTransitionCost:
    """A transition costs the same at 10,000 devices as at 100."""

    def test_single_device_transition(self) -> None:
        small = transition_cost(100)
        large = transition_cost(10_000)
        assert small[:2] == large[:2]
        assert small[0] <= 3
        assert small[1] <= 2
        assert [o.device for o in large[2]] == ["d7"]
        assert large[2][0].evidence is not None
        assert set(large[2][0].evidence["last"]) == {"icmp"}

    def test_tick_visits_only_due_deadlines(self) -> None:
        costs = []
        for others in (100, 10_000):
            devices = inventory(others)
            pipeline, _ = pipeline_of(devices)
            all_up(pipeline, devices)
            before = pipeline.detector.visited
            for s in range(10):
                pipeline.tick(at(30 + s))
            costs.append(pipeline.detector.visited - before)
        assert costs[0] == costs[1] == 0


class TestInterfaceCost:
    """A device's ICMP result does not re-decide its 50 healthy interfaces."""

    def test_icmp_result_of_a_device_with_50_interfaces(self) -> None:
        costs = []
        for interfaces in (0, 50):
            devices = inventory(100)
            pipeline, _ = pipeline_of(devices)
            all_up(pipeline, devices)
            pipeline.on_result(snmp("d3", 1, interfaces))
            before = pipeline.detector.visited
            pipeline.on_result(icmp("d3", DOWN, 30))
            pipeline.on_result(icmp("d3", OK, 60))
            costs.append(pipeline.detector.visited - before)
        assert costs[0] == costs[1]

    def test_failing_interfaces_still_follow_their_device(self) -> None:
        devices = inventory(10)
        pipeline, seen = pipeline_of(devices)
        all_up(pipeline, devices)
        seen.clear()
        pipeline.on_result(snmp("d3", 0, 50, down=frozenset({4})))
        failing = [(o.device, o.item) for o in seen if o.kind == "failing"]
        assert failing == [("d3", "ge-4")]
        before = pipeline.detector.visited
        pipeline.on_result(icmp("d3", DOWN, 30))
        assert pipeline.detector.device_state("d3") == "down"
        assert pipeline.detector.visited - before == 2  # the device and its one failing port

    def test_snmp_result_cost_grows_with_interfaces_only(self) -> None:
        costs = []
        for others in (100, 10_000):
            devices = inventory(others)
            pipeline, _ = pipeline_of(devices)
            pipeline.on_result(snmp("d3", 1, 50))
            before = pipeline.detector.visited
            pipeline.on_result(snmp("d3", 31, 50, down=frozenset({1, 2})))
            costs.append(pipeline.detector.visited - before)
        assert costs[0] == costs[1] == 51


class TestMassEvent:
    """A core failing with 2,000 children costs O(children), whatever the inventory."""

    @staticmethod
    def cost(others: int) -> tuple[int, int, list[Transition | Observation]]:
        devices = inventory(others, children=2000)
        pipeline, seen = pipeline_of(devices)
        all_up(pipeline, devices)
        visited, read = pipeline.detector.visited, pipeline.results_read
        seen.clear()
        pipeline.on_result(icmp("core", DOWN, 30))
        for i in range(2000):
            pipeline.on_result(icmp(f"c{i}", DOWN, 31))
        pipeline.tick(at(100))
        return pipeline.detector.visited - visited, pipeline.results_read - read, list(seen)

    def test_core_with_2000_children(self) -> None:
        small, large = self.cost(100), self.cost(10_000)
        assert small[:2] == large[:2]
        assert large[0] <= 3 * 2000
        assert large[1] <= 2
        kinds = [(o.device, o.kind) for o in large[2] if isinstance(o, Observation)]
        assert kinds[0] == ("core", "failing")
        assert kinds.count(("core", "affected")) == 2000


class TestDeviceDocuments:
    """The device documents list the same faults as the full snapshot shows."""

    def test_faults_from_failing_subjects(self) -> None:
        devices = inventory(5)
        pipeline, _ = pipeline_of(devices)
        all_up(pipeline, devices)
        pipeline.on_result(snmp("d3", 0, 50, down=frozenset({4, 9})))
        pipeline.on_result(icmp("d2", DOWN, 30))
        views = StatusViews(
            devices=devices, index={d.name: d for d in devices}, sop=SOP_006,
            calendar=CalendarTime(), clock=FakeClock(),
            detector=pipeline.detector, reboots=pipeline.reboots,
            last_reboot=pipeline.last_reboot,
            scheduler=cast(Any, SimpleNamespace(stats=SimpleNamespace(in_flight=0))),
            service=cast(Any, SimpleNamespace(open_tickets=())))
        docs = {d["name"]: d for d in views.devices_json()}
        full = pipeline.detector.snapshot()
        for name, doc in docs.items():
            expected = [(s.check, s.item) for s in full.devices[name].subjects
                        if s.state in FAULT_STATES]
            assert [(f["check"], f["item"]) for f in doc["faults"]] == expected
        assert [f["item"] for f in docs["d3"]["faults"]] == ["ge-4", "ge-9"]
        assert docs["d2"]["state"] == "down"
        assert docs["d3"]["checks"]["snmp"] is views.devices_json()[4]["checks"]["snmp"]
        # one device by name (the device page and /api/v1/devices/{name}): the same document
        assert views.devices_json("d3") == [docs["d3"]]
        assert views.devices_json("nope") == []
