"""What only the SQL store has: pragmas, rules the database itself enforces, migrations,
error mapping and durability across a killed process (SQLite; PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from agent.core.errors import BackendRejected, BackendUnavailable
from tests.backend_fixtures import SQL_KINDS, open_one, sql_url
from tests.fakes import FakeClock
from tests.store_samples import builder, draft
from ticketing.store.engine import create_store_engine, database_url, upgrade
from ticketing.store.schema import metadata, ticket_events, tickets
from ticketing.store.sql import SqlBackend

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)

#: The newest revision under ticketing/store/migrations/versions.
HEAD = "0005"


@pytest.fixture(params=SQL_KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database (SQLite file, or the test PostgreSQL wiped first)."""
    eng = create_store_engine(database_url(sql_url(request.param, tmp_path)))
    try:
        upgrade(eng)
        yield eng
    finally:
        eng.dispose()


def row(number: int, key: str, status: str = "open") -> dict[str, Any]:
    return {
        "id": f"SOP006-2026-{number:06d}", "year": 2026, "number": number, "device": "sw",
        "owner": "Dinas", "fault": "device_down", "item": "", "trigger": "auto",
        "status": status, "current_step": 2, "flapping": False, "opened_at": NOW,
        "closed_at": None, "dedup_key": key, "sop_version": 1, "seq": 1, "body": {},
        "updated_at": NOW,
    }


def event(ticket_id: str, seq: int = 1) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "seq": seq, "kind": "opened", "at": NOW,
            "actor": "pantau", "role": "system", "step": None, "data": {}}


class TestDatabaseRules:
    """The database itself refuses duplicates and dangling rows, whatever the code does."""

    def test_a_second_open_ticket_with_one_key_is_refused(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(insert(tickets).values(row(1, "sw/device_down/")))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(tickets).values(row(2, "sw/device_down/")))

    def test_closed_tickets_and_empty_keys_do_not_count(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(insert(tickets).values(row(1, "k", "closed")))
            conn.execute(insert(tickets).values(row(2, "k", "closed")))
            conn.execute(insert(tickets).values(row(3, "k")))
            conn.execute(insert(tickets).values(row(4, "")))
            conn.execute(insert(tickets).values(row(5, "")))
            count = conn.execute(select(tickets.c.id)).all()
        assert len(count) == 5

    def test_reopening_over_an_open_ticket_is_refused(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(insert(tickets).values(row(1, "k", "closed")))
            conn.execute(insert(tickets).values(row(2, "k")))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(update(tickets).where(tickets.c.number == 1).values(status="open"))

    def test_a_number_is_used_once_per_year(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(insert(tickets).values(row(1, "a")))
        clash = row(2, "b") | {"number": 1}
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(tickets).values(clash))

    def test_events_need_their_ticket_and_keep_it(self, engine: Engine) -> None:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(ticket_events).values(event("SOP006-2026-000009")))
        with engine.begin() as conn:
            conn.execute(insert(tickets).values(row(1, "a")))
            conn.execute(insert(ticket_events).values(event("SOP006-2026-000001")))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(delete(tickets))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(ticket_events).values(event("SOP006-2026-000001")))

    def test_status_is_open_or_closed(self, engine: Engine) -> None:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(tickets).values(row(1, "a", "pending")))


