"""The outbox as a cluster member's delivery loop sees it: no message is due unless this
member is the leader within its deadline, so a member that wakes from a stall past its lease
sends nothing before its leader loop has stopped the delivery."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from agent.core.outbox import Delivery, OutboxStats, Queued
from notify.outbox import Outbox


class LeaderOutbox:
    """An Outbox whose `due` is empty while `valid()` is False; the rest is `outbox`'s."""

    def __init__(self, outbox: Outbox, valid: Callable[[], bool]) -> None:
        self._outbox = outbox
        self._valid = valid

    async def due(self, now: datetime, limit: int) -> Sequence[Queued]:
        if not self._valid():
            return ()
        return await self._outbox.due(now, limit)

    async def mark_sent(self, message_id: int, at: datetime) -> None:
        await self._outbox.mark_sent(message_id, at)

    async def mark_retry(self, message_id: int, next_at: datetime, reason: str) -> None:
        await self._outbox.mark_retry(message_id, next_at, reason)

    async def mark_failed(self, message_id: int, at: datetime, reason: str) -> None:
        await self._outbox.mark_failed(message_id, at, reason)

    async def requeue(self, message_id: int, at: datetime) -> bool:
        return await self._outbox.requeue(message_id, at)

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        return await self._outbox.messages(status, limit)

    async def stats(self) -> OutboxStats:
        return await self._outbox.stats()
