"""Builds everything from a Config and owns the lifecycle: the only module that wires
collectors, detector, scheduler, metrics and the HTTP server together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from agent.clock import Clock, SystemClock
from agent.config import Config
from agent.detector import Detector, Recheck, Transition
from agent.metrics import DeviceView, Metrics, Snapshot
from agent.model import CheckResult, CheckSpec
from agent.scheduler import Job, Scheduler
from agent.server import bind, build_app, make_server
from collectors.icmp import IcmpCollector, Pinger

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # how often maintenance windows are re-evaluated


def icmp_spec(config: Config) -> CheckSpec:
    p = config.polling
    return CheckSpec(
        check="icmp",
        interval_seconds=p.interval_seconds,
        timeout_seconds=p.timeout_seconds,
        retry_interval_seconds=p.retry_interval_seconds,
    )


def result_json(result: CheckResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "observed_at": result.observed_at.isoformat(),
        "duration_seconds": round(result.duration_seconds, 6),
        "reason": result.reason,
        "samples": {s.name: s.value for s in result.samples if not s.labels},
    }


class Agent:
    """One running agent. `run(stop)` returns after `stop` is set and everything is closed."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.metrics = Metrics()
        self.detector = Detector(
            devices=config.devices,
            polling=config.polling,
            flapping=config.flapping,
            maintenance=config.maintenance,
        )
        self.scheduler: Scheduler | None = None
        self.listening: tuple[str, int] | None = None
        self.ready = asyncio.Event()

    # -- results flow: scheduler -> detector -> (later) ticketing ---------------------------

    def on_result(self, result: CheckResult) -> None:
        self.handle_events(self.detector.observe(result))

    def handle_events(self, events: Sequence[Transition | Recheck]) -> None:
        """Rechecks go to the scheduler; hard transitions are logged by the detector and
        (from the ticketing release on) handed to ticketing."""
        for event in events:
            if isinstance(event, Recheck) and self.scheduler is not None:
                self.scheduler.request_check(event.device, event.check)

    # -- views for metrics and the API ------------------------------------------------------

    def snapshot(self) -> Snapshot:
        snap = self.detector.snapshot()
        views = tuple(
            DeviceView(
                device=device,
                state=snap.devices[device.name].state,
                results=snap.devices[device.name].results,
            )
            for device in self.config.devices
        )
        in_flight = self.scheduler.stats.in_flight if self.scheduler else 0
        return Snapshot(devices=views, transitions=snap.transitions_total, in_flight=in_flight)

    def devices_json(self) -> list[dict[str, Any]]:
        snap = self.detector.snapshot()
        out = []
        for device in self.config.devices:
            ds = snap.devices[device.name]
            out.append(
                {
                    "name": device.name,
                    "address": device.address,
                    "owner": device.owner,
                    "site": device.site,
                    "parent": device.parent,
                    "state": ds.state.value,
                    "since": ds.since.isoformat() if ds.since else None,
                    "checks": {c: result_json(r) for c, r in sorted(ds.results.items())},
                }
            )
        return out

    # -- lifecycle ---------------------------------------------------------------------------

    def jobs(self, icmp: IcmpCollector) -> list[Job]:
        spec = icmp_spec(self.config)
        return [Job(device=d, spec=spec, collector=icmp) for d in self.config.devices]

    async def _ticker(self) -> None:
        while True:
            await self.clock.sleep(TICK_SECONDS)
            self.handle_events(self.detector.tick(self.clock.now()))

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        async with contextlib.AsyncExitStack() as stack:
            pinger = await Pinger.open(privileged=cfg.icmp.privileged, clock=self.clock)
            stack.push_async_callback(pinger.aclose)
            icmp = IcmpCollector(
                pinger, self.clock, count=cfg.icmp.count, spacing_seconds=cfg.icmp.spacing_seconds
            )
            self.scheduler = Scheduler(
                clock=self.clock,
                sink=self.on_result,
                retrying=self.detector.is_retrying,
                max_in_flight=cfg.polling.max_in_flight,
                observe_duration=self.metrics.observe_check,
                observe_lag=self.metrics.scheduler_lag.observe,
            )
            sock = bind(cfg.agent.listen_host, cfg.agent.listen_port)
            stack.callback(sock.close)
            self.listening = sock.getsockname()[:2]
            server = make_server(
                build_app(self.metrics, self.snapshot, self.devices_json, self.ready.is_set)
            )
            self.metrics.config_reload_ok.set(1)
            log.info(
                "agent started",
                extra={
                    "devices": len(cfg.devices),
                    "listen": f"{self.listening[0]}:{self.listening[1]}",
                    "icmp_mode": pinger.mode,
                },
            )
            async with asyncio.TaskGroup() as tg:
                polling = tg.create_task(self.scheduler.run(self.jobs(icmp)), name="scheduler")
                ticker = tg.create_task(self._ticker(), name="ticker")
                serving = tg.create_task(server.serve(sockets=[sock]), name="http")
                self.ready.set()
                stopping = tg.create_task(stop.wait(), name="stop")
                await asyncio.wait({stopping, serving}, return_when=asyncio.FIRST_COMPLETED)
                self.ready.clear()
                log.info("agent stopping")
                polling.cancel()
                ticker.cancel()
                server.should_exit = True
                stopping.cancel()
            log.info("agent stopped")
