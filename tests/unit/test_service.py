"""TicketService: observations become one ticket per outage; people complete steps; the step-7
gate probes first; metrics count what changed, whoever wrote it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from agent.core.errors import InvalidTransition
from agent.core.outbox import Envelope
from tests.fakes import FakeClock, InMemoryBackend
from tests.ticket_feed_support import CountingBackend
from tests.workflow_support import valid_output
from ticketing import workflow
from ticketing.backend import Builder, Notices, TicketBackend
from ticketing.calendar import CalendarTime
from ticketing.models import EventKind, Fault, Ticket, TicketDraft, TicketEvent, TicketStatus
from ticketing.observation import AFFECTED, FAILING, FLAPPING, RESTORED, Observation, Outcome
from ticketing.payloads import Evidence, Verification
from ticketing.ports import TicketSettingsView
from ticketing.service import TicketService
from ticketing.sop import SOP_006


class ScriptedVerifier:
    """Answers verifications from a list of verdicts; records what it was asked."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.verdicts: list[tuple[bool, str]] = []
        self.asked: list[str] = []

    async def verify(self, ticket: Ticket) -> Verification:
        self.asked.append(ticket.id)
        passed, reason = self.verdicts.pop(0) if self.verdicts else (True, "healthy")
        started = self.clock.now()
        self.clock.advance(2)
        return Verification.from_json({
            "passed": passed, "reason": reason, "started_at": started.isoformat(),
            "finished_at": self.clock.now().isoformat(),
            "probes": [{"round": 1, "device": ticket.device, "check": "icmp",
                        "status": "ok" if passed else "down", "healthy": passed,
                        "reason": "" if passed else reason}]})


class Counting:
    def __init__(self) -> None:
        self.opened_ids: list[str] = []
        self.completed: list[int] = []
        self.breaches: list[int] = []
        self.restorations = 0

    def opened(self, ticket: Ticket) -> None:
        self.opened_ids.append(ticket.id)

    def step_completed(self, step: int, seconds: float) -> None:
        self.completed.append(step)

    def breached(self, step: int) -> None:
        self.breaches.append(step)

    def restoration_verified(self, seconds: float) -> None:
        self.restorations += 1


def make(clock: FakeClock | None = None, backend: TicketBackend | None = None
         ) -> tuple[TicketService, FakeClock, ScriptedVerifier, Counting]:
    clock = clock or FakeClock()
    verifier = ScriptedVerifier(clock)
    counting = Counting()
    service = TicketService(backend=backend or InMemoryBackend(), sop=SOP_006,
                            calendar=CalendarTime(), clock=clock, verifier=verifier,
                            settings=TicketSettingsView(reopen_window_seconds=3600),
                            observer=counting)
    return service, clock, verifier, counting


def obs(clock: FakeClock, kind: str = FAILING, device: str = "sw-1", **kw: Any) -> Observation:
    return Observation(device=device, owner="Dinas Kesehatan", fault=kw.pop(
        "fault", Fault.DEVICE_DOWN), kind=kind, at=clock.now(),
        evidence=Evidence({"reason": "no reply"}), **kw)


ROLE_USER = {"kepala_dinas": "kadis", "kabid": "kabid", "kasi": "kasi", "teknisi": "teknisi"}


async def walk_to(service: TicketService, ticket: Ticket, step: int) -> Ticket:
    for no in range(ticket.current_step, step):
        spec = SOP_006.step(no)
        ticket = await service.complete(ticket.id, no, workflow.Actor(
            ROLE_USER[spec.role.value], spec.role.value), valid_output(spec))
    return ticket


