"""Support for the delivery loop's tests: scripted channels, hook recorders, envelopes, and a
Rig putting a Deliverer over a FakeOutbox on a FakeClock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from agent.core.outbox import Delivery, Envelope, Message
from notify.channel import Outcome, Sent
from notify.delivery import Deliverer, DeliverySettings
from tests.fakes import FakeClock
from tests.notify_outbox_fake import FakeOutbox

Script = Outcome | Exception


class ScriptedChannel:
    """A channel answering its `script` in turn, then `answer(message)` (Sent by default);
    an Exception in the script is raised. Records what it was asked and what it accepted."""

    def __init__(self, name: str = "telegram", script: Sequence[Script] = (),
                 answer: Callable[[Message], Outcome] | None = None) -> None:
        self.name = name
        self.script = list(script)
        self.answer = answer or (lambda m: Sent())
        self.asked: list[str] = []  # message keys
        self.accepted: list[str] = []
        self._changed = asyncio.Event()

    async def send(self, message: Message) -> Outcome:
        self.asked.append(message.key)
        self._changed.set()
        step = self.script.pop(0) if self.script else self.answer(message)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, Sent):
            self.accepted.append(message.key)
        return step

    async def wait_asked(self, count: int) -> None:
        """Wait (in real time, at most 5 s) until `count` sends have been asked for."""
        async with asyncio.timeout(5.0):
            while len(self.asked) < count:
                self._changed.clear()
                await self._changed.wait()

    async def aclose(self) -> None:
        return None


class Hooks:
    """Records the metrics hooks' calls."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failed: list[tuple[str, str]] = []

    def on_sent(self, channel: str, kind: str) -> None:
        self.sent.append((channel, kind))

    def on_failed(self, channel: str, kind: str) -> None:
        self.failed.append((channel, kind))


def envelope(key: str, address: str = "a", *, channel: str = "telegram", at: datetime,
             kind: str = "step_ready", not_before: datetime | None = None,
             recipient: str = "") -> Envelope:
    return Envelope(channel=channel, recipient=recipient or f"user-{address}", kind=kind,
                    ticket_id="T-2026-0001",
                    message=Message(key=key, address=address, subject="s", text=f"text {key}"),
                    created_at=at, not_before=not_before or at)


class Rig:
    """A Deliverer over a FakeOutbox, scripted channels and a FakeClock."""

    def __init__(self, *channels: ScriptedChannel, **settings: float) -> None:
        self.clock = FakeClock()
        self.outbox = FakeOutbox()
        self.hooks = Hooks()
        self.channels = channels or (ScriptedChannel(),)
        self.settings = DeliverySettings(**settings)  # type: ignore[arg-type]
        self.deliverer = Deliverer(self.outbox, {c.name: c for c in self.channels}, self.clock,
                                   self.settings, on_sent=self.hooks.on_sent,
                                   on_failed=self.hooks.on_failed)
        self._created = 0

    @property
    def channel(self) -> ScriptedChannel:
        return self.channels[0]

    def put(self, key: str, address: str = "a", **kw: object) -> int:
        # Distinct created_at per message (a microsecond apart, in put order): queue order is plain.
        self._created += 1
        at = self.clock.now() - timedelta(seconds=1) + timedelta(microseconds=self._created)
        return self.outbox.put(envelope(key, address, at=at, **kw))  # type: ignore[arg-type]

    def status(self, message_id: int) -> Delivery:
        return self.outbox.get(message_id).status

    def wait_of(self, message_id: int) -> float:
        return (self.outbox.get(message_id).next_at - self.clock.now()).total_seconds()
