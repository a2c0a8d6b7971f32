"""Trap-announced interfaces: after announce(device, item, at, down=...), a confirming
result within the window turns the interface hard after `confirm_after` results instead of
`down_after` / `up_after`; without an announcement, or outside the window, nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.config import FlappingSettings, PollingSettings
from agent.core.model import CheckResult, Device, DeviceState, Status
from agent.detect import CONFIRM_WINDOW_SECONDS, INTERFACE_CHECK, Detector, Transition

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SW = Device(name="sw", address="127.0.0.1", owner="Diskominfo", snmp_auth="v2")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def detector(confirm_after: int = 1) -> Detector:
    polling = PollingSettings(interval_seconds=60, down_after=3, up_after=2)
    return Detector([SW], polling, FlappingSettings(enabled=False), (),
                    confirm_after=confirm_after)


def up_device(d: Detector) -> None:
    """The device answers ICMP (so its interfaces are not held back behind a stale parent)."""
    for s in (0.0, 1.0):
        d.observe(CheckResult("sw", "icmp", Status.OK, at(s), 0.01))


def iface(d: Detector, status: Status, seconds: float, item: str = "uplink") -> list[Transition]:
    """One result of interface `item`, then the device's ICMP re-check its failure asks for
    (a change to DOWN waits for a parent result newer than its own)."""
    events = d.observe(CheckResult("sw", INTERFACE_CHECK, status, at(seconds), 0.01), item)
    events += d.observe(CheckResult("sw", "icmp", Status.OK, at(seconds + 0.5), 0.01))
    return [e for e in events if isinstance(e, Transition) and e.check == INTERFACE_CHECK]


def state(d: Detector, item: str = "uplink") -> DeviceState:
    return next(s.hard for s in d.snapshot().devices["sw"].subjects if s.item == item)


class TestAnnounced:
    """A linkDown/linkUp trap lowers the threshold of its interface for one window."""

    def test_without_a_trap_down_after_holds(self) -> None:
        d = detector()
        up_device(d)
        iface(d, Status.OK, 10)
        iface(d, Status.OK, 11)
        assert iface(d, Status.DOWN, 20) == []
        assert state(d) is DeviceState.UP

    def test_link_down_is_hard_after_one_failing_poll(self) -> None:
        d = detector()
        up_device(d)
        iface(d, Status.OK, 10)
        iface(d, Status.OK, 11)
        d.announce("sw", "uplink", at(19), down=True)
        changes = iface(d, Status.DOWN, 20)
        assert [(t.old, t.new) for t in changes] == [(DeviceState.UP, DeviceState.DOWN)]
        assert state(d) is DeviceState.DOWN

    def test_confirm_after_two(self) -> None:
        d = detector(confirm_after=2)
        up_device(d)
        iface(d, Status.OK, 10)
        iface(d, Status.OK, 11)
        d.announce("sw", "uplink", at(19), down=True)
        assert iface(d, Status.DOWN, 20) == []
        assert len(iface(d, Status.DOWN, 25)) == 1

    def test_link_up_is_hard_after_one_good_poll(self) -> None:
        d = detector()
        up_device(d)
        for s in (10, 11, 12):
            iface(d, Status.DOWN, s)
        assert state(d) is DeviceState.DOWN
        d.announce("sw", "uplink", at(30), down=False)
        assert len(iface(d, Status.OK, 31)) == 1
        assert state(d) is DeviceState.UP

    def test_a_poll_that_disagrees_uses_the_normal_rule(self) -> None:
        d = detector()
        up_device(d)
        for s in (10, 11, 12):
            iface(d, Status.DOWN, s)
        d.announce("sw", "uplink", at(30), down=True)  # linkDown, but the poll sees it up
        assert iface(d, Status.OK, 31) == []  # up_after (2) still applies
        assert state(d) is DeviceState.DOWN

    def test_after_the_window_the_normal_rule(self) -> None:
        d = detector()
        up_device(d)
        iface(d, Status.OK, 10)
        iface(d, Status.OK, 11)
        d.announce("sw", "uplink", at(19), down=True)
        assert iface(d, Status.DOWN, 19 + CONFIRM_WINDOW_SECONDS + 1) == []
        assert state(d) is DeviceState.UP

    def test_a_result_observed_before_the_trap_is_not_a_confirmation(self) -> None:
        d = detector()
        up_device(d)
        iface(d, Status.OK, 10)
        iface(d, Status.OK, 11)
        d.announce("sw", "uplink", at(21), down=True)
        assert iface(d, Status.DOWN, 20) == []

    def test_only_the_announced_interface(self) -> None:
        d = detector()
        up_device(d)
        for item in ("uplink", "access"):
            iface(d, Status.OK, 10, item)
            iface(d, Status.OK, 11, item)
        d.announce("sw", "uplink", at(19), down=True)
        assert iface(d, Status.DOWN, 20, "access") == []
        assert state(d, "access") is DeviceState.UP

    def test_tick_forgets_expired_announcements(self) -> None:
        d = detector()
        d.announce("sw", "uplink", at(0), down=True)
        assert d.announced_count() == 1
        d.tick(at(CONFIRM_WINDOW_SECONDS + 1))
        assert d.announced_count() == 0

    def test_unknown_device_is_ignored(self) -> None:
        d = detector()
        d.announce("nope", "uplink", at(0), down=True)
        assert d.announced_count() == 0
