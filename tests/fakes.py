"""Designed fakes for the seams pantau injects: the clock and the ticket backend."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from agent.core.errors import BackendRejected, BackendUnavailable, TicketNotFound
from agent.core.outbox import Delivery, Envelope, OutboxStats, Queued
from tests.outbox_memory import MemoryOutbox
from ticketing.backend import (
    Builder,
    Notices,
    SummaryPage,
    TicketPage,
    TicketQuery,
    TicketSummary,
    checked,
)
from ticketing.models import Ticket, TicketDraft, TicketEvent, TicketStatus
from ticketing.store import codec


class FakeClock:
    """A Clock whose time moves only when a test calls `advance()`.

    `sleep()` parks the caller until `advance()` has moved monotonic time past its deadline.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._wall = start or datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
        self._mono = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._parked: asyncio.Condition | None = None

    def now(self) -> datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, fut))
        cond = self._condition()
        async with cond:
            cond.notify_all()
        await fut

    def _condition(self) -> asyncio.Condition:
        if self._parked is None:
            self._parked = asyncio.Condition()
        return self._parked

    async def wait_sleepers(self, count: int) -> None:
        """Wait (in real time, at most 5 s) until at least `count` tasks sleep on this clock."""
        cond = self._condition()
        async with asyncio.timeout(5.0), cond:
            await cond.wait_for(
                lambda: sum(1 for _, f in self._sleepers if not f.done()) >= count
            )

    def advance(self, seconds: float) -> None:
        """Move both clocks forward and wake every sleeper whose deadline has passed."""
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)
        due = [f for t, f in self._sleepers if t <= self._mono]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._mono]
        for f in due:
            if not f.done():
                f.set_result(None)


