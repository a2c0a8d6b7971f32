"""Reboot detection from sysUpTime, and interface subjects from SNMP results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.core.model import CheckResult, Sample, Status
from agent.detect.interfaces import INTERFACE_CHECK, interface_results
from agent.detect.reboots import WRAP, RebootTracker

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def snmp(at: float, uptime: float | None, status: Status = Status.OK) -> CheckResult:
    samples = () if uptime is None else (Sample("snmp_uptime_seconds", uptime),)
    return CheckResult("sw", "snmp", status, T0 + timedelta(seconds=at), 0.01, samples)


class TestReboots:
    """A reboot is the boot time moving later; wraps, timeouts and jitter are not."""

    def test_steady_uptime_is_no_reboot(self) -> None:
        t = RebootTracker()
        assert [t.observe(snmp(i * 30, 1000 + i * 30 + (i % 3) * 0.5)) for i in range(10)] == [
            None] * 10
        assert t.counts == {}

    def test_uptime_drop_is_one_reboot(self) -> None:
        t = RebootTracker()
        t.observe(snmp(0, 5000))
        r = t.observe(snmp(30, 12))
        assert r is not None
        assert (r.uptime_before_seconds, r.uptime_after_seconds) == (5000, 12)
        assert t.observe(snmp(60, 42)) is None
        assert t.counts == {"sw": 1}

    def test_reboot_during_long_outage_is_seen(self) -> None:
        t = RebootTracker()
        t.observe(snmp(0, 600))
        # unreachable for 2 h; rebooted an hour ago: uptime is larger than before, still a reboot
        assert t.observe(snmp(7200, 3600)) is not None

    def test_wrap_is_no_reboot(self) -> None:
        t = RebootTracker()
        top = WRAP.total_seconds()
        t.observe(snmp(0, top - 10))
        assert t.observe(snmp(30, 20)) is None  # wrapped: 497 days since boot
        assert t.counts == {}

    def test_timeouts_are_ignored(self) -> None:
        t = RebootTracker()
        t.observe(snmp(0, 1000))
        assert t.observe(snmp(30, None, Status.DOWN)) is None
        assert t.observe(snmp(60, 1060)) is None
        assert t.counts == {}


class TestInterfaceSubjects:
    """Only monitored interfaces become subjects; admin-up and oper-down is DOWN."""

    def result(self, status: Status = Status.OK) -> CheckResult:
        def port(name: str, monitored: float, admin: float, oper: float) -> tuple[Sample, ...]:
            lab = (("interface", name),)
            return (Sample("interface_monitored", monitored, lab),
                    Sample("interface_admin_up", admin, lab),
                    Sample("interface_oper_up", oper, lab),
                    Sample("interface_receive_bytes_total", 5.0, lab))
        return CheckResult("sw", "snmp", status, T0, 0.01,
                           port("uplink1", 1, 1, 0) + port("uplink2", 1, 0, 0)
                           + port("uplink3", 1, 1, 1) + port("access9", 0, 1, 0))

    def test_states(self) -> None:
        got = {name: r for name, r in interface_results(self.result())}
        assert set(got) == {"uplink1", "uplink2", "uplink3"}
        assert got["uplink1"].status is Status.DOWN
        assert "admin-up but oper-down" in got["uplink1"].reason
        assert got["uplink2"].status is Status.OK  # shut on purpose
        assert got["uplink3"].status is Status.OK
        assert all(r.check == INTERFACE_CHECK for r in got.values())

    def test_no_subjects_when_snmp_failed(self) -> None:
        assert interface_results(self.result(Status.DOWN)) == []
