"""An Outbox for the delivery loop's tests: the in-memory store outbox (tests/outbox_memory.py,
which the contract suite holds to the SQL store's behaviour), plus outage injection, call
counts and a record of marks on messages no longer waiting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agent.core.errors import BackendUnavailable
from agent.core.outbox import Delivery, Envelope, OutboxStats, Queued
from tests.outbox_memory import MemoryOutbox


class FakeOutbox:
    """`put(envelope)` queues as an event's transaction would (a key already queued keeps the
    first; its id is returned). A mark on an unknown id or on a message no longer waiting is
    left as is and listed in `stale_marks`, so a test can show the delivery loop never marks
    a message twice. `fail_next(n)` makes the next `n` calls (of any method but `put` and
    `get`; of `method` only, when named) raise BackendUnavailable, as a database that went
    away would; `calls` counts every call by name."""

    def __init__(self) -> None:
        self._memory = MemoryOutbox()
        self._failing = 0
        self._failing_method: str | None = None
        self.calls: dict[str, int] = {}
        self.stale_marks: list[tuple[str, int]] = []

    def put(self, envelope: Envelope) -> int:
        return self._memory.put(envelope)[0]

    def get(self, message_id: int) -> Queued:
        return self._memory.get(message_id)

    def fail_next(self, calls: int, method: str | None = None) -> None:
        self._failing = calls
        self._failing_method = method

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self._failing > 0 and self._failing_method in (None, name):
            self._failing -= 1
            raise BackendUnavailable(f"outbox {name}: database unavailable (test)")

    def _mark(self, method: str, message_id: int, status: Delivery, next_at: datetime | None,
              done_at: datetime | None, reason: str | None) -> None:
        self._call(method)
        if not self._memory.mark(message_id, status=status, next_at=next_at, done_at=done_at,
                                 reason=reason):
            self.stale_marks.append((method, message_id))

    async def due(self, now: datetime, limit: int) -> Sequence[Queued]:
        self._call("due")
        return self._memory.due(now, limit)

    async def mark_sent(self, message_id: int, at: datetime) -> None:
        self._mark("mark_sent", message_id, Delivery.SENT, None, at, None)

    async def mark_retry(self, message_id: int, next_at: datetime, reason: str) -> None:
        self._mark("mark_retry", message_id, Delivery.WAITING, next_at, None, reason)

    async def mark_failed(self, message_id: int, at: datetime, reason: str) -> None:
        self._mark("mark_failed", message_id, Delivery.FAILED, None, at, reason)

    async def requeue(self, message_id: int, at: datetime) -> bool:
        self._call("requeue")
        return self._memory.requeue(message_id, at)

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        self._call("messages")
        return self._memory.messages(status, limit)

    async def stats(self) -> OutboxStats:
        self._call("stats")
        return self._memory.stats()
