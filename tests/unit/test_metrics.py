"""Metrics: per-device families from snapshots, agent health, names and label sets."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from agent.core.model import CheckResult, Device, DeviceState, Sample, Status
from agent.metrics import EXPOSED_NAMES, DeviceView, Metrics, Snapshot

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def icmp(device: str, status: Status, rtt: float | None, loss: float) -> CheckResult:
    samples = [Sample("icmp_packet_loss_ratio", loss)]
    if rtt is not None:
        samples.append(Sample("icmp_rtt_seconds", rtt))
    return CheckResult(device, "icmp", status, T0, 0.01, tuple(samples))


def snapshot() -> Snapshot:
    a = Device("sw-a", "127.0.0.2", "Dinas Kesehatan")
    b = Device("sw-b", "127.0.0.3", "Dinas Pendidikan", parent="sw-a")
    return Snapshot(
        devices=(
            DeviceView(a, DeviceState.DOWN, {"icmp": icmp("sw-a", Status.DOWN, None, 1.0)}),
            DeviceView(b, DeviceState.UNREACHABLE,
                       {"icmp": icmp("sw-b", Status.DOWN, None, 1.0)}),
        ),
        transitions={("icmp", "down"): 1, ("icmp", "unreachable"): 1},
    )


class TestDeviceFamilies:
    """Device series follow the snapshot and vanish with the device."""

    def test_values(self) -> None:
        m = Metrics()
        m.snapshots.snapshot = snapshot()
        r = m.registry
        assert r.get_sample_value("pantau_device_up", {"device": "sw-a",
                                                       "owner": "Dinas Kesehatan"}) == 0.0
        assert r.get_sample_value("pantau_device_state",
                                  {"device": "sw-b", "state": "unreachable"}) == 1.0
        assert r.get_sample_value("pantau_device_state",
                                  {"device": "sw-b", "state": "down"}) == 0.0
        assert r.get_sample_value("pantau_icmp_packet_loss_ratio", {"device": "sw-a"}) == 1.0
        assert r.get_sample_value("pantau_icmp_rtt_seconds", {"device": "sw-a"}) is None
        assert r.get_sample_value("pantau_state_transitions_total",
                                  {"check": "icmp", "state": "down"}) == 1.0
        assert r.get_sample_value("pantau_devices_configured") == 2.0

    def test_up_device_with_rtt(self) -> None:
        m = Metrics()
        d = Device("ap-1", "127.0.0.9", "Kecamatan Bogor Barat")
        m.snapshots.snapshot = Snapshot(devices=(
            DeviceView(d, DeviceState.UP, {"icmp": icmp("ap-1", Status.OK, 0.0004, 0.2)}),))
        r = m.registry
        assert r.get_sample_value("pantau_device_up", {"device": "ap-1",
                                                       "owner": "Kecamatan Bogor Barat"}) == 1.0
        assert r.get_sample_value("pantau_icmp_rtt_seconds", {"device": "ap-1"}) == 0.0004
        assert r.get_sample_value("pantau_icmp_packet_loss_ratio", {"device": "ap-1"}) == 0.2

    def test_removed_device_vanishes(self) -> None:
        m = Metrics()
        m.snapshots.snapshot = snapshot()
        m.snapshots.snapshot = Snapshot()
        assert m.registry.get_sample_value("pantau_device_up", {"device": "sw-a",
                                                                "owner": "Dinas Kesehatan"}) is None


class TestHealth:
    """The agent's own health: per-collector durations and errors, lag, build info."""

    def test_observe_check(self) -> None:
        m = Metrics()
        m.observe_check("icmp", 0.2, Status.DOWN, "timeout")
        m.observe_check("icmp", 0.01, Status.OK, "")
        r = m.registry
        assert r.get_sample_value("pantau_collector_duration_seconds_count",
                                  {"collector": "icmp"}) == 2.0
        assert r.get_sample_value("pantau_collector_checks_total",
                                  {"collector": "icmp", "status": "down"}) == 1.0
        assert r.get_sample_value("pantau_collector_errors_total",
                                  {"collector": "icmp", "kind": "timeout"}) == 1.0
        import platform

        from agent import __version__
        assert r.get_sample_value("pantau_build_info", {
            "version": __version__, "python": platform.python_version()}) == 1.0

    def test_every_exposed_name_is_declared(self) -> None:
        m = Metrics()
        m.observe_check("icmp", 0.2, Status.DOWN, "timeout")
        m.scheduler_lag.observe(0.01)
        text = m.render(snapshot()).decode()
        names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
        assert names - EXPOSED_NAMES == set()
        assert {n for n in names if not n.startswith("pantau_")} == set()

    def test_no_address_in_labels(self) -> None:
        text = Metrics().render(snapshot()).decode()
        assert "127.0.0." not in text


