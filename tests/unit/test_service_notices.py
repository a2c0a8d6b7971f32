"""TicketService passes the messages each write causes to the backend, computes them again
when a write is retried, queues SLA warnings, and wakes delivery after queuing."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from agent.core.errors import BackendRejected
from agent.core.outbox import Delivery, Envelope, Message
from tests.fakes import FakeClock, InMemoryBackend
from tests.unit.test_service import ScriptedVerifier, obs, walk_to
from tests.workflow_support import valid_output
from ticketing import workflow
from ticketing.calendar import CalendarTime
from ticketing.models import EventKind, Fault, Ticket, TicketEvent
from ticketing.notices import Directory, NoticeRules, Recipient
from ticketing.observation import RESTORED
from ticketing.ports import NoticeSource, TicketSettingsView
from ticketing.service import TicketService
from ticketing.sop import SOP_006

KADIS = workflow.Actor("kadis", "kepala_dinas")


def envelope(ticket: Ticket, key: str, kind: str, at: datetime) -> Envelope:
    return Envelope(channel="telegram", recipient="kadis", kind=kind, ticket_id=ticket.id,
                    message=Message(key=key, address="1001", subject=kind, text=kind),
                    created_at=at, not_before=at)


class Recording:
    """A NoticeSource that records what it was asked and answers one envelope per event."""

    def __init__(self) -> None:
        self.new: list[str] = []
        self.asked: list[tuple[int | None, list[EventKind]]] = []  # (before's seq, kinds)

    def for_new(self, ticket: Ticket, events: Sequence[TicketEvent]) -> Sequence[Envelope]:
        self.new.append(ticket.id)
        return [envelope(ticket, f"{ticket.id}/{e.seq}", e.kind.value, e.at) for e in events]

    def for_events(self, before: Ticket | None, events: Sequence[TicketEvent], after: Ticket
                   ) -> Sequence[Envelope]:
        self.asked.append((None if before is None else before.seq, [e.kind for e in events]))
        return [envelope(after, f"{after.id}/{e.seq}", e.kind.value, e.at) for e in events]

    def warnings(self, ticket: Ticket, now: datetime) -> Sequence[Envelope]:
        return []

    def kinds(self) -> set[EventKind]:
        return {k for _, kinds in self.asked for k in kinds}


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def make(notices: NoticeSource | None, backend: InMemoryBackend | None = None,
         clock: FakeClock | None = None
         ) -> tuple[TicketService, InMemoryBackend, FakeClock, Wakes]:
    clock = clock or FakeClock()
    backend = backend or InMemoryBackend()
    wakes = Wakes()
    service = TicketService(backend=backend, sop=SOP_006, calendar=CalendarTime(),
                            clock=clock, verifier=ScriptedVerifier(clock),
                            settings=TicketSettingsView(reopen_window_seconds=3600),
                            notices=notices, on_queued=wakes)
    return service, backend, clock, wakes


async def queued_keys(backend: InMemoryBackend) -> set[str]:
    return {q.envelope.message.key for q in await backend.messages(None, 1000)}


async def test_opening_queues_the_new_tickets_messages_and_wakes() -> None:
    rec = Recording()
    service, backend, clock, wakes = make(rec)
    ticket = await service.observe(obs(clock))
    assert ticket is not None
    assert rec.new == [ticket.id]
    assert f"{ticket.id}/1" in await queued_keys(backend)
    assert wakes.count == 1


async def test_manual_filing_queues_too() -> None:
    rec = Recording()
    service, backend, _, wakes = make(rec)
    ticket = await service.file_manual(workflow.Actor("siti", "perangkat_daerah"),
                                       device="sw-1", owner="Dinas Kesehatan",
                                       subject="Pemasangan", description="AP baru")
    assert rec.new == [ticket.id]
    assert await queued_keys(backend)
    assert wakes.count == 1


async def test_every_write_path_passes_its_events_messages() -> None:
    rec = Recording()
    service, backend, clock, wakes = make(rec)
    ticket = await service.observe(obs(clock))
    assert ticket is not None
    ticket = await service.note(ticket.id, KADIS, "dicek")  # note
    ticket = await walk_to(service, ticket, 5)  # complete
    await service.verify(ticket.id, workflow.Actor("teknisi", "teknisi"))  # verify
    clock.advance(60)
    assert await service.observe(obs(clock, RESTORED)) is not None  # restoration
    assert {EventKind.NOTE, EventKind.STEP_COMPLETED, EventKind.VERIFICATION,
            EventKind.RESTORATION_OBSERVED} <= rec.kinds()
    events = await backend.events(ticket.id)
    # every event written after the opening was passed with its message
    assert await queued_keys(backend) >= {f"{ticket.id}/{e.seq}" for e in events}
    assert wakes.count == 1 + len(rec.asked)


async def test_the_sweeps_breaches_are_passed_with_their_messages() -> None:
    rec = Recording()
    service, backend, clock, _ = make(rec)
    ticket = await service.observe(obs(clock))
    assert ticket is not None
    clock.advance(timedelta(days=30).total_seconds())
    assert await service.sweep() >= 1
    assert EventKind.STEP_BREACHED in rec.kinds()
    kinds = {q.envelope.kind for q in await backend.messages(None, 1000)}
    assert EventKind.STEP_BREACHED.value in kinds


async def test_a_reopening_is_passed_with_its_messages() -> None:
    rec = Recording()
    service, _, clock, _ = make(rec)
    ticket = await service.observe(obs(clock))
    assert ticket is not None
    ticket = await walk_to(service, ticket, 9)
    closing = SOP_006.step(9)
    closed = await service.complete(ticket.id, 9, workflow.Actor("kasi", closing.role.value),
                                    valid_output(closing))
    assert closed.closed_at is not None
    clock.advance(60)
    assert await service.observe(obs(clock)) is not None
    assert EventKind.REOPENED in rec.kinds()


class RacingBackend(InMemoryBackend):
    """The first append loses a race: another writer adds a note just before it."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                     notices: Sequence[Envelope] = ()) -> Ticket:
        if not self.raced and events and events[0].kind is EventKind.NOTE:
            self.raced = True
            current = await self.get(ticket_id)
            other = workflow.note(current, workflow.Actor("kasi", "kasi"), "lebih dulu",
                                  events[0].at)
            folded = current
            for e in other:
                folded = workflow.apply(folded, e, SOP_006, CalendarTime())
            await super().append(ticket_id, other, folded)
        return await super().append(ticket_id, events, ticket, notices)


