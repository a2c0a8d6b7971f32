"""The /metrics body: per-device text reused while a device is unchanged, and a cached body
rendered off the event loop at most once per period, served at once while a render runs."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.core.model import CheckResult, Device, DeviceState, Sample, Status
from agent.exposition import Body, DeviceTexts, Exposition, pack_body, render_parts
from agent.metrics import DeviceView, Metrics, Snapshot
from agent.server import accepts_gzip, build_app
from tests.fakes import FakeClock, no_devices

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

    def test_an_icmp_result_keeps_the_interface_lines(self) -> None:
        """An SNMP device's interface lines are rendered again only for a new SNMP result."""
        ifaces = tuple(Sample(n, float(i), (("interface", f"ge-{i}"),))
                       for i in range(3) for n in ("interface_oper_up", "interface_admin_up"))
        snmp = CheckResult("s", "snmp", Status.OK, T0, 0.2,
                           (Sample("snmp_uptime_seconds", 5.0), *ifaces))
        first = view("s", 0.001)
        texts = DeviceTexts()
        texts.text(Snapshot(devices=(replace(first, results={**first.results, "snmp": snmp}),)))
        assert (texts.rendered, texts.snmp_rendered) == (1, 1)
        later = view("s", 0.002, DeviceState.DOWN)
        snap = Snapshot(devices=(replace(later, results={**later.results, "snmp": snmp}),))
        text = texts.text(snap)
        assert (texts.rendered, texts.snmp_rendered) == (2, 1)
        assert text == DeviceTexts().text(snap)
        assert 'pantau_interface_up{device="s",interface="ge-2"} 2.0' in text
        assert 'pantau_icmp_rtt_seconds{device="s"} 0.002' in text
        newer = replace(snmp, samples=(Sample("snmp_uptime_seconds", 6.0),))
        snap = Snapshot(devices=(replace(later, results={**later.results, "snmp": newer}),))
        text = texts.text(snap)
        assert (texts.rendered, texts.snmp_rendered) == (3, 2)
        assert "ge-2" not in text
        assert text == DeviceTexts().text(snap)

    def test_kept_head_lines_follow_state_and_status(self) -> None:
        """A device's kept state and status lines change with its state and check status:
        each render equals a first render of the same view, and shows the new values."""
        texts = DeviceTexts()
        steps = [(DeviceState.UP, Status.OK), (DeviceState.DOWN, Status.DOWN),
                 (DeviceState.UNREACHABLE, Status.DOWN), (DeviceState.UP, Status.OK)]
        for i, (state, status) in enumerate(steps):
            base = view("d", 0.001 * (i + 1), state)
            result = replace(base.results["icmp"], status=status, duration_seconds=0.5 + i)
            snap = Snapshot(devices=(replace(base, results={"icmp": result}),))
            text = texts.text(snap)
            assert text == DeviceTexts().text(snap)
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for f in text_string_to_metric_families(text) for s in f.samples}
            dev = (("device", "d"),)
            assert samples[("pantau_device_up", (*dev, ("owner", 'Dinas "A"\\B')))] == (
                1.0 if state is DeviceState.UP else 0.0)
            for s in DeviceState:
                assert samples[("pantau_device_state", (*dev, ("state", s.value)))] == (
                    1.0 if s is state else 0.0)
            assert samples[("pantau_check_up", (("check", "icmp"), *dev))] == (
                1.0 if status is Status.OK else 0.0)
            assert samples[("pantau_check_duration_seconds", (("check", "icmp"), *dev))] == 0.5 + i
        assert texts.rendered == len(steps)

    def test_removed_device_vanishes(self) -> None:
        texts = DeviceTexts()
        texts.text(Snapshot(devices=(view("a", 0.1), view("b", 0.1))))
        text = texts.text(Snapshot(devices=(view("a", 0.1),)))
        assert 'device="b"' not in text
        assert 'device="a"' in text