class TestSnmpFamilies:
    """SNMP results become device, interface and info series; stale data is not exported."""

    def snmp(self, status: Status) -> CheckResult:
        port = (("interface", "lab-p01"),)
        return CheckResult(
            "sw-a", "snmp", status, T0, 0.02,
            samples=(
                Sample("snmp_uptime_seconds", 1234.5),
                Sample("interface_oper_up", 0.0, port),
                Sample("interface_admin_up", 1.0, port),
                Sample("interface_receive_bytes_total", 2.0**40, port),
                Sample("interface_speed_bits_per_second", 1e10, port),
            ),
            info=(("sysName", "sw-a"), ("sysDescr", "Linux lab"),
                  ("sysObjectID", "1.3.6.1.4.1.8072.3.2.10")),
        )

    def test_values(self) -> None:
        m = Metrics()
        d = Device("sw-a", "127.0.0.2", "Dinas Kesehatan", snmp_auth="default")
        m.snapshots.snapshot = Snapshot(
            devices=(DeviceView(d, DeviceState.UP, {"snmp": self.snmp(Status.OK)}),),
            reboots={"sw-a": 2},
        )
        r = m.registry
        port = {"device": "sw-a", "interface": "lab-p01"}
        assert r.get_sample_value("pantau_snmp_up", {"device": "sw-a"}) == 1.0
        assert r.get_sample_value("pantau_snmp_uptime_seconds", {"device": "sw-a"}) == 1234.5
        assert r.get_sample_value("pantau_interface_up", port) == 0.0
        assert r.get_sample_value("pantau_interface_admin_up", port) == 1.0
        assert r.get_sample_value("pantau_interface_receive_bytes_total", port) == 2.0**40
        assert r.get_sample_value("pantau_interface_speed_bits_per_second", port) == 1e10
        assert r.get_sample_value("pantau_device_reboots_total", {"device": "sw-a"}) == 2.0
        assert r.get_sample_value("pantau_snmp_info", {
            "device": "sw-a", "sys_name": "sw-a",
            "sys_object_id": "1.3.6.1.4.1.8072.3.2.10"}) == 1.0
        names = {s.name for f in text_string_to_metric_families(m.render(
            m.snapshots.snapshot).decode()) for s in f.samples}
        assert names - EXPOSED_NAMES == set()

    def test_snmp_down_hides_interfaces(self) -> None:
        m = Metrics()
        d = Device("sw-a", "127.0.0.2", "Dinas Kesehatan", snmp_auth="default")
        m.snapshots.snapshot = Snapshot(
            devices=(DeviceView(d, DeviceState.UP, {"snmp": self.snmp(Status.DOWN)}),))
        r = m.registry
        assert r.get_sample_value("pantau_snmp_up", {"device": "sw-a"}) == 0.0
        assert r.get_sample_value("pantau_interface_up",
                                  {"device": "sw-a", "interface": "lab-p01"}) is None