class TestOneOutageOneTicket:
    """Repeats append, restoration never closes, recurrence after closing reopens."""

    async def test_repeat_failure_appends(self) -> None:
        service, clock, _, counting = make()
        first = await service.observe(obs(clock))
        assert first is not None
        assert first.current_step == 2
        assert first.steps[0].completed_by == "pantau"
        clock.advance(60)
        same = await service.observe(obs(clock))  # still failing: nothing new
        assert same is not None
        assert (same.id, same.seq) == (first.id, first.seq)
        restored = await service.observe(obs(clock, RESTORED))
        assert restored is not None
        assert restored.status is TicketStatus.OPEN
        assert restored.restored
        again = await service.observe(obs(clock))
        assert again is not None
        assert again.id == first.id
        assert not again.restored
        assert counting.opened_ids == [first.id]

    async def test_recurrence_soon_after_closing_reopens(self) -> None:
        service, clock, _, _ = make()
        t = await service.observe(obs(clock))
        assert t is not None
        await service.observe(obs(clock, RESTORED))
        t = await walk_to(service, t, 10)
        assert t.status is TicketStatus.CLOSED
        clock.advance(600)
        back = await service.observe(obs(clock))
        assert back is not None
        assert (back.id, back.status, back.current_step, back.reopened) == (
            t.id, TicketStatus.OPEN, workflow.REOPEN_STEP, 1)

    async def test_recurrence_long_after_closing_opens_a_new_ticket(self) -> None:
        service, clock, _, _ = make()
        t = await service.observe(obs(clock))
        assert t is not None
        await service.observe(obs(clock, RESTORED))
        t = await walk_to(service, t, 10)
        clock.advance(2 * 3600)
        new = await service.observe(obs(clock))
        assert new is not None
        assert new.id != t.id

    async def test_faults_are_separate_tickets(self) -> None:
        service, clock, _, _ = make()
        a = await service.observe(obs(clock))
        b = await service.observe(obs(clock, fault=Fault.INTERFACE_DOWN, item="uplink1"))
        c = await service.observe(obs(clock, fault=Fault.INTERFACE_DOWN, item="uplink2"))
        assert a is not None
        assert b is not None
        assert c is not None
        assert len({a.id, b.id, c.id}) == 3
        assert (b.fault, b.item) == (Fault.INTERFACE_DOWN, "uplink1")

    async def test_restoration_without_ticket_does_nothing(self) -> None:
        service, clock, _, _ = make()
        assert await service.observe(obs(clock, RESTORED)) is None
        assert list(await service.backend.list(None)) == []


class TestAffectedAndFlapping:
    """Unreachable children go on the parent's ticket; flapping marks the one ticket."""

    async def test_affected_listed_once(self) -> None:
        service, clock, _, _ = make()
        t = await service.observe(obs(clock, device="core", affected=("ap-1", "ap-2")))
        assert t is not None
        t = await service.observe(obs(clock, AFFECTED, device="core", affected=("ap-3",)))
        t = await service.observe(obs(clock, AFFECTED, device="core", affected=("ap-1",)))
        assert t is not None
        assert t.affected == ("ap-1", "ap-2", "ap-3")
        assert [x.device for x in await service.backend.list("open")] == ["core"]

    async def test_flapping_marks_the_ticket(self) -> None:
        service, clock, _, _ = make()
        t = await service.observe(obs(clock))
        assert t is not None
        assert not t.flapping
        flapped = await service.observe(obs(clock, FLAPPING))
        assert flapped is not None
        assert flapped.flapping
        assert flapped.id == t.id


class TestGate:
    """Step 7 probes live first; refused with the failing probe's reason."""

    async def test_refused_then_accepted(self) -> None:
        service, clock, verifier, counting = make()
        t = await service.observe(obs(clock))
        assert t is not None
        t = await walk_to(service, t, 7)
        verifier.verdicts = [(False, "sw-1 icmp: no reply to 5 echo requests")]
        tech = workflow.Actor("teknisi", "teknisi")
        with pytest.raises(InvalidTransition, match="no reply to 5 echo requests"):
            await service.complete(t.id, 7, tech, {"action": "ganti switch"})
        t = await service.complete(t.id, 7, tech, {"action": "ganti switch"})
        assert verifier.asked == [t.id, t.id]
        assert t.steps[6].output["verification"]["passed"] is True
        assert counting.restorations == 1

    async def test_wrong_role_refused_before_probing(self) -> None:
        service, clock, verifier, _ = make()
        t = await service.observe(obs(clock))
        assert t is not None
        t = await walk_to(service, t, 7)
        with pytest.raises(InvalidTransition, match="teknisi"):
            await service.complete(t.id, 7, workflow.Actor("kasi", "kasi"), {"action": "x"})
        assert verifier.asked == []


