"""Builds the monthly report's values from the store: the state history (availability per
device, per agency, overall) and the tickets of the period (SLA compliance).

The period is the calendar month in the agency's zone (`agent.reports.period`); a month not
over yet ends at `now`. Devices are those of the inventory given (a device removed from it
is not reported); each is counted from the history of the runs that watched it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from agent.core.model import Device
from agent.reports.availability import Tally, device_tally, total
from agent.reports.compliance import compliance
from agent.reports.model import AgencyAvailability, DeviceAvailability, MonthlyReport, Period
from agent.reports.period import month_period
from ticketing.history import MonitorRun, StateChange
from ticketing.models import Ticket
from ticketing.sop import Sop


class ReportSource(Protocol):
    """What a report reads (the SQL store implements it: ticketing.store.history)."""

    async def report_history(self, start: datetime, end: datetime
                             ) -> tuple[Sequence[MonitorRun], Sequence[StateChange]]:
        """The runs alive at some time in [start, end), and the device and maintenance
        rows of those runs: those in [start, end) and, for each run and subject, the last
        one before `start` (the state the period begins in), in stored order."""
        ...

    async def report_tickets(self, start: datetime, end: datetime
                             ) -> tuple[Sequence[Ticket], Sequence[tuple[str, datetime]]]:
        """The tickets open at some time in [start, end), and the (owner, time) of each
        reopening in [start, end)."""
        ...


async def build_report(source: ReportSource, devices: Sequence[Device], sop: Sop, month: str,
                       timezone: str, now: datetime) -> MonthlyReport:
    """The report of `month` ("YYYY-MM") counted in `timezone`, as of `now`.
    ValueError for a bad month or zone (see `month_period`); BackendError from the store.

    The counting (a whole month of every device) runs in a thread, off the agent's loop."""
    period = month_period(month, timezone, now)
    runs, changes = await source.report_history(period.start, period.end)
    tickets, reopenings = await source.report_tickets(period.start, period.end)
    return await asyncio.to_thread(assemble, period, now, devices, sop, runs, changes,
                                   tickets, reopenings)


def assemble(period: Period, now: datetime, devices: Sequence[Device], sop: Sop,
             runs: Sequence[MonitorRun], changes: Sequence[StateChange],
             tickets: Sequence[Ticket], reopenings: Sequence[tuple[str, datetime]]
             ) -> MonthlyReport:
    """The report's values from what the store gave for `period`. Pure."""
    start, end = period.start, period.end
    of_device: dict[str, list[StateChange]] = {}
    for c in changes:
        of_device.setdefault(c.device, []).append(c)
    ordered = sorted(devices, key=lambda d: (d.owner, d.name))
    tallies = {d.name: device_tally(runs, of_device.get(d.name, ()), start, end)
               for d in ordered}
    of_owner: dict[str, list[Tally]] = {}
    for d in ordered:
        of_owner.setdefault(d.owner, []).append(tallies[d.name])
    owners = sorted(of_owner)
    agencies = [AgencyAvailability(owner=owner, devices=len(of_owner[owner]),
                                   availability=total(of_owner[owner], end - start).availability())
                for owner in owners]
    return MonthlyReport(
        period=period,
        generated_at=now,
        devices=tuple(DeviceAvailability(device=d.name, owner=d.owner, site=d.site,
                                         availability=tallies[d.name].availability())
                      for d in ordered),
        agencies=tuple(agencies),
        overall=total(tallies.values(), end - start).availability(),
        compliance=compliance(tickets, reopenings, sop, period, owners),
    )
