"""The detector: soft/hard states, parent suppression, re-checks, flapping and maintenance.

No clock and no sleeps: every result carries an explicit `observed_at`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

import pytest

from agent.config import FlappingSettings, MaintenanceWindow, PollingSettings
from agent.core.model import CheckResult, Device, DeviceState, Status
from agent.detect import (
    Detector,
    Event,
    Recheck,
    StepSettings,
    SubjectState,
    Transition,
    active_windows,
    flap_percent,
    step,
)

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # a Tuesday, 08:00 in Jakarta
OK, WARNING, DOWN, UNKNOWN = Status.OK, Status.WARNING, Status.DOWN, Status.UNKNOWN
NO_FLAPPING = FlappingSettings(enabled=False)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def result(
    device: str, status: Status, seconds: float, check: str = "icmp", reason: str = ""
) -> CheckResult:
    return CheckResult(device, check, status, at(seconds), 0.01, reason=reason)


def device(name: str, parent: str | None = None, site: str | None = None) -> Device:
    return Device(name=name, address="127.0.0.1", owner="Diskominfo", site=site, parent=parent)


class Harness:
    """Feeds results with a running time (1 s apart unless told) and keeps every event."""

    def __init__(
        self,
        devices: Sequence[Device],
        *,
        down_after: int = 3,
        up_after: int = 2,
        flapping: FlappingSettings | None = None,
        windows: Sequence[MaintenanceWindow] = (),
        interval: float = 30.0,
        start: float = 0.0,
    ) -> None:
        polling = PollingSettings(interval_seconds=interval, down_after=down_after,
                                  up_after=up_after)
        self.detector = Detector(devices, polling, flapping or FlappingSettings(), windows)
        self.t = start
        self.events: list[Event] = []

    def send(self, name: str, status: Status, *, check: str = "icmp", item: str = "",
             advance: float = 1.0, reason: str = "") -> list[Event]:
        self.t += advance
        events = self.detector.observe(result(name, status, self.t, check, reason), item)
        self.events += events
        return events

    def tick(self, advance: float) -> list[Transition]:
        self.t += advance
        out = self.detector.tick(at(self.t))
        self.events += out
        return out

    def transitions(self, name: str | None = None, check: str = "icmp") -> list[Transition]:
        return [e for e in self.events if isinstance(e, Transition)
                and (name is None or e.device == name) and e.check == check]

    def rechecks(self) -> list[Recheck]:
        return [e for e in self.events if isinstance(e, Recheck)]

    def path(self, name: str, check: str = "icmp") -> list[DeviceState]:
        """UNKNOWN, then the new state of each transition kept for the subject."""
        return [DeviceState.UNKNOWN] + [t.new for t in self.transitions(name, check)]

    def state(self, name: str) -> DeviceState:
        return self.detector.device_state(name)


def fold(states: Sequence[Status], settings: StepSettings) -> list[tuple[SubjectState, bool]]:
    state, out = SubjectState(), []
    for i, status in enumerate(states):
        state, changed = step(state, result("d", status, i), settings)
        out.append((state, changed))
    return out


class TestStep:
    """A subject turns HARD after exactly N results in a row in the new state."""

    @pytest.mark.parametrize("n", [1, 2, 3, 5])
    def test_turns_hard_down_exactly_at_down_after(self, n: int) -> None:
        steps = fold([OK] * 5 + [DOWN] * (n + 2), StepSettings(down_after=n, up_after=1))
        hard = [s.hard for s, _ in steps]
        assert hard[5 + n - 2] is DeviceState.UP
        assert hard[5 + n - 1] is DeviceState.DOWN
        assert [changed for _, changed in steps[5:]] == [i == n - 1 for i in range(n + 2)]
        assert steps[5 + n - 1][0].hard_since == at(5 + n - 1)

    @pytest.mark.parametrize("n", [1, 2, 4])
    def test_turns_hard_up_exactly_at_up_after(self, n: int) -> None:
        steps = fold([DOWN] * 3 + [OK] * (n + 1), StepSettings(down_after=3, up_after=n))
        assert [s.hard for s, _ in steps[3:]] == (
            [DeviceState.DOWN] * (n - 1) + [DeviceState.UP] * 2
        )

    def test_soft_attempts_count_from_one(self) -> None:
        steps = fold([OK, OK, DOWN, DOWN], StepSettings(down_after=3, up_after=2))
        state = steps[-1][0]
        assert (state.hard, state.trend, state.attempts, state.soft) == (
            DeviceState.UP, DeviceState.DOWN, 2, True
        )

    def test_an_interrupted_run_starts_again_at_attempt_one(self) -> None:
        steps = fold([OK, OK, DOWN, DOWN, OK, DOWN, DOWN], StepSettings(down_after=3))
        assert all(s.hard is DeviceState.UP for s, _ in steps[1:])
        assert steps[-1][0].attempts == 2

    def test_unknown_neither_counts_nor_resets(self) -> None:
        steps = fold([OK, OK, DOWN, UNKNOWN, DOWN, UNKNOWN, UNKNOWN, DOWN],
                     StepSettings(down_after=3))
        assert [s.hard for s, _ in steps[2:7]] == [DeviceState.UP] * 5
        assert [s.attempts for s, _ in steps[2:7]] == [1, 1, 2, 2, 2]
        assert steps[-1][0].hard is DeviceState.DOWN
        assert steps[3][0].last is not None
        assert steps[3][0].last.status is UNKNOWN

    def test_unknown_leaves_the_hard_state_as_is(self) -> None:
        steps = fold([DOWN] * 3 + [UNKNOWN] * 10, StepSettings(down_after=3))
        assert {s.hard for s, _ in steps[2:]} == {DeviceState.DOWN}

    def test_never_checked_or_unknown_since_start_is_unknown(self) -> None:
        assert SubjectState().hard is DeviceState.UNKNOWN
        steps = fold([UNKNOWN] * 4, StepSettings(down_after=1, up_after=1))
        assert {s.hard for s, _ in steps} == {DeviceState.UNKNOWN}
        assert not any(s.soft for s, _ in steps)

    def test_warning_counts_as_good(self) -> None:
        steps = fold([DOWN, DOWN, WARNING, WARNING], StepSettings(down_after=2, up_after=2))
        assert [s.hard for s, _ in steps] == [
            DeviceState.UNKNOWN, DeviceState.DOWN, DeviceState.DOWN, DeviceState.UP
        ]

    def test_first_results_after_start_need_their_threshold(self) -> None:
        steps = fold([OK, OK], StepSettings(down_after=3, up_after=2))
        assert [s.hard for s, _ in steps] == [DeviceState.UNKNOWN, DeviceState.UP]


class TestFlapPercent:
    """State changes weigh 0.8 (oldest) to 1.2 (newest) over window - 1 slots."""

    def test_steady_history_is_zero(self) -> None:
        assert flap_percent([False] * 21, 21) == 0.0

    def test_full_alternation_is_hundred(self) -> None:
        assert flap_percent([i % 2 == 0 for i in range(21)], 21) == pytest.approx(100.0)

    def test_newest_change_weighs_one_point_two(self) -> None:
        assert flap_percent([False] * 20 + [True], 21) == pytest.approx(100 * 1.2 / 20)

    def test_oldest_change_weighs_zero_point_eight(self) -> None:
        assert flap_percent([True] + [False] * 20, 21) == pytest.approx(100 * 0.8 / 20)

    def test_short_history_counts_missing_changes_as_none(self) -> None:
        assert flap_percent([False, True], 21) == pytest.approx(100 * 1.2 / 20)

    def test_only_the_last_window_counts(self) -> None:
        assert flap_percent([True, False] + [False] * 21, 21) == 0.0


class TestDeviceTransitions:
    """A lone device emits hard transitions with evidence, reason and counters."""

    def test_up_down_up(self) -> None:
        h = Harness([device("sw")])
        for status in [OK, OK, DOWN, DOWN]:
            h.send("sw", status)
        assert h.state("sw") is DeviceState.UP
        assert h.detector.is_retrying("sw", "icmp")
        h.send("sw", DOWN, reason="timeout")
        assert h.state("sw") is DeviceState.DOWN
        assert not h.detector.is_retrying("sw", "icmp")
        h.send("sw", OK)
        h.send("sw", OK)
        assert h.path("sw") == [DeviceState.UNKNOWN, DeviceState.UP, DeviceState.DOWN,
                                DeviceState.UP]
        down = h.transitions("sw")[1]
        assert (down.old, down.at, down.maintenance, down.flapping) == (
            DeviceState.UP, at(5), False, False
        )
        assert down.evidence.observed_at == at(5)
        assert down.reason == "3 consecutive failed results (last: timeout)"
        assert h.transitions("sw")[2].reason == "2 consecutive good results"

    def test_snapshot_and_counters(self) -> None:
        h = Harness([device("sw", site="Gedung A")])
        for status in [OK, OK, DOWN, DOWN, DOWN]:
            h.send("sw", status)
        h.send("sw", UNKNOWN, check="snmp")
        snap = h.detector.snapshot()
        sw = snap.devices["sw"]
        assert (sw.state, sw.hard, sw.since, sw.attempts, sw.site) == (
            DeviceState.DOWN, DeviceState.DOWN, at(5), 3, "Gedung A"
        )
        assert sw.results["icmp"].observed_at == at(5)
        assert sw.results["snmp"].status is UNKNOWN
        assert snap.transitions_total == {("icmp", "up"): 1, ("icmp", "down"): 1}
        assert [s.check for s in sw.subjects] == ["snmp"]
        assert sw.subjects[0].state is DeviceState.UNKNOWN

    def test_unchecked_device_is_unknown(self) -> None:
        h = Harness([device("sw")])
        assert h.state("sw") is DeviceState.UNKNOWN
        assert h.detector.snapshot().devices["sw"].since is None

    def test_unknown_results_never_make_a_device_known(self) -> None:
        h = Harness([device("sw")], down_after=1, up_after=1)
        for _ in range(5):
            h.send("sw", UNKNOWN)
        assert h.state("sw") is DeviceState.UNKNOWN
        assert h.events == []

    def test_results_for_devices_outside_the_inventory_are_ignored(self) -> None:
        h = Harness([device("sw")], down_after=1)
        assert h.send("ghost", DOWN) == []
        with pytest.raises(KeyError):
            h.detector.device_state("ghost")

    def test_hard_transitions_are_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        h = Harness([device("sw")], down_after=1, up_after=1)
        with caplog.at_level(logging.INFO, logger="agent.detect"):
            h.send("sw", OK)
            h.send("sw", DOWN)
        records = [r for r in caplog.records if r.getMessage() == "device state changed"]
        assert [(r.__dict__["device"], r.__dict__["old"], r.__dict__["new"]) for r in records] == [
            ("sw", "unknown", "up"), ("sw", "up", "down")
        ]
        assert records[1].__dict__["reason"] == "1 failed result"


CHILDREN = [f"ap-{i:02d}" for i in range(20)]


def star() -> list[Device]:
    return [device("core")] + [device(c, parent="core") for c in CHILDREN]


def warm_up(h: Harness, names: Sequence[str]) -> None:
    for _ in range(2):
        for name in names:
            h.send(name, OK)
    h.events.clear()


class TestParentSuppression:
    """Children of a failing parent are UNREACHABLE, never DOWN, in any arrival order."""

    @pytest.mark.parametrize(
        "parent_slot", [0, 7, 20], ids=["parent-first", "parent-middle", "parent-last"]
    )
    @pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
    def test_round_robin_orders(self, parent_slot: int, reverse: bool) -> None:
        h = Harness(star())
        warm_up(h, ["core", *CHILDREN])
        order = list(reversed(CHILDREN)) if reverse else list(CHILDREN)
        order.insert(parent_slot, "core")
        for _ in range(4):
            for name in order:
                h.send(name, DOWN)
        self.assert_outage(h)

    def test_parent_fails_first_children_later(self) -> None:
        h = Harness(star())
        warm_up(h, ["core", *CHILDREN])
        for _ in range(3):
            h.send("core", DOWN)
        assert h.transitions("core")[-1].affected == ()
        for _ in range(3):
            for child in CHILDREN:
                h.send(child, DOWN)
        self.assert_outage(h)
        assert h.rechecks() == []  # the parent was already failing

    def test_recheck_answered_at_once(self) -> None:
        h = Harness(star())
        warm_up(h, ["core", *CHILDREN])
        for _ in range(3):
            for child in CHILDREN:
                for event in h.send(child, DOWN, advance=0.1):
                    if isinstance(event, Recheck):  # the scheduler runs it at once
                        h.send(event.device, DOWN, advance=0.05)
        assert h.rechecks() == [Recheck("core", "icmp", "icmp of ap-00 failed")]
        h.send("core", DOWN)
        h.send("core", DOWN)
        self.assert_outage(h)

    def test_children_reach_threshold_before_the_parent_fails(self) -> None:
        h = Harness(star())
        warm_up(h, ["core", *CHILDREN])
        for _ in range(3):
            for child in CHILDREN:
                h.send(child, DOWN, advance=0.1)
        # Every child is hard DOWN, but none is shown DOWN: the parent was not re-checked.
        assert h.transitions() == []
        assert {h.state(c) for c in CHILDREN} == {DeviceState.UP}
        assert h.rechecks() == [Recheck("core", "icmp", "icmp of ap-00 failed")]
        h.send("core", DOWN, advance=3)  # the re-check's answer, within one interval
        assert {h.state(c) for c in CHILDREN} == {DeviceState.UNREACHABLE}
        h.send("core", DOWN)
        h.send("core", DOWN)
        self.assert_outage(h)
        assert h.transitions("core")[-1].affected == tuple(CHILDREN)

    def test_child_hard_down_is_held_until_the_parent_recheck_answers(self) -> None:
        h = Harness(star(), down_after=1)
        warm_up(h, ["core", *CHILDREN])
        for child in CHILDREN:
            h.send(child, DOWN)
        assert h.transitions() == []
        assert h.rechecks() == [Recheck("core", "icmp", "icmp of ap-00 failed")]
        assert {h.state(c) for c in CHILDREN} == {DeviceState.UP}
        h.send("core", DOWN, advance=5)
        self.assert_outage(h)
        assert h.transitions("core")[0].affected == tuple(CHILDREN)

    def test_recheck_answered_ok_lets_the_child_go_down(self) -> None:
        h = Harness(star(), down_after=1)
        warm_up(h, ["core", *CHILDREN])
        h.send("ap-03", DOWN)
        assert h.state("ap-03") is DeviceState.UP
        h.send("core", OK)
        assert h.path("ap-03") == [DeviceState.UNKNOWN, DeviceState.DOWN]
        assert h.transitions("ap-03")[0].reason == "1 failed result"

    def test_hold_is_bounded_by_one_interval(self) -> None:
        h = Harness(star(), down_after=1, interval=30)
        warm_up(h, ["core", *CHILDREN])
        h.send("ap-03", DOWN)
        assert h.tick(29.0) == []
        (down,) = h.tick(1.0)
        assert (down.device, down.old, down.new) == ("ap-03", DeviceState.UP, DeviceState.DOWN)
        assert down.reason == (
            "1 failed result; parent core not re-checked within 30s"
        )

    def test_a_pending_recheck_expires_after_one_interval(self) -> None:
        h = Harness(star(), interval=30)
        warm_up(h, ["core", *CHILDREN])
        h.send("ap-01", DOWN)
        h.send("ap-02", DOWN, advance=29)  # still pending: not asked again
        assert len(h.rechecks()) == 1
        h.send("ap-03", DOWN, advance=1)  # unanswered for a whole interval: ask again
        assert len(h.rechecks()) == 2

    def test_parent_cycles_in_a_hand_built_inventory_do_not_hang(self) -> None:
        h = Harness([device("a", parent="b"), device("b", parent="a")], down_after=1)
        h.send("a", DOWN)
        h.send("b", DOWN)
        assert {h.state("a"), h.state("b")} <= {DeviceState.DOWN, DeviceState.UNREACHABLE}

    def test_no_recheck_when_the_parent_result_is_fresh(self) -> None:
        h = Harness([device("core"), device("ap", parent="core")], down_after=1)
        warm_up(h, ["ap", "core"])  # core's last result is newer than ap's
        h.t -= 0.5  # ap's failure is observed before core's last result
        h.send("ap", DOWN, advance=0.0)
        assert h.rechecks() == []
        assert h.path("ap") == [DeviceState.UNKNOWN, DeviceState.DOWN]

    def test_child_follows_its_parent_between_down_and_unreachable(self) -> None:
        h = Harness([device("core"), device("ap", parent="core")])
        warm_up(h, ["core", "ap"])
        for _ in range(3):
            h.send("core", DOWN)
            h.send("ap", DOWN)
        assert h.state("ap") is DeviceState.UNREACHABLE
        h.send("core", OK)  # the parent answers again; ap's failures so far are explained
        assert h.state("ap") is DeviceState.UNREACHABLE
        h.send("ap", DOWN)  # ap still fails after core recovered: held for a core re-check
        assert h.state("ap") is DeviceState.UNREACHABLE
        assert h.rechecks() == [Recheck("core", "icmp", "icmp of ap failed")]
        h.send("core", OK)
        assert h.state("ap") is DeviceState.DOWN
        h.send("ap", DOWN)
        h.send("core", DOWN)
        assert h.state("ap") is DeviceState.UNREACHABLE
        assert h.path("ap")[1:] == [DeviceState.UNREACHABLE, DeviceState.DOWN,
                                    DeviceState.UNREACHABLE]
        assert h.transitions("ap")[1].reason == "parent core no longer failing"
        assert h.transitions("ap")[2].reason == "parent core failing"

    def test_parent_recovery_does_not_flash_children_down(self) -> None:
        h = Harness(star())
        warm_up(h, ["core", *CHILDREN])
        for _ in range(3):
            for name in ["core", *CHILDREN]:
                h.send(name, DOWN)
        for _ in range(2):
            for name in ["core", *CHILDREN]:
                h.send(name, OK)
        assert h.state("core") is DeviceState.UP
        for child in CHILDREN:
            assert h.path(child) == [DeviceState.UNKNOWN, DeviceState.UNREACHABLE,
                                     DeviceState.UP], child
        assert h.transitions("ap-00")[-1].reason == "2 consecutive good results"

    def test_grandparent_chain(self) -> None:
        devices = [device("core"), device("dist", parent="core"), device("ap", parent="dist")]
        h = Harness(devices)
        warm_up(h, ["core", "dist", "ap"])
        for _ in range(3):
            for name in ["ap", "dist", "core"]:
                h.send(name, DOWN)
        assert [h.state(n) for n in ["core", "dist", "ap"]] == [
            DeviceState.DOWN, DeviceState.UNREACHABLE, DeviceState.UNREACHABLE
        ]
        assert DeviceState.DOWN not in h.path("dist") + h.path("ap")
        assert h.transitions("core")[-1].affected == ("ap", "dist")
        assert h.detector.snapshot().devices["core"].affected == ("ap", "dist")

    def test_grandchild_is_unreachable_while_its_parent_is(self) -> None:
        devices = [device("core"), device("dist", parent="core"), device("ap", parent="dist")]
        h = Harness(devices)
        warm_up(h, ["core", "dist", "ap"])
        for _ in range(3):
            h.send("core", DOWN)
            h.send("dist", DOWN)
            h.send("ap", DOWN)
        h.send("dist", OK)  # dist answers once (soft): still hard DOWN, behind a failing core
        assert h.state("dist") is DeviceState.UNREACHABLE
        assert h.state("ap") is DeviceState.UNREACHABLE

    def test_flapping_child_behind_a_failing_parent_is_unreachable(self) -> None:
        h = Harness([device("core"), device("ap", parent="core")], down_after=1, up_after=1,
                    flapping=FLAP)
        for status in [OK, OK, *ALTERNATING]:
            h.send("core", OK, advance=0.5)
            h.send("ap", status, advance=0.5)
        assert h.state("ap") is DeviceState.FLAPPING
        h.send("core", DOWN)
        assert h.state("ap") is DeviceState.UNREACHABLE
        assert h.transitions("ap")[-1].reason == "parent core failing"
        assert h.transitions("ap")[-1].flapping

    @staticmethod
    def assert_outage(h: Harness) -> None:
        assert h.state("core") is DeviceState.DOWN
        assert {h.state(c) for c in CHILDREN} == {DeviceState.UNREACHABLE}
        for child in CHILDREN:
            assert h.path(child) == [DeviceState.UNKNOWN, DeviceState.UNREACHABLE], child
        assert h.transitions("core")[-1].new is DeviceState.DOWN


class TestHoldDeadline:
    """A held change is decided only after the result that arrives at its deadline."""

    @staticmethod
    def held(devices: Sequence[Device], child: str) -> Harness:
        """`child` fails once (down_after=1) and is held for a re-check of its parent."""
        h = Harness(devices, down_after=1, up_after=1, interval=10)
        warm_up(h, [d.name for d in devices])
        h.send(child, DOWN)
        assert h.transitions() == []
        assert len(h.rechecks()) == 1
        return h

    def test_parent_failing_at_the_deadline_makes_the_child_unreachable(self) -> None:
        h = self.held([device("core"), device("ap", parent="core")], "ap")
        h.send("core", DOWN, advance=10)  # the re-check's answer, just as the hold ends
        assert h.path("ap") == [DeviceState.UNKNOWN, DeviceState.UNREACHABLE]
        assert h.transitions("ap")[0].reason == "parent core failing"
        assert [t.device for t in h.transitions()] == ["core", "ap"]
        assert h.transitions("core")[0].affected == ("ap",)

    def test_parent_ok_at_the_deadline_is_not_reported_as_unanswered(self) -> None:
        h = self.held([device("core"), device("ap", parent="core")], "ap")
        h.send("core", OK, advance=10)
        assert h.path("ap") == [DeviceState.UNKNOWN, DeviceState.DOWN]
        assert h.transitions("ap")[0].reason == "1 failed result"

    def test_held_parent_recovering_at_the_deadline_never_shows_down(self) -> None:
        devices = [device("core"), device("dist", parent="core"), device("ap", parent="dist")]
        h = self.held(devices, "ap")
        h.send("dist", DOWN, advance=0.5)  # the answer: dist is held in turn, for core
        assert h.state("ap") is DeviceState.UNREACHABLE
        assert h.state("dist") is DeviceState.UP
        h.send("dist", OK, advance=10)  # dist's own next result, as its hold ends
        assert h.transitions("dist") == []
        assert h.state("ap") is DeviceState.UNREACHABLE  # until ap's own next result
        assert h.detector.snapshot().devices["dist"].affected == ()


class TestWindowEndAtAChange:
    """A window found closed by a change is closed after it: its catch-up reports the outcome."""

    WINDOW = MaintenanceWindow(name="w", devices=frozenset({"ap"}), start=at(10), end=at(50))

    def test_a_parent_failure_closing_the_window_reports_the_child_unreachable(self) -> None:
        h = Harness([device("core"), device("ap", parent="core")], down_after=1, up_after=1,
                    interval=10, windows=[self.WINDOW])
        warm_up(h, ["core", "ap"])
        h.t = 10
        h.send("ap", DOWN)  # in the window: held for a re-check of core
        h.send("core", OK)  # core answers: ap is DOWN, inside the window
        assert h.transitions("ap")[-1].maintenance
        h.send("core", DOWN, advance=38)  # t = 50: ap's window has just closed
        outside = [(t.old, t.new, t.reason) for t in h.transitions("ap") if not t.maintenance]
        assert outside == [(DeviceState.UP, DeviceState.UNREACHABLE, "maintenance ended")]
        assert h.state("ap") is DeviceState.UNREACHABLE

    def test_the_catch_up_lists_children_the_closing_result_makes_unreachable(self) -> None:
        window = MaintenanceWindow(name="w", devices=frozenset({"core"}),
                                   start=at(10), end=at(50))
        h = Harness([device("core"), device("ap", parent="core")], down_after=1, up_after=3,
                    windows=[window])
        warm_up(h, ["core", "ap", "core", "ap"])  # up_after=3: both UP
        h.t = 10
        h.send("core", DOWN)  # in the window
        h.send("core", OK)  # answers again (soft): still hard DOWN
        h.send("ap", DOWN)  # held for a re-check of core
        h.send("core", OK)  # the answer: core's latest result is good, so ap is DOWN
        assert (h.state("core"), h.state("ap")) == (DeviceState.MAINTENANCE, DeviceState.DOWN)
        h.events.clear()
        h.send("core", DOWN, advance=50)  # after the window: the result, then the catch-up
        (catch_up,) = h.transitions("core")
        assert (catch_up.old, catch_up.new, catch_up.reason) == (
            DeviceState.UP, DeviceState.DOWN, "maintenance ended"
        )
        assert h.path("ap") == [DeviceState.UNKNOWN, DeviceState.UNREACHABLE]
        assert catch_up.affected == ("ap",)
        assert h.detector.snapshot().devices["core"].affected == ("ap",)


ALTERNATING = [DOWN, OK] * 15
FLAP = FlappingSettings(enabled=True, window=21, high_percent=30.0, low_percent=25.0)


class TestFlapping:
    """An alternating device flaps once, suppresses transitions, and stops when stable."""

    def run(self, tail: Status) -> Harness:
        h = Harness([device("sw")], down_after=1, up_after=1, flapping=FLAP)
        for _ in range(3):
            h.send("sw", OK)
        for status in ALTERNATING:
            h.send("sw", status)
        for _ in range(25):
            h.send("sw", tail)
        return h

    @pytest.mark.parametrize("tail", [OK, DOWN])
    def test_enters_once_and_leaves_to_the_hard_state(self, tail: Status) -> None:
        h = self.run(tail)
        path = h.path("sw")
        assert path.count(DeviceState.FLAPPING) == 1
        start = path.index(DeviceState.FLAPPING)
        expected = DeviceState.UP if tail is OK else DeviceState.DOWN
        assert path[start + 1 :] == [expected]
        flapping = h.transitions("sw")[start - 1]
        assert flapping.flapping
        assert flapping.reason.startswith("flapping: ")
        assert h.transitions("sw")[start].reason.startswith("stopped flapping: ")
        assert h.state("sw") is expected

    def test_suppresses_hard_changes_while_flapping(self) -> None:
        h = Harness([device("sw")], down_after=1, up_after=1, flapping=FLAP)
        for _ in range(3):
            h.send("sw", OK)
        for status in ALTERNATING:
            h.send("sw", status)
        assert h.path("sw")[-1] is DeviceState.FLAPPING
        entered = len(h.transitions("sw"))
        for status in ALTERNATING:
            h.send("sw", status)
        assert len(h.transitions("sw")) == entered
        assert h.state("sw") is DeviceState.FLAPPING
        snap = h.detector.snapshot().devices["sw"]
        assert snap.flapping
        assert snap.flap_percent > 30.0

    def test_hysteresis_keeps_flapping_between_the_thresholds(self) -> None:
        h = Harness([device("sw")], down_after=1, up_after=1, flapping=FLAP)
        for status in [OK] * 3 + ALTERNATING:
            h.send("sw", status)
        stopped_at = None
        for i in range(25):
            h.send("sw", OK)
            pct = h.detector.snapshot().devices["sw"].flap_percent
            if h.state("sw") is not DeviceState.FLAPPING:
                stopped_at = i
                assert pct < 25.0
                break
            assert pct >= 25.0
        assert stopped_at is not None
        assert stopped_at > 0

    def test_disabled_flapping_never_flaps(self) -> None:
        h = Harness([device("sw")], down_after=1, up_after=1, flapping=NO_FLAPPING)
        for status in [OK, *ALTERNATING]:
            h.send("sw", status)
        assert DeviceState.FLAPPING not in h.path("sw")
        assert len(h.transitions("sw")) == 1 + len(ALTERNATING)


# 100 cycles with exactly 30 failures, never more than two in a row.
LOSS_30 = [
    c == "x"
    for c in (
        ".....x...xx....x...x.x.x.......x....x.x.x..x..x......"
        "x...xx...xx.x.x...x.xx..x.x..x...x..x.....xx..."
    )
]


class TestLossPattern:
    """A lossy link with down_after=3 does not go DOWN unless three cycles fail in a row."""

    def test_pattern_is_what_it_claims(self) -> None:
        assert len(LOSS_30) == 100
        assert sum(LOSS_30) == 30
        assert "xxx" not in "".join("x" if f else "." for f in LOSS_30)

    def test_thirty_percent_loss_without_three_in_a_row_never_goes_down(self) -> None:
        h = Harness([device("sw")], flapping=NO_FLAPPING)
        for failed in LOSS_30:
            h.send("sw", DOWN if failed else OK)
        assert h.path("sw") == [DeviceState.UNKNOWN, DeviceState.UP]

    def test_three_failures_in_a_row_go_down_once(self) -> None:
        pattern = [*LOSS_30[:50], True, True, True, *LOSS_30[50:]]
        h = Harness([device("sw")], flapping=NO_FLAPPING)
        for failed in pattern:
            h.send("sw", DOWN if failed else OK)
        assert h.path("sw") == [DeviceState.UNKNOWN, DeviceState.UP, DeviceState.DOWN,
                                DeviceState.UP]

    def test_thirty_percent_loss_is_flapping(self) -> None:
        h = Harness([device("sw")], flapping=FLAP)
        for failed in LOSS_30:
            h.send("sw", DOWN if failed else OK)
        assert h.path("sw")[:3] == [DeviceState.UNKNOWN, DeviceState.UP, DeviceState.FLAPPING]
        assert DeviceState.DOWN not in h.path("sw")


def weekly(days: set[int], start: time, hours: float, tz: str | None = None, *,
           devices: frozenset[str] = frozenset({"sw"}), owners: frozenset[str] = frozenset(),
           sites: frozenset[str] = frozenset()) -> MaintenanceWindow:
    return MaintenanceWindow(name="weekly", devices=devices, owners=owners, sites=sites,
                             weekdays=frozenset(days), start_time=start,
                             duration=timedelta(hours=hours), timezone=tz)


class TestDetectorMaintenance:
    """Inside a window the device shows MAINTENANCE and its transitions are flagged."""

    ONE_OFF = MaintenanceWindow(name="upgrade", devices=frozenset({"sw"}),
                                start=at(10), end=at(100))

    def test_transitions_inside_a_window_are_flagged(self) -> None:
        h = Harness([device("sw")], windows=[self.ONE_OFF])
        h.send("sw", OK)
        h.send("sw", OK)
        assert h.state("sw") is DeviceState.UP
        h.t = 10
        for _ in range(3):
            h.send("sw", DOWN)
        assert h.state("sw") is DeviceState.MAINTENANCE
        down = h.transitions("sw")[-1]
        assert (down.new, down.maintenance) == (DeviceState.DOWN, True)
        snap = h.detector.snapshot().devices["sw"]
        assert (snap.state, snap.detected, snap.maintenance) == (
            DeviceState.MAINTENANCE, DeviceState.DOWN, ("upgrade",)
        )

    def test_window_end_reports_a_device_still_down(self) -> None:
        h = Harness([device("sw")], windows=[self.ONE_OFF])
        h.send("sw", OK)
        h.send("sw", OK)
        h.t = 10
        for _ in range(3):
            h.send("sw", DOWN)
        assert h.tick(80) == []  # t = 93: still inside
        (end,) = h.tick(7)  # t = 100: the window is half-open, so it has closed
        assert (end.old, end.new, end.maintenance, end.reason) == (
            DeviceState.UP, DeviceState.DOWN, False, "maintenance ended"
        )
        assert end.evidence.observed_at == at(13)
        assert h.state("sw") is DeviceState.DOWN
        assert h.tick(5) == []

    def test_window_end_is_silent_when_the_device_recovered(self) -> None:
        h = Harness([device("sw")], windows=[self.ONE_OFF])
        h.send("sw", OK)
        h.send("sw", OK)
        h.t = 10
        for status in [DOWN, DOWN, DOWN, OK, OK]:
            h.send("sw", status)
        assert [t.maintenance for t in h.transitions("sw")] == [False, True, True]
        assert h.tick(100) == []
        assert h.state("sw") is DeviceState.UP

    def test_a_result_after_the_window_closes_it_without_tick(self) -> None:
        h = Harness([device("sw")], windows=[self.ONE_OFF])
        h.send("sw", OK)
        h.send("sw", OK)
        h.t = 10
        for _ in range(3):
            h.send("sw", DOWN)
        events = h.send("sw", DOWN, advance=100)
        assert [(e.new, e.maintenance) for e in events if isinstance(e, Transition)] == [
            (DeviceState.DOWN, False)
        ]

    def test_a_device_down_since_start_inside_a_window_is_reported_at_its_end(self) -> None:
        h = Harness([device("sw")], windows=[self.ONE_OFF], start=10)
        for _ in range(3):
            h.send("sw", DOWN)
        (end,) = h.tick(100)
        assert (end.old, end.new, end.maintenance) == (
            DeviceState.UNKNOWN, DeviceState.DOWN, False
        )

    def test_weekly_window_in_the_device_zone(self) -> None:
        # Tuesdays 07:30 for one hour, Asia/Makassar (UTC+8): 23:30-00:30 UTC Monday/Tuesday.
        window = weekly({1}, time(7, 30), 1)
        sw = Device(name="sw", address="127.0.0.1", owner="x", timezone="Asia/Makassar")
        h = Harness([sw], windows=[window], start=-3600 * 1.5 + 60)  # 23:31 UTC Monday
        h.send("sw", OK)
        h.send("sw", OK)
        assert h.state("sw") is DeviceState.MAINTENANCE
        h.tick(3600)
        assert h.state("sw") is DeviceState.UP


class TestSubjects:
    """Other checks of a device are subjects of their own, behind the device's icmp."""

    def test_snmp_down_while_the_device_answers_pings(self) -> None:
        h = Harness([device("sw")], down_after=2)
        h.send("sw", OK)
        h.send("sw", OK)
        h.send("sw", DOWN, check="snmp", reason="timeout")
        assert h.detector.is_retrying("sw", "snmp")
        h.send("sw", OK)  # the ping the snmp failure asked for
        h.send("sw", DOWN, check="snmp", reason="timeout")
        assert h.transitions("sw", "snmp") == []  # held: no ping since this failure
        h.send("sw", OK)
        (down,) = h.transitions("sw", "snmp")
        assert (down.old, down.new, down.reason) == (
            DeviceState.UNKNOWN, DeviceState.DOWN, "2 consecutive failed results (last: timeout)"
        )
        assert h.state("sw") is DeviceState.UP
        assert h.detector.is_retrying("sw", "snmp") is False

    def test_snmp_failing_behind_a_failing_device_is_unreachable(self) -> None:
        h = Harness([device("sw")], down_after=2)
        h.send("sw", OK)
        h.send("sw", OK)
        for _ in range(2):
            h.send("sw", DOWN)
            h.send("sw", DOWN, check="snmp")
        assert h.path("sw", "snmp") == [DeviceState.UNKNOWN, DeviceState.UNREACHABLE]
        assert h.path("sw")[-1] is DeviceState.DOWN

    def test_snmp_failure_requests_a_ping(self) -> None:
        h = Harness([device("sw")], down_after=2)
        h.send("sw", OK)
        h.send("sw", OK)
        h.send("sw", DOWN, check="snmp")
        assert h.rechecks() == [Recheck("sw", "icmp", "snmp of sw failed")]

    def test_interface_items_are_separate_subjects(self) -> None:
        h = Harness([device("sw")], down_after=1, up_after=1)
        h.send("sw", OK)
        h.send("sw", DOWN, check="interface", item="ge-0/0/1")
        h.send("sw", OK, check="interface", item="ge-0/0/2")
        h.send("sw", OK, advance=0.5)
        ifaces = {(t.item, t.new) for t in h.transitions("sw", "interface")}
        assert ifaces == {("ge-0/0/1", DeviceState.DOWN), ("ge-0/0/2", DeviceState.UP)}
        snap = h.detector.snapshot().devices["sw"]
        assert [(s.item, s.detected) for s in snap.subjects] == [
            ("ge-0/0/1", DeviceState.DOWN), ("ge-0/0/2", DeviceState.UP)
        ]
        assert "interface" not in snap.results  # only whole-device checks are listed there

    def test_subjects_share_their_device_maintenance(self) -> None:
        window = MaintenanceWindow(name="w", devices=frozenset({"sw"}), start=at(0), end=at(50))
        h = Harness([device("sw")], down_after=1, windows=[window])
        h.send("sw", OK)
        h.send("sw", DOWN, check="snmp", advance=0.0)
        (snmp,) = h.transitions("sw", "snmp")
        assert snmp.maintenance
        assert h.detector.snapshot().devices["sw"].subjects[0].state is DeviceState.MAINTENANCE