async def test_a_retried_append_computes_its_messages_again() -> None:
    rec = Recording()
    service, backend, clock, _ = make(rec, RacingBackend())
    ticket = await service.observe(obs(clock))
    assert ticket is not None
    await service.note(ticket.id, KADIS, "dicek")
    notes = [a for a in rec.asked if a[1] == [EventKind.NOTE]]
    assert [seq for seq, _ in notes] == [ticket.seq, ticket.seq + 1]  # asked again, anew
    keys = await queued_keys(backend)
    assert f"{ticket.id}/{ticket.seq + 2}" in keys  # the stored note's message
    assert f"{ticket.id}/{ticket.seq + 1}" not in keys  # not the rejected try's


async def test_a_rejected_write_queues_nothing_and_wakes_no_one() -> None:
    rec = Recording()

    class Refusing(InMemoryBackend):
        async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                         notices: Sequence[Envelope] = ()) -> Ticket:
            raise BackendRejected("always changed")

    service, backend, clock, wakes = make(rec, Refusing())
    ticket = await service.observe(obs(clock))
    assert ticket is not None
    with contextlib.suppress(BackendRejected):
        await service.note(ticket.id, KADIS, "x")
    assert wakes.count == 1  # the opening only
    assert len(await queued_keys(backend)) == len(await backend.events(ticket.id))


