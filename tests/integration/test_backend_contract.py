"""The TicketBackend contract, run against every backend: in memory, SQLite, PostgreSQL.

PostgreSQL runs against a throwaway server the suite starts (tests/postgres_fixtures.py), or
the one $PANTAU_TEST_POSTGRES_URL names, whose store tables the tests wipe (marker `postgres`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.core.errors import BackendRejected, BackendUnavailable, InvalidTransition, TicketNotFound
from tests.backend_fixtures import SQL_KINDS, Store, open_one, sql_url
from tests.fakes import FakeClock
from tests.store_samples import T0, builder, close, draft, follow
from ticketing.backend import TicketBackend, TicketQuery, TicketSummary
from ticketing.models import EventKind, Fault, Ticket, TicketEvent, TicketStatus, Trigger
from ticketing.payloads import Verification
from ticketing.store.sql import SqlBackend

JAKARTA = ZoneInfo("Asia/Jakarta")


class TestOpen:
    """Opening numbers tickets per year and keeps one open ticket per device and fault."""

    async def test_first_ticket_gets_number_one_and_is_stored_as_built(
            self, backend: TicketBackend) -> None:
        d = draft()
        expected = builder(d)("SOP006-2026-000001")
        ticket, created = await backend.open(d, builder(d))
        assert (ticket.id, created) == ("SOP006-2026-000001", True)
        assert ticket == expected[1]
        assert await backend.get(ticket.id) == expected[1]
        assert await backend.events(ticket.id) == tuple(expected[0])

    async def test_numbers_restart_each_year(self, backend: TicketBackend) -> None:
        ids = [
            (await open_one(backend, "a")).id,
            (await open_one(backend, "b")).id,
            (await open_one(backend, "c", opened_at=datetime(2027, 1, 1, tzinfo=UTC))).id,
            (await open_one(backend, "d")).id,
        ]
        assert ids == ["SOP006-2026-000001", "SOP006-2026-000002", "SOP006-2027-000001",
                       "SOP006-2026-000003"]

    async def test_year_is_taken_in_the_configured_zone(self, store: Store) -> None:
        backend = await store.connect(year_tz=JAKARTA)
        # 20:00 UTC on 31 December is 03:00 on 1 January in Jakarta.
        ticket = await open_one(backend, opened_at=datetime(2026, 12, 31, 20, tzinfo=UTC))
        assert ticket.id == "SOP006-2027-000001"

    async def test_same_key_returns_the_open_ticket_and_writes_nothing(
            self, backend: TicketBackend) -> None:
        first = await open_one(backend)
        again = draft(opened_at=T0 + timedelta(minutes=5))
        ticket, created = await backend.open(again, builder(again))
        assert (ticket, created) == (first, False)
        assert [t.id for t in await backend.list()] == [first.id]
        assert len(await backend.events(first.id)) == 2
        assert await backend.find_open(first.dedup_key) == first

    async def test_open_versions_name_each_open_ticket_and_its_seq(
            self, backend: TicketBackend) -> None:
        first = await open_one(backend)
        port = await open_one(backend, fault=Fault.INTERFACE_DOWN, item="ge-0/0/1")
        assert await backend.open_versions() == {first.id: first.seq, port.id: port.seq}
        closed = await backend.append(first.id, *close(first, T0 + timedelta(hours=2)))
        assert closed.status is TicketStatus.CLOSED
        assert await backend.open_versions() == {port.id: port.seq}

    async def test_other_faults_of_one_device_get_their_own_tickets(
            self, backend: TicketBackend) -> None:
        down = await open_one(backend)
        port1 = await open_one(backend, fault=Fault.INTERFACE_DOWN, item="ge-0/0/1")
        port2 = await open_one(backend, fault=Fault.INTERFACE_DOWN, item="ge-0/0/2")
        assert len({down.id, port1.id, port2.id}) == 3

    async def test_manual_requests_never_merge(self, backend: TicketBackend) -> None:
        tickets = [await open_one(backend, trigger=Trigger.MANUAL, fault=Fault.MANUAL)
                   for _ in range(3)]
        assert len({t.id for t in tickets}) == 3
        assert all(t.dedup_key == "" for t in tickets)
        assert await backend.find_open("") is None

    async def test_a_closed_ticket_does_not_block_a_new_one(self, backend: TicketBackend
                                                             ) -> None:
        first = await open_one(backend)
        await backend.append(first.id, *close(first, T0 + timedelta(hours=2)))
        second = await open_one(backend, opened_at=T0 + timedelta(hours=3))
        assert second.id == "SOP006-2026-000002"
        assert await backend.find_open(first.dedup_key) == second

    async def test_fifty_concurrent_opens_make_one_ticket(self, backend: TicketBackend
                                                           ) -> None:
        drafts = [draft(opened_at=T0 + timedelta(seconds=i)) for i in range(50)]
        results = await asyncio.gather(*(backend.open(d, builder(d)) for d in drafts))
        assert sum(created for _, created in results) == 1
        assert {t.id for t, _ in results} == {"SOP006-2026-000001"}
        assert len(await backend.list()) == 1
        assert len(await backend.events("SOP006-2026-000001")) == 2

    async def test_concurrent_opens_of_different_keys_get_distinct_numbers(
            self, backend: TicketBackend) -> None:
        drafts = [draft(f"sw-{i:02d}") for i in range(30)]
        results = await asyncio.gather(*(backend.open(d, builder(d)) for d in drafts))
        assert sorted(t.id for t, _ in results) == [
            f"SOP006-2026-{n:06d}" for n in range(1, 31)]

    async def test_a_failing_build_writes_nothing(self, backend: TicketBackend) -> None:
        def refuse(ticket_id: str) -> tuple[Sequence[TicketEvent], Ticket]:
            raise InvalidTransition(f"{ticket_id}: no")

        with pytest.raises(InvalidTransition):
            await backend.open(draft(), refuse)
        assert await backend.list() == ()
        assert (await open_one(backend)).id == "SOP006-2026-000001"

    async def test_a_build_that_breaks_the_seq_rule_is_rejected(self, backend: TicketBackend
                                                                ) -> None:
        d = draft()

        def gap(ticket_id: str) -> tuple[Sequence[TicketEvent], Ticket]:
            events, ticket = builder(d)(ticket_id)
            return (events[0], replace(events[1], seq=3)), replace(ticket, seq=3)

        with pytest.raises(BackendRejected, match="expected seq 2"):
            await backend.open(d, gap)
        assert await backend.list() == ()

    @pytest.mark.parametrize("evidence", [{"loss": float("nan")}, {"ports": {1, 2}}])
    async def test_evidence_json_cannot_hold_is_rejected(self, backend: TicketBackend,
                                                         evidence: dict[str, Any]) -> None:
        d = draft(evidence=evidence)
        with pytest.raises(BackendRejected, match="JSON"):
            await backend.open(d, builder(d))
        assert await backend.list() == ()


class TestAppend:
    """Appending is atomic and checks the sequence number (optimistic concurrency)."""

    async def test_appending_with_the_next_seq_stores_events_and_ticket(
            self, backend: TicketBackend) -> None:
        ticket = await open_one(backend)
        events, updated = follow(ticket, EventKind.FLAPPING_CHANGED, data={"flapping": True},
                                 flapping=True)
        assert await backend.append(ticket.id, events, updated) == updated
        assert await backend.get(ticket.id) == updated
        assert (await backend.events(ticket.id))[2:] == events

    async def test_several_events_go_in_at_once(self, backend: TicketBackend) -> None:
        ticket = await open_one(backend)
        e1, t1 = follow(ticket)
        e2, t2 = follow(t1, EventKind.STEP_BREACHED, data={})
        await backend.append(ticket.id, e1 + e2, t2)
        assert [e.seq for e in await backend.events(ticket.id)] == [1, 2, 3, 4]
        assert (await backend.get(ticket.id)).seq == 4

    async def test_a_stale_seq_is_rejected_and_writes_nothing(self, backend: TicketBackend
                                                              ) -> None:
        ticket = await open_one(backend)
        events, updated = follow(ticket)
        await backend.append(ticket.id, events, updated)
        stale_events, stale = follow(ticket, data={"text": "from an old copy"})
        with pytest.raises(BackendRejected, match=r"changed since seq 2 \(now at seq 3\)"):
            await backend.append(ticket.id, stale_events, stale)
        assert await backend.get(ticket.id) == updated
        assert len(await backend.events(ticket.id)) == 3

    async def test_a_seq_from_the_future_is_rejected(self, backend: TicketBackend) -> None:
        ticket = await open_one(backend)
        events, later = follow(ticket, seq=5)
        with pytest.raises(BackendRejected, match="changed since seq 4"):
            await backend.append(ticket.id, events, later)
        assert await backend.get(ticket.id) == ticket

    async def test_two_concurrent_appends_of_one_seq_let_one_through(
            self, backend: TicketBackend) -> None:
        ticket = await open_one(backend)
        a = follow(ticket, data={"text": "a"})
        b = follow(ticket, data={"text": "b"})
        results = await asyncio.gather(backend.append(ticket.id, *a),
                                       backend.append(ticket.id, *b), return_exceptions=True)
        assert sum(isinstance(r, Ticket) for r in results) == 1
        assert sum(isinstance(r, BackendRejected) for r in results) == 1
        assert len(await backend.events(ticket.id)) == 3

    async def test_events_that_do_not_match_the_ticket_are_rejected(
            self, backend: TicketBackend) -> None:
        ticket = await open_one(backend)
        events, updated = follow(ticket)
        with pytest.raises(BackendRejected):
            await backend.append(ticket.id, events, replace(updated, seq=7))
        with pytest.raises(BackendRejected):
            await backend.append(ticket.id, (), ticket)
        assert await backend.get(ticket.id) == ticket

    async def test_unknown_tickets_are_not_found(self, backend: TicketBackend) -> None:
        ticket = await open_one(backend)
        ghost = replace(ticket, id="SOP006-2026-999999")
        events, ghost2 = follow(ghost)
        with pytest.raises(TicketNotFound):
            await backend.append(ghost.id, events, ghost2)
        with pytest.raises(TicketNotFound):
            await backend.get(ghost.id)
        with pytest.raises(TicketNotFound):
            await backend.events(ghost.id)

    async def test_reopening_while_another_ticket_is_open_is_rejected(
            self, backend: TicketBackend) -> None:
        old = await open_one(backend)
        closed_events, closed = close(old, T0 + timedelta(hours=1))
        await backend.append(old.id, closed_events, closed)
        await open_one(backend, opened_at=T0 + timedelta(hours=2))
        events, reopened = follow(closed, EventKind.REOPENED, status=TicketStatus.OPEN,
                                  closed_at=None, current_step=2, reopened=1)
        with pytest.raises(BackendRejected, match="another open ticket"):
            await backend.append(old.id, events, reopened)
        assert await backend.get(old.id) == closed


class TestRead:
    """Reads return exactly what was stored, in order."""

    async def test_events_come_back_in_order_and_unchanged(self, backend: TicketBackend
                                                           ) -> None:
        ticket = await open_one(backend)
        given = list(await backend.events(ticket.id))
        for i in range(5):
            events, ticket = follow(ticket, data={"text": f"note {i}", "n": i, "ok": True})
            await backend.append(ticket.id, events, ticket)
            given.extend(events)
        assert list(await backend.events(ticket.id)) == given
        assert [e.seq for e in given] == list(range(1, 8))

    async def test_the_stored_body_equals_the_ticket_given(self, backend: TicketBackend
                                                           ) -> None:
        local = datetime(2026, 11, 24, 8, 0, 0, 654321, tzinfo=JAKARTA)
        d = draft("sw-kantor-camat-ñ", opened_at=local,
                  evidence={"teks": "perangkat mati — 100%", "nested": {"a": [1, 2.5, None]}})
        ticket, _ = await backend.open(d, builder(d))
        events, verified = follow(
            ticket, EventKind.VERIFICATION, at=local + timedelta(hours=1),
            data={"passed": True, "probes": [{"device": d.device, "icmp": True}]},
            last_verification=Verification.from_json({"passed": True, "reason": ""}),
            restored=True,
            restoration_observed_at=local + timedelta(minutes=30))
        await backend.append(ticket.id, events, verified)
        stored = await backend.get(ticket.id)
        assert stored == verified
        assert stored.opened_at.utcoffset() == timedelta(0)
        assert stored.opened_at == local

    async def test_list_filters_by_status_newest_first(self, backend: TicketBackend) -> None:
        a = await open_one(backend, "a", opened_at=T0)
        b = await open_one(backend, "b", opened_at=T0 + timedelta(hours=1))
        c = await open_one(backend, "c", opened_at=T0 + timedelta(hours=2))
        await backend.append(b.id, *close(b, T0 + timedelta(hours=3)))
        assert [t.id for t in await backend.list()] == [c.id, b.id, a.id]
        assert [t.id for t in await backend.list("open")] == [c.id, a.id]
        assert [t.id for t in await backend.list("closed")] == [b.id]
        with pytest.raises(BackendRejected):
            await backend.list("pending")

    async def test_pages_follow_the_list_and_end(self, backend: TicketBackend) -> None:
        made = [await open_one(backend, f"sw-{i}", opened_at=T0 + timedelta(minutes=i // 2))
                for i in range(7)]  # two tickets per opening time: the id breaks the tie
        seen: list[str] = []
        after: str | None = None
        while True:
            page = await backend.page(TicketQuery(limit=3, after=after))
            assert len(page.tickets) <= 3
            seen += [t.id for t in page.tickets]
            if page.next is None:
                break
            after = page.next
        assert seen == [t.id for t in await backend.list()]
        assert sorted(seen) == sorted(t.id for t in made)
        assert (await backend.page(TicketQuery(limit=7))).next is None

    async def test_pages_filter_by_status_and_owner(self, backend: TicketBackend) -> None:
        mine = await open_one(backend, "a", opened_at=T0)
        other = replace(draft("b", opened_at=T0 + timedelta(hours=1)), owner="Dinas Pendidikan")
        theirs, _ = await backend.open(other, builder(other))
        gone = await open_one(backend, "c", opened_at=T0 + timedelta(hours=2))
        await backend.append(gone.id, *close(gone, T0 + timedelta(hours=3)))
        page = await backend.page(TicketQuery(status="open", owner="Dinas Kesehatan"))
        assert [t.id for t in page.tickets] == [mine.id]
        page = await backend.page(TicketQuery(owner="Dinas Pendidikan"))
        assert [t.id for t in page.tickets] == [theirs.id]
        page = await backend.page(TicketQuery(status="closed", owner="Dinas Kesehatan"))
        assert [t.id for t in page.tickets] == [gone.id]

    async def test_closed_tickets_page_by_closing_time(self, backend: TicketBackend) -> None:
        first = await open_one(backend, "a", opened_at=T0)
        second = await open_one(backend, "b", opened_at=T0 + timedelta(hours=1))
        await backend.append(second.id, *close(second, T0 + timedelta(hours=2)))
        await backend.append(first.id, *close(first, T0 + timedelta(hours=3)))
        query = TicketQuery(status="closed", by_closed=True, limit=1)
        page = await backend.page(query)
        assert [t.id for t in page.tickets] == [first.id]
        assert page.next == first.id
        page = await backend.page(replace(query, after=page.next))
        assert [t.id for t in page.tickets] == [second.id]
        assert page.next is None

    async def test_summaries_are_the_pages_list_columns(self, backend: TicketBackend) -> None:
        for i in range(3):
            await open_one(backend, f"sw-{i}", opened_at=T0 + timedelta(minutes=i))
        query = TicketQuery(limit=2)
        page, summaries = await backend.page(query), await backend.summaries(query)
        assert summaries.summaries == tuple(map(TicketSummary.of, page.tickets))
        assert summaries.next == page.next
        assert page.next is not None

    @pytest.mark.parametrize("query", [
        TicketQuery(status="pending"), TicketQuery(limit=0), TicketQuery(limit=1001),
        TicketQuery(after="SOP006-2026-999999"), TicketQuery(by_closed=True)])
    async def test_bad_queries_are_rejected(self, backend: TicketBackend,
                                            query: TicketQuery) -> None:
        await open_one(backend)
        with pytest.raises(BackendRejected):
            await backend.page(query)

    async def test_find_recent_closed_returns_the_latest_closed_ticket(
            self, backend: TicketBackend) -> None:
        key = draft().dedup_key
        assert await backend.find_recent_closed(key) is None
        first = await open_one(backend)
        assert await backend.find_recent_closed(key) is None
        await backend.append(first.id, *close(first, T0 + timedelta(hours=1)))
        second = await open_one(backend, opened_at=T0 + timedelta(hours=2))
        closing, closed_second = close(second, T0 + timedelta(hours=3))
        await backend.append(second.id, closing, closed_second)
        await open_one(backend, opened_at=T0 + timedelta(hours=4))
        await open_one(backend, "other")
        assert await backend.find_recent_closed(key) == closed_second
        assert await backend.find_recent_closed("other/device_down/") is None
        assert await backend.find_recent_closed("") is None


class TestLifecycle:
    """Tickets outlive the connection; a closed backend refuses work."""

    @pytest.mark.parametrize("store", SQL_KINDS, indirect=True)
    async def test_tickets_and_events_survive_reopening(self, store: Store) -> None:
        first = await store.connect()
        ticket = await open_one(first)
        events, updated = follow(ticket)
        await first.append(ticket.id, events, updated)
        trail = await first.events(ticket.id)
        await first.aclose()

        second = await store.connect()
        assert await second.get(ticket.id) == updated
        assert await second.events(ticket.id) == trail
        d = draft()
        assert await second.open(d, builder(d)) == (updated, False)
        assert (await open_one(second, "next")).id == "SOP006-2026-000002"

    async def test_a_closed_backend_is_unavailable(self, backend: TicketBackend) -> None:
        await backend.aclose()
        with pytest.raises(BackendUnavailable):
            await backend.list()
        d = draft()
        with pytest.raises(BackendUnavailable):
            await backend.open(d, builder(d))


def _open_in_child(url: str, devices: list[str], barrier: Barrier, results: Any) -> None:
    """Runs in a spawned process: connect, wait for the sibling, open tickets at once."""

    async def run() -> list[tuple[str, bool]]:
        backend = await SqlBackend.connect(url, clock=FakeClock())
        try:
            await asyncio.to_thread(barrier.wait, 30)
            drafts = [draft(device) for device in devices]
            out = await asyncio.gather(*(backend.open(d, builder(d)) for d in drafts))
        finally:
            await backend.aclose()
        return [(t.id, created) for t, created in out]

    results.put(asyncio.run(run()))


def run_two_processes(url: str, devices: tuple[list[str], list[str]]
                      ) -> list[tuple[str, bool]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=_open_in_child, args=(url, d, barrier, results))
             for d in devices]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()  # only our own child, by its handle
                p.join()
    assert [p.exitcode for p in procs] == [0, 0]
    return [r for chunk in out for r in chunk]


class TestTwoProcesses:
    """Two agents on one database never duplicate a ticket or a number."""

    @pytest.mark.parametrize("kind", SQL_KINDS)
    async def test_same_key_from_two_processes_makes_one_ticket(self, kind: str,
                                                                 tmp_path: Any) -> None:
        url = sql_url(kind, tmp_path)
        out = run_two_processes(url, (["sw-shared"] * 25, ["sw-shared"] * 25))
        assert len(out) == 50
        assert sum(created for _, created in out) == 1
        assert {ticket_id for ticket_id, _ in out} == {"SOP006-2026-000001"}
        backend = await SqlBackend.connect(url, clock=FakeClock())
        try:
            assert len(await backend.list()) == 1
            assert len(await backend.events("SOP006-2026-000001")) == 2
        finally:
            await backend.aclose()

    @pytest.mark.parametrize("kind", SQL_KINDS)
    async def test_different_keys_from_two_processes_get_distinct_numbers(
            self, kind: str, tmp_path: Any) -> None:
        url = sql_url(kind, tmp_path)
        out = run_two_processes(url, ([f"a-{i}" for i in range(10)],
                                      [f"b-{i}" for i in range(10)]))
        assert all(created for _, created in out)
        assert sorted(ticket_id for ticket_id, _ in out) == [
            f"SOP006-2026-{n:06d}" for n in range(1, 21)]
