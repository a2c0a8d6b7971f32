"""A NotificationDesk for the API and page tests (the app's real one is built in agent/app.py):
the messages and stats of an InMemoryBackend's outbox, channels per user from a mapping, and
test messages that succeed unless their channel is listed as failing. `seed_outbox` queues a
waiting, a failed and a sent message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from agent.core.outbox import Delivery, Envelope, Message, OutboxStats, Queued, TrialOutcome
from tests.fakes import FakeClock, InMemoryBackend

#: user -> the (channel, address) pairs the fake desk reaches them on
CHANNELS: Mapping[str, Sequence[tuple[str, str]]] = {
    "kadis": (("telegram", "123456789"), ("email", "kadis@kotabogor.example")),
    "kasi": (("email", "kasi@kotabogor.example"),),
    "admin": (("telegram", "555000111"),),
}


class FakeDesk:
    """What the pages and the API see of notifications, over `backend`'s outbox. `failing`
    maps a channel to the reason its test message is refused; `retried` and `tested` record
    the calls."""

    def __init__(self, backend: InMemoryBackend, clock: FakeClock,
                 channels: Mapping[str, Sequence[tuple[str, str]]] = CHANNELS) -> None:
        self.backend = backend
        self.clock = clock
        self._channels = channels
        self.failing: dict[str, str] = {}
        self.retried: list[int] = []
        self.tested: list[str] = []

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        return await self.backend.messages(status, limit)

    async def stats(self) -> OutboxStats:
        return await self.backend.stats()

    async def retry(self, message_id: int) -> bool:
        self.retried.append(message_id)
        every = await self.backend.messages(None, 1_000_000)
        found = next((q for q in every if q.id == message_id), None)
        if found is None or found.status is Delivery.SENT:
            return False
        if found.status is Delivery.WAITING:
            return True
        return await self.backend.requeue(message_id, self.clock.now())

    def channels(self, user: str) -> Sequence[tuple[str, str]]:
        return tuple(self._channels.get(user, ()))

    async def send_test(self, user: str) -> Sequence[TrialOutcome]:
        self.tested.append(user)
        return [TrialOutcome(channel, address, channel not in self.failing,
                             self.failing.get(channel, ""))
                for channel, address in self.channels(user)]


def envelope(n: int, clock: FakeClock, *, channel: str = "telegram", recipient: str = "kadis",
             address: str = "123456789", kind: str = "ticket_opened",
             ticket: str = "SOP006-2026-000001") -> Envelope:
    now = clock.now()
    return Envelope(channel=channel, recipient=recipient, kind=kind, ticket_id=ticket,
                    message=Message(key=f"k{n}", address=address,
                                    subject=f"[{ticket}] Tiket baru <{n}>", text="isi"),
                    created_at=now - timedelta(minutes=10 - n), not_before=now)


async def seed_outbox(backend: InMemoryBackend, clock: FakeClock) -> list[int]:
    """Queue three messages: 1 failed (403 blocked), 2 sent, 3 waiting after one retry; their
    ids in that order."""
    await backend.enqueue([
        envelope(1, clock),
        envelope(2, clock, channel="email", recipient="kasi", address="kasi@kotabogor.example",
                 kind="step_ready"),
        envelope(3, clock, channel="webhook:wa-gateway", recipient="wa-gateway", address="",
                 kind="sla_breached")])
    now = clock.now()
    await backend.mark_failed(1, now, "telegram 403: bot was blocked by the user")
    await backend.mark_sent(2, now)
    await backend.mark_retry(3, now + timedelta(minutes=5), "webhook 502")
    return [1, 2, 3]
