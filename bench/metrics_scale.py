"""/metrics at city scale, in-process: 10,000 ICMP devices + 1,000 SNMP devices with 50
interfaces each (about 50,000 interface subjects) fed through the real pipeline and detector;
times the snapshot on the loop and the render, and the cached exposition when there is one.
With --http, also GETs over loopback: the real app served by uvicorn while a stream of results
(a 30 s interval's worth) changes the views, each GET from a child process (httpx, as the
agent-scale benchmark does), with and without gzip.

    PYTHONPATH=. python -m bench.metrics_scale [--icmp 10000] [--snmp 1000] [--interfaces 50]
        [--http]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from agent.config import FlappingSettings, PollingSettings
from agent.core.clock import SystemClock
from agent.core.model import CheckResult, Device, Sample, Status
from agent.detect import Detector
from agent.metrics import Metrics
from agent.pipeline import ResultPipeline
from agent.status import StatusViews
from ticketing.calendar import CalendarTime
from ticketing.sop import SOP_006

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
FAMILIES = ("interface_speed_bits_per_second", "interface_receive_bytes_total",
            "interface_transmit_bytes_total", "interface_receive_errors_total",
            "interface_transmit_errors_total", "interface_receive_discards_total",
            "interface_transmit_discards_total")


def icmp(name: str, at: datetime, ok: bool) -> CheckResult:
    samples = (Sample("icmp_rtt_seconds", 0.0004), Sample("icmp_packet_loss_ratio", 0.0))
    return CheckResult(name, "icmp", Status.OK if ok else Status.DOWN, at, 0.002,
                       samples if ok else (Sample("icmp_packet_loss_ratio", 1.0),),
                       reason="" if ok else "timeout")


def snmp(name: str, at: datetime, interfaces: int) -> CheckResult:
    samples = [Sample("snmp_uptime_seconds", 86400.0)]
    for i in range(interfaces):
        labels = (("interface", f"ge-0/0/{i}"),)
        samples += [Sample("interface_monitored", 1.0, labels),
                    Sample("interface_admin_up", 1.0, labels),
                    Sample("interface_oper_up", 0.0 if i == 7 else 1.0, labels)]
        samples += [Sample(f, float(i * 1000), labels) for f in FAMILIES]
    return CheckResult(name, "snmp", Status.OK, at, 0.05, tuple(samples),
                       info=(("sysName", name), ("sysObjectID", "1.3.6.1.4.1.9.1.1")))


def build(n_icmp: int, n_snmp: int, interfaces: int) -> tuple[ResultPipeline, StatusViews]:
    devices = [Device(f"d{i}", "127.0.0.1", f"owner-{i % 40}", snmp_auth="v2" if i < n_snmp
                      else None) for i in range(n_icmp)]
    detector = Detector(devices, PollingSettings(down_after=1, up_after=1),
                        FlappingSettings(enabled=False), ())
    pipeline = ResultPipeline(devices, detector)
    for i, d in enumerate(devices):
        pipeline.on_result(icmp(d.name, T0, ok=i % 20 != 0))
        if d.snmp_auth:
            pipeline.on_result(snmp(d.name, T0, interfaces))
    views = StatusViews(
        devices=devices, sop=SOP_006, calendar=CalendarTime(), clock=SystemClock(),
        detector=detector, reboots=pipeline.reboots, last_reboot=pipeline.last_reboot,
        scheduler=cast(Any, SimpleNamespace(stats=SimpleNamespace(in_flight=0))),
        service=cast(Any, SimpleNamespace(open_tickets=())))
    return pipeline, views


def timed(label: str, fn: Any) -> Any:
    start = time.perf_counter()
    out = fn()
    print(f"{label:<44} {time.perf_counter() - start:8.3f} s")
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icmp", type=int, default=10_000)
    parser.add_argument("--snmp", type=int, default=1_000)
    parser.add_argument("--interfaces", type=int, default=50)
    parser.add_argument("--http", action="store_true", help="GETs over loopback too")
    args = parser.parse_args()
    pipeline, views = timed("build state", lambda: build(args.icmp, args.snmp, args.interfaces))
    metrics = Metrics()
    snap = timed("snapshot (on the loop)", views.snapshot)
    body = timed("render, first", lambda: metrics.render(snap))
    lines = body.count(b"\n")
    print(f"{'size':<44} {len(body) / 1e6:8.1f} MB, {lines} lines")
    pipeline.on_result(icmp("d1", T0 + timedelta(seconds=30), ok=False))
    snap = timed("snapshot after one change", views.snapshot)
    timed("render after one change", lambda: metrics.render(snap))
    for i in range(0, args.snmp, 6):  # a sixth of the SNMP devices polled again
        pipeline.on_result(snmp(f"d{i}", T0 + timedelta(seconds=31), args.interfaces))
    snap = timed("snapshot after 1/6 of SNMP devices polled", views.snapshot)
    timed("render after 1/6 of SNMP devices polled", lambda: metrics.render(snap))
    for i in range(0, args.icmp, 3):  # 10 s of a 30 s interval: a third of every check
        at = T0 + timedelta(seconds=40)
        pipeline.on_result(icmp(f"d{i}", at, ok=i % 20 != 0))
        if i < args.snmp:
            pipeline.on_result(snmp(f"d{i}", at, args.interfaces))
    snap = timed("snapshot after 10 s of results (1/3 of all)", views.snapshot)
    body = timed("render after 10 s of results (1/3 of all)", lambda: metrics.render(snap))
    zipped = timed("gzip level 1 of the body", lambda: zlib.compress(body, 1, wbits=31))
    print(f"{'gzipped size':<44} {len(zipped) / 1e6:8.1f} MB")
    try:
        from agent.exposition import Exposition
    except ImportError:
        return  # before the cached exposition
    exposition = Exposition(metrics, views.snapshot, SystemClock())
    await exposition.body()
    start = time.perf_counter()
    await exposition.body()
    print(f"{'scrape, cached':<44} {time.perf_counter() - start:8.3f} s")
    if args.http:
        await http(pipeline, views, args)


async def results(pipeline: ResultPipeline, args: argparse.Namespace) -> None:
    """A 30 s interval's results, in 20 ms ticks, until cancelled. Each tick also sends the
    datagrams the agent's echoes would (5 per device, to a socket of its own on loopback):
    the loop's syscalls are what a render in a thread slows down."""
    import socket

    per_tick = max(1, args.icmp * 20 // 30_000)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)
    to = sink.getsockname()

    def drain() -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                sink.recv(128)

    asyncio.get_running_loop().add_reader(sink, drain)
    sent = 0
    while True:
        for _ in range(per_tick * 5):
            with contextlib.suppress(BlockingIOError):
                out.sendto(b"\0" * 64, to)
        at = T0 + timedelta(seconds=60 + sent * 30 / args.icmp)
        for _ in range(per_tick):
            i = sent % args.icmp
            pipeline.on_result(icmp(f"d{i}", at, ok=i % 20 != 0))
            if i < args.snmp:
                pipeline.on_result(snmp(f"d{i}", at, args.interfaces))
            sent += 1
        await asyncio.sleep(0.02)


async def http(pipeline: ResultPipeline, views: StatusViews, args: argparse.Namespace) -> None:
    from agent.server import bind, build_app, make_server

    app = build_app(Metrics(), views.snapshot, views.devices_json, lambda: True)
    sock = bind("127.0.0.1", 0)
    server = make_server(app)
    tasks = [asyncio.create_task(server.serve(sockets=[sock])),
             asyncio.create_task(results(pipeline, args))]
    exposition = getattr(app.state, "exposition", None)
    if exposition is not None and hasattr(exposition, "run"):
        tasks.append(asyncio.create_task(exposition.run()))
    await asyncio.sleep(20)  # the first render, then a while of results
    port = str(sock.getsockname()[1])
    lags: list[float] = []
    tasks.append(asyncio.create_task(loop_lag(lags)))
    for encoding in ("gzip", "identity"):
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.metrics_scale", "--get", port, encoding)
        await child.wait()
    lags.sort()
    print(f"{'loop lag while scraped (10 ms sleeps)':<44} p50 {lags[len(lags) // 2] * 1000:.1f} "
          f"p99 {lags[len(lags) * 99 // 100] * 1000:.1f} max {lags[-1] * 1000:.1f} ms")
    server.should_exit = True
    for task in tasks[1:]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def loop_lag(lags: list[float]) -> None:
    """How late each 10 ms sleep wakes, until cancelled."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - start - 0.01)


def get(port: str, encoding: str, times: int = 6) -> None:
    """GET /metrics `times` times, 2 s apart, as the agent-scale benchmark does (httpx)."""
    import httpx

    seconds, raw = [], []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                      headers={"Accept-Encoding": encoding}) as client:
        for _ in range(times):
            start = time.perf_counter()
            with client.stream("GET", "/metrics") as resp:
                for _chunk in resp.iter_raw():
                    pass
            raw.append(time.perf_counter() - start)  # the agent's answer, as bytes sent
            start = time.perf_counter()
            resp = client.get("/metrics")
            seconds.append(time.perf_counter() - start)  # with the client's decoding
            time.sleep(2.0)
    print(f"{'GET bytes only, ' + encoding:<44} median {statistics.median(raw):.3f} s, "
          f"max {max(raw):.3f} s ({' '.join(f'{t:.2f}' for t in raw)})")
    print(f"{'GET, Accept-Encoding: ' + encoding:<44} median {statistics.median(seconds):.3f} s, "
          f"max {max(seconds):.3f} s ({' '.join(f'{t:.2f}' for t in seconds)}); "
          f"{resp.headers.get('content-encoding', 'identity')}, "
          f"{len(resp.content) / 1e6:.1f} MB "
          f"({int(resp.headers['content-length']) / 1e6:.1f} MB sent)",
          flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--get"]:
        get(sys.argv[2], sys.argv[3])
    else:
        asyncio.run(main())
