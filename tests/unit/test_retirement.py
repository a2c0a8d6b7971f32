"""Interfaces that vanish from complete SNMP walks are retired: a DOWN one is reported
restored, and churned names never pile up."""

from __future__ import annotations

from agent.core.model import CheckResult, Sample, Status
from agent.detect import RETIRE_AFTER_POLLS, RETIRED_REASON
from agent.pipeline import ResultPipeline
from tests.unit.test_scaling import OK, at, icmp, inventory, pipeline_of
from ticketing.observation import Observation


def walk(device: str, seconds: float, names: list[str], down: frozenset[str] = frozenset(),
         status: Status = OK) -> CheckResult:
    samples = [Sample("snmp_uptime_seconds", 100.0 + seconds)]
    for name in names:
        labels = (("interface", name),)
        samples += [Sample("interface_monitored", 1.0, labels),
                    Sample("interface_admin_up", 1.0, labels),
                    Sample("interface_oper_up", 0.0 if name in down else 1.0, labels)]
    return CheckResult(device, "snmp", status, at(seconds), 0.01, samples=tuple(samples))


def b_down() -> tuple[ResultPipeline, list[Observation]]:
    """Device d0 up, its interface "a" up and "b" DOWN; no observations yet."""
    pipeline, seen = pipeline_of(inventory(1))
    pipeline.on_result(icmp("d0", OK, 0))
    pipeline.on_result(walk("d0", 0, ["a", "b"], down=frozenset({"b"})))
    seen.clear()
    return pipeline, seen


class TestRetirement:
    """A vanished interface goes after RETIRE_AFTER_POLLS complete walks without it."""

    def test_down_interface_is_restored_when_it_vanishes(self) -> None:
        devices = inventory(3)
        pipeline, seen = pipeline_of(devices)
        pipeline.on_result(icmp("d1", OK, 0))
        pipeline.on_result(walk("d1", 0, ["ge-1", "ge-2"], down=frozenset({"ge-2"})))
        assert [(o.item, o.kind) for o in seen if o.kind == "failing"] == [("ge-2", "failing")]
        seen.clear()
        for poll in range(1, RETIRE_AFTER_POLLS):
            pipeline.on_result(walk("d1", 30 * poll, ["ge-1"]))
            assert seen == []
            assert pipeline.detector.is_retrying("d1", "interface", "ge-2") is False
        pipeline.on_result(walk("d1", 30 * RETIRE_AFTER_POLLS, ["ge-1"]))
        assert [(o.device, o.item, o.kind, o.reason) for o in seen] == [
            ("d1", "ge-2", "restored", RETIRED_REASON)]
        assert pipeline.detector.subject_count() == 3 + 1 + 2  # devices, snmp, ge-1
        assert pipeline.interfaces["d1"] == ("ge-1",)

    def test_coming_back_resets_the_count(self) -> None:
        pipeline, seen = b_down()
        for poll in range(1, 3 * RETIRE_AFTER_POLLS):
            names = ["a"] if poll % RETIRE_AFTER_POLLS else ["a", "b"]
            pipeline.on_result(walk("d0", 30 * poll, names, down=frozenset({"b"})))
        assert [o for o in seen if o.reason == RETIRED_REASON] == []

    def test_partial_walks_do_not_count(self) -> None:
        pipeline, seen = b_down()
        for poll in range(1, 3 * RETIRE_AFTER_POLLS):
            pipeline.on_result(walk("d0", 30 * poll, ["a"], status=Status.WARNING))
        assert seen == []
        pipeline.on_result(walk("d0", 1000, [], status=Status.DOWN))
        assert seen == []
        assert set(pipeline.interfaces["d0"]) == {"a", "b"}


class TestChurn:
    """20,000 churned interface names keep the subjects bounded and the cost flat."""

    def test_churned_names_do_not_pile_up(self) -> None:
        devices = inventory(10)
        pipeline, _ = pipeline_of(devices)
        detector = pipeline.detector
        costs, counts = [], []
        for poll in range(400):  # 50 new names per walk: 20,000 in all
            pipeline.on_result(walk("d2", 30 * poll, [f"if-{poll}-{i}" for i in range(50)],
                                    down=frozenset({f"if-{poll}-7"})))
            before = detector.visited
            pipeline.on_result(icmp("d2", OK, 30 * poll + 1))
            costs.append(detector.visited - before)
            counts.append(detector.subject_count())
        assert max(counts) <= 11 + 1 + 50 * (RETIRE_AFTER_POLLS + 1)
        assert counts[-1] == counts[100]
        assert max(costs[100:]) == max(costs[:100]) <= 1 + RETIRE_AFTER_POLLS + 1
        assert len(pipeline.interfaces["d2"]) <= 50 * (RETIRE_AFTER_POLLS + 1)
