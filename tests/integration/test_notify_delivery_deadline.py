"""The delivery loop's send deadline on real loop time (asyncio.timeout does not follow a
FakeClock): a channel that never answers is cut off and counted as a Retry."""

from __future__ import annotations

import asyncio

from agent.core.outbox import Delivery, Message
from notify.channel import Outcome, Sent
from notify.delivery import Deliverer, DeliverySettings
from tests.fakes import FakeClock
from tests.notify_delivery_support import envelope
from tests.notify_outbox_fake import FakeOutbox


class HungChannel:
    """Never answers the first send (until cancelled); answers Sent afterwards."""

    name = "telegram"

    def __init__(self) -> None:
        self.cancelled = 0
        self.calls = 0

    async def send(self, message: Message) -> Outcome:
        self.calls += 1
        if self.calls == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return Sent()

    async def aclose(self) -> None:
        return None


class TestSendDeadline:
    """A send that outlives send_timeout_seconds is cancelled and retried later."""

    async def test_a_hung_channel_is_a_retry(self) -> None:
        clock = FakeClock()
        box = FakeOutbox()
        mid = box.put(envelope("a1", "a", at=clock.now()))
        other = box.put(envelope("b1", "b", at=clock.now()))
        channel = HungChannel()
        deliverer = Deliverer(box, {"telegram": channel}, clock,
                              DeliverySettings(send_timeout_seconds=0.05))
        async with asyncio.timeout(5.0):
            assert await deliverer.deliver_once() == 2
        queued = box.get(mid)
        assert (queued.status, queued.tries, queued.last_error) == (
            Delivery.WAITING, 1, "no answer within 0.05s")
        assert channel.cancelled == 1
        assert box.get(other).status is Delivery.SENT  # the hung send held no one else
        clock.advance(10)
        await deliverer.deliver_once()
        assert box.get(mid).status is Delivery.SENT