class TestMetricsFromDiffs:
    """Steps completed by another process are counted at the next refresh, once."""

    async def test_other_writer(self) -> None:
        clock = FakeClock()
        backend = InMemoryBackend()
        agent, _, _, counting = make(clock, backend)
        cli, _, _, _ = make(clock, backend)
        await agent.refresh()
        t = await agent.observe(obs(clock))
        assert t is not None
        assert counting.opened_ids == [t.id]
        clock.advance(300)
        await walk_to(cli, t, 4)  # steps 2 and 3 completed elsewhere
        await agent.refresh()
        await agent.refresh()
        assert counting.completed == [1, 2, 3]  # step 1 is completed at filing
        assert [x.current_step for x in agent.open_tickets] == [4]

    async def test_refresh_reads_only_the_bodies_that_changed(self) -> None:
        """A refresh reads each open ticket's seq; it loads a body only when that changed."""
        clock = FakeClock()
        backend = CountingBackend(InMemoryBackend())
        agent, _, _, _ = make(clock, backend)
        cli, _, _, _ = make(clock, backend)
        await agent.refresh()
        tickets = [await agent.observe(obs(clock, device=f"sw-{i}")) for i in range(5)]
        assert all(t is not None for t in tickets)
        backend.calls.clear()
        await agent.refresh()
        assert (backend.calls["open_versions"], backend.calls["get"],
                backend.calls["list"]) == (1, 0, 0)
        first = tickets[0]
        assert first is not None
        await walk_to(cli, first, 3)  # changed elsewhere
        backend.calls.clear()
        await agent.refresh()
        assert (backend.calls["get"], backend.calls["list"]) == (1, 0)
        assert {t.id: t.current_step for t in agent.open_tickets}[first.id] == 3

    async def test_breach_counted_once(self) -> None:
        service, clock, _, counting = make()
        await service.refresh()
        t = await service.observe(obs(clock))
        assert t is not None
        clock.advance(2 * 86400)
        assert await service.sweep() == 1
        assert await service.sweep() == 0
        assert counting.breaches == [2]
        assert service.open_tickets[0].steps[1].breached
        due = service.open_tickets[0].steps[1].due_at
        assert due is not None
        assert due == t.steps[1].started_at + timedelta(days=1)  # type: ignore[operator]


class TestManualRequests:
    """Agencies file their own requests; they are never merged with another."""

    async def test_file_manual(self) -> None:
        service, _, _, counting = make()
        agency = workflow.Actor("dinkes", "perangkat_daerah")
        a = await service.file_manual(agency, device="ap-baru-01", owner="Dinas Kesehatan",
                                      subject="Pemasangan access point",
                                      description="Ruang rapat lantai 2")
        b = await service.file_manual(agency, device="ap-baru-01", owner="Dinas Kesehatan",
                                      subject="Pemasangan access point",
                                      description="Ruang rapat lantai 3")
        assert a.id != b.id
        assert (a.trigger.value, a.fault, a.current_step) == ("manual", Fault.MANUAL, 2)
        assert a.steps[0].completed_by == "dinkes"
        assert a.steps[0].output["subject"] == "Pemasangan access point"
        assert counting.opened_ids == [a.id, b.id]

    async def test_wrong_role_cannot_file(self) -> None:
        service, _, _, _ = make()
        with pytest.raises(InvalidTransition):
            await service.file_manual(workflow.Actor("kasi", "kasi"), device="x",
                                      owner="Dinas Kesehatan", subject="s", description="d")


class YieldingBackend(InMemoryBackend):
    """The in-memory store, but every read and write lets other tasks run first, as a real
    store's round trip does: concurrent callers interleave at each call."""

    async def open(self, draft: TicketDraft, build: Builder, notices: Notices | None = None
                   ) -> tuple[Ticket, bool]:
        await asyncio.sleep(0)
        return await super().open(draft, build, notices)

    async def find_open(self, dedup_key: str) -> Ticket | None:
        await asyncio.sleep(0)
        return await super().find_open(dedup_key)

    async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                     notices: Sequence[Envelope] = ()) -> Ticket:
        await asyncio.sleep(0)
        return await super().append(ticket_id, events, ticket, notices)

    async def events(self, ticket_id: str) -> Sequence[TicketEvent]:
        await asyncio.sleep(0)
        return await super().events(ticket_id)