class InMemoryBackend:
    """A TicketBackend in memory that behaves as the SQL store does (the contract suite
    runs on both): ids numbered per year, idempotent open on the dedup key, the optimistic
    seq check, JSON round trips. Set `unavailable = True` to make every call fail with
    BackendUnavailable, as a database that went away would.
    """

    def __init__(self, *, year_tz: tzinfo = UTC) -> None:
        self._year_tz = year_tz
        self._tickets: dict[str, str] = {}  # id -> JSON body, in insertion order
        self._events: dict[str, list[str]] = {}  # id -> JSON events
        self._numbers: dict[int, int] = {}  # year -> last number
        self._open_keys: dict[str, str] = {}  # dedup key -> its open ticket (the unique index)
        self._keyed: dict[str, list[str]] = {}  # dedup key -> every ticket with it
        self._closed = False
        self.unavailable = False
        self._outbox = MemoryOutbox()

    def _usable(self) -> None:
        if self._closed:
            raise BackendUnavailable("ticket store memory is closed")
        if self.unavailable:
            raise BackendUnavailable("ticket store memory is unavailable (test)")

    def _load(self, ticket_id: str) -> Ticket:
        return codec.ticket_from_json(codec.loads(self._tickets[ticket_id]))

    @staticmethod
    def _encode(ticket: Ticket, events: Sequence[TicketEvent]) -> tuple[str, list[str]]:
        try:
            return (codec.dumps(codec.ticket_to_json(ticket)),
                    [codec.dumps(codec.event_to_json(e)) for e in events])
        except (TypeError, ValueError) as exc:
            raise BackendRejected(f"ticket {ticket.id} cannot be stored as JSON: {exc}") from exc

    def _open_with(self, key: str) -> Ticket | None:
        ticket_id = self._open_keys.get(key) if key else None
        return None if ticket_id is None else self._load(ticket_id)

    def _index(self, ticket: Ticket) -> None:
        key = ticket.dedup_key
        if key and ticket.status is TicketStatus.OPEN:
            self._open_keys[key] = ticket.id
        elif key and self._open_keys.get(key) == ticket.id:
            del self._open_keys[key]

    @staticmethod
    def _check(ticket_id: str, events: Sequence[TicketEvent], first: int, ticket: Ticket
               ) -> None:
        if not events:
            raise BackendRejected(f"ticket {ticket_id}: no events to store")
        if ticket.id != ticket_id:
            raise BackendRejected(f"ticket {ticket_id}: the ticket given is {ticket.id}")
        for offset, ev in enumerate(events):
            if ev.ticket_id != ticket_id or ev.seq != first + offset:
                raise BackendRejected(
                    f"ticket {ticket_id}: event {offset} is {ev.ticket_id} seq {ev.seq}, "
                    f"expected seq {first + offset}")
        if ticket.seq != events[-1].seq:
            raise BackendRejected(f"ticket {ticket_id}: ticket seq {ticket.seq} is not its "
                                  f"last event's {events[-1].seq}")

    async def open(self, draft: TicketDraft, build: Builder, notices: Notices | None = None
                   ) -> tuple[Ticket, bool]:
        self._usable()
        key = draft.dedup_key
        if key and (existing := self._open_with(key)) is not None:
            return existing, False
        if draft.opened_at.tzinfo is None or draft.opened_at.utcoffset() is None:
            raise BackendRejected(f"draft for {draft.device}: opened_at is a naive datetime")
        year = draft.opened_at.astimezone(self._year_tz).year
        number = self._numbers.get(year, 0) + 1
        ticket_id = f"SOP006-{year}-{number:06d}"
        events, ticket = build(ticket_id)
        self._check(ticket_id, events, 1, ticket)
        if ticket.dedup_key != key:
            raise BackendRejected(f"ticket {ticket_id}: built with key {ticket.dedup_key!r}, "
                                  f"the draft's is {key!r}")
        body, rows = self._encode(ticket, events)
        self._numbers[year] = number
        self._tickets[ticket_id] = body
        self._events[ticket_id] = rows
        self._keyed.setdefault(key, []).append(ticket_id)
        self._index(ticket)
        if notices is not None:
            self._outbox.enqueue(notices(ticket, events))
        return ticket, True

    async def find_open(self, dedup_key: str) -> Ticket | None:
        self._usable()
        return self._open_with(dedup_key)

    async def find_recent_closed(self, dedup_key: str) -> Ticket | None:
        self._usable()
        closed = [t for t in map(self._load, self._keyed.get(dedup_key, ()))
                  if dedup_key and t.status is TicketStatus.CLOSED]
        return max(closed, key=lambda t: (t.closed_at or t.opened_at, t.id), default=None)

    async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                     notices: Sequence[Envelope] = ()) -> Ticket:
        self._usable()
        if ticket_id not in self._tickets:
            raise TicketNotFound(f"no ticket {ticket_id}")
        stored = self._load(ticket_id)
        self._check(ticket_id, events, events[0].seq if events else 0, ticket)
        if events[0].seq != stored.seq + 1:
            raise BackendRejected(
                f"ticket {ticket_id} changed since seq {events[0].seq - 1} "
                f"(now at seq {stored.seq})")
        if (ticket.status is TicketStatus.OPEN and ticket.dedup_key
                and (other := self._open_with(ticket.dedup_key)) is not None
                and other.id != ticket_id):
            raise BackendRejected(
                f"ticket {ticket_id}: another open ticket has key {ticket.dedup_key!r}")
        body, rows = self._encode(ticket, events)
        self._tickets[ticket_id] = body
        self._events[ticket_id].extend(rows)
        self._index(ticket)
        self._outbox.enqueue(notices)
        return ticket

    # -- the outbox (notify.outbox.Outbox) ----------------------------------------------

    async def enqueue(self, envelopes: Sequence[Envelope]) -> int:
        self._usable()
        return self._outbox.enqueue(envelopes)

    async def due(self, now: datetime, limit: int) -> Sequence[Queued]:
        self._usable()
        return self._outbox.due(now, limit)

    async def mark_sent(self, message_id: int, at: datetime) -> None:
        self._usable()
        self._outbox.mark(message_id, status=Delivery.SENT, next_at=None, done_at=at,
                          reason=None)

    async def mark_retry(self, message_id: int, next_at: datetime, reason: str) -> None:
        self._usable()
        self._outbox.mark(message_id, status=Delivery.WAITING, next_at=next_at, done_at=None,
                          reason=reason)

    async def mark_failed(self, message_id: int, at: datetime, reason: str) -> None:
        self._usable()
        self._outbox.mark(message_id, status=Delivery.FAILED, next_at=None, done_at=at,
                          reason=reason)

    async def requeue(self, message_id: int, at: datetime) -> bool:
        self._usable()
        return self._outbox.requeue(message_id, at)

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        self._usable()
        return self._outbox.messages(status, limit)

    async def stats(self) -> OutboxStats:
        self._usable()
        return self._outbox.stats()

    async def get(self, ticket_id: str) -> Ticket:
        self._usable()
        if ticket_id not in self._tickets:
            raise TicketNotFound(f"no ticket {ticket_id}")
        return self._load(ticket_id)

    async def events(self, ticket_id: str) -> Sequence[TicketEvent]:
        self._usable()
        if ticket_id not in self._events:
            raise TicketNotFound(f"no ticket {ticket_id}")
        return tuple(codec.event_from_json(codec.loads(e)) for e in self._events[ticket_id])

    async def list(self, status: str | None = None) -> Sequence[Ticket]:
        self._usable()
        if status is not None and status not in (s.value for s in TicketStatus):
            raise BackendRejected(f"unknown ticket status {status!r} (open, closed or None)")
        found = [t for t in map(self._load, self._tickets)
                 if status is None or t.status.value == status]
        return tuple(sorted(found, key=lambda t: (t.opened_at, t.id), reverse=True))

    async def open_versions(self) -> Mapping[str, int]:
        self._usable()
        return {t.id: t.seq for t in map(self._load, self._tickets)
                if t.status is TicketStatus.OPEN}

    async def page(self, query: TicketQuery) -> TicketPage:
        self._usable()
        q = checked(query)

        def order(t: Ticket) -> tuple[datetime, str]:
            at = t.closed_at if q.by_closed else t.opened_at
            assert at is not None
            return at, t.id

        found = sorted((t for t in map(self._load, self._tickets)
                        if (q.status is None or t.status.value == q.status)
                        and (q.owner is None or t.owner == q.owner)), key=order, reverse=True)
        if q.after is not None:
            anchor = self._load(q.after) if q.after in self._tickets else None
            if anchor is None or (q.by_closed and anchor.closed_at is None):
                raise BackendRejected(f"no ticket {q.after} to list after")
            found = [t for t in found if order(t) < order(anchor)]
        shown = found[:q.limit]
        return TicketPage(tuple(shown), shown[-1].id if len(found) > q.limit else None)

    async def summaries(self, query: TicketQuery) -> SummaryPage:
        page = await self.page(query)
        return SummaryPage(tuple(map(TicketSummary.of, page.tickets)), page.next)

    async def aclose(self) -> None:
        self._closed = True


def no_devices(name: str | None = None) -> list[dict[str, object]]:
    """A devices_json for an app without devices."""
    return []
