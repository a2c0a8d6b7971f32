"""The outbox half of the ticket store's contract, on every backend (memory, SQLite,
PostgreSQL): messages queued with their ticket event or not at all, keys unique, each
(channel, address) served in order, outcomes kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

import pytest

from agent.core.errors import BackendRejected
from agent.core.outbox import Delivery, Envelope, Message, OutboxStats
from notify.outbox import Outbox
from tests.backend_fixtures import Store, open_one
from tests.store_samples import T0, builder, draft, follow
from ticketing.backend import TicketBackend
from ticketing.models import Ticket
from ticketing.store.sql import SqlBackend

_: type[Outbox] = SqlBackend  # the SQL store is the delivery loop's outbox (mypy checks it)


def envelope(key: str, address: str = "123", *, channel: str = "telegram",
             ticket_id: str = "SOP006-2026-000001", at: datetime = T0,
             not_before: datetime | None = None) -> Envelope:
    return Envelope(
        channel=channel, recipient="kadis", kind="ticket_opened", ticket_id=ticket_id,
        message=Message(key=key, address=address, subject=f"Tiket {key}",
                        text=f"Perangkat mati: {key}", html=f"<b>{key}</b>",
                        document={"kind": "ticket_opened", "step": 1}),
        created_at=at, not_before=at if not_before is None else not_before)


def outbox(b: TicketBackend) -> Outbox:
    return cast(Outbox, b)


class TestQueuedWithTheEvent:
    """A message is written with the ticket event that causes it, or not at all."""

    async def test_open_queues_its_notices(self, backend: TicketBackend) -> None:
        d = draft()

        def notices(ticket: Ticket, events: object) -> list[Envelope]:
            return [envelope(f"{ticket.id}/opened/kadis/telegram", ticket_id=ticket.id)]

        ticket, created = await backend.open(d, builder(d), notices)
        assert created
        due = await outbox(backend).due(T0, 10)
        assert [q.envelope for q in due] == [envelope(f"{ticket.id}/opened/kadis/telegram",
                                                      ticket_id=ticket.id)]
        assert (due[0].status, due[0].tries, due[0].last_error) == (Delivery.WAITING, 0, "")

    async def test_an_open_that_finds_the_ticket_queues_nothing(
            self, backend: TicketBackend) -> None:
        await open_one(backend)
        again = draft(opened_at=T0 + timedelta(minutes=1))
        _, created = await backend.open(again, builder(again),
                                        lambda t, e: [envelope("second")])
        assert not created
        assert await outbox(backend).due(T0 + timedelta(hours=1), 10) == []

    async def test_append_queues_its_notices(self, backend: TicketBackend) -> None:
        ticket = await open_one(backend)
        events, after = follow(ticket)
        await backend.append(ticket.id, events, after, [envelope("a"), envelope("b", "456")])
        assert [q.envelope.message.key for q in await outbox(backend).due(T0, 10)] == ["a", "b"]

    async def test_a_refused_append_queues_nothing(self, backend: TicketBackend) -> None:
        ticket = await open_one(backend)
        events, after = follow(ticket)
        await backend.append(ticket.id, events, after)
        with pytest.raises(BackendRejected):  # the same seq again: optimistic check fails
            await backend.append(ticket.id, events, after, [envelope("lost")])
        assert await outbox(backend).due(T0, 10) == []

    async def test_a_key_is_queued_once(self, backend: TicketBackend) -> None:
        assert await backend.enqueue([envelope("k"), envelope("k")]) == 1
        assert await backend.enqueue([envelope("k"), envelope("other", "9")]) == 1
        assert len(await outbox(backend).messages(None, 10)) == 2


class TestDelivery:
    """`due` keeps each (channel, address) in order; outcomes are recorded."""

    async def test_one_message_per_queue_and_oldest_first(self, backend: TicketBackend) -> None:
        await backend.enqueue([envelope("1", "A"), envelope("2", "A"), envelope("3", "B"),
                               envelope("4", "A", channel="email")])
        due = await outbox(backend).due(T0, 10)
        assert [q.envelope.message.key for q in due] == ["1", "3", "4"]
        assert [q.envelope.message.key for q in await outbox(backend).due(T0, 2)] == ["1", "3"]

    async def test_a_retried_message_holds_back_its_queue(self, backend: TicketBackend) -> None:
        ob = outbox(backend)
        await backend.enqueue([envelope("1", "A"), envelope("2", "A"), envelope("3", "B")])
        first = (await ob.due(T0, 10))[0]
        later = T0 + timedelta(minutes=5)
        await ob.mark_retry(first.id, later, "429: retry after 300 s")
        assert [q.envelope.message.key for q in await ob.due(T0, 10)] == ["3"]
        again = await ob.due(later, 10)
        assert [(q.envelope.message.key, q.tries, q.last_error) for q in again] == [
            ("1", 1, "429: retry after 300 s"), ("3", 0, "")]
        await ob.mark_sent(first.id, later)
        assert [q.envelope.message.key for q in await ob.due(later, 10)] == ["2", "3"]

    async def test_not_before_holds_a_message(self, backend: TicketBackend) -> None:
        morning = T0 + timedelta(hours=8)
        await backend.enqueue([envelope("night", not_before=morning)])
        ob = outbox(backend)
        assert await ob.due(T0, 10) == []
        [q] = await ob.due(morning, 10)
        assert q.envelope == envelope("night", not_before=morning)

    async def test_a_held_message_does_not_hold_back_an_urgent_one(
            self, backend: TicketBackend) -> None:
        morning = T0 + timedelta(hours=8)
        await backend.enqueue([envelope("routine", "A", not_before=morning),
                               envelope("breach", "A"), envelope("later", "A")])
        ob = outbox(backend)
        [urgent] = await ob.due(T0, 10)
        assert urgent.envelope.message.key == "breach"
        await ob.mark_sent(urgent.id, T0)
        assert [q.envelope.message.key for q in await ob.due(T0, 10)] == ["later"]
        # in the morning the held one is first in its queue again
        assert [q.envelope.message.key for q in await ob.due(morning, 10)] == ["routine"]

    async def test_stats_tell_when_the_longest_sendable_message_became_sendable(
            self, backend: TicketBackend) -> None:
        morning = T0 + timedelta(hours=8)
        ob = outbox(backend)
        await backend.enqueue([envelope("routine", "A", not_before=morning),
                               envelope("breach", "B", at=T0 + timedelta(minutes=1))])
        stats = await ob.stats()
        assert (stats.waiting, stats.oldest_waiting_at, stats.oldest_due_at) == (
            2, T0, T0 + timedelta(minutes=1))
        [urgent] = await ob.due(T0 + timedelta(minutes=1), 10)
        await ob.mark_sent(urgent.id, T0 + timedelta(minutes=1))
        # only a held message waits: it becomes sendable in the morning
        stats = await ob.stats()
        assert (stats.waiting, stats.oldest_waiting_at, stats.oldest_due_at) == (1, T0, morning)
        [held] = await ob.due(morning, 10)
        await ob.mark_sent(held.id, morning)
        assert await ob.stats() == OutboxStats(0, None, None)

    async def test_sent_and_failed_are_kept_and_counted(self, backend: TicketBackend) -> None:
        ob = outbox(backend)
        await backend.enqueue([envelope("s", "A"), envelope("f", "B"),
                               envelope("w", "C", at=T0 + timedelta(seconds=30))])
        s, f, _w = await ob.due(T0 + timedelta(minutes=1), 10)
        await ob.mark_sent(s.id, T0 + timedelta(minutes=1))
        await ob.mark_failed(f.id, T0 + timedelta(minutes=2), "403: bot was blocked")
        stats = await ob.stats()
        assert (stats.waiting, stats.oldest_waiting_at) == (1, T0 + timedelta(seconds=30))
        [sent] = await ob.messages(Delivery.SENT, 10)
        assert (sent.envelope.message.key, sent.tries, sent.done_at) == (
            "s", 1, T0 + timedelta(minutes=1))
        [failed] = await ob.messages(Delivery.FAILED, 10)
        assert (failed.last_error, failed.done_at) == ("403: bot was blocked",
                                                       T0 + timedelta(minutes=2))
        assert [q.envelope.message.key for q in await ob.messages(None, 10)] == ["w", "f", "s"]
        # an outcome for a message no longer waiting changes nothing
        await ob.mark_retry(sent.id, T0, "late answer")
        assert (await ob.messages(Delivery.SENT, 10))[0] == sent

    async def test_an_admin_retry_requeues_a_failed_message(
            self, backend: TicketBackend) -> None:
        ob = outbox(backend)
        await backend.enqueue([envelope("x")])
        [q] = await ob.due(T0, 10)
        await ob.mark_failed(q.id, T0, "gave up after 50 tries")
        later = T0 + timedelta(hours=2)
        assert await ob.requeue(q.id, later)
        [again] = await ob.due(later, 10)
        assert (again.id, again.status, again.tries, again.done_at) == (
            q.id, Delivery.WAITING, 0, None)

    async def test_an_admin_retry_brings_a_waiting_message_forward(
            self, backend: TicketBackend) -> None:
        ob = outbox(backend)
        await backend.enqueue([envelope("x")])
        [q] = await ob.due(T0, 10)
        await ob.mark_retry(q.id, T0 + timedelta(hours=1), "429 Too Many Requests")
        assert await ob.due(T0, 10) == []
        assert await ob.requeue(q.id, T0)
        [again] = await ob.due(T0, 10)
        assert (again.id, again.status, again.tries, again.next_at) == (
            q.id, Delivery.WAITING, 1, T0)
        assert await ob.requeue(q.id, T0 + timedelta(hours=2))  # never pushed later
        assert (await ob.due(T0, 10))[0].next_at == T0
        await ob.mark_sent(q.id, T0)
        assert not await ob.requeue(q.id, T0)  # a sent message is not sent again
        assert not await ob.requeue(q.id + 1000, T0)

    async def test_survives_a_reconnect(self, store: Store) -> None:
        first = await store.connect()
        await first.enqueue([envelope("kept")])
        if store.kind != "memory":
            await first.aclose()
        second = await store.connect()
        [q] = await outbox(second).due(T0, 10)
        assert q.envelope == envelope("kept")
