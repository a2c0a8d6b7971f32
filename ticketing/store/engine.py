"""The database connection: the URL rules, an Engine with pantau's SQLite settings (WAL,
foreign keys, busy timeout, synchronous=FULL, BEGIN IMMEDIATE for writes), and the Alembic
upgrade to the newest schema.

SQLite: under WAL, NORMAL already survives a killed process (SIGKILL); FULL also keeps every
committed ticket across an OS crash or power cut, for one fsync per commit. Ticket writes are
rare (a few a minute at most), and the audit trail is a record the agency relies on, so FULL
it is. Write transactions start with BEGIN IMMEDIATE: they take the write lock before reading,
so "read max(number), insert" cannot interleave with another process doing the same.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError

from ticketing.store import codec

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating ("pantau" in ASCII).
MIGRATION_LOCK_KEY = 0x70616E746175
#: The execution option that makes a transaction a write one (BEGIN IMMEDIATE on SQLite).
WRITE = "pantau_write"


def database_url(url: str) -> URL:
    """The SQLAlchemy URL for a configured database URL: "postgresql://..." (no driver
    named) means psycopg 3. ValueError for anything but SQLite or PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError("not a database URL (expected sqlite:///PATH or postgresql://...)"
                         ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r} (sqlite or postgresql)"
        )
    return parsed


def _set_wal(cursor: Any, within_seconds: float) -> None:
    """Switch to WAL. SQLite may answer "database is locked" to a journal-mode change
    without calling the busy handler while another process (an agent starting beside this
    one) holds a lock, so retry until the busy timeout; WAL persists in the file once set."""
    deadline = time.monotonic() + within_seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # on the store's worker thread, never the event loop


def create_store_engine(url: URL, *, busy_timeout_seconds: float = 5.0,
                        connect_args: dict[str, Any] | None = None) -> Engine:
    """An Engine with pantau's connection settings (see the module docstring);
    `connect_args` adds to PostgreSQL's (e.g. a TCP user timeout)."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, json_serializer=codec.dumps, json_deserializer=codec.loads)
        busy_ms = max(0, round(busy_timeout_seconds * 1000))

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # sqlite3's own transaction handling skips BEGIN before SELECT and DDL; take it
            # over (SQLAlchemy's documented recipe) so transactions and DDL are real.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
                _set_wal(cursor, busy_timeout_seconds)
                cursor.execute("PRAGMA foreign_keys = ON")
                cursor.execute("PRAGMA synchronous = FULL")
            finally:
                cursor.close()

        @event.listens_for(engine, "handle_error")
        def _on_error(context: ExceptionContext) -> None:
            # A file that was read-only when the connection opened it (a full or read-only
            # disk, an immutable file) stays read-only on that connection even after the
            # file is writable again: count it as a disconnect, so the pool opens new ones.
            if "readonly database" in str(context.original_exception):
                context.is_disconnect = True

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(
        url,
        json_serializer=codec.dumps,
        json_deserializer=codec.loads,
        pool_pre_ping=True,  # a restarted server costs one reconnect, not an error
        pool_size=2,
        max_overflow=0,
        connect_args={"connect_timeout": max(1, round(busy_timeout_seconds)),
                      **(connect_args or {})},
    )


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision, in one transaction; return that revision.

    Several agents may start at once on one database: on SQLite the transaction holds the
    write lock from its start (BEGIN IMMEDIATE), on PostgreSQL an advisory lock, so the
    second one waits and then finds the schema current. CommandError when the database is
    at a revision this code does not know (a newer pantau migrated it).
    """
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.execution_options(**{WRITE: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    return str(revision)
