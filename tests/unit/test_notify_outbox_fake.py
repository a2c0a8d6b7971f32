"""The delivery loop's Outbox fake (tests/notify_outbox_fake.py) against the Outbox protocol's
documented behaviour, and its own additions (put, stale marks); the store's behaviour itself is
the contract suite's (tests/integration/test_outbox_contract.py)."""

from __future__ import annotations

from datetime import timedelta

from agent.core.outbox import Delivery
from tests.fakes import FakeClock
from tests.notify_delivery_support import envelope
from tests.notify_outbox_fake import FakeOutbox


class TestFakeOutbox:
    """The in-memory Outbox keeps the protocol's documented behaviour."""

    async def test_due_offers_the_oldest_waiting_of_each_key_oldest_first(self) -> None:
        clock = FakeClock()
        t = clock.now()
        box = FakeOutbox()
        b1 = box.put(envelope("b1", "b", at=t - timedelta(seconds=9)))
        a1 = box.put(envelope("a1", "a", at=t - timedelta(seconds=5)))
        box.put(envelope("a2", "a", at=t - timedelta(seconds=7)))  # queued after a1: behind it
        m1 = box.put(envelope("m1", "a", channel="email", at=t - timedelta(seconds=7)))
        assert [q.id for q in await box.due(t, 10)] == [b1, a1, m1]
        assert [q.id for q in await box.due(t, 2)] == [b1, a1]

    async def test_a_held_message_waits_without_holding_its_key(self) -> None:
        """Held until its time it is not in its queue yet; once tried, it holds the queue."""
        clock = FakeClock()
        t = clock.now()
        box = FakeOutbox()
        later = t + timedelta(hours=8)
        held = box.put(envelope("a1", "a", at=t, not_before=later))
        urgent = box.put(envelope("a2", "a", at=t + timedelta(seconds=1), not_before=t))
        assert [q.id for q in await box.due(t + timedelta(seconds=1), 10)] == [urgent]
        await box.mark_sent(urgent, at=t + timedelta(seconds=1))
        assert [q.id for q in await box.due(later, 10)] == [held]
        behind = box.put(envelope("a3", "a", at=later, not_before=later))
        await box.mark_retry(held, next_at=later + timedelta(seconds=10), reason="busy")
        assert await box.due(later + timedelta(seconds=9), 10) == []  # a3 waits behind it
        assert box.get(held).tries == 1
        assert [q.id for q in await box.due(later + timedelta(seconds=10), 10)] == [held]
        assert box.get(behind).tries == 0
        early = box.put(envelope("x1", "x", at=t, not_before=t - timedelta(hours=1)))
        assert box.get(early).next_at == t  # never before it was queued

    async def test_a_key_queued_twice_keeps_the_first(self) -> None:
        t = FakeClock().now()
        box = FakeOutbox()
        first = box.put(envelope("k", "a", at=t))
        assert box.put(envelope("k", "other", at=t)) == first
        assert [q.envelope.message.address for q in await box.messages(None, 10)] == ["a"]

    async def test_requeue_a_failed_or_waiting_message_never_a_sent_one(self) -> None:
        t = FakeClock().now()
        box = FakeOutbox()
        failed, sent = box.put(envelope("f", "a", at=t)), box.put(envelope("s", "b", at=t))
        waiting = box.put(envelope("w", "c", at=t))
        await box.mark_failed(failed, at=t, reason="blocked")
        await box.mark_sent(sent, at=t)
        later = t + timedelta(minutes=5)
        assert [await box.requeue(i, later) for i in (failed, sent, waiting, 99)] == [
            True, False, True, False]
        again = box.get(failed)
        assert (again.status, again.tries, again.next_at, again.done_at) == (
            Delivery.WAITING, 0, later, None)
        assert box.get(waiting).next_at == t  # a waiting message is never pushed later
        assert [q.id for q in await box.due(t, 10)] == [waiting]

    async def test_messages_newest_first_and_stats(self) -> None:
        t = FakeClock().now()
        box = FakeOutbox()
        ids = [box.put(envelope(f"k{n}", str(n), at=t + timedelta(seconds=n)))
               for n in range(4)]
        await box.mark_sent(ids[0], at=t)
        await box.mark_failed(ids[3], at=t, reason="x")
        assert [q.id for q in await box.messages(None, 3)] == [ids[3], ids[2], ids[1]]
        assert [q.id for q in await box.messages(Delivery.WAITING, 10)] == [ids[2], ids[1]]
        stats = await box.stats()
        assert (stats.waiting, stats.oldest_waiting_at) == (2, t + timedelta(seconds=1))
        await box.mark_sent(ids[1], at=t)
        await box.mark_sent(ids[2], at=t)
        assert (await box.stats()).oldest_waiting_at is None
        await box.mark_failed(ids[2], at=t, reason="late")  # no longer waiting: left as is
        await box.mark_retry(99, next_at=t, reason="unknown")
        assert box.get(ids[2]).status is Delivery.SENT
        assert box.stale_marks == [("mark_failed", ids[2]), ("mark_retry", 99)]
