"""What the ticket metrics see: the open tickets at their last version seen, and the
differences between two versions of a ticket (opened, steps completed, breaches,
restoration verified), whoever wrote them (this agent, the CLI, other agents), counted into
the TicketObserver once each. The TicketService owns one and feeds it every version it
writes; `refresh` catches up with the versions written elsewhere."""

from __future__ import annotations

from ticketing import gates
from ticketing.backend import TicketBackend
from ticketing.models import Ticket, TicketStatus
from ticketing.ports import TicketObserver
from ticketing.sop import Sop


class TicketTracker:
    """The open tickets for the gauges (`open_tickets`) and the counts for the counters."""

    def __init__(self, backend: TicketBackend, sop: Sop, observer: TicketObserver) -> None:
        self.backend = backend
        self.sop = sop
        self.observer = observer
        self._known: dict[str, Ticket] = {}  # open tickets, last version seen
        self._seeded = False
        self.open_tickets: tuple[Ticket, ...] = ()  # for the gauges

    def track(self, ticket: Ticket) -> None:
        """Count what changed since the last version seen (own writes, the CLI, other
        agents), and keep the open ones for the gauges."""
        old = self._known.get(ticket.id)
        if old is not None and ticket.seq <= old.seq:
            return
        self._count(old, ticket)
        if ticket.status is TicketStatus.OPEN:
            self._known[ticket.id] = ticket
        else:
            self._known.pop(ticket.id, None)
        self.open_tickets = tuple(self._known.values())

    def _count(self, old: Ticket | None, new: Ticket) -> None:
        if old is None:
            self.observer.opened(new)
        for i, step in enumerate(new.steps):
            before = old.steps[i] if old is not None and i < len(old.steps) else None
            if step.completed_at is not None and (before is None
                                                  or before.completed_at != step.completed_at):
                if step.started_at is not None:
                    self.observer.step_completed(
                        step.no, (step.completed_at - step.started_at).total_seconds())
                if gates.probed_gate(self.sop.step(step.no)):
                    self.observer.restoration_verified(
                        (step.completed_at - new.opened_at).total_seconds())
            if step.breached and (before is None or not before.breached):
                self.observer.breached(step.no)

    async def refresh(self) -> None:
        """Re-read the open tickets that changed elsewhere since the last read (by their
        seq, without reading the others' bodies), and count those changes."""
        if not self._seeded:
            # start-up: what happened before this agent ran is history, not new events
            self._known = {t.id: t for t in await self.backend.list("open")}
            self._seeded = True
            self.open_tickets = tuple(self._known.values())
            return
        versions = await self.backend.open_versions()
        for gone in [i for i in self._known if i not in versions]:
            self.track(await self.backend.get(gone))  # closed elsewhere: count its last steps
        for ticket_id, seq in versions.items():
            known = self._known.get(ticket_id)
            if known is None or known.seq != seq:
                self.track(await self.backend.get(ticket_id))
