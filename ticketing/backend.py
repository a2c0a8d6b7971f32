"""The TicketBackend protocol: where tickets live (SQLite, PostgreSQL, an ITSM, memory)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ticketing.models import Ticket, TicketDraft, TicketEvent

#: Given the allocated ticket id: the first events and the ticket folded from them.
Builder = Callable[[str], tuple[Sequence[TicketEvent], Ticket]]


class TicketBackend(Protocol):
    """Tickets and their events. Every backend behaves the same (tests/integration/
    test_backend_contract.py); errors are agent.core.errors.BackendError subclasses."""

    async def open(self, draft: TicketDraft, build: Builder) -> tuple[Ticket, bool]:
        """Allocate an id ("SOP006-<year of opened_at>-<6 digits>", numbered per year), call
        `build(id)` for the first events (OPENED, and e.g. step 1 completed) and the ticket
        folded from them, and store both atomically. Idempotent on `draft.dedup_key` (when
        not empty): if an open ticket with that key exists (another agent, a retry, a
        restart), nothing is written and that ticket is returned. The database enforces it
        (a unique index over open tickets), not a Python check. Returns (ticket, created)."""
        ...

    async def find_open(self, dedup_key: str) -> Ticket | None:
        """The open ticket with that key, if any."""
        ...

    async def find_recent_closed(self, dedup_key: str) -> Ticket | None:
        """The most recently closed ticket with that key, if any (for reopening)."""
        ...

    async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket
                     ) -> Ticket:
        """Append `events` and store `ticket` (their fold) atomically. The first event's seq
        must follow the stored ticket's last one (optimistic concurrency): otherwise
        BackendRejected and nothing is written. TicketNotFound for an unknown id."""
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

    async def aclose(self) -> None: ...
