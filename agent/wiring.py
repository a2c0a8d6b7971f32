"""The concrete parts, opened from a Config: the collectors' engines (ICMP and SNMP sockets,
the SNMPv3 engine), the trap receiver, and the store's cluster, lease and history tables.
With agent/app.py, the only module that imports them (tests/unit/test_layers.py); the CLI's
commands open what they need here without building an Agent.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from agent.config import Config, TrapSettings
from agent.core.clock import Clock
from agent.core.model import CheckSpec, Device
from agent.core.traps import DropSink, TrapSink
from agent.reports.build import build_report
from agent.reports.model import MonthlyReport
from agent.scheduler import Job
from collectors.icmp import IcmpCollector, Pinger
from collectors.snmp.client import PysnmpClient
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.fastclient import FastSnmpClient
from ticketing.store.cluster import ClusterStore
from ticketing.store.cluster_leases import SqlLeases
from ticketing.store.history import SqlHistory

log = logging.getLogger(__name__)


def check_spec(config: Config, check: str) -> CheckSpec:
    p = config.polling
    return CheckSpec(
        check=check,
        interval_seconds=p.interval_seconds,
        timeout_seconds=p.timeout_seconds,
        retry_interval_seconds=p.retry_interval_seconds,
    )


@dataclass(slots=True)
class Collectors:
    """The collectors of one running agent (and of one `pantau probe`)."""

    icmp: IcmpCollector
    snmp: SnmpCollector
    icmp_mode: str  # "unprivileged" | "privileged"

    def jobs(self, config: Config, devices: Sequence[Device]) -> list[Job]:
        """One job per (device, check). The ICMP collector offers `check_many`, so the
        scheduler sends the ICMP jobs due in the same tick as one sweep."""
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


async def open_history(config: Config) -> SqlHistory:
    """The state history in the store (written by the agent, read by `pantau report`)."""
    return await SqlHistory.connect(config.agent.database)


async def monthly_report(config: Config, devices: Sequence[Device], month: str,
                         now: datetime) -> MonthlyReport:
    """One month's report from the store (`pantau report`, the page's `report_for`).
    ValueError for a month it cannot report; BackendError when the store cannot be read."""
    history = await open_history(config)
    try:
        return await build_report(history, devices, config.sop, month, config.sla.timezone, now)
    finally:
        await history.aclose()


class DeviceMatcher(Protocol):
    """The trap receiver as a reload sees it."""

    def update_devices(self, devices: Sequence[Device]) -> None: ...


@contextlib.asynccontextmanager
async def open_trap_receiver(config: Config, traps: TrapSettings, clock: Clock, sink: TrapSink,
                             dropped: DropSink, on_open: Callable[[DeviceMatcher], None]
                             = lambda receiver: None) -> AsyncIterator[tuple[str, int]]:
    """The SNMP notification receiver on `traps.listen_*`, matching the inventory's devices
    with their `[snmp.auth.*]` sets; yields the address it listens on (and hands the
    receiver to `on_open`, for reloads), closes it after."""
    # Imported here: only a configured [traps] section needs it.
    from collectors.snmp import TrapReceiver

    host = f"[{traps.listen_host}]" if ":" in traps.listen_host else traps.listen_host
    receiver = TrapReceiver(
        listen=f"{host}:{traps.listen_port}", devices=config.devices, auth=config.snmp.auth,
        clock=clock, sink=sink, dropped=dropped,
        per_device_per_second=traps.per_device_per_second,
        per_device_burst=traps.per_device_burst, overall_per_second=traps.overall_per_second,
        match_agent_address=traps.match_agent_address,
    )
    await receiver.start()
    on_open(receiver)
    try:
        address: tuple[str, int] = receiver.address
        log.info("trap receiver listening", extra={"listen": f"{address[0]}:{address[1]}"})
        yield address
    finally:
        await receiver.aclose()


def member_store(config: Config, *, connect_seconds: float = 5.0) -> ClusterStore:
    """The cluster's members' table (a member's heartbeat, `pantau cluster status`); needs
    `[cluster]`."""
    assert config.cluster is not None
    return ClusterStore(config.agent.database, lease_seconds=config.cluster.lease_seconds,
                        connect_seconds=connect_seconds)


async def lease_store(config: Config) -> SqlLeases:
    """The cluster's duty leases (the leader loop; `pantau cluster status` reads the
    leader's); a call on a cut network gives up after one lease."""
    lease = None if config.cluster is None else config.cluster.lease_seconds
    return await SqlLeases.connect(config.agent.database, cut_off_seconds=lease)
