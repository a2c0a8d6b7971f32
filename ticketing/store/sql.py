"""SqlBackend: the TicketBackend on SQLite (default) or PostgreSQL, over SQLAlchemy Core.

Its writes are here: opening a ticket with the next free number of its year (or finding the
open one of its key), appending events after checking the seq, each with the messages it
causes. Everything runs on the store's worker thread (worker.py: connecting, transactions,
errors); the reads' SQL is in reads.py, the outbox's in outbox.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.core.clock import Clock
from agent.core.cluster import Writer
from agent.core.errors import BackendRejected, BackendUnavailable, TicketNotFound
from agent.core.outbox import Delivery, Envelope, OutboxStats, Queued
from ticketing.backend import Builder, Notices, SummaryPage, TicketPage, TicketQuery, checked
from ticketing.models import Ticket, TicketDraft, TicketEvent, TicketStatus
from ticketing.store import cluster, outbox, reads, rows
from ticketing.store.schema import ticket_events, tickets
from ticketing.store.worker import StoreWorker

log = logging.getLogger(__name__)

#: Attempts at allocating a (year, number) when other agents insert at the same moment.
OPEN_ATTEMPTS = 16


class SqlBackend:
    """TicketBackend over SQLAlchemy Core; make one with `await SqlBackend.connect(url)`.

    Errors: BackendUnavailable when the database cannot be reached or stays locked (its
    WriterFenced when a cluster member writes without a fresh lease), BackendRejected for
    what retrying cannot fix, TicketNotFound. Messages show the URL without its password.

    In a cluster, `writer` names the member (and its lease epoch) behind every ticket write:
    each write checks it in its own transaction and records the member in `writer`.
    """

    def __init__(self, worker: StoreWorker, *, clock: Clock, year_tz: tzinfo,
                 writer: Callable[[], Writer] | None = None) -> None:
        self._worker = worker
        self._clock = clock
        self._year_tz = year_tz
        self._writer = writer

    @classmethod
    async def connect(cls, url: str, *, clock: Clock, year_tz: tzinfo = UTC,
                      busy_timeout_seconds: float = 5.0,
                      writer: Callable[[], Writer] | None = None,
                      connect_args: dict[str, Any] | None = None) -> SqlBackend:
        """Open the database at `url` ("sqlite:///pantau.db", "postgresql://user@host/db")
        and migrate it to the newest schema.

        Tickets are numbered per calendar year of their opening time in `year_tz`.
        `busy_timeout_seconds` bounds how long a call waits for SQLite's write lock (or a
        PostgreSQL connection) before BackendUnavailable. `writer`: see the class;
        `connect_args`: added to PostgreSQL's connection parameters.
        """
        worker = await StoreWorker.connect(url, busy_timeout_seconds=busy_timeout_seconds,
                                           connect_args=connect_args)
        return cls(worker, clock=clock, year_tz=year_tz, writer=writer)

    @property
    def name(self) -> str:
        """The database URL without its password."""
        return self._worker.name

    # -- the TicketBackend protocol -------------------------------------------------------

    async def open(self, draft: TicketDraft, build: Builder, notices: Notices | None = None
                   ) -> tuple[Ticket, bool]:
        return await self._worker.run(lambda: self._open(draft, build, notices))

    async def find_open(self, dedup_key: str) -> Ticket | None:
        if not dedup_key:
            return None
        return await self._worker.read("reading a ticket", reads.open_by_key, dedup_key)

    async def find_recent_closed(self, dedup_key: str) -> Ticket | None:
        if not dedup_key:
            return None
        return await self._worker.read("reading a ticket", reads.recent_closed, dedup_key)

    async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                     notices: Sequence[Envelope] = ()) -> Ticket:
        return await self._worker.run(lambda: self._append(ticket_id, events, ticket, notices))

    async def get(self, ticket_id: str) -> Ticket:
        found = await self._worker.read("reading a ticket", reads.by_id, ticket_id)
        if found is None:
            raise TicketNotFound(f"no ticket {ticket_id}")
        return found

    async def events(self, ticket_id: str) -> Sequence[TicketEvent]:
        return await self._worker.read(f"reading events of {ticket_id}", reads.events,
                                       ticket_id)

    async def list(self, status: str | None = None) -> Sequence[Ticket]:
        if status is not None and status not in (s.value for s in TicketStatus):
            raise BackendRejected(f"unknown ticket status {status!r} (open, closed or None)")
        return await self._worker.read("listing tickets", reads.listed, status)

    async def open_versions(self) -> Mapping[str, int]:
        return await self._worker.read("listing open tickets", reads.open_versions)

    async def page(self, query: TicketQuery) -> TicketPage:
        checked(query)
        return await self._worker.read("listing tickets", reads.page, query)

    async def summaries(self, query: TicketQuery) -> SummaryPage:
        checked(query)
        return await self._worker.read("listing tickets", reads.summaries, query)

    # -- the outbox (notify.outbox.Outbox) -------------------------------------------------

    async def enqueue(self, envelopes: Sequence[Envelope]) -> int:
        return await self._worker.write("queuing messages", outbox.enqueue, envelopes)

    async def due(self, now: datetime, limit: int) -> Sequence[Queued]:
        return await self._worker.read("reading due messages", outbox.due, now, limit)

    async def mark_sent(self, message_id: int, at: datetime) -> None:
        await self._worker.write("marking a message sent", outbox.mark, message_id,
                                 status=Delivery.SENT, next_at=None, done_at=at, reason=None,
                                 add_try=True)

    async def mark_retry(self, message_id: int, next_at: datetime, reason: str) -> None:
        await self._worker.write("marking a message for retry", outbox.mark, message_id,
                                 status=Delivery.WAITING, next_at=next_at, done_at=None,
                                 reason=reason, add_try=True)

    async def mark_failed(self, message_id: int, at: datetime, reason: str) -> None:
        await self._worker.write("marking a message failed", outbox.mark, message_id,
                                 status=Delivery.FAILED, next_at=None, done_at=at,
                                 reason=reason, add_try=True)

    async def requeue(self, message_id: int, at: datetime) -> bool:
        return await self._worker.write("retrying a message", outbox.requeue, message_id, at)

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        return await self._worker.read("listing messages", outbox.messages, status, limit)

    async def stats(self) -> OutboxStats:
        return await self._worker.read("counting messages", outbox.stats)

    async def aclose(self) -> None:
        """Close every connection; later calls raise BackendUnavailable."""
        await self._worker.aclose()

    # -- on the worker thread -------------------------------------------------------------

    def _fence(self, conn: Connection) -> str:
        """The writer's name for the events ("" outside a cluster), after checking its
        epoch and lease in this transaction (WriterFenced)."""
        if self._writer is None:
            return ""
        writer = self._writer()
        cluster.check_writer(conn, writer)
        return writer.node

    @staticmethod
    def _event_rows(events: Sequence[TicketEvent], writer: str) -> Sequence[dict[str, Any]]:
        return [{**rows.event_row(e), "writer": writer} for e in events]

    def _open(self, draft: TicketDraft, build: Builder, notices: Notices | None
              ) -> tuple[Ticket, bool]:
        key = draft.dedup_key
        year = rows.year(draft, self._year_tz)
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            try:
                with self._worker.writing("opening a ticket") as conn:
                    if key and (existing := reads.open_by_key(conn, key)) is not None:
                        return existing, False
                    writer = self._fence(conn)
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
                    conn.execute(insert(ticket_events), self._event_rows(events, writer))
                    if notices is not None:
                        outbox.enqueue(conn, notices(ticket, events))
            except IntegrityError as exc:
                conflict = rows.conflict(exc)
                if key and conflict in ("dedup", "number"):
                    with self._worker.reading("reading a ticket") as conn:
                        existing = reads.open_by_key(conn, key)
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
            f"database {self._worker.name}: no free ticket number for {year} after "
            f"{OPEN_ATTEMPTS} attempts (other agents opening tickets at the same time)")

    def _append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                notices: Sequence[Envelope]) -> Ticket:
        rows.check_appended(ticket_id, events, ticket)
        expected = events[0].seq - 1
        row = rows.ticket_row(ticket, self._clock.now())
        del row["id"]
        try:
            with self._worker.writing(f"appending to {ticket_id}") as conn:
                writer = self._fence(conn)
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
                conn.execute(insert(ticket_events), self._event_rows(events, writer))
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
