"""Observations -> tickets: open, append, reopen, mark, verify, complete steps, sweep SLAs.

The only place that talks to the backend. Everything it decides comes from the pure
`workflow` functions; this module gathers facts (verification results, the clock), keeps the
writes for one ticket in order, and feeds the ticket metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from agent.core.clock import Clock
from agent.core.errors import BackendError, BackendRejected, InvalidTransition
from agent.core.outbox import Envelope
from ticketing import gates, workflow
from ticketing.backend import PAGE_MAX, SummaryPage, TicketBackend, TicketPage, TicketQuery
from ticketing.calendar import Calendar
from ticketing.locks import KeyedLocks
from ticketing.models import (
    Fault,
    Ticket,
    TicketDraft,
    TicketEvent,
    TicketStatus,
    Trigger,
    fault_key,
)
from ticketing.payloads import Evidence, Verification
from ticketing.sop import Sop

log = logging.getLogger(__name__)

FAILING, RESTORED, FLAPPING, AFFECTED = "failing", "restored", "flapping", "affected"
APPEND_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Observation:
    """What the detector saw, in ticketing's terms (built by agent/app.py from a Transition).

    `kind`: "failing" (open or append), "restored" (restoration observed, never closure),
    "flapping" (open if needed and mark), "affected" (`affected` devices are UNREACHABLE
    behind `device`, whose ticket lists them).
    """

    device: str
    owner: str
    fault: Fault
    kind: str
    at: datetime
    item: str = ""
    reason: str = ""
    evidence: Evidence = field(default_factory=Evidence)
    affected: tuple[str, ...] = ()

    @property
    def dedup_key(self) -> str:
        return fault_key(self.device, self.fault, self.item)


#: (the open ticket, its events) -> whether an observation about it is a stale replay
Stale = Callable[[Ticket, Sequence[TicketEvent]], bool]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `TicketService.observe_unless` did: the open ticket of the observation's key
    afterwards (None: there is none) and whether anything was written."""

    ticket: Ticket | None
    changed: bool


class Verifier(Protocol):
    """Probes a ticket's devices live (ICMP, SNMP, monitored interfaces) over a hold period,
    and says whether every probe was healthy, with each probe."""

    async def verify(self, ticket: Ticket) -> Verification: ...


@dataclass(frozen=True, slots=True)
class TicketSettingsView:
    reopen_window_seconds: float = 3600.0
    verification_max_age_seconds: float = 600.0


class TicketObserver(Protocol):
    """Hooks for the ticket metrics (agent/metrics.py implements them)."""

    def opened(self, ticket: Ticket) -> None: ...
    def step_completed(self, step: int, seconds: float) -> None: ...
    def breached(self, step: int) -> None: ...
    def restoration_verified(self, seconds: float) -> None: ...


class NullObserver:
    def opened(self, ticket: Ticket) -> None:
        pass

    def step_completed(self, step: int, seconds: float) -> None:
        pass

    def breached(self, step: int) -> None:
        pass

    def restoration_verified(self, seconds: float) -> None:
        pass


class NoticeSource(Protocol):
    """Who is told what (ticketing.notices.NoticeRules): the messages a new ticket, a batch
    of events and an SLA timer cause, queued by the backend with the write."""

    def for_new(self, ticket: Ticket, events: Sequence[TicketEvent]) -> Sequence[Envelope]: ...

    def for_events(self, before: Ticket | None, events: Sequence[TicketEvent], after: Ticket
                   ) -> Sequence[Envelope]: ...

    def warnings(self, ticket: Ticket, now: datetime) -> Sequence[Envelope]: ...


