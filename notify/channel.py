"""What every channel offers: `send(message)` answers Sent, Retry (with when) or Failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agent.core.outbox import Message

__all__ = ["Channel", "Failed", "Message", "Outcome", "Retry", "Sent"]


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

# A service asking for more than an hour (a Retry-After, a 429's retry_after) is more likely
# broken than busy: its wait is capped here, and the outbox's own backoff takes over.
MAX_RETRY_AFTER_SECONDS = 3600.0


def asked_wait(seconds: float) -> float:
    """A wait a service asked for, within 0..MAX_RETRY_AFTER_SECONDS (infinity: the cap)."""
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class Channel(Protocol):
    """One way of reaching people. `name` labels metrics and the outbox: "telegram",
    "email", "webhook:<name>". `send` never raises for a delivery problem: it answers with an
    Outcome (it may raise only for a bug). `aclose` releases connections."""

    @property
    def name(self) -> str: ...

    async def send(self, message: Message) -> Outcome: ...

    async def aclose(self) -> None: ...
