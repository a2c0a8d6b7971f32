"""Builds everything from a Config and owns the lifecycle: the only module that wires
collectors, detector, scheduler, metrics and the HTTP server together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from zoneinfo import ZoneInfo

from agent import heap
from agent.api import ApiContext
from agent.cluster.leader import Duty, Leader
from agent.cluster.leader_outbox import LeaderOutbox
from agent.cluster.leader_store import leadership
from agent.cluster.membership import Membership
from agent.config import Config
from agent.core.clock import Clock, SystemClock
from agent.core.cluster import Writer
from agent.core.errors import WriterFenced
from agent.core.model import Device, host_port
from agent.detect import Detector
from agent.history import HistorySink, HistoryWriter, node_name
from agent.http_limits import raise_open_file_limit
from agent.journal import Journal
from agent.lag import LagMonitor
from agent.metrics import Metrics, Snapshot
from agent.metrics_cluster import ClusterInstruments
from agent.notifications import Notifications, build_rules, open_notifications
from agent.pipeline import ResultPipeline
from agent.reload import InventoryChange, Reloader, ReloadOutcome, diff_inventory
from agent.reports.build import build_report
from agent.reports.model import MonthlyReport
from agent.reports.monthly import MonthlyFiles
from agent.scheduler import Scheduler
from agent.server import bind, build_app, make_server
from agent.status import StatusViews
from agent.store_gate import StoreGate, TicketStore
from agent.tickets import TicketFeed
from agent.traps import TrapMeaning
from agent.verify import LiveVerifier
from agent.web.pages import WebContext
from agent.wiring import (
    Collectors,
    DeviceMatcher,
    lease_store,
    member_store,
    open_collectors,
    open_history,
    open_trap_receiver,
)
from ticketing.backend import TicketBackend
from ticketing.calendar import Calendar, build_calendar
from ticketing.notices import NoticeRules
from ticketing.periodic import run_periodically
from ticketing.ports import TicketSettingsView
from ticketing.service import TicketService
from ticketing.store.history import SqlHistory
from ticketing.store.sql import SqlBackend
from ticketing.store.worker import cut_off

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # how often maintenance windows and held states are re-evaluated
DRAIN_SECONDS = 2.0  # on stop, how long pending observations may take to reach the store
# (what does not is in the journal, which a stop always writes out: it is replayed on start)
FIRST_JOIN_SECONDS = 10.0  # the store's first try at start-up, before monitoring starts


class Agent:
    """One running agent. `run(stop)` returns after `stop` is set and everything is closed."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.metrics = Metrics()
        # a cluster member polls only its own devices: none until its first heartbeat
        start = () if config.cluster is not None else config.devices
        self.membership: Membership | None = None  # with [cluster], while running
        self.pipeline = ResultPipeline(start, Detector(
            devices=start,
            polling=config.polling,
            flapping=config.flapping,
            maintenance=config.maintenance,
            confirm_after=config.traps.confirm_after if config.traps is not None else 1,
        ))
        self.calendar: Calendar = build_calendar(config.sla)
        # who is told what; None with no channel configured (then nothing is queued)
        self.notices: NoticeRules | None = build_rules(config, self.calendar)
        self.listening: tuple[str, int] | None = None
        self.trap_listening: tuple[str, int] | None = None  # with [traps], while running
        self.traps: TrapMeaning | None = None  # with [traps], while running
        self.notifications: Notifications | None = None  # while running
        self.ready = asyncio.Event()
        self.store: StoreGate | None = None  # while running
        self.history: HistoryWriter | None = None  # while running
        self._reports: SqlHistory | None = None  # the reports' reader, from the first report
        self._reports_opening = asyncio.Lock()
        # the inventory the views, the API and the pages read: updated in place by reloads
        self.inventory: list[Device] = list(start)
        self.device_index: dict[str, Device] = {d.name: d for d in start}
        self.reloader: Reloader | None = None  # while running
        self._reload_wanted = asyncio.Event()
        self._trap_receiver: DeviceMatcher | None = None  # with [traps], while running
        # singleton duties beyond the SLA sweep and delivery (issue 16's monthly reports):
        # they start and stop with leadership, like those
        self.report_duties: list[Duty] = []
        if config.reports is not None:
            files = MonthlyFiles(config.reports, timezone=config.sla.timezone,
                                 users=config.users, letterhead=config.web,
                                 report_for=self.report, clock=self.clock)
            self.report_duties.append(("reports", files.run))
        self.leader: Leader | None = None  # with [cluster], while running

    def store_state(self) -> str:
        """The ticket store for /healthz: "ready", or "joining" with the class of the last
        failure to connect (never its message: it may name hosts, users or paths)."""
        gate = self.store
        if gate is None or gate.reason == "":
            return "joining" if gate is None else gate.state
        return f"{gate.state} ({gate.reason})"

    async def _ticker(self) -> None:
        while True:
            await self.clock.sleep(TICK_SECONDS)
            self.pipeline.tick(self.clock.now())

    async def report(self, month: str) -> MonthlyReport:
        """`month`'s report of the whole running inventory, as of now (the page's
        `report_for`): in a cluster every member's devices, not only this member's."""
        devices = self.inventory if self.membership is None else self.membership.devices
        async with self._reports_opening:  # one reader for every page view and download:
            if self._reports is None:  # no engine and migration check per request
                self._reports = await open_history(self.config)
        return await build_report(self._reports, list(devices), self.config.sop, month,
                                  self.config.sla.timezone, self.clock.now())

    async def close_reports(self) -> None:
        """Close the reports' store reader (at stop; a later report opens it again)."""
        reader, self._reports = self._reports, None
        if reader is not None:
            await reader.aclose()

    async def _open_history(self) -> HistorySink:
        return await open_history(self.config)

    async def open_store(self) -> TicketStore:
        """The store for the CLI: its writes are a person's, in no member's name."""
        return await self._connect_store(member=False)

    async def _open_member_store(self) -> TicketStore:
        """The running agent's store: with [cluster], its writes are this member's."""
        return await self._connect_store(member=self.config.cluster is not None)

    async def _connect_store(self, *, member: bool) -> TicketStore:
        # ticket numbers run per year in the agency's zone (SOP006-2027-... from 1 January WIB)
        cluster = self.config.cluster
        if cluster is None or not member:
            return await SqlBackend.connect(self.config.agent.database, clock=self.clock,
                                            year_tz=ZoneInfo(self.config.sla.timezone))
        # a member's writes carry its lease epoch; on a cut network they give up after one
        # lease instead of TCP's minutes, so it writes again soon after the network is back
        return await SqlBackend.connect(
            self.config.agent.database, clock=self.clock,
            year_tz=ZoneInfo(self.config.sla.timezone), writer=self._writer,
            connect_args=cut_off(cluster.lease_seconds))

    def _writer(self) -> Writer:
        if self.membership is None:
            raise WriterFenced("this cluster member has not joined yet")
        return self.membership.writer()

    def _join_cluster(self, stack: contextlib.AsyncExitStack,
                      apply: Callable[[tuple[Device, ...]], None]) -> Membership | None:
        """With [cluster]: this agent's membership (issue 15), its store closed on `stack`."""
        cluster = self.config.cluster
        if cluster is None:
            return None
        store = member_store(self.config, connect_seconds=max(1.0, cluster.heartbeat_seconds))
        stack.push_async_callback(store.aclose)
        assert self.listening is not None
        host, port = self.listening
        self.membership = Membership(
            cluster, store, self.clock, devices=self.config.devices, apply=apply,
            address=cluster.address or host_port(host, port),
            observer=ClusterInstruments(self.metrics.registry, cluster.node))
        return self.membership

    def build_service(self, backend: TicketBackend, collectors: Collectors,
                      scheduler: Scheduler, on_queued: Callable[[], None] | None = None
                      ) -> TicketService:
        """The ticket service; its writes queue the messages they cause (`self.notices`),
        also from the CLI, whose messages the running agent's delivery loop picks up."""
        t = self.config.tickets
        verifier = LiveVerifier(
            devices=self.pipeline.devices, jobs=lambda ds: collectors.jobs(self.config, ds),
            run_check=scheduler.run_check, clock=self.clock,
            probes=t.verification_probes, hold_seconds=t.verification_hold_seconds,
        )
        return TicketService(
            backend=backend, sop=self.config.sop, calendar=self.calendar, clock=self.clock,
            verifier=verifier, observer=self.metrics, notices=self.notices,
            on_queued=on_queued,
            settings=TicketSettingsView(
                reopen_window_seconds=t.reopen_window_minutes * 60,
                verification_max_age_seconds=t.verification_max_age_seconds,
            ),
        )

    def request_reload(self) -> None:
        """Reload the config file soon (SIGHUP): done on the loop by the running agent."""
        self._reload_wanted.set()

    def reload(self) -> ReloadOutcome:
        """Reload the config file now (`POST /api/v1/reload`); only while running."""
        if self.reloader is None:
            return ReloadOutcome(ok=False, problems=("the agent is not running",))
        return self.reloader.reload()

    async def _reloads(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()
            self.reload()

    def _apply_inventory(self, change: InventoryChange, scheduler: Scheduler,
                         collectors: Collectors, views: StatusViews,
                         first_within: float | None = None) -> None:
        """A reload's valid inventory, everywhere it is read; unchanged devices keep their
        jobs' slots and their detector states. New devices are first checked within one
        interval (`first_within` seconds, when given)."""
        devices = change.devices
        fresh = {*change.added, *change.changed}
        scheduler.remove_devices([*change.removed, *change.changed])
        self.pipeline.update_devices(devices, change.changed)
        if self.history is not None:  # their states are forgotten: not monitored until known
            self.history.forget([*change.removed, *change.changed], self.clock.now())
        self.config = replace(self.config, devices=devices)
        self.inventory[:] = devices
        self.device_index.clear()
        self.device_index.update((d.name, d) for d in devices)
        views.forget([*change.removed, *change.changed])
        if self.traps is not None:
            self.traps.update_devices(devices)
        if self._trap_receiver is not None:
            self._trap_receiver.update_devices(devices)
        scheduler.add_jobs(collectors.jobs(self.config, [d for d in devices if d.name in fresh]),
                           within=first_within)

    def device_traps(self, name: str) -> list[dict[str, object]]:
        """A device's recent notifications of other kinds (empty without [traps])."""
        return [] if self.traps is None else self.traps.recent(name)

    async def _open_traps(self, stack: contextlib.AsyncExitStack,
                          scheduler: Scheduler) -> TrapMeaning | None:
        """With [traps]: what traps mean, fed by the receiver (opened on `stack`)."""
        settings = self.config.traps
        if settings is None:
            return None
        detector, metrics = self.pipeline.detector, self.metrics
        traps = TrapMeaning(
            devices=self.config.devices, clock=self.clock, ring_size=settings.ring_size,
            recheck=scheduler.request_check,
            announce=lambda device, item, at, down: detector.announce(device, item, at,
                                                                      down=down),
            count=lambda device, trap: metrics.traps_received.labels(device, trap).inc(),
        )
        self.trap_listening = await stack.enter_async_context(open_trap_receiver(
            self.config, settings, self.clock, traps.on_trap,
            lambda reason: metrics.traps_dropped.labels(reason).inc(),
            on_open=self._set_trap_receiver))
        return traps

    def _leading(self) -> bool:
        """In a cluster: this member leads, within its lease (delivery checks it)."""
        return self.leader is not None and self.leader.valid()

    def _snapshots(self, views: StatusViews) -> Callable[[], Snapshot]:
        """/metrics' snapshots: in a cluster, with the ticket gauges on the leader only."""
        if self.config.cluster is None:
            return views.snapshot
        return lambda: replace(views.snapshot(),
                               leader=self.leader is not None and self.leader.leading)

    def _set_trap_receiver(self, receiver: DeviceMatcher) -> None:
        self._trap_receiver = receiver

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        async with contextlib.AsyncExitStack() as stack:
            # first the journal (closed last): what is observed is kept even without a store
            journal = await Journal.open(cfg.agent.journal)
            stack.push_async_callback(journal.aclose)
            stack.push_async_callback(self.close_reports)
            self.metrics.observations_pending.set_function(lambda: journal.depth)
            # the store joins in the background (below): monitoring does not wait for it
            backend = self.store = StoreGate()
            stack.push_async_callback(backend.aclose)
            collectors = await stack.enter_async_context(open_collectors(cfg, self.clock))
            lag = LagMonitor(self.clock, observe=self.metrics.lateness.loop_lag.set)
            scheduler = Scheduler(
                clock=self.clock,
                sink=self.pipeline.on_result,
                retrying=self.pipeline.retrying,
                max_in_flight=cfg.polling.max_in_flight,
                observe_duration=self.metrics.observe_check,
                observe_lag=self.metrics.scheduler_lag.observe,
                observe_overrun=self.metrics.lateness.overrun,
                lag=lag,
            )
            notify = await stack.enter_async_context(
                open_notifications(cfg, self.clock, backend if cfg.cluster is None else
                                   LeaderOutbox(backend, self._leading), self.metrics))
            self.notifications = notify
            service = self.build_service(backend, collectors, scheduler, notify.wake)
            # one bounded try now: a store that is there is ready when the agent is (the API
            # and the pages answer from the start); else it joins in the background below
            await backend.attempt(self._open_member_store, service.refresh,
                                  FIRST_JOIN_SECONDS)
            feed = TicketFeed(service, self.clock, journal,
                              on_rejected=self.metrics.observations_rejected.inc)
            await feed.load()  # the last run's observations first, in order
            traps = self.traps = await self._open_traps(stack, scheduler)
            history = self.history = HistoryWriter(
                self.clock, node_name(cfg.cluster.node if cfg.cluster else None),
                self._open_history, lambda: (self.config.maintenance, self.inventory))
            self.pipeline.connect(recheck=scheduler.request_check, observe=feed.put,
                                  on_snmp=None if traps is None else traps.on_snmp_result,
                                  on_transition=history.on_transition)
            views = StatusViews(
                devices=self.inventory, index=self.device_index, sop=cfg.sop,
                calendar=self.calendar, clock=self.clock,
                detector=self.pipeline.detector, reboots=self.pipeline.reboots,
                last_reboot=self.pipeline.last_reboot, scheduler=scheduler, service=service,
            )
            before, after = raise_open_file_limit()
            log.info("open-file limit", extra={"before": before, "after": after})
            sock = bind(cfg.agent.listen_host, cfg.agent.listen_port)
            stack.callback(sock.close)
            self.listening = sock.getsockname()[:2]
            # devices taken over are first checked within half a heartbeat: the member that
            # gave them away checked them at most an interval before it saw the change, so
            # no check is missed (at most interval + half a heartbeat between two)
            members = self._join_cluster(stack, lambda owned: self._apply_inventory(
                diff_inventory(self.inventory, owned), scheduler, collectors, views,
                None if cfg.cluster is None else cfg.cluster.heartbeat_seconds / 2))
            self.reloader = Reloader(
                cfg, lambda change: self._apply_inventory(change, scheduler, collectors, views)
                if members is None else members.set_inventory(change.devices),
                clock=self.clock, success=self.metrics.reload_success,
                success_at=self.metrics.reload_success_at)
            api = ApiContext(service=service, users=cfg.users, devices=cfg.devices,
                             device_index=self.device_index,
                             reload=lambda: self.reload().as_json(),
                             devices_json=views.devices_json, tz=cfg.sla.timezone,
                             alert_device_label=cfg.alertmanager.device_label,
                             alert_token=cfg.alertmanager.token, notifications=notify.desk,
                             device_traps=self.device_traps)
            web = WebContext(service=service, users=cfg.users, devices=cfg.devices,
                             device_index=self.device_index,
                             devices_json=views.devices_json, web=cfg.web, tz=cfg.sla.timezone,
                             notifications=notify.desk, device_traps=self.device_traps,
                             report_for=self.report)
            self.leader, leading = leadership(
                cfg.cluster, self.clock, self.metrics.cluster_leader, stack,
                lambda: lease_store(cfg), [
                ("sla", lambda: run_periodically(cfg.tickets.sla_sweep_seconds, self.clock,
                                                 service.sweep)),
                *notify.delivery_jobs(), *self.report_duties])
            http_app = build_app(self.metrics, self._snapshots(views), views.devices_json,
                                 self.ready.is_set, api, web, clock=self.clock,
                                 metrics_token=cfg.agent.metrics_token,
                                 max_body_bytes=cfg.agent.max_body_bytes,
                                 on_unauthorized=self.metrics.api_unauthorized.inc,
                                 store=self.store_state)
            server = make_server(http_app, self.clock)
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
                jobs = collectors.jobs(cfg, self.inventory)
                stack.enter_context(heap.settled())  # the inventory lives as long as the agent
                polling = tg.create_task(scheduler.run(jobs), name="scheduler")
                # after the scheduler (tasks start in order): a reload finds its jobs there
                reloading = tg.create_task(self._reloads(), name="reload")
                # after the scheduler too: the first heartbeat's devices go into its jobs
                clustering = None if members is None else tg.create_task(
                    members.run(), name="cluster")
                joining = None if backend.ready() else tg.create_task(
                    backend.join(self._open_member_store, self.clock, service.refresh),
                    name="store")
                lagging = tg.create_task(lag.run(), name="lag monitor")
                ticker = tg.create_task(self._ticker(), name="ticker")
                feeding = tg.create_task(feed.run(), name="tickets")
                recording = tg.create_task(history.run_forever(), name="history")
                duties = tg.create_task(leading(), name="leader")
                serving = tg.create_task(server.serve(sockets=[sock]), name="http")
                exposing = tg.create_task(http_app.state.exposition.run(), name="metrics")
                collecting = tg.create_task(heap.collect_periodically(self.clock), name="gc")
                notifying = [tg.create_task(job(), name=name)
                             for name, job in notify.stats_jobs()]
                if cfg.cluster is not None:  # a member not leading sweeps nothing, but keeps
                    # its open tickets current: taking over, it counts no old change again
                    async def refresh() -> None:
                        if self.leader is None or not self.leader.leading:
                            await service.refresh()  # the leader's sweep refreshes itself
                    notifying.append(tg.create_task(run_periodically(
                        cfg.tickets.sla_sweep_seconds, self.clock, refresh), name="refresh"))
                self.ready.set()
                stopping = tg.create_task(stop.wait(), name="stop")
                await asyncio.wait({stopping, serving}, return_when=asyncio.FIRST_COMPLETED)
                self.ready.clear()
                log.info("agent stopping")
                polling.cancel()
                reloading.cancel()
                if joining is not None:
                    joining.cancel()
                lagging.cancel()
                ticker.cancel()
                with contextlib.suppress(TimeoutError):
                    # what was observed before the stop reaches the store if it can; the
                    # rest waits in the journal for the next start
                    await asyncio.wait_for(feed.queue.join(), DRAIN_SECONDS)
                feeding.cancel()
                recording.cancel()
                with contextlib.suppress(TimeoutError):  # else the run ends at its last write
                    await asyncio.wait_for(history.stop(), DRAIN_SECONDS)
                if clustering is not None and members is not None:
                    clustering.cancel()
                    await members.leave()  # the others take over at once, not in a lease
                if not await journal.flush():
                    log.error("observation journal incomplete at stop",
                              extra={"journal": journal.path})
                duties.cancel()  # a leader stops its duties and hands its lease back
                for task in notifying:
                    task.cancel()
                exposing.cancel()
                collecting.cancel()
                server.should_exit = True
                stopping.cancel()
            log.info("agent stopped")
