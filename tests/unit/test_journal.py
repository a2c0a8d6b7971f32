"""The observation journal: observations kept on disk until the store has them, one
transaction per burst, in order across a restart, and never lost when a write fails."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from agent.journal import Journal
from tests.fakes import FakeClock
from tests.unit.test_service import obs
from ticketing.models import Fault
from ticketing.observation import AFFECTED, FAILING, RESTORED, Observation
from ticketing.payloads import Evidence


def rich(clock: FakeClock) -> Observation:
    return Observation(
        device="core-1", owner="Dinas Kesehatan", fault=Fault.INTERFACE_DOWN, kind=FAILING,
        at=clock.now(), item="Gi0/1", reason="ifOperStatus down",
        evidence=Evidence({"reason": "down", "last": {"snmp": {"status": "down"}},
                           "affected": ["a", "b"]}), affected=("a", "b"))


class TestJson:
    """An observation's JSON form."""

    def test_round_trip_is_exact(self) -> None:
        o = rich(FakeClock())
        assert Observation.from_json(o.to_json()) == o

    def test_a_naive_time_is_refused(self) -> None:
        o = obs(FakeClock())
        with pytest.raises(ValueError, match="naive"):
            Observation(o.device, o.owner, o.fault, o.kind, o.at.replace(tzinfo=None)).to_json()


class TestJournal:
    """Writes, order and restarts."""

    async def test_kept_in_order_across_a_restart(self, tmp_path: Path) -> None:
        clock = FakeClock()
        path = str(tmp_path / "j.db")
        journal = await Journal.open(path)
        sent = []
        for i in range(5):
            clock.advance(1)
            sent.append(rich(clock) if i == 2 else obs(clock, device=f"sw-{i}"))
            journal.put(sent[-1])
        await journal.aclose()
        again = await Journal.open(path)
        kept = await again.pending()
        assert [o for _, o in kept] == sent
        assert [i for i, _ in kept] == sorted(i for i, _ in kept)
        assert again.depth == 5
        assert again.put(obs(clock)) > kept[-1][0]  # ids go on after the kept ones
        await again.aclose()

    async def test_a_burst_is_one_transaction(self, tmp_path: Path) -> None:
        clock = FakeClock()
        journal = await Journal.open(str(tmp_path / "j.db"))
        statements: list[str] = []
        journal._conn.set_trace_callback(statements.append)  # the one private look: commits
        for i in range(2000):
            journal.put(obs(clock, AFFECTED, device="core-1", affected=(f"leaf-{i}",)))
        assert await journal.flush()
        assert statements.count("COMMIT") == 1
        assert len(await journal.pending()) == 2000
        await journal.aclose()

    async def test_done_forgets_and_reject_keeps_the_reason(self, tmp_path: Path) -> None:
        clock = FakeClock()
        journal = await Journal.open(str(tmp_path / "j.db"))
        a, b, c = (journal.put(obs(clock, kind, device="sw-1"))
                   for kind in (FAILING, RESTORED, FAILING))
        journal.done([a])
        journal.reject([b, c], obs(clock, RESTORED, device="sw-1"), "BackendRejected: no",
                       clock.now())
        assert await journal.flush()
        assert await journal.pending() == []
        [rejected] = await journal.rejected()
        assert (rejected.id, rejected.reason, rejected.at) == (b, "BackendRejected: no",
                                                               clock.now())
        assert journal.depth == 0
        await journal.aclose()

    async def test_wal_mode(self, tmp_path: Path) -> None:
        journal = await Journal.open(str(tmp_path / "j.db"))
        await journal.aclose()
        with sqlite3.connect(tmp_path / "j.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    async def test_a_failed_write_is_kept_and_written_later(
            self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        clock = FakeClock()
        journal = await Journal.open(str(tmp_path / "j.db"))
        # a disk that refuses writes (root ignores file modes; SQLite's own switch does not)
        journal._conn.execute("PRAGMA query_only = ON")
        for i in range(3):
            journal.put(obs(clock, device=f"sw-{i}"))
        with caplog.at_level(logging.ERROR, "agent.journal"):
            assert not await journal.flush()
            assert not await journal.flush()
        assert [r.message for r in caplog.records].count(
            "observation journal write failed; kept in memory") == 1  # once, not per try
        journal._conn.execute("PRAGMA query_only = OFF")
        journal.put(obs(clock, device="sw-3"))
        assert await journal.flush()
        assert [o.device for _, o in await journal.pending()] == ["sw-0", "sw-1", "sw-2", "sw-3"]
        await journal.aclose()

    async def test_an_unusable_path_names_the_file(self, tmp_path: Path) -> None:
        with pytest.raises(OSError, match=str(tmp_path / "no" / "such" / "j.db")):
            await Journal.open(str(tmp_path / "no" / "such" / "j.db"))