class TestMigrations:
    """Migrations build exactly schema.py, once, even when two agents start together."""

    def test_the_migrated_database_matches_schema_py(self, engine: Engine) -> None:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []

    def test_upgrading_again_changes_nothing(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(insert(tickets).values(row(1, "a")))
        assert upgrade(engine) == HEAD
        with engine.begin() as conn:
            assert conn.execute(select(tickets.c.id)).scalar_one() == "SOP006-2026-000001"

    async def test_a_revision_from_a_newer_pantau_is_refused(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        url = engine.url.render_as_string(hide_password=False)
        with pytest.raises(BackendRejected, match="newer pantau"):
            await SqlBackend.connect(url, clock=FakeClock())

    @pytest.mark.parametrize("kind", SQL_KINDS)
    def test_two_processes_migrating_at_once_both_succeed(self, kind: str,
                                                          tmp_path: Path) -> None:
        for attempt in range(3):
            url = sql_url(kind, tmp_path / str(attempt) if kind == "sqlite" else tmp_path)
            if kind == "sqlite":
                (tmp_path / str(attempt)).mkdir()
            ctx = multiprocessing.get_context("spawn")
            barrier = ctx.Barrier(2)
            procs = [ctx.Process(target=_migrate_in_child, args=(url, barrier))
                     for _ in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(timeout=60)
            assert [p.exitcode for p in procs] == [0, 0]
            eng = create_store_engine(database_url(url))
            try:
                with eng.connect() as conn:
                    versions = conn.execute(text("SELECT version_num FROM alembic_version"))
                    assert versions.scalars().all() == [HEAD]
            finally:
                eng.dispose()


def _migrate_in_child(url: str, barrier: Barrier) -> None:
    barrier.wait(30)
    eng = create_store_engine(database_url(url))
    try:
        upgrade(eng)
    finally:
        eng.dispose()


class TestSqlite:
    """SQLite runs with WAL, foreign keys, a busy timeout and full fsync."""

    def test_connections_get_the_pragmas(self, tmp_path: Path) -> None:
        eng = create_store_engine(database_url(f"sqlite:///{tmp_path / 'p.db'}"),
                                  busy_timeout_seconds=2.5)
        try:
            with eng.connect() as conn:
                got = [conn.exec_driver_sql(f"PRAGMA {p}").scalar_one()
                       for p in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")]
        finally:
            eng.dispose()
        assert got == ["wal", 1, 2, 2500]

    async def test_a_held_write_lock_makes_the_store_unavailable(self, tmp_path: Path
                                                                  ) -> None:
        path = tmp_path / "locked.db"
        backend = await SqlBackend.connect(f"sqlite:///{path}", clock=FakeClock(),
                                           busy_timeout_seconds=0.2)
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            d = draft()
            started = time.monotonic()
            with pytest.raises(BackendUnavailable, match="database is locked"):
                await backend.open(d, builder(d))
            assert time.monotonic() - started < 5
            other.execute("ROLLBACK")
            assert (await open_one(backend)).id == "SOP006-2026-000001"
        finally:
            other.close()
            await backend.aclose()

    async def test_a_missing_directory_is_reported(self, tmp_path: Path) -> None:
        with pytest.raises(BackendUnavailable, match="unable to open database file"):
            await SqlBackend.connect(f"sqlite:///{tmp_path / 'nope' / 'p.db'}",
                                     clock=FakeClock())

    async def test_a_file_that_is_not_a_database_is_rejected(self, tmp_path: Path) -> None:
        path = tmp_path / "notes.txt"
        path.write_bytes(b"not a database, just some notes " * 200)
        with pytest.raises(BackendRejected, match="file is not a database"):
            await SqlBackend.connect(f"sqlite:///{path}", clock=FakeClock())

    async def test_a_committed_ticket_survives_sigkill(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'crash.db'}"
        ctx = multiprocessing.get_context("spawn")
        opened = ctx.Queue()
        child = ctx.Process(target=_open_and_hang, args=(url, opened))
        child.start()
        try:
            ticket_id = opened.get(timeout=60)
        finally:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)  # our own child, by pid
            child.join(timeout=30)
        assert child.exitcode == -signal.SIGKILL
        backend = await SqlBackend.connect(url, clock=FakeClock())
        try:
            assert (await backend.get(ticket_id)).device == "sw-crash"
            assert len(await backend.events(ticket_id)) == 2
        finally:
            await backend.aclose()


def _open_and_hang(url: str, opened: Any) -> None:
    async def run() -> None:
        backend = await SqlBackend.connect(url, clock=FakeClock())
        ticket = await open_one(backend, "sw-crash")
        opened.put(ticket.id)
        await asyncio.sleep(60)  # killed long before this ends; never closes the store

    asyncio.run(run())


class TestUrls:
    """URLs are checked, and a password never shows in an error."""

    async def test_other_databases_are_refused(self) -> None:
        with pytest.raises(BackendRejected, match="unsupported database 'mysql'"):
            await SqlBackend.connect("mysql://u@127.0.0.1/db", clock=FakeClock())
        with pytest.raises(BackendRejected, match="not a database URL"):
            await SqlBackend.connect("pantau.db", clock=FakeClock())

    def test_postgresql_without_a_driver_means_psycopg(self) -> None:
        assert database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
        assert database_url("postgres://u@h/db").drivername == "postgresql+psycopg"
        assert database_url("sqlite:///x.db").drivername == "sqlite"

    async def test_the_password_is_hidden_when_the_server_is_unreachable(self) -> None:
        pytest.importorskip("psycopg")
        secret = "hunter2-very-secret"
        # Port 1 on loopback: nothing listens there, so the connection is refused at once.
        with pytest.raises(BackendUnavailable) as caught:
            await SqlBackend.connect(f"postgresql://pantau:{secret}@127.0.0.1:1/pantau",
                                     clock=FakeClock(), busy_timeout_seconds=2)
        message = str(caught.value)
        assert "pantau:***@127.0.0.1:1" in message
        assert secret not in message
        assert secret not in repr(caught.value)
