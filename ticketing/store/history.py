"""The state history in the SQL store (revision 0005): writing a run's changes with its
last-alive time in one transaction, and the reads a monthly report needs (the history of a
period, its tickets and reopenings). Runs on its own StoreWorker (one thread, one engine)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, insert, or_, select, update

from ticketing.history import MAINTENANCE, MonitorRun, StateChange
from ticketing.models import EventKind, Ticket
from ticketing.store import rows
from ticketing.store.schema import monitor_runs, state_changes, ticket_events, tickets
from ticketing.store.worker import StoreWorker

#: The rows a report reads: the device's own state and its maintenance windows.
REPORTED_CHECKS = ("icmp", MAINTENANCE)


class SqlHistory:
    """Make one with `await SqlHistory.connect(url)`. BackendUnavailable/BackendRejected as
    the ticket store raises them."""

    def __init__(self, worker: StoreWorker) -> None:
        self._worker = worker

    @classmethod
    async def connect(cls, url: str, *, busy_timeout_seconds: float = 5.0) -> SqlHistory:
        return cls(await StoreWorker.connect(url, busy_timeout_seconds=busy_timeout_seconds))

    async def aclose(self) -> None:
        await self._worker.aclose()

    # -- writing ----------------------------------------------------------------------------

    async def record(self, run: MonitorRun, changes: Sequence[StateChange]) -> None:
        """Store `changes` and the run's `last_alive`/`stopped_at`, in one transaction (the
        run's row is made on its first write). A retried write may store a change twice:
        the same state at the same time, which changes no sum."""
        await self._worker.write("writing the state history", _record, run, changes)

    # -- reading (agent.reports.build.ReportSource) ---------------------------------------

    async def runs(self) -> Sequence[MonitorRun]:
        """Every run, oldest first (for tests and inspection)."""
        return await self._worker.read("reading agent runs", _runs, None, None)

    async def report_history(self, start: datetime, end: datetime
                             ) -> tuple[Sequence[MonitorRun], Sequence[StateChange]]:
        return await self._worker.read("reading the state history", _history, start, end)

    async def report_tickets(self, start: datetime, end: datetime
                             ) -> tuple[Sequence[Ticket], Sequence[tuple[str, datetime]]]:
        return await self._worker.read("reading the period's tickets", _tickets, start, end)


def _record(conn: Connection, run: MonitorRun, changes: Sequence[StateChange]) -> None:
    values = {"last_alive": run.last_alive, "stopped_at": run.stopped_at}
    found = conn.execute(update(monitor_runs).where(monitor_runs.c.id == run.id)
                         .values(**values)).rowcount
    if found == 0:
        conn.execute(insert(monitor_runs).values(id=run.id, node=run.node,
                                                 started_at=run.started_at, **values))
    if changes:
        conn.execute(insert(state_changes), [
            {"run_id": c.run_id, "device": c.device, "check": c.check, "item": c.item,
             "state": c.state, "at": c.at} for c in changes])


def _runs(conn: Connection, start: datetime | None, end: datetime | None
          ) -> list[MonitorRun]:
    r = monitor_runs.c
    query = select(monitor_runs).order_by(r.started_at, r.id)
    if start is not None and end is not None:
        query = query.where(r.started_at < end,
                            func.coalesce(r.stopped_at, r.last_alive) > start)
    return [MonitorRun(id=x.id, node=x.node, started_at=x.started_at, last_alive=x.last_alive,
                       stopped_at=x.stopped_at) for x in conn.execute(query)]


def _history(conn: Connection, start: datetime, end: datetime
             ) -> tuple[list[MonitorRun], list[StateChange]]:
    runs = _runs(conn, start, end)
    ids = [x.id for x in runs]
    if not ids:
        return runs, []
    s = state_changes.c
    mine = (s.run_id.in_(ids), s.check.in_(REPORTED_CHECKS))
    before = (select(func.max(s.id)).where(*mine, s.at < start)
              .group_by(s.run_id, s.device, s.check, s.item))
    query = (select(state_changes)
             .where(*mine, or_(s.at >= start, s.id.in_(before)), s.at < end)
             .order_by(s.id))
    changes = [StateChange(run_id=x.run_id, device=x.device, check=x.check, item=x.item,
                           state=x.state, at=x.at) for x in conn.execute(query)]
    return runs, changes


def _tickets(conn: Connection, start: datetime, end: datetime
             ) -> tuple[list[Ticket], list[tuple[str, datetime]]]:
    t = tickets.c
    found = conn.execute(
        select(t.id, t.body).where(t.opened_at < end,
                                   or_(t.closed_at.is_(None), t.closed_at >= start))
        .order_by(t.opened_at, t.id))
    listed = [rows.decode(x.id, x.body) for x in found]
    e = ticket_events.c
    reopened = conn.execute(
        select(t.owner, e.at).join(tickets, t.id == e.ticket_id)
        .where(e.kind == EventKind.REOPENED.value, e.at >= start, e.at < end)
        .order_by(e.at))
    return listed, [(x.owner, x.at) for x in reopened]


