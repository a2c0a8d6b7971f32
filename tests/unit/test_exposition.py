"""The /metrics body: per-device text reused while a device is unchanged, and a cached body
rendered off the event loop at most once per max age."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from agent.core.model import CheckResult, Device, DeviceState, Sample, Status
from agent.exposition import DeviceTexts, Exposition
from agent.metrics import DeviceView, Metrics, Snapshot
from tests.fakes import FakeClock

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def view(name: str, rtt: float, state: DeviceState = DeviceState.UP) -> DeviceView:
    result = CheckResult(name, "icmp", Status.OK, T0, 0.01,
                         (Sample("icmp_rtt_seconds", rtt), Sample("icmp_packet_loss_ratio", 0.0)))
    return DeviceView(Device(name, "127.0.0.1", 'Dinas "A"\\B'), state, {"icmp": result})


class TestDeviceTexts:
    """Only devices whose view changed are rendered again, and the text is the same."""

    def test_incremental_equals_fresh(self) -> None:
        views = [view(f"d{i}", 0.001 * i) for i in range(100)]
        texts = DeviceTexts()
        texts.text(Snapshot(devices=tuple(views)))
        assert texts.rendered == 100
        views[7] = view("d7", 0.5, DeviceState.DOWN)
        snap = Snapshot(devices=tuple(views))
        text = texts.text(snap)
        assert texts.rendered == 101
        assert text == DeviceTexts().text(snap)
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(text) for s in f.samples}
        assert samples[("pantau_icmp_rtt_seconds", (("device", "d7"),))] == 0.5
        assert samples[("pantau_device_up", (("device", "d7"), ("owner", 'Dinas "A"\\B')))] == 0

    def test_removed_device_vanishes(self) -> None:
        texts = DeviceTexts()
        texts.text(Snapshot(devices=(view("a", 0.1), view("b", 0.1))))
        text = texts.text(Snapshot(devices=(view("a", 0.1),)))
        assert 'device="b"' not in text
        assert 'device="a"' in text


class CountingMetrics(Metrics):
    """Metrics that record each render's thread and can block it."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def render(self, snapshot: Snapshot) -> bytes:
        self.threads.append(threading.get_ident())
        self.gate.wait(10)
        return super().render(snapshot)


class TestExposition:
    """Scrapes read a cached body; a render runs in a thread, at most once per max age."""

    async def test_cached_between_renders(self) -> None:
        clock, metrics = FakeClock(), CountingMetrics()
        views = [view("a", 0.1)]
        expo = Exposition(metrics, lambda: Snapshot(devices=tuple(views)), clock,
                          max_age_seconds=5.0)
        first = await expo.body()
        views[0] = view("a", 0.2)
        clock.advance(4.9)
        assert await expo.body() is first
        assert expo.renders == 1
        clock.advance(0.2)
        second = await expo.body()
        assert b"0.2" in second
        assert expo.renders == 2
        assert threading.get_ident() not in metrics.threads

    async def test_unchanged_snapshot_is_not_rendered_again(self) -> None:
        clock, metrics = FakeClock(), CountingMetrics()
        views = [view(f"d{i}", 0.1) for i in range(50)]
        expo = Exposition(metrics, lambda: Snapshot(devices=tuple(views)), clock)
        first = await expo.body()
        clock.advance(60)
        assert await expo.body() is first
        assert expo.renders == 1
        views[3] = view("d3", 0.3)
        assert await expo.body() is not first
        assert expo.renders == 2

    async def test_slow_render_serves_the_cached_body(self) -> None:
        clock, metrics = FakeClock(), CountingMetrics()
        views = [view("a", 0.1)]
        expo = Exposition(metrics, lambda: Snapshot(devices=tuple(views)), clock,
                          max_age_seconds=5.0, wait_seconds=0.01)
        first = await expo.body()
        clock.advance(10)
        views[0] = view("a", 0.2)
        metrics.gate.clear()
        assert await expo.body() is first  # the render is still running
        assert await expo.body() is first  # ...and shared, not started again
        metrics.gate.set()
        expo.wait_seconds = 10.0
        assert await expo.body() is not first  # waits for the running render
        assert expo.renders == 2
        assert len(metrics.threads) == 2