class TicketService:
    """Every write passes the messages it causes to the backend (`notices`; none without),
    which queues them in the same transaction; `on_queued` is called after a write that
    queued some (the agent wakes its delivery loop)."""

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
        self.observer: TicketObserver = observer or NullObserver()
        self.notices = notices
        self._on_queued = on_queued
        self._locks = KeyedLocks()  # only keys being written or waited on
        self._known: dict[str, Ticket] = {}  # open tickets, last version seen
        self._seeded = False
        self.open_tickets: tuple[Ticket, ...] = ()  # for the gauges

    @property
    def locks_held(self) -> int:
        """How many keys have a lock now (held or awaited)."""
        return len(self._locks)

    def _lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """The write lock of one dedup key (or ticket id)."""
        return self._locks.hold(key)

    # -- writing ---------------------------------------------------------------------------

    async def _append(
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
            self._after_events(ticket, events, stored)
            if notices:
                self._queued()
            return stored
        raise BackendRejected(f"ticket {ticket.id} kept changing; gave up after "
                              f"{APPEND_RETRIES} tries")

    def _queued(self) -> None:
        if self._on_queued is not None:
            self._on_queued()

    def _after_events(self, before: Ticket, events: Sequence[TicketEvent], after: Ticket
                      ) -> None:
        for e in events:
            log.info("ticket event", extra={"ticket": after.id, "event": e.kind.value,
                                             "step": e.step, "actor": e.actor})
        self._track(after)

    # -- what the metrics see: diffs between versions of a ticket, whoever wrote them -------

    def _track(self, ticket: Ticket) -> None:
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
            if step.completed_at is not None and (before is None or before.completed_at is None
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
            self._track(await self.backend.get(gone))  # closed elsewhere: count its last steps
        for ticket_id, seq in versions.items():
            known = self._known.get(ticket_id)
            if known is None or known.seq != seq:
                self._track(await self.backend.get(ticket_id))

    async def _open(self, draft: TicketDraft) -> Ticket:
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
            self._track(ticket)
        return ticket

    # -- observations from the detector ----------------------------------------------------

    async def observe(self, obs: Observation) -> Ticket | None:
        """Apply one observation; returns the ticket it touched (None when nothing applies)."""
        async with self._lock(obs.dedup_key):
            return await self._observe(obs, await self.backend.find_open(obs.dedup_key))

    async def observe_unless(self, obs: Observation, stale: Stale) -> Outcome:
        """Apply one observation unless `stale(open ticket, its events)` says it is a replay
        that would undo a newer state. The decision and the write run under the same
        per-key lock as every other write of that key, so concurrent deliveries of one
        payload are decided one after the other, each on the state the previous one left."""
        async with self._lock(obs.dedup_key):
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
            return await self._append(current, lambda t: workflow.observe_restoration(
                t, now, obs.evidence))
        if obs.kind == AFFECTED:
            if current is None:
                return None
            return await self._append(current, lambda t: workflow.add_affected(
                t, obs.affected, now))
        if current is None:
            current = await self._reopen_or_open(obs)
            if current is None:
                return None
        else:
            current = await self._append(current, lambda t: workflow.observe_failure(
                t, obs.evidence, now))
        if obs.affected:
            current = await self._append(current, lambda t: workflow.add_affected(
                t, obs.affected, now))
        if obs.kind == FLAPPING:
            current = await self._append(current, lambda t: workflow.set_flapping(
                t, True, now))
        return current

    async def _reopen_or_open(self, obs: Observation) -> Ticket | None:
        recent = await self.backend.find_recent_closed(obs.dedup_key)
        window = timedelta(seconds=self.settings.reopen_window_seconds)
        if recent is not None and recent.closed_at is not None and (
                obs.at - recent.closed_at) <= window:
            return await self._append(recent, lambda t: workflow.reopen(
                t, obs.evidence, obs.at, self.sop)
                if t.status is TicketStatus.CLOSED else [])
        draft = TicketDraft(
            device=obs.device, owner=obs.owner, fault=obs.fault, trigger=Trigger.AUTO,
            opened_at=obs.at, item=obs.item, evidence=obs.evidence,
            affected=obs.affected, flapping=obs.kind == FLAPPING,
        )
        return await self._open(draft)

    # -- people ----------------------------------------------------------------------------

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

    # -- commands ---------------------------------------------------------------------------

    async def file_manual(self, actor: workflow.Actor, *, device: str, owner: str, subject: str,
                          description: str, fault: Fault = Fault.MANUAL) -> Ticket:
        """An agency's own request (a new installation, a fault pantau cannot see)."""
        draft = TicketDraft(
            device=device, owner=owner, fault=fault, trigger=Trigger.MANUAL,
            opened_at=self.clock.now(), requested_by=actor.name, requested_role=actor.role,
            subject=subject, description=description,
        )
        return await self._open(draft)

    async def verify(self, ticket_id: str, actor: workflow.Actor
                     ) -> tuple[Ticket, Verification]:
        """Run the live verification now, record it on the ticket, and return it."""
        ticket = await self.backend.get(ticket_id)
        if ticket.status is not TicketStatus.OPEN:
            raise InvalidTransition(f"ticket {ticket_id} is closed")
        result = await self.verifier.verify(ticket)
        now = self.clock.now()
        async with self._lock(ticket.dedup_key or ticket.id):
            ticket = await self._append(await self.backend.get(ticket_id),
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
        async with self._lock(ticket.dedup_key or ticket.id):
            def make(t: Ticket) -> Sequence[TicketEvent]:
                return workflow.complete_step(t, step, actor, output, self.sop, self._facts(t))

            return await self._append(await self.backend.get(ticket_id), make)

    def _facts(self, ticket: Ticket) -> gates.Facts:
        return gates.Facts(
            now=self.clock.now(), verification=ticket.last_verification,
            max_verification_age_seconds=self.settings.verification_max_age_seconds)

    async def note(self, ticket_id: str, actor: workflow.Actor, text: str) -> Ticket:
        ticket = await self.backend.get(ticket_id)
        return await self._append(ticket, lambda t: workflow.note(t, actor, text,
                                                                  self.clock.now()))

    # -- SLA -------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Record breaches of open steps past their due time; returns how many."""
        await self.refresh()
        now = self.clock.now()
        count = 0
        for ticket in self.open_tickets:
            events = workflow.sweep(ticket, now, self.sop, self.calendar)
            if events:
                async with self._lock(ticket.dedup_key or ticket.id):
                    await self._append(ticket, lambda t: workflow.sweep(
                        t, now, self.sop, self.calendar))
                count += len(events)
        return count

    async def warn(self) -> int:
        """Queue the SLA warnings due now for the open tickets (a step at its warning share
        of its SLA); returns how many were queued. Each warning's key names its step run, so
        calling this every minute queues each once; breaches come with the sweep's events."""
        if self.notices is None:
            return 0
        await self.refresh()
        now = self.clock.now()
        envelopes = [e for t in self.open_tickets for e in self.notices.warnings(t, now)]
        queued = await self.backend.enqueue(envelopes) if envelopes else 0
        if queued:
            self._queued()
        return queued


async def run_periodically(seconds: float, clock: Clock, job: Callable[[], Awaitable[object]]
                           ) -> None:
    """Call `job` every `seconds` until cancelled; a failing run is logged, not fatal."""
    while True:
        await clock.sleep(seconds)
        try:
            await job()
        except (BackendError, InvalidTransition) as exc:
            log.warning("periodic ticket job failed", extra={"error": str(exc)})
        except Exception:
            # A bug: keep the traceback, keep the agent running (one guard per loop).
            log.exception("periodic ticket job crashed")
