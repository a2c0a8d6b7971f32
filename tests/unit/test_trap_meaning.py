"""What an accepted trap means: confirming polls (bounded), announcements of monitored
interfaces, counts with a bounded label set, the ring of other notifications, and the two
counters' exposition. Traps are handed in as the receiver would; no sockets, FakeClock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import generate_latest

from agent.config import FlappingSettings, PollingSettings
from agent.core.model import CheckResult, Device, Sample, Status
from agent.core.traps import (
    AUTHENTICATION_FAILURE,
    COLD_START,
    DROP_REASONS,
    KINDS,
    LINK_DOWN,
    LINK_UP,
    MONITORED_IF_INDEX,
    OTHER,
    WARM_START,
    Trap,
)
from agent.detect import CONFIRM_WINDOW_SECONDS, Detector, Recheck, Transition
from agent.metrics import Metrics
from agent.pipeline import ResultPipeline
from agent.traps import MAX_OIDS_PER_DEVICE, TrapMeaning
from tests.conftest import Figure
from tests.fakes import FakeClock

SW = Device(name="sw", address="127.0.0.2", owner="Diskominfo", snmp_auth="v2")
PING_ONLY = Device(name="ap", address="127.0.0.3", owner="Diskominfo")
VENDOR = (1, 3, 6, 1, 4, 1, 9, 9, 41, 2, 0, 1)


class Harness:
    """A TrapMeaning with fake recheck/announce/count that record their calls."""

    def __init__(self, ring_size: int = 3) -> None:
        self.clock = FakeClock()
        self.rechecks: list[tuple[str, str]] = []
        self.announced: list[tuple[str, str, datetime, bool]] = []
        self.counted: list[tuple[str, str]] = []
        self.meaning = TrapMeaning(
            devices=[SW, PING_ONLY], clock=self.clock, ring_size=ring_size,
            recheck=lambda d, c: self.rechecks.append((d, c)),
            announce=lambda d, i, at, down: self.announced.append((d, i, at, down)),
            count=lambda d, label: self.counted.append((d, label)),
        )

    def trap(self, oid: tuple[int, ...], *, device: str = "sw", if_index: int | None = None,
             varbinds: tuple[tuple[str, str], ...] = ()) -> Trap:
        trap = Trap(device=device, source="127.0.0.2", version="2c", oid=oid,
                    kind=KINDS.get(oid, OTHER), received_at=self.clock.now(),
                    if_index=if_index, varbinds=varbinds)
        self.meaning.on_trap(trap)
        return trap

    def snmp(self, by_index: dict[str, str] | None, status: Status = Status.OK) -> None:
        info = () if by_index is None else ((MONITORED_IF_INDEX, json.dumps(by_index)),)
        self.meaning.on_snmp_result(CheckResult("sw", "snmp", status, self.clock.now(), 0.1,
                                                info=info))


class TestLinkTraps:
    """linkDown/linkUp on a monitored interface: one confirming poll and an announcement."""

    def test_link_down_polls_and_announces(self) -> None:
        h = Harness()
        h.snmp({"1": "eth0", "3": "uplink"})
        h.trap(LINK_DOWN, if_index=3)
        assert h.rechecks == [("sw", "snmp")]
        assert h.announced == [("sw", "uplink", h.clock.now(), True)]
        assert h.counted == [("sw", "linkDown")]

    def test_link_up_announces_up(self) -> None:
        h = Harness()
        h.snmp({"3": "uplink"})
        h.trap(LINK_UP, if_index=3)
        assert h.announced == [("sw", "uplink", h.clock.now(), False)]

    def test_unmonitored_interface_is_counted_not_polled(self) -> None:
        h = Harness()
        h.snmp({"3": "uplink"})
        h.trap(LINK_DOWN, if_index=7)
        h.trap(LINK_DOWN)  # no ifIndex at all
        assert (h.rechecks, h.announced) == ([], [])
        assert h.counted == [("sw", "linkDown")] * 2

    def test_no_monitored_interface_at_all(self) -> None:
        h = Harness()
        h.snmp(None)  # a result without the map: nothing is monitored
        h.trap(LINK_DOWN, if_index=3)
        assert h.rechecks == []

    def test_before_the_first_poll_the_poll_names_the_interface(self) -> None:
        h = Harness()
        at = h.clock.now()
        h.trap(LINK_DOWN, if_index=3)
        assert (h.rechecks, h.announced) == ([("sw", "snmp")], [])
        h.clock.advance(1)
        h.snmp({"3": "uplink"})
        assert h.announced == [("sw", "uplink", at, True)]

    def test_a_device_without_snmp_is_only_counted(self) -> None:
        h = Harness()
        h.trap(LINK_DOWN, device="ap", if_index=1)
        h.trap(COLD_START, device="ap")
        assert h.rechecks == []
        assert h.counted == [("ap", "linkDown"), ("ap", "coldStart")]


class TestRechecksAreBounded:
    """A device with a confirming poll pending is not asked again."""

    def test_a_storm_asks_once_until_the_result(self) -> None:
        h = Harness()
        h.snmp({"3": "uplink"})
        for _ in range(1000):
            h.trap(LINK_DOWN, if_index=3)
            h.trap(LINK_UP, if_index=3)
        assert h.rechecks == [("sw", "snmp")]
        assert len(h.counted) == 2000
        h.snmp({"3": "uplink"})  # the confirming poll's result
        h.trap(LINK_DOWN, if_index=3)
        assert len(h.rechecks) == 2

    def test_asked_again_after_the_window(self) -> None:
        h = Harness()
        h.snmp({"3": "uplink"})
        h.trap(LINK_DOWN, if_index=3)
        h.clock.advance(CONFIRM_WINDOW_SECONDS - 1)
        h.trap(LINK_DOWN, if_index=3)
        assert len(h.rechecks) == 1
        h.clock.advance(2)
        h.trap(LINK_DOWN, if_index=3)
        assert len(h.rechecks) == 2


class TestOtherKinds:
    """Restarts poll, authentication failures count, other OIDs count and fill the ring."""

    def test_cold_and_warm_start_poll_without_announcing(self) -> None:
        h = Harness()
        h.trap(COLD_START)
        h.snmp({})
        h.trap(WARM_START)
        assert h.rechecks == [("sw", "snmp")] * 2
        assert h.announced == []

    def test_authentication_failure_is_counted_only(self) -> None:
        h = Harness()
        h.trap(AUTHENTICATION_FAILURE)
        assert (h.rechecks, h.meaning.recent("sw")) == ([], [])
        assert h.counted == [("sw", "authenticationFailure")]

    def test_ring_newest_first_and_bounded(self) -> None:
        h = Harness(ring_size=3)
        for n in range(5):
            h.trap((*VENDOR, n), varbinds=(("1.3.6.1.2.1.1.5.0", f"sw-{n}"),))
            h.clock.advance(1)
        recent = h.meaning.recent("sw")
        assert [r["oid"] for r in recent] == [".".join(map(str, (*VENDOR, n))) for n in (4, 3, 2)]
        assert recent[0] == {
            "received_at": "2026-11-24T01:00:04+00:00", "version": "2c",
            "oid": "1.3.6.1.4.1.9.9.41.2.0.1.4", "kind": "other",
            "varbinds": [["1.3.6.1.2.1.1.5.0", "sw-4"]],
        }
        assert h.meaning.recent("ap") == []
        assert h.meaning.recent("gone") == []

    def test_label_set_is_bounded_per_device(self) -> None:
        h = Harness()
        for n in range(MAX_OIDS_PER_DEVICE + 5):
            h.trap((*VENDOR, n))
        h.trap((*VENDOR, 0))  # one seen before keeps its label
        labels = [label for _, label in h.counted]
        assert len(set(labels)) == MAX_OIDS_PER_DEVICE + 1
        assert labels[MAX_OIDS_PER_DEVICE:-1] == ["other"] * 5
        assert labels[-1] == "1.3.6.1.4.1.9.9.41.2.0.1.0"

    def test_removed_device_is_forgotten(self) -> None:
        h = Harness()
        h.trap((*VENDOR, 1))
        h.meaning.update_devices([PING_ONLY])
        h.trap((*VENDOR, 1))
        assert h.meaning.recent("sw") == []
        assert h.counted == [("sw", "1.3.6.1.4.1.9.9.41.2.0.1.1")]


class TestExposition:
    """The two counters under their contract names, every drop reason at 0 from the start."""

    def test_names_and_labels(self) -> None:
        metrics = Metrics()
        text = generate_latest(metrics.registry).decode()
        for reason in DROP_REASONS:
            assert f'pantau_traps_dropped_total{{reason="{reason}"}} 0.0' in text
        assert "pantau_traps_received_total{" not in text
        metrics.traps_received.labels("sw", "linkDown").inc()
        metrics.traps_dropped.labels("bad_community").inc()
        reg = metrics.registry
        assert reg.get_sample_value("pantau_traps_received_total",
                                    {"device": "sw", "trap": "linkDown"}) == 1.0
        assert reg.get_sample_value("pantau_traps_dropped_total",
                                    {"reason": "bad_community"}) == 1.0
        assert "# TYPE pantau_traps_received_total counter" in generate_latest(reg).decode()


class TestNotYetScheduled:
    """A poll the scheduler could not take (no job yet) is asked for again."""

    def test_refused_recheck_is_not_pending(self) -> None:
        clock = FakeClock()
        asked: list[str] = []

        def recheck(device: str, check: str) -> bool:
            asked.append(device)
            return False

        meaning = TrapMeaning(devices=[SW], clock=clock, ring_size=1, recheck=recheck,
                              announce=lambda *a: None, count=lambda d, t: None)
        for _ in range(2):
            meaning.on_trap(Trap("sw", "127.0.0.2", "2c", COLD_START, "coldStart", clock.now()))
        assert asked == ["sw", "sw"]


class TestThroughThePipeline:
    """Trap, confirming SNMP result, detector: the interface is DOWN after one failing poll
    (down_after 3), and not before its poll; the same poll without a trap changes nothing."""

    @staticmethod
    def run(with_trap: bool, failing_polls: int = 1) -> list[tuple[str, str, str]]:
        clock = FakeClock()
        polling = PollingSettings(interval_seconds=60, down_after=3, up_after=2)
        detector = Detector([SW], polling, FlappingSettings(enabled=False), (),
                            confirm_after=1)
        pipeline = ResultPipeline([SW], detector)
        rechecks: list[tuple[str, str]] = []
        meaning = TrapMeaning(
            devices=[SW], clock=clock, ring_size=5,
            recheck=lambda d, c: rechecks.append((d, c)),
            announce=lambda d, i, at, down: detector.announce(d, i, at, down=down),
            count=lambda d, t: None)
        seen: list[tuple[str, str, str]] = []
        pipeline.connect(recheck=lambda d, c: rechecks.append((d, c)),
                         observe=lambda obs: None, on_snmp=meaning.on_snmp_result)
        original = pipeline.handle_events

        def spy(events: Sequence[Transition | Recheck]) -> None:
            seen.extend((e.check, e.item, e.new.value) for e in events
                        if isinstance(e, Transition) and e.check == "interface")
            original(events)

        pipeline.handle_events = spy  # type: ignore[method-assign]

        def icmp() -> None:
            clock.advance(0.5)
            pipeline.on_result(CheckResult("sw", "icmp", Status.OK, clock.now(), 0.01))

        def snmp(oper_up: bool) -> None:
            clock.advance(0.5)
            lab = (("interface", "uplink"),)
            samples = (Sample("interface_monitored", 1.0, lab),
                       Sample("interface_admin_up", 1.0, lab),
                       Sample("interface_oper_up", 1.0 if oper_up else 0.0, lab))
            pipeline.on_result(CheckResult(
                "sw", "snmp", Status.OK, clock.now(), 0.1, samples=samples,
                info=((MONITORED_IF_INDEX, '{"3": "uplink"}'),)))

        for _ in range(2):
            icmp()
            snmp(True)
        if with_trap:
            meaning.on_trap(Trap("sw", "127.0.0.2", "2c", LINK_DOWN, "linkDown", clock.now(),
                                 if_index=3, admin_up=True, oper_up=False))
            assert rechecks == [("sw", "snmp")]
        for _ in range(failing_polls):
            snmp(False)  # the confirming poll (then the retries of a soft state)
            icmp()  # the device's re-check the interface's failure asks for
        return seen

    def test_trap_makes_one_poll_enough(self) -> None:
        assert self.run(with_trap=True) == [
            ("interface", "uplink", "up"), ("interface", "uplink", "down")]

    def test_without_the_trap_down_after_still_holds(self) -> None:
        assert self.run(with_trap=False) == [("interface", "uplink", "up")]

    def test_failing_polls_until_down(self, figure: Figure) -> None:
        def polls(with_trap: bool) -> int:
            return next(n for n in range(1, 6)
                        if ("interface", "uplink", "down") in self.run(with_trap, n))

        with_trap, without = polls(True), polls(False)
        figure(f"interface DOWN after {with_trap} failing poll(s) with a linkDown trap, "
               f"{without} without (down_after 3, confirm_after 1)")
        assert (with_trap, without) == (1, 3)
