"""The TicketBackend protocol: where tickets live (SQLite, PostgreSQL, an ITSM, memory)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from agent.core.errors import BackendRejected
from agent.core.outbox import Envelope
from ticketing.models import Fault, Ticket, TicketDraft, TicketEvent, TicketStatus

#: Given the allocated ticket id: the first events and the ticket folded from them.
Builder = Callable[[str], tuple[Sequence[TicketEvent], Ticket]]
#: Given a new ticket and its first events: the messages they cause (queued with them).
Notices = Callable[[Ticket, Sequence[TicketEvent]], Sequence[Envelope]]


#: The most tickets one page holds.
PAGE_MAX = 1000


@dataclass(frozen=True, slots=True)
class TicketQuery:
    """One page of a ticket list, newest first: by opening time (or by closing time with
    `by_closed`, for closed tickets), ties broken by id, both descending.

    `status`: "open", "closed" or None for all; `owner`: one agency's tickets, or None for
    every agency's; `after`: the id of the last ticket of the previous page (None: the first
    page); `limit`: 1..PAGE_MAX tickets.
    """

    status: str | None = None
    owner: str | None = None
    limit: int = 100
    after: str | None = None
    by_closed: bool = False


@dataclass(frozen=True, slots=True)
class TicketPage:
    """The tickets of one page and the `after` of the next (None: this is the last)."""

    tickets: tuple[Ticket, ...]
    next: str | None = None


@dataclass(frozen=True, slots=True)
class TicketSummary:
    """What a list row of a ticket shows, read from the ticket's columns, not its body."""

    id: str
    device: str
    owner: str
    fault: Fault
    item: str
    status: TicketStatus
    current_step: int
    flapping: bool
    opened_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, t: Ticket) -> TicketSummary:
        return cls(t.id, t.device, t.owner, t.fault, t.item, t.status, t.current_step,
                   t.flapping, t.opened_at, t.closed_at)


@dataclass(frozen=True, slots=True)
class SummaryPage:
    """The summaries of one page and the `after` of the next (None: this is the last)."""

    summaries: tuple[TicketSummary, ...]
    next: str | None = None


def checked(query: TicketQuery) -> TicketQuery:
    """The query, or BackendRejected saying what is wrong with it (every backend's check)."""
    if query.status is not None and query.status not in (s.value for s in TicketStatus):
        raise BackendRejected(f"unknown ticket status {query.status!r} (open, closed or None)")
    if not 1 <= query.limit <= PAGE_MAX:
        raise BackendRejected(f"page limit {query.limit} is not in 1..{PAGE_MAX}")
    if query.by_closed and query.status != TicketStatus.CLOSED.value:
        raise BackendRejected("only closed tickets are listed by closing time")
    return query


class TicketBackend(Protocol):
    """Tickets and their events. Every backend behaves the same (tests/integration/
    test_backend_contract.py); errors are agent.core.errors.BackendError subclasses."""

    async def open(self, draft: TicketDraft, build: Builder, notices: Notices | None = None
                   ) -> tuple[Ticket, bool]:
        """Allocate an id ("SOP006-<year of opened_at>-<6 digits>", numbered per year), call
        `build(id)` for the first events (OPENED, and e.g. step 1 completed) and the ticket
        folded from them, and store both atomically. Idempotent on `draft.dedup_key` (when
        not empty): if an open ticket with that key exists (another agent, a retry, a
        restart), nothing is written and that ticket is returned. The database enforces it
        (a unique index over open tickets), not a Python check. Returns (ticket, created).
        With `notices`, the messages `notices(ticket, events)` names are queued in the same
        transaction (a key already queued is skipped)."""
        ...

    async def find_open(self, dedup_key: str) -> Ticket | None:
        """The open ticket with that key, if any."""
        ...

    async def find_recent_closed(self, dedup_key: str) -> Ticket | None:
        """The most recently closed ticket with that key, if any (for reopening)."""
        ...

    async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                     notices: Sequence[Envelope] = ()) -> Ticket:
        """Append `events`, store `ticket` (their fold) and queue `notices` atomically. The
        first event's seq must follow the stored ticket's last one (optimistic concurrency):
        otherwise BackendRejected and nothing is written. TicketNotFound for an unknown id.
        A notice whose key is already queued is skipped."""
        ...

    async def enqueue(self, envelopes: Sequence[Envelope]) -> int:
        """Queue messages no ticket event causes (an SLA warning, a breach); a key already
        queued is skipped. Returns how many were queued."""
        ...

    async def get(self, ticket_id: str) -> Ticket:
        """One ticket; TicketNotFound when there is none."""
        ...

    async def events(self, ticket_id: str) -> Sequence[TicketEvent]:
        """Every event of a ticket in order (the audit trail)."""
        ...

    async def list(self, status: str | None = None) -> Sequence[Ticket]:
        """Tickets, newest first; `status` "open", "closed" or None for all."""
        ...

    async def open_versions(self) -> Mapping[str, int]:
        """Each open ticket's id and seq (of its latest event), without reading the bodies:
        what a reader needs to see which tickets changed since it last read them."""
        ...

    async def page(self, query: TicketQuery) -> TicketPage:
        """One page of tickets, filtered and ordered in the store so that a page reads only
        its own rows (and the cursor's). BackendRejected for an unknown status, a limit out
        of 1..PAGE_MAX, an `after` that names no ticket of the list, or `by_closed` without
        status "closed"."""
        ...

    async def summaries(self, query: TicketQuery) -> SummaryPage:
        """`page` without the bodies: each ticket's list columns only."""
        ...

    async def aclose(self) -> None: ...
