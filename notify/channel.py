"""What every channel offers: `send(message)` answers Sent, Retry (with when) or Failed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Message:
    """One message for one address on one channel.

    `key` is the message's idempotency key (event × recipient × channel): a receiver that can
    deduplicate (a webhook) gets it. `address` is what the channel needs to reach the
    recipient: a Telegram chat id, an e-mail address; unused by a webhook, which has one URL.
    `text` is plain text and always set; `html` is the same message as HTML where the channel
    can show it (Telegram's HTML subset, an e-mail alternative part). `document` is the
    machine-readable form a webhook posts (kind, ticket, step, due time, link...).
    """

    key: str
    address: str
    subject: str
    text: str
    html: str | None = None
    document: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sent:
    """Delivered (the service accepted it)."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Not delivered now; try again after `after_seconds` (a rate limit, a 429's
    retry_after, a network error, a 5xx). `reason` never contains a secret."""

    after_seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """Never deliverable as it is (a blocked bot, an unknown chat, a refused address):
    retrying would not help. `reason` never contains a secret."""

    reason: str


Outcome = Sent | Retry | Failed


class Channel(Protocol):
    """One way of reaching people. `name` labels metrics and the outbox: "telegram",
    "email", "webhook:<name>". `send` never raises for a delivery problem: it answers with an
    Outcome (it may raise only for a bug). `aclose` releases connections."""

    @property
    def name(self) -> str: ...

    async def send(self, message: Message) -> Outcome: ...

    async def aclose(self) -> None: ...