class TestTicketFamilies:
    """Open tickets per step and owner, time left (most urgent per device), SLAs, counters."""

    def test_values(self) -> None:
        from agent.metrics import OpenTicketView

        m = Metrics()
        m.snapshots.snapshot = Snapshot(
            tickets=(OpenTicketView("sw-a", "Dinas Kesehatan", 2, 3600.0),
                     OpenTicketView("sw-a", "Dinas Kesehatan", 2, -60.0),
                     OpenTicketView("sw-b", "Dinas Kesehatan", 2, None),
                     OpenTicketView("sw-c", "RSUD Kota Bogor", 7, 120.0)),
            step_sla_seconds={2: 30600.0, 7: 600.0},
        )
        r = m.registry
        assert r.get_sample_value("pantau_tickets_open",
                                  {"step": "2", "owner": "Dinas Kesehatan"}) == 3.0
        assert r.get_sample_value("pantau_ticket_step_remaining_seconds", {
            "device": "sw-a", "owner": "Dinas Kesehatan", "step": "2"}) == -60.0
        assert r.get_sample_value("pantau_ticket_step_remaining_seconds", {
            "device": "sw-b", "owner": "Dinas Kesehatan", "step": "2"}) is None
        assert r.get_sample_value("pantau_ticket_step_sla_seconds", {"step": "7"}) == 600.0
        m.breached(2)
        m.step_completed(3, 90.0)
        m.restoration_verified(4000.0)
        assert r.get_sample_value("pantau_ticket_step_breaches_total", {"step": "2"}) == 1.0
        assert r.get_sample_value("pantau_ticket_step_duration_seconds_count",
                                  {"step": "3"}) == 1.0
        assert r.get_sample_value("pantau_ticket_restoration_seconds_count") == 1.0
        names = {s.name for f in text_string_to_metric_families(
            m.render(m.snapshots.snapshot).decode()) for s in f.samples}
        assert names - EXPOSED_NAMES == set()


def notified(r: CollectorRegistry, outcome: str, channel: str, kind: str) -> float | None:
    """pantau_notifications_<outcome>_total{channel, kind} ("sent" or "failed")."""
    return r.get_sample_value(f"pantau_notifications_{outcome}_total",
                              {"channel": channel, "kind": kind})


