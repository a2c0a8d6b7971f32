"""SqlBackend: the TicketBackend on SQLite (default) or PostgreSQL, over SQLAlchemy Core.

Blocking database calls run on one dedicated worker thread, so calls are serialized in
order, SQLite connections stay on one thread, and a cancelled caller cannot let the next
call overlap a statement still running. The schema is brought to head with Alembic when
the store connects (`upgrade()`), safely when several agents start on one database.

SQLite: WAL, foreign keys on, a busy timeout, and `synchronous=FULL`. Under WAL, NORMAL
already survives a killed process (SIGKILL); FULL also keeps every committed ticket across
an OS crash or power cut, for one fsync per commit. Ticket writes are rare (a few a
minute at most), and the audit trail is a record the agency relies on, so FULL it is.
Write transactions start with BEGIN IMMEDIATE: they take the write lock before reading,
so "read max(number), insert" cannot interleave with another process doing the same.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from agent.core.clock import Clock
from agent.core.errors import BackendRejected, BackendUnavailable, TicketNotFound
from ticketing.backend import Builder
from ticketing.models import EventKind, Ticket, TicketDraft, TicketEvent, TicketStatus
from ticketing.store import codec
from ticketing.store.schema import ticket_events, tickets

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ID_PREFIX = "SOP006"
#: Attempts at allocating a (year, number) when other agents insert at the same moment.
OPEN_ATTEMPTS = 16
#: Key of the PostgreSQL advisory lock held while migrating ("pantau" in ASCII).
MIGRATION_LOCK_KEY = 0x70616E746175
_WRITE = "pantau_write"


def ticket_id(year: int, number: int) -> str:
    """"SOP006-2026-000001"."""
    return f"{ID_PREFIX}-{year}-{number:06d}"


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


def create_store_engine(url: URL, *, busy_timeout_seconds: float = 5.0) -> Engine:
    """An Engine with pantau's connection settings (see the module docstring)."""
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

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(
        url,
        json_serializer=codec.dumps,
        json_deserializer=codec.loads,
        pool_pre_ping=True,  # a restarted server costs one reconnect, not an error
        pool_size=2,
        max_overflow=0,
        connect_args={"connect_timeout": max(1, round(busy_timeout_seconds))},
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
    with engine.execution_options(**{_WRITE: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    return str(revision)


class SqlBackend:
    """TicketBackend over SQLAlchemy Core; make one with `await SqlBackend.connect(url)`.

    Errors: BackendUnavailable when the database cannot be reached or stays locked,
    BackendRejected for what retrying cannot fix, TicketNotFound. Messages show the URL
    without its password.
    """

    def __init__(self, engine: Engine, executor: ThreadPoolExecutor, *, clock: Clock,
                 year_tz: tzinfo, name: str, secret: str | None) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{_WRITE: True})
        self._executor = executor
        self._clock = clock
        self._year_tz = year_tz
        self._name = name
        self._secret = secret
        self._closed = False

    @classmethod
    async def connect(cls, url: str, *, clock: Clock, year_tz: tzinfo = UTC,
                      busy_timeout_seconds: float = 5.0) -> SqlBackend:
        """Open the database at `url` ("sqlite:///pantau.db", "postgresql://user@host/db")
        and migrate it to the newest schema.

        Tickets are numbered per calendar year of their opening time in `year_tz`.
        `busy_timeout_seconds` bounds how long a call waits for SQLite's write lock (or a
        PostgreSQL connection) before BackendUnavailable.
        """
        try:
            parsed = database_url(url)
        except ValueError as exc:
            raise BackendRejected(f"database URL: {exc}") from exc
        name = parsed.render_as_string(hide_password=True)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pantau-store")
        loop = asyncio.get_running_loop()
        engine: Engine | None = None
        try:
            engine = create_store_engine(parsed, busy_timeout_seconds=busy_timeout_seconds)
            backend = cls(engine, executor, clock=clock, year_tz=year_tz, name=name,
                          secret=parsed.password if isinstance(parsed.password, str) else None)
            revision = await loop.run_in_executor(executor, backend._upgrade)
        except BaseException as exc:
            if engine is not None:
                await loop.run_in_executor(executor, engine.dispose)
            executor.shutdown(wait=False)
            if isinstance(exc, (NoSuchModuleError, ImportError)):
                raise BackendRejected(f"database {name}: driver not installed ({exc}); "
                                      "PostgreSQL needs the 'postgres' extra") from exc
            raise
        log.info("ticket store ready", extra={"database": name, "revision": revision})
        return backend

    @property
    def name(self) -> str:
        """The database URL without its password."""
        return self._name

    # -- the TicketBackend protocol -------------------------------------------------------

    async def open(self, draft: TicketDraft, build: Builder) -> tuple[Ticket, bool]:
        return await self._run(lambda: self._open(draft, build))

    async def find_open(self, dedup_key: str) -> Ticket | None:
        if not dedup_key:
            return None
        return await self._run(lambda: self._read_one(
            tickets.c.dedup_key == dedup_key, tickets.c.status == TicketStatus.OPEN.value))

    async def find_recent_closed(self, dedup_key: str) -> Ticket | None:
        if not dedup_key:
            return None
        return await self._run(lambda: self._read_one(
            tickets.c.dedup_key == dedup_key, tickets.c.status == TicketStatus.CLOSED.value,
            newest=tickets.c.closed_at))

    async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket
                     ) -> Ticket:
        return await self._run(lambda: self._append(ticket_id, events, ticket))

    async def get(self, ticket_id: str) -> Ticket:
        found = await self._run(lambda: self._read_one(tickets.c.id == ticket_id))
        if found is None:
            raise TicketNotFound(f"no ticket {ticket_id}")
        return found

    async def events(self, ticket_id: str) -> Sequence[TicketEvent]:
        return await self._run(lambda: self._events(ticket_id))

    async def list(self, status: str | None = None) -> Sequence[Ticket]:
        if status is not None and status not in (s.value for s in TicketStatus):
            raise BackendRejected(f"unknown ticket status {status!r} (open, closed or None)")
        return await self._run(lambda: self._list(status))

    async def aclose(self) -> None:
        """Close every connection; later calls raise BackendUnavailable."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.dispose)
        finally:
            self._executor.shutdown(wait=False)

    # -- on the worker thread -------------------------------------------------------------

    async def _run(self, call: Callable[[], T]) -> T:
        if self._closed:
            raise BackendUnavailable(f"ticket store {self._name} is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _upgrade(self) -> str:
        with self._translated("migrating"):
            try:
                return upgrade(self._engine)
            except CommandError as exc:
                raise BackendRejected(
                    f"database {self._name}: cannot migrate the ticket schema: "
                    f"{self._scrub(str(exc))} (was it migrated by a newer pantau?)"
                ) from exc

    def _open(self, draft: TicketDraft, build: Builder) -> tuple[Ticket, bool]:
        key = draft.dedup_key
        year = _year(draft, self._year_tz)
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            try:
                with self._translated("opening a ticket"), self._writer.begin() as conn:
                    if key and (existing := self._select_one(
                            conn, tickets.c.dedup_key == key,
                            tickets.c.status == TicketStatus.OPEN.value)) is not None:
                        return existing, False
                    last = conn.execute(
                        select(func.coalesce(func.max(tickets.c.number), 0))
                        .where(tickets.c.year == year)
                    ).scalar_one()
                    number = int(last) + 1
                    new_id = ticket_id(year, number)
                    events, ticket = build(new_id)
                    _check_built(new_id, draft, events, ticket)
                    row = _ticket_row(ticket, self._clock.now())
                    conn.execute(insert(tickets).values(year=year, number=number, **row))
                    conn.execute(insert(ticket_events), [_event_row(e) for e in events])
            except IntegrityError as exc:
                conflict = _conflict(exc)
                if key and conflict in ("dedup", "number"):
                    existing = self._read_one(tickets.c.dedup_key == key,
                                              tickets.c.status == TicketStatus.OPEN.value)
                    if existing is not None:
                        return existing, False
                if conflict in ("dedup", "number"):
                    log.debug("ticket number taken, retrying",
                              extra={"year": year, "attempt": attempt, "conflict": conflict})
                    continue
                raise BackendRejected(
                    f"ticket for {draft.device} refused by the database: {conflict}") from exc
            log.debug("ticket stored", extra={"ticket": new_id, "events": len(events)})
            return ticket, True
        raise BackendUnavailable(
            f"database {self._name}: no free ticket number for {year} after {OPEN_ATTEMPTS} "
            "attempts (other agents opening tickets at the same time)")

    def _append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket
                ) -> Ticket:
        _check_appended(ticket_id, events, ticket)
        expected = events[0].seq - 1
        row = _ticket_row(ticket, self._clock.now())
        del row["id"]
        try:
            with self._translated(f"appending to {ticket_id}"), self._writer.begin() as conn:
                result = conn.execute(
                    update(tickets)
                    .where(tickets.c.id == ticket_id, tickets.c.seq == expected)
                    .values(**row)
                )
                if result.rowcount == 0:
                    current = conn.execute(
                        select(tickets.c.seq).where(tickets.c.id == ticket_id)
                    ).scalar_one_or_none()
                    if current is None:
                        raise TicketNotFound(f"no ticket {ticket_id}")
                    raise BackendRejected(
                        f"ticket {ticket_id} changed since seq {expected} (now at seq {current})")
                conn.execute(insert(ticket_events), [_event_row(e) for e in events])
        except IntegrityError as exc:
            conflict = _conflict(exc)
            if conflict == "dedup":
                raise BackendRejected(
                    f"ticket {ticket_id}: another open ticket has key {ticket.dedup_key!r}"
                ) from exc
            raise BackendRejected(f"ticket {ticket_id} refused by the database: {conflict}"
                                  ) from exc
        return ticket

    def _events(self, ticket_id: str) -> Sequence[TicketEvent]:
        with self._translated(f"reading events of {ticket_id}"), self._engine.begin() as conn:
            rows = conn.execute(
                select(ticket_events).where(ticket_events.c.ticket_id == ticket_id)
                .order_by(ticket_events.c.seq)
            ).all()
            if not rows and conn.execute(
                    select(tickets.c.id).where(tickets.c.id == ticket_id)).first() is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
        return tuple(
            TicketEvent(ticket_id=r.ticket_id, seq=r.seq, kind=EventKind(r.kind),
                        at=r.at, actor=r.actor, role=r.role, step=r.step, data=dict(r.data))
            for r in rows
        )

    def _list(self, status: str | None) -> Sequence[Ticket]:
        query = select(tickets.c.id, tickets.c.body).order_by(
            tickets.c.opened_at.desc(), tickets.c.id.desc())
        if status is not None:
            query = query.where(tickets.c.status == status)
        with self._translated("listing tickets"), self._engine.begin() as conn:
            rows = conn.execute(query).all()
        return tuple(_decode(r.id, r.body) for r in rows)

    def _read_one(self, *where: Any, newest: Any = None) -> Ticket | None:
        with self._translated("reading a ticket"), self._engine.begin() as conn:
            return self._select_one(conn, *where, newest=newest)

    @staticmethod
    def _select_one(conn: Connection, *where: Any, newest: Any = None) -> Ticket | None:
        query = select(tickets.c.id, tickets.c.body).where(*where)
        if newest is not None:
            query = query.order_by(newest.desc(), tickets.c.id.desc())
        row = conn.execute(query.limit(1)).first()
        return None if row is None else _decode(row.id, row.body)

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Map SQLAlchemy's errors to BackendError, narrowly, without the password."""
        try:
            yield
        except (OperationalError, InterfaceError, PoolTimeoutError) as exc:
            log.warning("ticket store unavailable",
                        extra={"database": self._name, "doing": doing})
            raise BackendUnavailable(
                f"database {self._name} unavailable while {doing}: {self._reason(exc)}"
            ) from exc
        except DataError as exc:
            raise BackendRejected(
                f"database {self._name} refused a value while {doing}: {self._reason(exc)}"
            ) from exc
        except DatabaseError as exc:
            # Integrity is handled by the caller; a programming error is a bug: let it show.
            if isinstance(exc, (IntegrityError, ProgrammingError)):
                raise
            # E.g. "file is not a database": retrying will not help.
            raise BackendRejected(
                f"database {self._name} failed while {doing}: {self._reason(exc)}"
            ) from exc
        except StatementError as exc:
            if isinstance(exc, IntegrityError) or not isinstance(exc.orig,
                                                                  (ValueError, TypeError)):
                raise
            raise BackendRejected(f"cannot store a value while {doing}: {exc.orig}") from exc

    def _reason(self, exc: Exception) -> str:
        # The driver's message only: SQLAlchemy's also carries the SQL and its parameters.
        orig = getattr(exc, "orig", None) or exc
        lines = str(orig).strip().splitlines() or [type(orig).__name__]
        return self._scrub(lines[0])

    def _scrub(self, message: str) -> str:
        return message.replace(self._secret, "***") if self._secret else message


# -- rows and checks ----------------------------------------------------------------------


def _ticket_row(ticket: Ticket, now: datetime) -> dict[str, Any]:
    try:
        body = codec.ticket_to_json(ticket)
        codec.dumps(body)  # fail here, with the ticket's name, rather than inside the driver
    except (TypeError, ValueError) as exc:
        raise BackendRejected(f"ticket {ticket.id} cannot be stored as JSON: {exc}") from exc
    return {
        "id": ticket.id,
        "device": ticket.device,
        "owner": ticket.owner,
        "fault": ticket.fault.value,
        "item": ticket.item,
        "trigger": ticket.trigger.value,
        "status": ticket.status.value,
        "current_step": ticket.current_step,
        "flapping": ticket.flapping,
        "opened_at": ticket.opened_at,
        "closed_at": ticket.closed_at,
        "dedup_key": ticket.dedup_key,
        "sop_version": ticket.sop_version,
        "seq": ticket.seq,
        "body": body,
        "updated_at": now,
    }


def _event_row(event: TicketEvent) -> dict[str, Any]:
    try:
        data = codec.event_to_json(event)["data"]
        codec.dumps(data)
    except (TypeError, ValueError) as exc:
        raise BackendRejected(
            f"event {event.seq} of {event.ticket_id} cannot be stored as JSON: {exc}") from exc
    return {"ticket_id": event.ticket_id, "seq": event.seq, "kind": event.kind.value,
            "at": event.at, "actor": event.actor, "role": event.role, "step": event.step,
            "data": data}


def _year(draft: TicketDraft, year_tz: tzinfo) -> int:
    """The year that numbers the draft's ticket: of its opening time, in `year_tz`."""
    if draft.opened_at.tzinfo is None or draft.opened_at.utcoffset() is None:
        raise BackendRejected(f"draft for {draft.device}: opened_at is a naive datetime")
    return draft.opened_at.astimezone(year_tz).year


def _decode(ticket_id: str, body: Any) -> Ticket:
    try:
        return codec.ticket_from_json(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackendRejected(f"ticket {ticket_id}: stored body cannot be read: {exc!r}"
                              ) from exc


def _check_events(ticket_id: str, events: Sequence[TicketEvent], first_seq: int | None,
                  ticket: Ticket) -> None:
    if not events:
        raise BackendRejected(f"ticket {ticket_id}: no events to store")
    if ticket.id != ticket_id:
        raise BackendRejected(f"ticket {ticket_id}: the ticket given is {ticket.id}")
    start = events[0].seq if first_seq is None else first_seq
    for offset, ev in enumerate(events):
        if ev.ticket_id != ticket_id or ev.seq != start + offset:
            raise BackendRejected(
                f"ticket {ticket_id}: event {offset} is {ev.ticket_id} seq {ev.seq}, "
                f"expected seq {start + offset}")
    if ticket.seq != events[-1].seq:
        raise BackendRejected(
            f"ticket {ticket_id}: ticket seq {ticket.seq} is not its last event's "
            f"{events[-1].seq}")


def _check_built(ticket_id: str, draft: TicketDraft, events: Sequence[TicketEvent],
                 ticket: Ticket) -> None:
    """What `build()` returned must be a new ticket under `ticket_id` with the draft's key."""
    _check_events(ticket_id, events, 1, ticket)
    if ticket.dedup_key != draft.dedup_key:
        raise BackendRejected(f"ticket {ticket_id}: built with key {ticket.dedup_key!r}, "
                              f"the draft's is {draft.dedup_key!r}")


def _check_appended(ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket) -> None:
    _check_events(ticket_id, events, None, ticket)


def _conflict(exc: IntegrityError) -> str:
    """Which rule an insert or update broke: "dedup", "number" or the database's words."""
    diag = getattr(exc.orig, "diag", None)  # psycopg names the constraint
    named = getattr(diag, "constraint_name", None)
    message = str(exc.orig)
    if named == "uq_tickets_open_dedup" or "tickets.dedup_key" in message:
        return "dedup"
    if named in ("uq_tickets_year_number", "pk_tickets") or (
            "tickets.year" in message or "tickets.id" in message):
        return "number"
    if named:
        return str(named)
    lines = message.strip().splitlines()
    return lines[0] if lines else "integrity error"
