"""How the ticket service writes: one write at a time per dedup key (or ticket id), events
appended with a retry when another agent wrote first, the messages a write causes queued by
the backend in the same transaction (then `on_queued` wakes the delivery loop), each event
logged, and each version written handed to the TicketTracker. What to write is the
service's (and the pure `workflow`'s) business."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from agent.core.errors import BackendRejected
from agent.core.outbox import Envelope
from ticketing import workflow
from ticketing.backend import TicketBackend
from ticketing.calendar import Calendar
from ticketing.locks import KeyedLocks
from ticketing.models import Ticket, TicketDraft, TicketEvent
from ticketing.ports import NoticeSource
from ticketing.sop import Sop
from ticketing.tracker import TicketTracker

log = logging.getLogger(__name__)

APPEND_RETRIES = 5


class TicketWriter:
    """Every write passes the messages it causes to the backend (`notices`; none without),
    which queues them in the same transaction; `on_queued` is called after a write that
    queued some (the agent wakes its delivery loop)."""

    def __init__(self, *, backend: TicketBackend, sop: Sop, calendar: Calendar,
                 tracker: TicketTracker, notices: NoticeSource | None,
                 on_queued: Callable[[], None] | None) -> None:
        self.backend = backend
        self.sop = sop
        self.calendar = calendar
        self.tracker = tracker
        self.notices = notices
        self._on_queued = on_queued
        self._locks = KeyedLocks()  # only keys being written or waited on

    @property
    def locks_held(self) -> int:
        """How many keys have a lock now (held or awaited)."""
        return len(self._locks)

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """The write lock of one dedup key (or ticket id)."""
        return self._locks.hold(key)

    async def append(
        self, ticket: Ticket, make: Callable[[Ticket], Sequence[TicketEvent]]
    ) -> Ticket:
        """Build events from the current ticket and append them; on a concurrent write
        (another agent) reload and build again. `make` must be idempotent on state."""
        for _ in range(APPEND_RETRIES):
            events = list(make(ticket))
            if not events:
                return ticket
            folded = ticket
            for e in events:
                folded = workflow.apply(folded, e, self.sop, self.calendar)
            notices = (() if self.notices is None
                       else self.notices.for_events(ticket, events, folded))
            try:
                stored = await self.backend.append(ticket.id, events, folded, notices=notices)
            except BackendRejected:
                ticket = await self.backend.get(ticket.id)
                continue
            self._after_events(events, stored)
            if notices:
                self._queued()
            return stored
        raise BackendRejected(f"ticket {ticket.id} kept changing; gave up after "
                              f"{APPEND_RETRIES} tries")

    def _queued(self) -> None:
        if self._on_queued is not None:
            self._on_queued()

    def _after_events(self, events: Sequence[TicketEvent], after: Ticket) -> None:
        for e in events:
            log.info("ticket event", extra={"ticket": after.id, "event": e.kind.value,
                                             "step": e.step, "actor": e.actor})
        self.tracker.track(after)

    async def open(self, draft: TicketDraft) -> Ticket:
        """The open ticket of the draft's key if there is one, else a new ticket."""
        def build(ticket_id: str) -> tuple[Sequence[TicketEvent], Ticket]:
            events = workflow.new_ticket_events(ticket_id, draft, self.sop, draft.opened_at)
            return events, workflow.fold(events, self.sop, self.calendar)

        notices = None if self.notices is None else self.notices.for_new
        ticket, created = await self.backend.open(draft, build, notices=notices)
        if created and notices is not None:
            self._queued()
        if created:
            log.info("ticket opened", extra={"ticket": ticket.id, "device": ticket.device,
                                              "fault": ticket.fault.value,
                                              "trigger": ticket.trigger.value})
            self.tracker.track(ticket)
        return ticket

    async def enqueue(self, envelopes: Sequence[Envelope]) -> int:
        """Queue messages no ticket write carries (the SLA warnings); returns how many."""
        queued = await self.backend.enqueue(envelopes) if envelopes else 0
        if queued:
            self._queued()
        return queued