class Gate:
    """The part of a render that runs in a thread (`pack_body`): records its thread, and can
    be held closed."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.open = threading.Event()
        self.open.set()

    def __call__(self, chunks: list[bytes], gzip: bool) -> Body:
        self.threads.append(threading.get_ident())
        self.open.wait(10)
        return pack_body(chunks, gzip)


class TestRenderSlices:
    """A render refreshes device text on the loop, letting the loop run between slices
    (a render in a thread would make each of the loop's syscalls wait for the GIL)."""

    @staticmethod
    async def render_beside_a_ticker(snap: Snapshot, slice_seconds: float
                                     ) -> tuple[list[bytes], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = ticks
        parts = await render_parts(Metrics(), snap, FakeClock(), slice_seconds=slice_seconds)
        task.cancel()
        return parts, ticks - start

    async def test_the_loop_runs_between_slices(self) -> None:
        snap = Snapshot(devices=tuple(view(f"d{i}", 0.001 * i) for i in range(1000)))
        parts, ticks = await self.render_beside_a_ticker(snap, slice_seconds=0.0)
        assert ticks >= 1000 // 64  # a pause after each slice (the fake clock says it was slow)
        assert b"".join(parts[:-1]) == b"".join(DeviceTexts().chunks(snap))  # same text
        assert b"pantau_build_info" in parts[-1]  # then the agent's own instruments

    async def test_quick_slices_run_on(self) -> None:
        snap = Snapshot(devices=tuple(view(f"d{i}", 0.001 * i) for i in range(1000)))
        _, ticks = await self.render_beside_a_ticker(snap, slice_seconds=10.0)
        assert ticks == 0


class TestExposition:
    """Scrapes read a cached body; a render is packed in a thread, at most once per max age."""

    async def test_cached_between_renders(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view("a", 0.1)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
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
        assert threading.get_ident() not in gate.threads

    async def test_unchanged_snapshot_is_not_rendered_again(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view(f"d{i}", 0.1) for i in range(50)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
                          wait_seconds=10.0)
        first = await expo.body()
        clock.advance(60)
        assert await expo.body() is first
        assert expo.renders == 1
        views[3] = view("d3", 0.3)
        assert await expo.body() is not first
        assert expo.renders == 2

    async def test_slow_render_serves_the_cached_body(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view("a", 0.1)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
                          max_age_seconds=5.0, wait_seconds=0.01)
        first = await expo.body()
        clock.advance(10)
        views[0] = view("a", 0.2)
        gate.open.clear()
        assert await expo.body() is first  # the render is still running
        assert await expo.body() is first  # ...and shared, not started again
        gate.open.set()
        expo.wait_seconds = 10.0
        assert await expo.body() is not first  # waits for the running render
        assert expo.renders == 2
        assert len(gate.threads) == 2


@asynccontextmanager
async def running(expo: Exposition) -> AsyncIterator[asyncio.Task[None]]:
    """`expo.run()` as a task, cancelled on exit."""
    task = asyncio.create_task(expo.run())
    try:
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def until(cond: Callable[[], bool]) -> None:
    """Yield to the loop and the render thread until `cond()` holds (at most ~5 s)."""
    for _ in range(5000):
        if cond():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


async def settle(clock: FakeClock, gate: Gate, renders: Callable[[], int]) -> None:
    """Wait until `run()` sleeps again on the clock (its render, if any, is done)."""
    await clock.wait_sleepers(1)
    assert renders() == len(gate.threads)  # no render left running


class TestFreshInBackground:
    """`run()` keeps the body fresh: a scrape never waits for a slow render, and a stream of
    changes is rendered at most once per period."""

    async def test_scrape_during_a_long_render_gets_the_previous_body_at_once(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view("a", 0.1)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
                          max_age_seconds=1.0, wait_seconds=5.0)
        gate.open.clear()
        scraping = asyncio.create_task(expo.body())  # the first body is waited for...
        await until(lambda: len(gate.threads) == 1)
        clock.advance(8.0)  # ...and takes 8 s of (fake) time: longer than `wait_seconds`
        gate.open.set()
        first = await scraping
        assert expo.period == 10.0  # slow renders: the period grows, up to its maximum
        views[0] = view("a", 0.2)
        clock.advance(10.0)
        gate.open.clear()  # the next render blocks (for up to 10 s of real time)
        assert await expo.body() is first  # a waiting scrape would get the new body
        await until(lambda: len(gate.threads) == 2)  # it started the render, not waited
        assert await expo.body() is first  # the render is shared, not started again
        gate.open.set()
        await until(lambda: expo.renders == 2)
        assert b"0.2" in await expo.body()
        assert len(gate.threads) == 2

    async def test_a_stream_of_changes_is_rendered_once_per_period(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view(f"d{i}", 0.1) for i in range(20)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
                          max_age_seconds=5.0, wait_seconds=5.0)
        async with running(expo):
            await settle(clock, gate, lambda: expo.renders)
            assert expo.renders == 1  # the first body is there before the first scrape
            first = await expo.body()
            assert expo.renders == 1
            seen = []
            for second in range(1, 61):  # a change every 0.5 s, a scrape every 1 s, 60 s
                views[second % 20] = view(f"d{second % 20}", second / 1000)
                clock.advance(0.5)
                views[(second + 7) % 20] = view(f"d{(second + 7) % 20}", second / 1000)
                clock.advance(0.5)
                await settle(clock, gate, lambda: expo.renders)
                seen.append(await expo.body())
                await settle(clock, gate, lambda: expo.renders)
            assert 1 + 60 / 5 - 1 <= expo.renders <= 1 + 60 / 5
            assert len(set(map(id, seen))) == expo.renders  # each body was served
            assert seen[-1] is not first
            last = f'pantau_icmp_rtt_seconds{{device="d{60 % 20}"}} 0.06'.encode()
            assert last in seen[-1]  # at most one period old

    async def test_unscraped_it_renders_each_idle_period(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view("a", 0.1)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
                          max_age_seconds=5.0, idle_period_seconds=60.0)
        async with running(expo):
            await settle(clock, gate, lambda: expo.renders)
            for second in range(1, 601):  # 10 minutes of changes, no scrape
                views[0] = view("a", second / 1000)
                clock.advance(1.0)
                await settle(clock, gate, lambda: expo.renders)
            assert expo.renders == 1 + 600 / 60
            body = await expo.body()  # at once: at most an idle period old
            assert b"0.6" in body
            for _ in range(5):  # scraped again: back to each max age
                views[0] = view("a", 0.777)
                clock.advance(5.0)
                await settle(clock, gate, lambda: expo.renders)
            assert b"0.777" in await expo.body()

    async def test_a_steady_scraper_gets_one_render_per_scrape(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view("a", 0.0)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
                          max_age_seconds=5.0)
        async with running(expo):
            await settle(clock, gate, lambda: expo.renders)
            late_renders, ages = 0, []
            for second in range(1, 301):  # a change each second, a scrape each 15 s: 5 min
                views[0] = view("a", second / 1000)
                clock.advance(1.0)
                await settle(clock, gate, lambda: expo.renders)
                if second % 15 == 0:
                    before = expo.renders
                    body = (await expo.body()).decode()
                    rtt = float(body.split('pantau_icmp_rtt_seconds{device="a"} ')[1].split()[0])
                    ages.append(second - rtt * 1000)
                    if second > 5 * 15:  # the cadence is known after 4 scrapes
                        late_renders += expo.renders - before
                        assert expo.cadence == 15.0
                await settle(clock, gate, lambda: expo.renders)
            # every render after the first minute was for a scrape; periodic would be 3 per
            # scrape; and each scrape got a body made shortly before it
            assert late_renders == 0
            assert expo.renders <= 1 + 75 / 5 + 15
            assert max(ages[5:]) <= 1.0

    async def test_two_scrapers_keep_the_period(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view("a", 0.0)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
                          max_age_seconds=5.0)
        async with running(expo):
            await settle(clock, gate, lambda: expo.renders)
            for second in range(1, 121):  # two Prometheus, 15 s each, 4 s apart
                views[0] = view("a", second / 1000)
                clock.advance(1.0)
                await settle(clock, gate, lambda: expo.renders)
                if second % 15 in (0, 4):
                    await expo.body()
                    await settle(clock, gate, lambda: expo.renders)
                if second == 20:
                    before = expo.renders
            assert expo.cadence is None
            assert 100 / 5 - 1 <= expo.renders - before <= 100 / 5 + 1

    async def test_unchanged_views_are_not_rendered(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view("a", 0.1)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
                          max_age_seconds=1.0)
        async with running(expo):
            for _ in range(30):
                clock.advance(1.0)
                await expo.body()
                await settle(clock, gate, lambda: expo.renders)
        assert expo.renders == 1


    async def test_a_failing_snapshot_is_retried_each_period(self) -> None:
        clock, gate = FakeClock(), Gate()
        failing = [True]

        def snapshot() -> Snapshot:
            if failing[0]:
                raise RuntimeError("snapshot failed (test)")
            return Snapshot(devices=(view("a", 0.1),))

        expo = Exposition(Metrics(), snapshot, clock, pack=gate, max_age_seconds=5.0,
                          idle_period_seconds=60)
        async with running(expo) as task:
            for _ in range(3):
                await clock.wait_sleepers(1)
                clock.advance(60.0)
            await clock.wait_sleepers(1)
            assert not task.done()  # the agent runs on
            failing[0] = False
            clock.advance(60.0)
            await settle(clock, gate, lambda: expo.renders)
            assert expo.renders == 1
            assert b'device="a"' in await expo.body()


class TestGzip:
    """Scrapes that accept gzip get the bytes compressed once per render."""

    async def test_gzip_once_per_render(self) -> None:
        clock, gate = FakeClock(), Gate()
        views = [view(f"d{i}", 0.1) for i in range(30)]
        expo = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate)
        body = await expo.scrape()
        assert body.gzipped is not None
        assert gzip.decompress(body.gzipped) == body.plain
        assert len(body.gzipped) * 5 < len(body.plain)
        assert await expo.scrape() is body  # the same bytes, not compressed again
        plain = Exposition(Metrics(), lambda: Snapshot(devices=tuple(views)), clock, pack=gate,
                           gzip=False)
        assert (await plain.scrape()).gzipped is None

    @pytest.mark.parametrize(("header", "ok"), [
        ("gzip", True), ("identity", False), (None, False), ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False), ("GZIP ; q=1.0", True), ("*", True), ("br, gzip;q=0.000", False),
        ("gzip;q=x", False)])
    def test_accept_encoding(self, header: str | None, ok: bool) -> None:
        assert accepts_gzip(header) is ok

    async def test_served_gzipped(self) -> None:
        views = [view(f"d{i}", 0.1) for i in range(30)]
        app = build_app(Metrics(), lambda: Snapshot(devices=tuple(views)), no_devices, lambda: True,
                        clock=FakeClock())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pantau.test") as c:
            zipped = await c.get("/metrics", headers={"Accept-Encoding": "gzip"})
            plain = await c.get("/metrics", headers={"Accept-Encoding": "identity"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert "content-encoding" not in plain.headers
        assert zipped.text == plain.text
        assert 'pantau_device_up{device="d7"' in plain.text
        assert int(zipped.headers["content-length"]) * 5 < len(plain.content)
