"""The state history in the SQL store (revision 0005), on SQLite and PostgreSQL: runs and
changes written in batches, a period's history with the states it begins in, and the
period's tickets and reopenings; a report built from it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from agent.core.model import Device
from agent.history import HistorySink, HistoryWriter
from agent.reports import build
from agent.reports.build import build_report
from agent.reports.model import MonthlyReport
from tests.backend_fixtures import SQL_KINDS, open_one, sql_url
from tests.conftest import Figure
from tests.fakes import FakeClock
from ticketing.history import MAINTENANCE, WINDOW_OPEN, MonitorRun, StateChange
from ticketing.sop import SOP_006
from ticketing.store.engine import create_store_engine, database_url
from ticketing.store.history import SqlHistory
from ticketing.store.schema import ticket_events
from ticketing.store.sql import SqlBackend

START = datetime(2026, 11, 30, 17, tzinfo=UTC)  # December in WIB
END = datetime(2026, 12, 31, 17, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture(params=SQL_KINDS)
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sql_url(request.param, tmp_path)


@pytest.fixture
async def history(url: str) -> AsyncIterator[SqlHistory]:
    h = await SqlHistory.connect(url)
    try:
        yield h
    finally:
        await h.aclose()


def ch(run: str, device: str, state: str, at: datetime, check: str = "icmp",
       item: str = "") -> StateChange:
    return StateChange(run, device, check, item, state, at)


class TestStateHistorySql:
    """What the writer stores is what a report reads back."""

    async def test_a_run_and_its_changes_round_trip(self, history: SqlHistory) -> None:
        run = MonitorRun("r1", "node-a", START - 5 * H, START - 5 * H)
        await history.record(run, [])
        await history.record(MonitorRun("r1", "node-a", START - 5 * H, START + H),
                             [ch("r1", "sw", "up", START - 4 * H),
                              ch("r1", "sw", "down", START + H),
                              ch("r1", "sw", "down", START + H, "interface", "Gi0/1")])
        assert await history.runs() == [MonitorRun("r1", "node-a", START - 5 * H, START + H)]
        runs, changes = await history.report_history(START, END)
        assert [r.id for r in runs] == ["r1"]
        assert [(c.state, c.at) for c in changes] == [("up", START - 4 * H),
                                                       ("down", START + H)]

    async def test_the_period_begins_with_each_subjects_last_state(
            self, history: SqlHistory) -> None:
        run = MonitorRun("r1", "a", START - 50 * H, END + H, END + H)
        await history.record(run, [
            ch("r1", "sw", "up", START - 40 * H), ch("r1", "sw", "down", START - 30 * H),
            ch("r1", "ap", "up", START - 20 * H),
            ch("r1", "ap", WINDOW_OPEN, START - 2 * H, MAINTENANCE),
            ch("r1", "sw", "up", START + 2 * H), ch("r1", "sw", "down", END + 0.5 * H)])
        _, changes = await history.report_history(START, END)
        assert [(c.device, c.state, c.at) for c in changes] == [
            ("sw", "down", START - 30 * H), ("ap", "up", START - 20 * H),
            ("ap", WINDOW_OPEN, START - 2 * H), ("sw", "up", START + 2 * H)]

    async def test_only_runs_alive_in_the_period_are_read(self, history: SqlHistory) -> None:
        await history.record(MonitorRun("old", "a", START - 90 * H, START - 80 * H,
                                        START - 80 * H), [ch("old", "sw", "up", START - 89 * H)])
        await history.record(MonitorRun("dead", "a", START - 10 * H, START + 3 * H), [])
        await history.record(MonitorRun("next", "a", END + H, END + 2 * H), [])
        runs, changes = await history.report_history(START, END)
        assert [r.id for r in runs] == ["dead"]
        assert changes == []

    async def test_a_report_from_the_store(self, url: str, history: SqlHistory) -> None:
        clock = FakeClock(START + 24 * H)
        backend = await SqlBackend.connect(url, clock=clock)
        try:
            ticket = await open_one(backend, "sw")
        finally:
            await backend.aclose()
        engine = create_store_engine(database_url(url))
        try:
            with engine.begin() as conn:
                for seq, at in ((97, START - H), (98, START + 3 * H), (99, END)):
                    conn.execute(insert(ticket_events).values(
                        ticket_id=ticket.id, seq=seq, kind="reopened", at=at,
                        actor="pantau", role="system", step=None, data={}))
        finally:
            engine.dispose()
        listed, reopened = await history.report_tickets(START, END)
        assert [t.id for t in listed] == [ticket.id]
        assert reopened == [("Dinas Kesehatan", START + 3 * H)]
        run = MonitorRun("r1", "a", START, END, END)
        await history.record(run, [ch("r1", "sw", "up", START),
                                   ch("r1", "sw", "down", START + 10 * H),
                                   ch("r1", "sw", "up", START + 12 * H)])
        devices = [Device("sw", "127.0.0.2", "Dinas Kesehatan")]
        report = await build_report(history, devices, SOP_006, "2026-12", "Asia/Jakarta",
                                    END + 24 * H)
        a = report.devices[0].availability
        assert a.down_seconds == 7200
        assert a.up_seconds == (END - START).total_seconds() - 7200
        assert [c.owner for c in report.compliance] == [None, "Dinas Kesehatan"]
        # the sample ticket was opened in November (T0) and is still open
        assert report.compliance[0].tickets.still_open == 1
        assert report.compliance[0].tickets.reopened == 1  # of three, one in December


class TestHistoryWriterOnSqlite:
    """The writer on a real store: a locked database, a crash, a mass event."""

    async def test_changes_wait_out_a_locked_database(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'pantau.db'}"
        clock = FakeClock(START)
        store = await SqlHistory.connect(url, busy_timeout_seconds=0.2)

        async def open_sink() -> HistorySink:
            return store

        w = HistoryWriter(clock, "a", open_sink, lambda: ((), ()))
        assert await w.write()
        locker = sqlite3.connect(tmp_path / "pantau.db", isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            w.pending.append(ch(w.run.id, "sw", "down", clock.now()))
            assert not await w.write()  # BackendUnavailable: kept
            assert len(w.pending) == 1
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        clock.advance(60)
        assert await w.stop()
        _, changes = await _read(url)
        assert [(c.device, c.state) for c in changes] == [("sw", "down")]

    async def test_a_crash_leaves_a_gap_not_monitored(self, history: SqlHistory) -> None:
        # run r1 died after its write at START + 10 h; r2 started at START + 12 h
        await history.record(MonitorRun("r1", "a", START, START + 10 * H),
                             [ch("r1", "sw", "up", START)])
        await history.record(MonitorRun("r2", "a", START + 12 * H, END, END),
                             [ch("r2", "sw", "up", START + 12 * H)])
        report = await build_report(history, [Device("sw", "127.0.0.2", "A")], SOP_006,
                                    "2026-12", "Asia/Jakarta", END + H)
        a = report.devices[0].availability
        assert a.unmonitored_seconds == 2 * 3600
        assert a.up_seconds == (END - START).total_seconds() - 2 * 3600

    async def test_a_mass_event_is_one_transaction(self, history: SqlHistory,
                                                   figure: Figure) -> None:
        run = MonitorRun("r1", "a", START, START)
        await history.record(run, [])
        changes = [ch("r1", f"d{i:05d}", "down", START + H) for i in range(10_000)]
        began = time.perf_counter()
        await history.record(MonitorRun("r1", "a", START, START + H), changes)
        took = time.perf_counter() - began
        _, read = await history.report_history(START, END)
        assert len(read) == 10_000
        figure(f"10,000 state changes written in one transaction in {took:.2f}s")
        assert took < 10

    async def test_a_city_months_report(self, history: SqlHistory, figure: Figure,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
        """10,000 devices in 50 agencies, each down once for an hour in the month; the
        counting runs off the agent's loop."""
        counted_in: list[int] = []
        assemble = build.assemble

        def spied(*args: Any) -> MonthlyReport:
            counted_in.append(threading.get_ident())
            return assemble(*args)

        monkeypatch.setattr(build, "assemble", spied)
        devices = [Device(f"d{i:05d}", "127.0.0.2", f"Dinas {i % 50:02d}")
                   for i in range(10_000)]
        run = MonitorRun("r1", "a", START - H, END, END)
        rows = [ch("r1", d.name, "up", START - H) for d in devices]
        rows += [ch("r1", d.name, state, START + (i % 600 + k) * H)
                 for i, d in enumerate(devices) for k, state in ((0, "down"), (1, "up"))]
        await history.record(run, rows)
        gaps: list[float] = []
        last = [time.perf_counter()]

        async def ticking() -> None:  # the agent's loop, which must keep its turns meanwhile
            while True:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last[0])
                last[0] = now

        ticker = asyncio.ensure_future(ticking())
        await asyncio.sleep(0)
        began = last[0] = time.perf_counter()
        report = await build_report(history, devices, SOP_006, "2026-12", "Asia/Jakarta",
                                    END + H)
        took = time.perf_counter() - began
        gaps.append(time.perf_counter() - last[0])  # a wait still running counts too
        ticker.cancel()
        assert len(report.agencies) == 50
        assert report.overall.down_seconds == 10_000 * 3600
        assert report.overall.outages == 10_000
        figure(f"a month's report of 10,000 devices (30,000 history rows, 50 agencies) "
               f"read and built in {took:.2f}s; the loop's longest wait meanwhile "
               f"{max(gaps) * 1000:.0f} ms")
        assert took < 30
        assert counted_in  # counted once, in a thread: the loop keeps its turns meanwhile
        assert threading.get_ident() not in counted_in


async def _read(url: str) -> tuple[Sequence[MonitorRun], Sequence[StateChange]]:
    h = await SqlHistory.connect(url)
    try:
        return await h.report_history(START, END)
    finally:
        await h.aclose()
