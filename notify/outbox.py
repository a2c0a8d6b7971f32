"""The outbox as the delivery loop needs it: the Outbox protocol, which the ticket store
implements (its rows are written in the same transaction as the ticket event)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from agent.core.outbox import Delivery, OutboxStats, Queued


class Outbox(Protocol):
    """Queued messages. `due` keeps each (channel, address) in order: it offers only the
    oldest waiting message of each, and only once its `next_at` has come. A message held
    until its `not_before` (never tried yet) is not in its queue until then: it does not hold
    back an urgent one queued after it."""

    async def due(self, now: datetime, limit: int) -> Sequence[Queued]:
        """Up to `limit` messages to try now, oldest first, at most one per (channel,
        address)."""
        ...

    async def mark_sent(self, message_id: int, at: datetime) -> None: ...

    async def mark_retry(self, message_id: int, next_at: datetime, reason: str) -> None:
        """One more try counted; tried again at `next_at`."""
        ...

    async def mark_failed(self, message_id: int, at: datetime, reason: str) -> None: ...

    async def requeue(self, message_id: int, at: datetime) -> bool:
        """The admin's retry: a failed message waits again from `at` with its tries reset; a
        waiting one is due at `at` if it was due later (its tries kept). False when there is
        no such message, or it was sent."""
        ...

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        """The newest `limit` messages with that status (any, for None), newest first."""
        ...

    async def stats(self) -> OutboxStats: ...