class TestNotificationFamilies:
    """Messages sent and given up per channel and kind, and the outbox's waiting messages."""

    def test_sent_and_failed_by_channel_family_and_kind(self) -> None:
        m = Metrics()
        n = m.notifications
        n.sent("telegram", "ticket_opened")
        n.sent("telegram", "ticket_opened")
        n.sent("webhook:wa-gateway", "sla_breached")
        n.sent("webhook:noc-chat", "sla_breached")
        n.failed("email", "step_ready")
        r = m.registry
        assert notified(r, "sent", "telegram", "ticket_opened") == 2.0
        # every webhook counts as channel="webhook": its name is config, not a label value
        assert notified(r, "sent", "webhook", "sla_breached") == 2.0
        assert notified(r, "failed", "email", "step_ready") == 1.0
        # a pair seen once has both counters, so its first failure is an increase
        assert notified(r, "failed", "telegram", "ticket_opened") == 0.0
        assert notified(r, "sent", "email", "step_ready") == 0.0

    def test_labels_come_from_closed_sets(self) -> None:
        m = Metrics()
        m.notifications.sent("webhook:wa-gateway", "ticket_opened")
        m.notifications.sent("sms", "ticket_opened")  # a channel pantau does not know
        m.notifications.failed("telegram", "Tiket SOP006-2026-000001 untuk kadis@x.example")
        m.notifications.failed("email", "step_ready ")
        text = m.render(Snapshot()).decode()
        for word in ("wa-gateway", "sms", "kadis", "SOP006"):
            assert word not in text
        r = m.registry
        assert notified(r, "sent", "other", "ticket_opened") == 1.0
        assert notified(r, "failed", "telegram", "other") == 1.0
        assert notified(r, "failed", "email", "other") == 1.0

    def test_outbox_gauges(self) -> None:
        from datetime import timedelta

        from agent.core.outbox import OutboxStats

        m = Metrics()
        r = m.registry
        n = m.notifications
        assert r.get_sample_value("pantau_notifications_queued") == 0.0
        assert r.get_sample_value("pantau_notifications_oldest_queued_seconds") == 0.0
        # three waiting since 17:00; one became sendable at 17:10, the rest wait for 08:00
        n.outbox(OutboxStats(3, T0 - timedelta(minutes=20), T0 - timedelta(minutes=10)), T0)
        assert r.get_sample_value("pantau_notifications_queued") == 3.0
        assert r.get_sample_value("pantau_notifications_oldest_queued_seconds") == 1200.0
        assert r.get_sample_value("pantau_notifications_oldest_due_seconds") == 600.0
        # only held messages: they age, but none is due
        n.outbox(OutboxStats(2, T0 - timedelta(hours=3), T0 + timedelta(hours=12)), T0)
        assert r.get_sample_value("pantau_notifications_oldest_queued_seconds") == 10800.0
        assert r.get_sample_value("pantau_notifications_oldest_due_seconds") == 0.0
        # an outbox that does not tell when messages became sendable: the oldest's age
        n.outbox(OutboxStats(1, T0 - timedelta(minutes=30)), T0)
        assert r.get_sample_value("pantau_notifications_oldest_due_seconds") == 1800.0
        # nothing waits: zero, not the last age
        n.outbox(OutboxStats(0, None, None), T0)
        assert r.get_sample_value("pantau_notifications_queued") == 0.0
        assert r.get_sample_value("pantau_notifications_oldest_queued_seconds") == 0.0
        assert r.get_sample_value("pantau_notifications_oldest_due_seconds") == 0.0
        # a clock a little behind the store's timestamps gives 0, never a negative age
        n.outbox(OutboxStats(1, T0 + timedelta(seconds=2), T0 + timedelta(seconds=2)), T0)
        assert r.get_sample_value("pantau_notifications_oldest_queued_seconds") == 0.0

    def test_every_notification_name_is_declared(self) -> None:
        from notify.delivery import Hook

        m = Metrics()
        hooks: tuple[Hook, Hook] = (m.notifications.sent, m.notifications.failed)  # mypy
        assert all(callable(h) for h in hooks)
        m.notifications.sent("telegram", "ticket_opened")
        m.notifications.failed("webhook:wa-gateway", "sla_breached")
        text = m.render(Snapshot()).decode()
        names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
        notify = {n for n in names if n.startswith("pantau_notifications_")}
        assert notify == {
            "pantau_notifications_sent_total", "pantau_notifications_sent_created",
            "pantau_notifications_failed_total", "pantau_notifications_failed_created",
            "pantau_notifications_queued", "pantau_notifications_oldest_queued_seconds",
            "pantau_notifications_oldest_due_seconds"}
        assert notify <= EXPOSED_NAMES

    async def test_fed_by_the_delivery_loop(self) -> None:
        """The Deliverer's hooks and the outbox's stats, as `pantau run` wires them."""
        from datetime import timedelta

        from notify.channel import Failed
        from notify.delivery import Deliverer, DeliverySettings
        from tests.fakes import FakeClock
        from tests.notify_delivery_support import ScriptedChannel, envelope
        from tests.notify_outbox_fake import FakeOutbox

        clock = FakeClock()
        now = clock.now()
        box = FakeOutbox()
        hook = ScriptedChannel("webhook:wa-gateway")
        telegram = ScriptedChannel("telegram", script=[Failed("403 bot was blocked")])
        m = Metrics()
        loop = Deliverer(box, {c.name: c for c in (hook, telegram)}, clock, DeliverySettings(),
                         on_sent=m.notifications.sent, on_failed=m.notifications.failed)
        box.put(envelope("k1", channel="webhook:wa-gateway", kind="sla_breached",
                         at=now - timedelta(minutes=2)))
        box.put(envelope("k2", channel="telegram", kind="ticket_opened", at=now))
        box.put(envelope("k3", "b", channel="telegram", kind="step_ready",
                         at=now - timedelta(hours=1), not_before=now + timedelta(hours=14)))
        await loop.deliver_once()
        m.notifications.outbox(await box.stats(), clock.now())
        r = m.registry
        assert notified(r, "sent", "webhook", "sla_breached") == 1.0
        assert notified(r, "failed", "telegram", "ticket_opened") == 1.0
        # the held step_ready waits: an hour old, but not due
        assert r.get_sample_value("pantau_notifications_queued") == 1.0
        assert r.get_sample_value("pantau_notifications_oldest_queued_seconds") == 3600.0
        assert r.get_sample_value("pantau_notifications_oldest_due_seconds") == 0.0
