"""SqlBackend: the TicketBackend on SQLite (default) or PostgreSQL, over SQLAlchemy Core.

Blocking database calls run on one dedicated worker thread, so calls are serialized in
order, SQLite connections stay on one thread, and a cancelled caller cannot let the next
call overlap a statement still running. The schema is brought to head with Alembic when
the store connects (`engine.upgrade()`), safely when several agents start on one database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, func, insert, or_, select, update
from sqlalchemy.exc import (
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
from agent.core.outbox import Delivery, Envelope, OutboxStats, Queued
from ticketing.backend import (
    Builder,
    Notices,
    SummaryPage,
    TicketPage,
    TicketQuery,
    TicketSummary,
    checked,
)
from ticketing.models import EventKind, Fault, Ticket, TicketDraft, TicketEvent, TicketStatus
from ticketing.store import outbox, rows
from ticketing.store.engine import WRITE, create_store_engine, database_url, upgrade
from ticketing.store.schema import ticket_events, tickets

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The columns a list row shows (TicketSummary), besides the id.
SUMMARY_COLUMNS = (tickets.c.device, tickets.c.owner, tickets.c.fault, tickets.c.item,
                   tickets.c.status, tickets.c.current_step, tickets.c.flapping,
                   tickets.c.opened_at, tickets.c.closed_at)

#: Attempts at allocating a (year, number) when other agents insert at the same moment.
OPEN_ATTEMPTS = 16


class SqlBackend:
    """TicketBackend over SQLAlchemy Core; make one with `await SqlBackend.connect(url)`.

    Errors: BackendUnavailable when the database cannot be reached or stays locked,
    BackendRejected for what retrying cannot fix, TicketNotFound. Messages show the URL
    without its password.
    """

    def __init__(self, engine: Engine, executor: ThreadPoolExecutor, *, clock: Clock,
                 year_tz: tzinfo, name: str, secret: str | None) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
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

    async def open(self, draft: TicketDraft, build: Builder, notices: Notices | None = None
                   ) -> tuple[Ticket, bool]:
        return await self._run(lambda: self._open(draft, build, notices))

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

    async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                     notices: Sequence[Envelope] = ()) -> Ticket:
        return await self._run(lambda: self._append(ticket_id, events, ticket, notices))

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

    async def open_versions(self) -> Mapping[str, int]:
        return await self._run(self._open_versions)

    async def page(self, query: TicketQuery) -> TicketPage:
        checked(query)
        return await self._run(lambda: self._page(query))

    async def summaries(self, query: TicketQuery) -> SummaryPage:
        checked(query)
        return await self._run(lambda: self._summaries(query))

    # -- the outbox (notify.outbox.Outbox) -------------------------------------------------

    async def enqueue(self, envelopes: Sequence[Envelope]) -> int:
        return await self._run(lambda: self._write("queuing messages", outbox.enqueue,
                                                   envelopes))

    async def due(self, now: datetime, limit: int) -> Sequence[Queued]:
        return await self._run(lambda: self._read("reading due messages", outbox.due,
                                                  now, limit))

    async def mark_sent(self, message_id: int, at: datetime) -> None:
        await self._run(lambda: self._write("marking a message sent", outbox.mark, message_id,
                                            status=Delivery.SENT, next_at=None, done_at=at,
                                            reason=None, add_try=True))

    async def mark_retry(self, message_id: int, next_at: datetime, reason: str) -> None:
        await self._run(lambda: self._write("marking a message for retry", outbox.mark,
                                            message_id, status=Delivery.WAITING,
                                            next_at=next_at, done_at=None, reason=reason,
                                            add_try=True))

    async def mark_failed(self, message_id: int, at: datetime, reason: str) -> None:
        await self._run(lambda: self._write("marking a message failed", outbox.mark,
                                            message_id, status=Delivery.FAILED, next_at=None,
                                            done_at=at, reason=reason, add_try=True))

    async def requeue(self, message_id: int, at: datetime) -> bool:
        return await self._run(lambda: self._write("retrying a message", outbox.requeue,
                                                   message_id, at))

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        return await self._run(lambda: self._read("listing messages", outbox.messages,
                                                  status, limit))

    async def stats(self) -> OutboxStats:
        return await self._run(lambda: self._read("counting messages", outbox.stats))

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

    def _write(self, doing: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._translated(doing), self._writer.begin() as conn:
            return call(conn, *args, **kwargs)

    def _read(self, doing: str, call: Callable[..., T], *args: Any) -> T:
        with self._translated(doing), self._engine.begin() as conn:
            return call(conn, *args)

    def _open(self, draft: TicketDraft, build: Builder, notices: Notices | None
              ) -> tuple[Ticket, bool]:
        key = draft.dedup_key
        year = rows.year(draft, self._year_tz)
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
                    new_id = rows.ticket_id(year, number)
                    events, ticket = build(new_id)
                    rows.check_built(new_id, draft, events, ticket)
                    row = rows.ticket_row(ticket, self._clock.now())
                    conn.execute(insert(tickets).values(year=year, number=number, **row))
                    conn.execute(insert(ticket_events), [rows.event_row(e) for e in events])
                    if notices is not None:
                        outbox.enqueue(conn, notices(ticket, events))
            except IntegrityError as exc:
                conflict = rows.conflict(exc)
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

    def _append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                notices: Sequence[Envelope]) -> Ticket:
        rows.check_appended(ticket_id, events, ticket)
        expected = events[0].seq - 1
        row = rows.ticket_row(ticket, self._clock.now())
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
                conn.execute(insert(ticket_events), [rows.event_row(e) for e in events])
                outbox.enqueue(conn, notices)
        except IntegrityError as exc:
            conflict = rows.conflict(exc)
            if conflict == "dedup":
                raise BackendRejected(
                    f"ticket {ticket_id}: another open ticket has key {ticket.dedup_key!r}"
                ) from exc
            raise BackendRejected(f"ticket {ticket_id} refused by the database: {conflict}"
                                  ) from exc
        return ticket

    def _events(self, ticket_id: str) -> Sequence[TicketEvent]:
        with self._translated(f"reading events of {ticket_id}"), self._engine.begin() as conn:
            found = conn.execute(
                select(ticket_events).where(ticket_events.c.ticket_id == ticket_id)
                .order_by(ticket_events.c.seq)
            ).all()
            if not found and conn.execute(
                    select(tickets.c.id).where(tickets.c.id == ticket_id)).first() is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
        return tuple(
            TicketEvent(ticket_id=r.ticket_id, seq=r.seq, kind=EventKind(r.kind),
                        at=r.at, actor=r.actor, role=r.role, step=r.step, data=dict(r.data))
            for r in found
        )

    def _list(self, status: str | None) -> Sequence[Ticket]:
        query = select(tickets.c.id, tickets.c.body).order_by(
            tickets.c.opened_at.desc(), tickets.c.id.desc())
        if status is not None:
            query = query.where(tickets.c.status == status)
        with self._translated("listing tickets"), self._engine.begin() as conn:
            found = conn.execute(query).all()
        return tuple(rows.decode(r.id, r.body) for r in found)

    def _open_versions(self) -> Mapping[str, int]:
        query = select(tickets.c.id, tickets.c.seq).where(
            tickets.c.status == TicketStatus.OPEN.value)
        with self._translated("listing open tickets"), self._engine.begin() as conn:
            return {r.id: r.seq for r in conn.execute(query)}

    def _page(self, q: TicketQuery) -> TicketPage:
        found, after = self._page_rows(q, tickets.c.body)
        return TicketPage(tuple(rows.decode(r.id, r.body) for r in found), after)

    def _summaries(self, q: TicketQuery) -> SummaryPage:
        found, after = self._page_rows(q, *SUMMARY_COLUMNS)
        return SummaryPage(tuple(
            TicketSummary(r.id, r.device, r.owner, Fault(r.fault), r.item,
                          TicketStatus(r.status), r.current_step, r.flapping, r.opened_at,
                          r.closed_at) for r in found), after)

    def _page_rows(self, q: TicketQuery, *columns: Any) -> tuple[Sequence[Any], str | None]:
        """Keyset paging over the (status|owner, time, id) indexes: the cursor's row by its
        key, then `limit + 1` rows (the extra one says whether a next page exists)."""
        at = tickets.c.closed_at if q.by_closed else tickets.c.opened_at
        where: list[Any] = []
        if q.status is not None:
            where.append(tickets.c.status == q.status)
        if q.owner is not None:
            where.append(tickets.c.owner == q.owner)
        with self._translated("listing tickets"), self._engine.begin() as conn:
            if q.after is not None:
                anchor = conn.execute(select(at).where(tickets.c.id == q.after)).first()
                if anchor is None or anchor[0] is None:
                    raise BackendRejected(f"no ticket {q.after} to list after")
                # a range on the index's time column, then the tie on the id
                where += [at <= anchor[0], or_(at < anchor[0], tickets.c.id < q.after)]
            found = conn.execute(
                select(tickets.c.id, *columns).where(*where)
                .order_by(at.desc(), tickets.c.id.desc()).limit(q.limit + 1)
            ).all()
        shown = found[:q.limit]
        return shown, shown[-1].id if len(found) > q.limit else None

    def _read_one(self, *where: Any, newest: Any = None) -> Ticket | None:
        with self._translated("reading a ticket"), self._engine.begin() as conn:
            return self._select_one(conn, *where, newest=newest)

    @staticmethod
    def _select_one(conn: Connection, *where: Any, newest: Any = None) -> Ticket | None:
        query = select(tickets.c.id, tickets.c.body).where(*where)
        if newest is not None:
            query = query.order_by(newest.desc(), tickets.c.id.desc())
        row = conn.execute(query.limit(1)).first()
        return None if row is None else rows.decode(row.id, row.body)

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
