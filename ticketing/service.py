"""TicketService, the facade over the ticket store: observations -> tickets (open, append,
reopen, mark), people's commands (verify, complete steps, notes), the SLA jobs, and the reads
the API, the pages and the CLI make.

With its TicketWriter (how a write is made) and TicketTracker (what the metrics see), the
only place that talks to the backend. Everything it decides comes from the pure `workflow`
functions; this module gathers facts (verification results, the clock) and says what to
write. What it is handed lives in ports.py and observation.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from agent.core.clock import Clock
from agent.core.errors import InvalidTransition
from agent.core.refusals import refused
from ticketing import gates, workflow
from ticketing.backend import PAGE_MAX, SummaryPage, TicketBackend, TicketPage, TicketQuery
from ticketing.calendar import Calendar
from ticketing.models import Fault, Ticket, TicketDraft, TicketEvent, TicketStatus, Trigger
from ticketing.observation import AFFECTED, FLAPPING, RESTORED, Observation, Outcome, Stale
from ticketing.payloads import Verification
from ticketing.ports import NoticeSource, NullObserver, TicketObserver, TicketSettingsView, Verifier
from ticketing.sop import Sop
from ticketing.tracker import TicketTracker
from ticketing.writer import TicketWriter


class TicketService:
    """Every write goes through its TicketWriter (writer.py): locks, retries, the messages
    it causes (`notices`; none without), `on_queued`."""

    def __init__(
        self,
        *,
        backend: TicketBackend,
        sop: Sop,
        calendar: Calendar,
        clock: Clock,
        verifier: Verifier,
        settings: TicketSettingsView,
        observer: TicketObserver | None = None,
        notices: NoticeSource | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.backend = backend
        self.sop = sop
        self.calendar = calendar
        self.clock = clock
        self.verifier = verifier
        self.settings = settings
        self.notices = notices
        self.tracker = TicketTracker(backend, sop, observer or NullObserver())
        self._writer = TicketWriter(backend=backend, sop=sop, calendar=calendar,
                                    tracker=self.tracker, notices=notices, on_queued=on_queued)
        # the keys of the warnings the last `warn` found queued: a step stays in its warning
        # window until it is due (hours of a 1-day SLA), and writing its warning again on
        # every look only for the outbox to skip it is needless store I/O
        self._warned: frozenset[str] = frozenset()

    @property
    def locks_held(self) -> int:
        """How many keys have a write lock now (held or awaited)."""
        return self._writer.locks_held

    # -- observations from the detector ----------------------------------------------------

    async def observe(self, obs: Observation) -> Ticket | None:
        """Apply one observation; returns the ticket it touched (None when nothing applies)."""
        async with self._writer.lock(obs.dedup_key):
            return await self._observe(obs, await self.backend.find_open(obs.dedup_key))

    async def observe_unless(self, obs: Observation, stale: Stale) -> Outcome:
        """Apply one observation unless `stale(open ticket, its events)` says it is a replay
        that would undo a newer state. The decision and the write run under the same
        per-key lock as every other write of that key, so concurrent deliveries of one
        payload are decided one after the other, each on the state the previous one left."""
        async with self._writer.lock(obs.dedup_key):
            current = await self.backend.find_open(obs.dedup_key)
            if current is not None and stale(current, await self.backend.events(current.id)):
                return Outcome(current, changed=False)
            ticket = await self._observe(obs, current)
            if ticket is None:
                return Outcome(current, changed=False)
            return Outcome(ticket, changed=current is None or ticket.seq != current.seq)

    async def _observe(self, obs: Observation, current: Ticket | None) -> Ticket | None:
        """`observe` with the key's lock held and its open ticket (if any) read."""
        now = obs.at
        if obs.kind == RESTORED:
            if current is None:
                return None
            return await self._writer.append(current, lambda t: workflow.observe_restoration(
                t, now, obs.evidence))
        if obs.kind == AFFECTED:
            if current is None:
                return None
            return await self._writer.append(current, lambda t: workflow.add_affected(
                t, obs.affected, now))
        if current is None:
            current = await self._reopen_or_open(obs)
            if current is None:
                return None
        else:
            current = await self._writer.append(current, lambda t: workflow.observe_failure(
                t, obs.evidence, now))
        if obs.affected:
            current = await self._writer.append(current, lambda t: workflow.add_affected(
                t, obs.affected, now))
        if obs.kind == FLAPPING:
            current = await self._writer.append(current, lambda t: workflow.set_flapping(
                t, True, now))
        return current

    async def _reopen_or_open(self, obs: Observation) -> Ticket | None:
        recent = await self.backend.find_recent_closed(obs.dedup_key)
        window = timedelta(seconds=self.settings.reopen_window_seconds)
        if recent is not None and recent.closed_at is not None and (
                obs.at - recent.closed_at) <= window:
            return await self._writer.append(recent, lambda t: workflow.reopen(
                t, obs.evidence, obs.at, self.sop)
                if t.status is TicketStatus.CLOSED else [])
        draft = TicketDraft(
            device=obs.device, owner=obs.owner, fault=obs.fault, trigger=Trigger.AUTO,
            opened_at=obs.at, item=obs.item, evidence=obs.evidence,
            affected=obs.affected, flapping=obs.kind == FLAPPING,
        )
        return await self._writer.open(draft)

    # -- reads: the adapters (API, pages, CLI) see tickets only through these --------------

    async def ticket(self, ticket_id: str) -> Ticket:
        """One ticket; TicketNotFound when there is none."""
        return await self.backend.get(ticket_id)

    async def tickets(self, status: str | None = None) -> Sequence[Ticket]:
        """Tickets, newest first; `status` "open", "closed" or None for all."""
        return await self.backend.list(status)

    async def page(self, query: TicketQuery) -> TicketPage:
        """One page of a ticket list, filtered, ordered and limited by the store (the lists
        of the API, the pages and the CLI); BackendRejected for a bad query or cursor."""
        return await self.backend.page(query)

    async def summaries(self, query: TicketQuery) -> SummaryPage:
        """`page` without the ticket bodies: the columns a list row shows."""
        return await self.backend.summaries(query)

    async def every(self, status: str, owner: str | None) -> list[Ticket]:
        """Every ticket of `status` (of one agency, or all with None), newest first, read a
        page at a time: for lists that show all of them (the open tickets of a board)."""
        found: list[Ticket] = []
        query = TicketQuery(status=status, owner=owner, limit=PAGE_MAX)
        while True:
            page = await self.backend.page(query)
            found += page.tickets
            if page.next is None:
                return found
            query = replace(query, after=page.next)

    async def events(self, ticket_id: str) -> Sequence[TicketEvent]:
        """A ticket's audit trail, in order."""
        return await self.backend.events(ticket_id)

    async def refresh(self) -> None:
        """Catch up with the open tickets changed elsewhere (see TicketTracker.refresh)."""
        await self.tracker.refresh()

    @property
    def open_tickets(self) -> tuple[Ticket, ...]:
        """The open tickets at their last version seen (for the gauges and the SLA jobs)."""
        return self.tracker.open_tickets

    # -- commands ---------------------------------------------------------------------------

    async def file_manual(self, actor: workflow.Actor, *, device: str, owner: str, subject: str,
                          description: str, fault: Fault = Fault.MANUAL) -> Ticket:
        """An agency's own request (a new installation, a fault pantau cannot see)."""
        draft = TicketDraft(
            device=device, owner=owner, fault=fault, trigger=Trigger.MANUAL,
            opened_at=self.clock.now(), requested_by=actor.name, requested_role=actor.role,
            subject=subject, description=description,
        )
        return await self._writer.open(draft)

    async def verify(self, ticket_id: str, actor: workflow.Actor
                     ) -> tuple[Ticket, Verification]:
        """Run the live verification now, record it on the ticket, and return it."""
        ticket = await self.backend.get(ticket_id)
        if ticket.status is not TicketStatus.OPEN:
            raise InvalidTransition(refused("ticket_closed", ticket=ticket_id))
        result = await self.verifier.verify(ticket)
        now = self.clock.now()
        async with self._writer.lock(ticket.dedup_key or ticket.id):
            ticket = await self._writer.append(await self.backend.get(ticket_id),
                                        lambda t: workflow.record_verification(
                                            t, result, now, actor))
        return ticket, result

    async def complete(self, ticket_id: str, step: int, actor: workflow.Actor,
                       output: Mapping[str, Any]) -> Ticket:
        """Complete a step with its output document, or raise InvalidTransition saying why.

        For a gated step with no fresh passed verification, the verification runs first."""
        ticket = await self.backend.get(ticket_id)
        spec = self.sop.find(step)
        if (spec is not None and gates.probed_gate(spec)
                and ticket.status is TicketStatus.OPEN and ticket.current_step == step
                and gates.gate_refusal(ticket, spec, self._facts(ticket)) is not None):
            workflow.check_actor(ticket, step, actor, self.sop)  # refuse early, before probing
            ticket, _ = await self.verify(ticket_id, actor)
        async with self._writer.lock(ticket.dedup_key or ticket.id):
            def make(t: Ticket) -> Sequence[TicketEvent]:
                return workflow.complete_step(t, step, actor, output, self.sop, self._facts(t))

            return await self._writer.append(await self.backend.get(ticket_id), make)

    def _facts(self, ticket: Ticket) -> gates.Facts:
        return gates.Facts(
            now=self.clock.now(), verification=ticket.last_verification,
            max_verification_age_seconds=self.settings.verification_max_age_seconds)

    async def note(self, ticket_id: str, actor: workflow.Actor, text: str) -> Ticket:
        ticket = await self.backend.get(ticket_id)
        return await self._writer.append(ticket, lambda t: workflow.note(t, actor, text,
                                                                  self.clock.now()))

    # -- SLA -------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """The SLA's periodic look at the open tickets: record breaches of steps past their
        due time (returns how many), then queue the warnings due now (`warn`)."""
        await self.refresh()
        now = self.clock.now()
        count = 0
        for ticket in self.open_tickets:
            events = workflow.sweep(ticket, now, self.sop, self.calendar)
            if events:
                async with self._writer.lock(ticket.dedup_key or ticket.id):
                    await self._writer.append(ticket, lambda t: workflow.sweep(
                        t, now, self.sop, self.calendar))
                count += len(events)
        await self.warn()
        return count

    async def warn(self) -> int:
        """Queue the SLA warnings due now for the open tickets as last read (a step at its
        warning share of its SLA); returns how many were queued. Each warning's key names its
        step run, so each is queued once however often the sweep looks; breaches come with
        the sweep's events."""
        if self.notices is None:
            return 0
        now = self.clock.now()
        envelopes = [e for t in self.open_tickets for e in self.notices.warnings(t, now)]
        queued = await self._writer.enqueue(
            [e for e in envelopes if e.message.key not in self._warned])
        self._warned = frozenset(e.message.key for e in envelopes)  # all queued now
        return queued

