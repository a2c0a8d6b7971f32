"""Builds everything from a Config and owns the lifecycle: the only module that wires
collectors, detector, scheduler, metrics and the HTTP server together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from agent.api import ApiContext
from agent.config import Config
from agent.core.clock import Clock, SystemClock
from agent.core.model import CheckResult, CheckSpec, Device, DeviceState
from agent.detector import Detector, Recheck, Transition
from agent.interfaces import INTERFACE_CHECK, interface_results
from agent.metrics import DeviceView, Metrics, OpenTicketView, Snapshot
from agent.reboots import Reboot, RebootTracker
from agent.scheduler import Job, Scheduler
from agent.server import bind, build_app, make_server
from agent.tickets import TicketFeed, last_results_of, observation
from agent.verify import LiveVerifier
from agent.web.pages import WebContext
from collectors.icmp import IcmpCollector, Pinger
from collectors.snmp.client import PysnmpClient
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.fastclient import FastSnmpClient
from ticketing import workflow
from ticketing.backend import TicketBackend
from ticketing.calendar import Calendar, build_calendar
from ticketing.service import TicketService, TicketSettingsView, run_periodically
from ticketing.store.sql import SqlBackend

log = logging.getLogger(__name__)

FAULT_STATES = frozenset({DeviceState.DOWN, DeviceState.UNREACHABLE, DeviceState.FLAPPING})
TICK_SECONDS = 1.0  # how often maintenance windows and held states are re-evaluated
DRAIN_SECONDS = 2.0  # on stop, how long pending observations may take to reach the store


def check_spec(config: Config, check: str) -> CheckSpec:
    p = config.polling
    return CheckSpec(
        check=check,
        interval_seconds=p.interval_seconds,
        timeout_seconds=p.timeout_seconds,
        retry_interval_seconds=p.retry_interval_seconds,
    )


def result_json(result: CheckResult) -> dict[str, Any]:
    """A check result for the API and `pantau probe --json`."""
    out: dict[str, Any] = {
        "status": result.status.value,
        "observed_at": result.observed_at.isoformat(),
        "duration_seconds": round(result.duration_seconds, 6),
        "reason": result.reason,
        "error": result.error,
        "samples": {s.name: s.value for s in result.samples if not s.labels},
    }
    if result.info:
        out["info"] = dict(result.info)
    interfaces: dict[str, dict[str, float]] = {}
    for s in result.samples:
        if s.labels:
            interfaces.setdefault(s.labels[0][1], {})[s.name] = s.value
    if interfaces:
        out["interfaces"] = [{"name": n, **v} for n, v in sorted(interfaces.items())]
    return out


@dataclass(slots=True)
class Collectors:
    """The collectors of one running agent (and of one `pantau probe`)."""

    icmp: IcmpCollector
    snmp: SnmpCollector
    icmp_mode: str  # "unprivileged" | "privileged"

    def jobs(self, config: Config, devices: Sequence[Device]) -> list[Job]:
        icmp, snmp = check_spec(config, "icmp"), check_spec(config, "snmp")
        jobs = [Job(device=d, spec=icmp, collector=self.icmp) for d in devices]
        jobs += [Job(device=d, spec=snmp, collector=self.snmp) for d in devices if d.snmp_auth]
        return jobs


@contextlib.asynccontextmanager
async def open_collectors(config: Config, clock: Clock) -> AsyncIterator[Collectors]:
    """Open the ICMP socket(s), the SNMP socket(s) and the SNMPv3 engine; close them after."""
    async with contextlib.AsyncExitStack() as stack:
        pinger = await Pinger.open(privileged=config.icmp.privileged, clock=clock)
        stack.push_async_callback(pinger.aclose)
        fast = FastSnmpClient(clock)
        stack.push_async_callback(fast.aclose)
        v3 = PysnmpClient(clock)
        if any(a.version == "3" for a in config.snmp.auth.values()):
            await v3.start()  # builds the engine off the loop (it reads MIB files)
        stack.push_async_callback(v3.aclose)
        yield Collectors(
            icmp=IcmpCollector(pinger, clock, count=config.icmp.count,
                               spacing_seconds=config.icmp.spacing_seconds),
            snmp=SnmpCollector(fast, v3, clock, settings=config.snmp),
            icmp_mode=pinger.mode,
        )


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
        self.reboots = RebootTracker()
        self.last_reboot: dict[str, Reboot] = {}
        self.interfaces: dict[str, tuple[str, ...]] = {}  # device -> monitored interfaces seen
        self.devices = {d.name: d for d in config.devices}
        self.last_results: dict[tuple[str, str], CheckResult] = {}  # (device, check) -> last
        self.calendar: Calendar = build_calendar(config.sla)
        self.service: TicketService | None = None
        self.feed: TicketFeed | None = None
        self.scheduler: Scheduler | None = None
        self.listening: tuple[str, int] | None = None
        self.ready = asyncio.Event()

    # -- results flow: scheduler -> detector -> (later) ticketing ---------------------------

    def on_result(self, result: CheckResult) -> None:
        self.last_results[(result.device, result.check)] = result
        self.handle_events(self.detector.observe(result))
        if result.check != "snmp":
            return
        reboot = self.reboots.observe(result)
        if reboot is not None:
            self.last_reboot[result.device] = reboot
            log.info("device rebooted", extra={
                "device": reboot.device, "uptime_before": reboot.uptime_before_seconds,
                "uptime_after": reboot.uptime_after_seconds})
        subjects = interface_results(result)
        if subjects:
            self.interfaces[result.device] = tuple(name for name, _ in subjects)
        for name, iface in subjects:
            self.handle_events(self.detector.observe(iface, item=name))

    def handle_events(self, events: Sequence[Transition | Recheck]) -> None:
        """Rechecks go to the scheduler; hard transitions (logged by the detector) go to
        ticketing as observations."""
        last_results = last_results_of(self.last_results, result_json)
        for event in events:
            if isinstance(event, Recheck):
                if self.scheduler is not None:
                    self.scheduler.request_check(event.device, event.check)
                continue
            obs = observation(event, self.devices, self.detector.device_state, last_results)
            if obs is not None and self.feed is not None:
                self.feed.put(obs)

    def retrying(self, device: str, check: str) -> bool:
        """Re-check sooner while the subject, or for SNMP any monitored interface, is soft."""
        if self.detector.is_retrying(device, check):
            return True
        return check == "snmp" and any(
            self.detector.is_retrying(device, INTERFACE_CHECK, name)
            for name in self.interfaces.get(device, ())
        )

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
        now = self.clock.now()
        tickets = tuple(
            OpenTicketView(
                device=t.device, owner=t.owner, step=t.current_step,
                remaining_seconds=workflow.remaining_seconds(t, now, self.calendar),
            )
            for t in (self.service.open_tickets if self.service else ())
            if workflow.open_step(t) is not None
        )
        sla = {step.no: self.calendar.nominal_seconds(step.sla) for step in self.config.sop.steps}
        return Snapshot(devices=views, transitions=snap.transitions_total,
                        reboots=dict(self.reboots.counts), in_flight=in_flight,
                        tickets=tickets, step_sla_seconds=sla)

    def devices_json(self) -> list[dict[str, Any]]:
        snap = self.detector.snapshot()
        out = []
        for device in self.config.devices:
            ds = snap.devices[device.name]
            reboot = self.last_reboot.get(device.name)
            out.append(
                {
                    "name": device.name,
                    "address": device.address,
                    "owner": device.owner,
                    "site": device.site,
                    "parent": device.parent,
                    "state": ds.state.value,
                    "since": ds.since.isoformat() if ds.since else None,
                    "flapping": ds.flapping,
                    "maintenance": list(ds.maintenance),
                    "affected": list(ds.affected),
                    "faults": [
                        {"check": s.check, "item": s.item, "state": s.state.value,
                         "since": s.since.isoformat() if s.since else None}
                        for s in ds.subjects if s.state in FAULT_STATES
                    ],
                    "reboots": self.reboots.counts.get(device.name, 0),
                    "last_reboot": None if reboot is None else reboot.at.isoformat(),
                    "checks": {c: result_json(r) for c, r in sorted(ds.results.items())},
                }
            )
        return out

    # -- lifecycle ---------------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await self.clock.sleep(TICK_SECONDS)
            self.handle_events(self.detector.tick(self.clock.now()))

    async def open_store(self) -> TicketBackend:
        # ticket numbers run per year in the agency's zone (SOP006-2027-... from 1 January WIB)
        return await SqlBackend.connect(self.config.agent.database, clock=self.clock,
                                        year_tz=ZoneInfo(self.config.sla.timezone))

    def build_service(self, backend: TicketBackend, collectors: Collectors,
                      scheduler: Scheduler) -> TicketService:
        t = self.config.tickets
        verifier = LiveVerifier(
            devices=self.devices, jobs=lambda ds: collectors.jobs(self.config, ds),
            run_check=scheduler.run_check, clock=self.clock,
            probes=t.verification_probes, hold_seconds=t.verification_hold_seconds,
        )
        return TicketService(
            backend=backend, sop=self.config.sop, calendar=self.calendar, clock=self.clock,
            verifier=verifier, observer=self.metrics,
            settings=TicketSettingsView(
                reopen_window_seconds=t.reopen_window_minutes * 60,
                verification_max_age_seconds=t.verification_max_age_seconds,
            ),
        )

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        async with contextlib.AsyncExitStack() as stack:
            backend = await self.open_store()
            stack.push_async_callback(backend.aclose)
            collectors = await stack.enter_async_context(open_collectors(cfg, self.clock))
            self.scheduler = Scheduler(
                clock=self.clock,
                sink=self.on_result,
                retrying=self.retrying,
                max_in_flight=cfg.polling.max_in_flight,
                observe_duration=self.metrics.observe_check,
                observe_lag=self.metrics.scheduler_lag.observe,
            )
            self.service = self.build_service(backend, collectors, self.scheduler)
            await self.service.refresh()
            self.feed = TicketFeed(self.service, self.clock)
            sock = bind(cfg.agent.listen_host, cfg.agent.listen_port)
            stack.callback(sock.close)
            self.listening = sock.getsockname()[:2]
            api = ApiContext(service=self.service, users=cfg.users, devices=cfg.devices,
                             devices_json=self.devices_json, tz=cfg.sla.timezone,
                             alert_device_label=cfg.alertmanager.device_label,
                             alert_token=cfg.alertmanager.token)
            web = WebContext(service=self.service, users=cfg.users, devices=cfg.devices,
                             devices_json=self.devices_json, web=cfg.web, tz=cfg.sla.timezone)
            server = make_server(build_app(self.metrics, self.snapshot, self.devices_json,
                                           self.ready.is_set, api, web))
            log.info(
                "agent started",
                extra={
                    "devices": len(cfg.devices),
                    "snmp_devices": sum(1 for d in cfg.devices if d.snmp_auth),
                    "listen": f"{self.listening[0]}:{self.listening[1]}",
                    "icmp_mode": collectors.icmp_mode,
                },
            )
            async with asyncio.TaskGroup() as tg:
                jobs = collectors.jobs(cfg, cfg.devices)
                polling = tg.create_task(self.scheduler.run(jobs), name="scheduler")
                ticker = tg.create_task(self._ticker(), name="ticker")
                feeding = tg.create_task(self.feed.run(), name="tickets")
                sweeping = tg.create_task(run_periodically(
                    cfg.tickets.sla_sweep_seconds, self.clock, self.service.sweep), name="sla")
                serving = tg.create_task(server.serve(sockets=[sock]), name="http")
                self.ready.set()
                stopping = tg.create_task(stop.wait(), name="stop")
                await asyncio.wait({stopping, serving}, return_when=asyncio.FIRST_COMPLETED)
                self.ready.clear()
                log.info("agent stopping")
                polling.cancel()
                ticker.cancel()
                with contextlib.suppress(TimeoutError):
                    # what was observed before the stop still reaches the store
                    await asyncio.wait_for(self.feed.queue.join(), DRAIN_SECONDS)
                feeding.cancel()
                sweeping.cancel()
                server.should_exit = True
                stopping.cancel()
            log.info("agent stopped")
