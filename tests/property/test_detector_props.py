"""Properties of the detector over random result sequences, trees, ticks and windows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import FlappingSettings, MaintenanceWindow, PollingSettings
from agent.core.model import CheckResult, Device, DeviceState, Status
from agent.detect import (
    Detector,
    Event,
    Recheck,
    StepSettings,
    SubjectState,
    Transition,
    step,
)

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
UNKNOWN, UP, DOWN = DeviceState.UNKNOWN, DeviceState.UP, DeviceState.DOWN

Key = tuple[str, str]

FLAPPINGS = [
    FlappingSettings(enabled=False),
    FlappingSettings(window=7, high_percent=30.0, low_percent=25.0),
    FlappingSettings(),
]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class ReferenceRun:
    """An independent model of the hard state: the trailing run of known results decides."""

    def __init__(self, down_after: int, up_after: int) -> None:
        self.need = {DOWN: down_after, UP: up_after}
        self.known: list[DeviceState] = []
        self.hard = UNKNOWN

    def add(self, status: Status) -> tuple[DeviceState, int]:
        """Fold `status` in; return the hard state and the length of the trailing run."""
        if status is Status.UNKNOWN:
            return self.hard, 0
        target = DOWN if status is Status.DOWN else UP
        self.known.append(target)
        run = 0
        for s in reversed(self.known):
            if s is not target:
                break
            run += 1
        if run >= self.need[target]:
            self.hard = target
        return self.hard, run


class TestStepProperties:
    """`step` turns HARD exactly after N results in a row in the new state."""

    @settings(max_examples=300, deadline=None)
    @given(
        statuses=st.lists(st.sampled_from(list(Status)), max_size=60),
        down_after=st.integers(1, 6),
        up_after=st.integers(1, 6),
        flapping=st.sampled_from(FLAPPINGS),
    )
    def test_hard_exactly_after_n_consecutive_results(
        self, statuses: list[Status], down_after: int, up_after: int,
        flapping: FlappingSettings,
    ) -> None:
        settings_ = StepSettings(down_after=down_after, up_after=up_after, flapping=flapping)
        reference = ReferenceRun(down_after, up_after)
        state = SubjectState()
        for i, status in enumerate(statuses):
            before = state.hard
            state, changed = step(state, CheckResult("d", "icmp", status, at(i), 0.0), settings_)
            expected, run = reference.add(status)
            assert state.hard is expected
            assert changed == (expected is not before)
            if changed:
                # Exactly at the N-th result in the new state, never later.
                assert run == reference.need[expected]
                assert state.hard_since == at(i)
            assert state.soft == (bool(reference.known) and reference.known[-1] is not state.hard)


TREE = (
    Device(name="gp", address="127.0.0.1", owner="a"),
    Device(name="p", address="127.0.0.1", owner="a", parent="gp"),
    Device(name="c1", address="127.0.0.1", owner="a", parent="p"),
    Device(name="c2", address="127.0.0.1", owner="b", parent="p"),
    Device(name="solo", address="127.0.0.1", owner="b"),
)
PARENT = {"p": "gp", "c1": "p", "c2": "p"}
SUBJECTS: list[Key] = [(d.name, "icmp") for d in TREE] + [("p", "snmp"), ("c1", "snmp")]


def parent_of(key: Key) -> Key | None:
    device, check = key
    if check != "icmp":
        return (device, "icmp")
    parent = PARENT.get(device)
    return None if parent is None else (parent, "icmp")


@dataclass(frozen=True)
class ResultOp:
    """A result for `key`, `half_seconds` / 2 after the previous step."""

    key: Key
    status: Status
    half_seconds: int


@dataclass(frozen=True)
class TickOp:
    half_seconds: int


@dataclass(frozen=True)
class AnswerOp:
    """The scheduler runs the oldest outstanding re-check; it reports `status`."""

    status: Status


@dataclass(frozen=True)
class CycleOp:
    """One polling cycle: every subject in `order`, 1 s apart, DOWN when its device is in
    `failing` (an outage of those devices), else OK."""

    order: tuple[Key, ...]
    failing: frozenset[str]


Op = ResultOp | TickOp | AnswerOp | CycleOp

result_op = st.builds(
    ResultOp, st.sampled_from(SUBJECTS), st.sampled_from(list(Status)), st.integers(0, 40)
)
tick_op = st.builds(TickOp, st.integers(0, 120))
answer_op = st.builds(AnswerOp, st.sampled_from([Status.OK, Status.DOWN]))
cycle_op = st.builds(
    CycleOp,
    st.permutations(SUBJECTS).map(tuple),
    st.frozensets(st.sampled_from([d.name for d in TREE])),
)
ops = st.lists(
    st.one_of(result_op, result_op, tick_op, answer_op, cycle_op), min_size=1, max_size=60
)
windows: st.SearchStrategy[list[tuple[str, int, int]]] = st.lists(
    st.tuples(st.sampled_from([d.name for d in TREE]), st.integers(0, 120), st.integers(1, 120)),
    min_size=1,
    max_size=3,
) | st.just([])


@dataclass
class Observer:
    """Runs a scenario against a Detector and checks every event against an oracle."""

    detector: Detector
    interval: float
    down_after: int
    up_after: int
    t: float = 0.0
    last_failed: dict[Key, bool] = field(default_factory=dict)
    last_seen: dict[Key, float] = field(default_factory=dict)
    last_failure: dict[Key, float] = field(default_factory=dict)
    good_since: dict[Key, float] = field(default_factory=dict)  # start of the current OK run
    rechecks: list[tuple[Key, float]] = field(default_factory=list)
    outstanding: list[Key] = field(default_factory=list)
    folded: dict[Key, DeviceState] = field(default_factory=dict)
    reported: dict[Key, DeviceState] = field(default_factory=dict)
    references: dict[Key, ReferenceRun] = field(default_factory=dict)
    emitted: int = 0

    def result(self, key: Key, status: Status) -> None:
        if status is Status.DOWN:
            self.last_failure[key] = self.t
            self.good_since.pop(key, None)
        elif status is not Status.UNKNOWN:
            self.good_since.setdefault(key, self.t)
        if status is not Status.UNKNOWN:
            self.last_failed[key] = status is Status.DOWN
        self.last_seen[key] = self.t
        self.references.setdefault(key, ReferenceRun(self.down_after, self.up_after)).add(status)
        checked = CheckResult(key[0], key[1], status, at(self.t), 0.01)
        self.apply(self.detector.observe(checked))

    def apply(self, events: Sequence[Event]) -> None:
        for event in events:
            key = (event.device, event.check)
            if isinstance(event, Recheck):
                self.rechecks.append((key, self.t))
                self.outstanding.append(key)
            else:
                self.check_transition(key, event)
                self.emitted += 1

    def check_transition(self, key: Key, event: Transition) -> None:
        assert event.at == at(self.t)
        if event.maintenance:
            assert event.old is self.folded.get(key, UNKNOWN)
        else:
            # What ticketing sees is a consistent chain, across maintenance windows too.
            assert event.old is self.reported.get(key, UNKNOWN)
            self.reported[key] = event.new
        assert event.old is not event.new
        self.folded[key] = event.new
        parent = parent_of(key)
        if event.new is DOWN and parent is not None:
            # Never DOWN while the parent's latest result failed.
            assert not self.last_failed.get(parent, False), (key, event)
            observed = (event.evidence.observed_at - T0).total_seconds()
            stale = self.last_seen.get(parent, -1.0) < observed
            if stale and event.reason != "maintenance ended":
                # ... and never before the parent had one interval to answer a re-check.
                assert any(
                    k == parent and asked + self.interval <= self.t for k, asked in self.rechecks
                ), (key, event, self.rechecks)
        if event.old is DeviceState.UNREACHABLE and event.new is DOWN and parent is not None:
            # Leaving UNREACHABLE for DOWN needs a failure seen after the parent recovered.
            recovered = self.good_since.get(parent)
            assert recovered is None or self.last_failure.get(key, -1.0) > recovered
        if event.new is DOWN and key[1] == "icmp":
            snap = self.detector.snapshot().devices[key[0]]
            assert event.affected == snap.affected

    def check_snapshot(self) -> None:
        snap = self.detector.snapshot()
        assert sum(snap.transitions_total.values()) == self.emitted
        for name, device in snap.devices.items():
            assert (device.state is DeviceState.MAINTENANCE) == bool(device.maintenance)
            subjects = {(s.device, s.check): s for s in device.subjects}
            for key in SUBJECTS:
                if key[0] != name:
                    continue
                if key[1] == "icmp":
                    detected, hard = device.detected, device.hard
                elif key in subjects:
                    detected, hard = subjects[key].detected, subjects[key].hard
                else:
                    detected, hard = UNKNOWN, UNKNOWN
                # The fold of the emitted transitions is the current detected state.
                assert detected is self.folded.get(key, UNKNOWN), key
                if not device.maintenance:
                    assert detected is self.reported.get(key, UNKNOWN), key
                reference = self.references.get(key)
                assert hard is (reference.hard if reference else UNKNOWN), key
                parent = parent_of(key)
                if detected is DOWN and parent is not None:
                    assert not self.last_failed.get(parent, False), key


class TestDetectorProperties:
    """Random results over a device tree keep the detector's promises."""

    @settings(max_examples=1000, deadline=None)
    @given(
        scenario=ops,
        down_after=st.integers(1, 4),
        up_after=st.integers(1, 4),
        interval=st.sampled_from([10.0, 30.0]),
        flapping=st.sampled_from(FLAPPINGS),
        maintenance=windows,
    )
    def test_invariants(
        self,
        scenario: list[Op],
        down_after: int,
        up_after: int,
        interval: float,
        flapping: FlappingSettings,
        maintenance: list[tuple[str, int, int]],
    ) -> None:
        polling = PollingSettings(interval_seconds=interval, down_after=down_after,
                                  up_after=up_after)
        windows_ = [
            MaintenanceWindow(name=f"w{i}", devices=frozenset({name}), start=at(start),
                              end=at(start + length))
            for i, (name, start, length) in enumerate(maintenance)
        ]
        observer = Observer(Detector(TREE, polling, flapping, windows_), interval,
                            down_after, up_after)
        for op in scenario:
            if isinstance(op, ResultOp):
                observer.t += op.half_seconds / 2
                observer.result(op.key, op.status)
            elif isinstance(op, CycleOp):
                for key in op.order:
                    observer.t += 1.0
                    observer.result(key, Status.DOWN if key[0] in op.failing else Status.OK)
            elif isinstance(op, TickOp):
                observer.t += op.half_seconds / 2
                observer.apply(observer.detector.tick(at(observer.t)))
            elif observer.outstanding:
                observer.t += 0.5
                observer.result(observer.outstanding.pop(0), op.status)
            observer.check_snapshot()