JAKARTA_SW = Device(name="sw", address="127.0.0.1", owner="Diskominfo", site="Gedung A")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class TestActiveWindows:
    """Weekly windows recur on the wall clock of their zone; one-off windows are half-open."""

    def test_weekly_window_crossing_midnight_in_the_device_zone(self) -> None:
        # Tuesdays 22:00 Jakarta (15:00 UTC) for four hours: until Wednesday 02:00 local.
        w = weekly({1}, time(22, 0), 4)
        assert not active_windows([w], JAKARTA_SW, utc(2026, 11, 24, 14, 59))
        assert active_windows([w], JAKARTA_SW, utc(2026, 11, 24, 15, 0)) == [w]
        assert active_windows([w], JAKARTA_SW, utc(2026, 11, 24, 18, 59))  # Wed 01:59 local
        assert not active_windows([w], JAKARTA_SW, utc(2026, 11, 24, 19, 0))
        assert not active_windows([w], JAKARTA_SW, utc(2026, 11, 25, 15, 30))  # a Wednesday

    def test_weekly_window_crossing_the_end_of_the_week(self) -> None:
        # Sundays 23:00 Jakarta for three hours: Monday 00:00-02:00 local is still inside.
        w = weekly({6}, time(23, 0), 3)
        assert active_windows([w], JAKARTA_SW, utc(2026, 11, 29, 16, 0))  # Sun 23:00
        assert active_windows([w], JAKARTA_SW, utc(2026, 11, 29, 18, 30))  # Mon 01:30
        assert not active_windows([w], JAKARTA_SW, utc(2026, 11, 29, 19, 0))  # Mon 02:00
        assert not active_windows([w], JAKARTA_SW, utc(2026, 11, 29, 15, 59))  # Sun 22:59

    def test_window_zone_overrides_the_device_zone(self) -> None:
        # 01:00-02:00 Asia/Makassar (UTC+8) is 17:00-18:00 UTC the day before.
        w = weekly({0}, time(1, 0), 1, tz="Asia/Makassar")  # Mondays
        assert active_windows([w], JAKARTA_SW, utc(2026, 11, 22, 17, 30))
        assert not active_windows([w], JAKARTA_SW, utc(2026, 11, 23, 1, 30))  # 01:30 Jakarta
        plain = weekly({0}, time(1, 0), 1)
        assert active_windows([plain], JAKARTA_SW, utc(2026, 11, 22, 18, 30))  # 01:30 WIB

    def test_device_zone_asia_makassar(self) -> None:
        makassar = Device(name="sw", address="127.0.0.1", owner="x", timezone="Asia/Makassar")
        w = weekly({0}, time(1, 0), 1)
        assert active_windows([w], makassar, utc(2026, 11, 22, 17, 0))
        assert not active_windows([w], makassar, utc(2026, 11, 22, 18, 0))

    def test_duration_is_elapsed_time_across_a_dst_change(self) -> None:
        # Berlin springs forward on Sunday 2026-03-29 at 02:00 CET: 01:30 CET is 00:30 UTC,
        # and two hours later it is 02:30 UTC (04:30 CEST on the wall clock).
        w = weekly({6}, time(1, 30), 2, tz="Europe/Berlin")
        assert active_windows([w], JAKARTA_SW, utc(2026, 3, 29, 0, 30))
        assert active_windows([w], JAKARTA_SW, utc(2026, 3, 29, 2, 29))
        assert not active_windows([w], JAKARTA_SW, utc(2026, 3, 29, 2, 30))

    def test_one_off_window_is_half_open(self) -> None:
        w = MaintenanceWindow(name="upgrade", devices=frozenset({"sw"}),
                              start=utc(2026, 11, 24, 1), end=utc(2026, 11, 24, 3))
        assert not active_windows([w], JAKARTA_SW, utc(2026, 11, 24, 0, 59))
        assert active_windows([w], JAKARTA_SW, utc(2026, 11, 24, 1))
        assert not active_windows([w], JAKARTA_SW, utc(2026, 11, 24, 3))

    def test_windows_match_by_name_owner_or_site(self) -> None:
        now = utc(2026, 11, 24, 15, 30)
        by_owner = weekly({1}, time(22, 0), 4, devices=frozenset(),
                          owners=frozenset({"Diskominfo"}))
        by_site = weekly({1}, time(22, 0), 4, devices=frozenset(), sites=frozenset({"Gedung A"}))
        other = weekly({1}, time(22, 0), 4, devices=frozenset({"sw-2"}))
        nothing = MaintenanceWindow(name="empty", weekdays=frozenset({1}),
                                    start_time=time(22, 0), duration=timedelta(hours=4))
        assert active_windows([by_owner, by_site, other, nothing], JAKARTA_SW, now) == [
            by_owner, by_site
        ]

    def test_naive_instant_is_refused(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            active_windows([weekly({1}, time(22, 0), 4)], JAKARTA_SW, datetime(2026, 11, 24))