def never(ticket: Ticket, events: Sequence[TicketEvent]) -> bool:
    return False


def after_restoration(ticket: Ticket, events: Sequence[TicketEvent]) -> bool:
    """A failure is stale once the ticket's last word is a restoration."""
    return ticket.restored and events[-1].kind is EventKind.RESTORATION_OBSERVED


class TestObserveUnless:
    """A stale observation writes nothing; the staleness decision and the write share the lock."""

    async def test_stale_writes_nothing(self) -> None:
        service, clock, _, _ = make()
        await service.observe(obs(clock))
        restored = await service.observe(obs(clock, RESTORED))
        assert restored is not None
        asked: list[tuple[str, list[EventKind]]] = []

        def stale(ticket: Ticket, events: Sequence[TicketEvent]) -> bool:
            asked.append((ticket.id, [e.kind for e in events]))
            return True

        outcome = await service.observe_unless(obs(clock), stale)
        assert outcome == Outcome(restored, changed=False)
        assert asked == [(restored.id, [EventKind.OPENED, EventKind.STEP_COMPLETED,
                                        EventKind.RESTORATION_OBSERVED])]
        assert (await service.backend.get(restored.id)).restored

    async def test_not_stale_applies_and_says_so(self) -> None:
        service, clock, _, counting = make()
        opened = await service.observe_unless(obs(clock), never)
        assert opened.ticket is not None
        assert opened.changed
        same = await service.observe_unless(obs(clock), never)
        assert same == Outcome(opened.ticket, changed=False)
        restored = await service.observe_unless(obs(clock, RESTORED), never)
        assert restored.changed
        assert restored.ticket is not None
        assert restored.ticket.restored
        assert counting.opened_ids == [opened.ticket.id]

    async def test_nothing_to_restore(self) -> None:
        service, clock, _, _ = make()
        assert await service.observe_unless(obs(clock, RESTORED), never) == Outcome(None, False)

    async def test_concurrent_copies_change_once(self) -> None:
        service, clock, _, counting = make(backend=YieldingBackend())
        outcomes = await asyncio.gather(*(service.observe_unless(obs(clock), never)
                                          for _ in range(5)))
        assert sorted(o.changed for o in outcomes) == [False] * 4 + [True]
        assert len({o.ticket.id for o in outcomes if o.ticket is not None}) == 1
        assert len(counting.opened_ids) == 1

    async def test_stale_copies_racing_a_restoration_lose(self) -> None:
        service, clock, _, _ = make(backend=YieldingBackend())
        first = await service.observe(obs(clock))
        assert first is not None
        await asyncio.gather(*(service.observe_unless(o, after_restoration) for o in (
            obs(clock), obs(clock, RESTORED), obs(clock), obs(clock), obs(clock))))
        assert (await service.backend.get(first.id)).restored
        kinds = [e.kind for e in await service.backend.events(first.id)]
        assert kinds.count(EventKind.FAILURE_OBSERVED) == 0


class TestLocks:
    """The per-key write locks live only while a write holds or awaits them."""

    async def test_the_lock_table_stays_empty_after_many_tickets(self) -> None:
        service, clock, _, _ = make()
        for i in range(300):
            await service.observe(obs(clock, device=f"sw-{i}"))
            await service.observe(obs(clock, RESTORED, device=f"sw-{i}"))
        ticket = (await service.tickets("open"))[0]
        await walk_to(service, ticket, 3)
        assert service.locks_held == 0

    async def test_concurrent_writers_of_one_key_share_one_lock_then_free_it(self) -> None:
        service, clock, _, _ = make()
        seen: list[int] = []

        async def write(i: int) -> None:
            await service.observe(obs(clock, device="sw-1"))
            seen.append(service.locks_held)

        await asyncio.gather(*(write(i) for i in range(20)))
        assert max(seen) <= 1
        assert service.locks_held == 0
        assert len(await service.tickets("open")) == 1