def real_rules() -> NoticeRules:
    people = (Recipient("kadis", "kepala_dinas", addresses=(("telegram", "1001"),)),
              Recipient("kabid", "kabid", addresses=(("email", "kabid@kotabogor.example"),)),
              Recipient("kasi", "kasi", addresses=(("telegram", "1003"),)))
    return NoticeRules(Directory(people), SOP_006, CalendarTime(),
                       "https://pantau.kotabogor.example")


async def step_span(service: TicketService, clock: FakeClock) -> float:
    """Open a device-down ticket; the seconds from its open step's start to its due time."""
    ticket = await service.observe(obs(clock, fault=Fault.DEVICE_DOWN))
    assert ticket is not None
    record = workflow.open_step(ticket)
    assert record is not None
    assert record.due_at is not None
    assert record.started_at
    return (record.due_at - record.started_at).total_seconds()


async def test_warnings_are_queued_once_per_step_and_wake_delivery() -> None:
    service, backend, clock, wakes = make(real_rules())
    span = await step_span(service, clock)
    wakes.count = 0
    assert await service.warn() == 0  # too early
    clock.advance(span * 0.85)
    assert await service.warn() == 1  # step 2 is the kepala dinas's: kadis on Telegram
    assert wakes.count == 1
    assert await service.warn() == 0  # the same step run: already queued
    assert wakes.count == 1
    warning = (await backend.messages(Delivery.WAITING, 10))[0].envelope
    assert (warning.kind, warning.recipient) == ("sla_warning", "kadis")


async def test_the_sla_sweep_queues_the_warnings_too() -> None:
    """One periodic look: the sweep records breaches and queues the warnings due."""
    service, backend, clock, _ = make(real_rules())
    clock.advance(await step_span(service, clock) * 0.85)
    assert await service.sweep() == 0  # no breach yet
    assert [q.envelope.kind for q in await backend.messages(Delivery.WAITING, 10)
            ].count("sla_warning") == 1


class CountingBackend(InMemoryBackend):
    """Counts the envelopes handed to `enqueue` (queued or skipped as already there)."""

    def __init__(self) -> None:
        super().__init__()
        self.offered = 0

    async def enqueue(self, envelopes: Sequence[Envelope]) -> int:
        self.offered += len(envelopes)
        return await super().enqueue(envelopes)


async def test_a_queued_warning_is_not_written_again_on_each_look() -> None:
    backend = CountingBackend()
    service, _, clock, _ = make(real_rules(), backend)
    clock.advance(await step_span(service, clock) * 0.85)
    offered = backend.offered
    assert await service.warn() == 1
    assert backend.offered == offered + 1
    clock.advance(60)
    assert await service.warn() == 0
    assert backend.offered == offered + 1  # still in the window: nothing handed to the store


async def test_the_sweeps_breach_reaches_the_role_and_the_one_above() -> None:
    service, backend, clock, _ = make(real_rules())
    ticket = await service.observe(obs(clock))
    assert ticket is not None
    await walk_to(service, ticket, 3)
    clock.advance(timedelta(days=3).total_seconds())
    await service.sweep()
    breached = {q.envelope.recipient for q in await backend.messages(None, 100)
                if q.envelope.kind == "sla_breached"}
    assert breached == {"kabid", "kadis"}  # step 3 is the kabid's; escalated to kadis


async def test_without_rules_nothing_is_queued_or_woken() -> None:
    service, backend, clock, wakes = make(None)
    ticket = await service.observe(obs(clock))
    assert ticket is not None
    await service.note(ticket.id, KADIS, "x")
    clock.advance(timedelta(days=3).total_seconds())
    await service.sweep()
    assert await service.warn() == 0
    assert await backend.messages(None, 10) == []
    assert wakes.count == 0
