"""An outbox in memory that behaves as the SQL store's (the contract suite runs on both):
keys unique, each (channel, address) served in queue order, outcomes recorded only on
waiting messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from agent.core.outbox import Delivery, Envelope, OutboxStats, Queued


class MemoryOutbox:
    """The outbox half of `tests.fakes.InMemoryBackend` (see notify.outbox.Outbox)."""

    def __init__(self) -> None:
        self._rows: dict[int, Queued] = {}  # id -> message, in id order
        self._keys: dict[str, int] = {}

    def put(self, e: Envelope) -> tuple[int, bool]:
        """Queue one envelope: (its id, True), or (the id queued with that key, False)."""
        known = self._keys.get(e.message.key)
        if known is not None:
            return known, False
        new_id = self._keys[e.message.key] = len(self._rows) + 1
        self._rows[new_id] = Queued(new_id, e, Delivery.WAITING, 0,
                                    max(e.not_before, e.created_at), "", None)
        return new_id, True

    def get(self, message_id: int) -> Queued:
        return self._rows[message_id]

    def enqueue(self, envelopes: Sequence[Envelope]) -> int:
        return sum(self.put(e)[1] for e in envelopes)

    def due(self, now: datetime, limit: int) -> list[Queued]:
        blocked: set[tuple[str, str]] = set()
        out: list[Queued] = []
        for q in self._rows.values():
            if q.status is not Delivery.WAITING:
                continue
            if q.tries == 0 and q.next_at > now:
                continue  # held until its time (working hours): it blocks no one
            queue = (q.envelope.channel, q.envelope.message.address)
            if queue in blocked:
                continue
            blocked.add(queue)
            if q.next_at <= now:
                out.append(q)
        return out[:limit]

    def mark(self, message_id: int, *, status: Delivery, next_at: datetime | None,
             done_at: datetime | None, reason: str | None) -> bool:
        """Record an outcome; False (nothing changed) for a message not waiting."""
        q = self._rows.get(message_id)
        if q is None or q.status is not Delivery.WAITING:
            return False
        self._rows[message_id] = replace(
            q, status=status, tries=q.tries + 1, done_at=done_at,
            next_at=q.next_at if next_at is None else next_at,
            last_error=q.last_error if reason is None else reason)
        return True

    def requeue(self, message_id: int, at: datetime) -> bool:
        q = self._rows.get(message_id)
        if q is None or q.status is Delivery.SENT:
            return False
        if q.status is Delivery.FAILED:
            self._rows[message_id] = replace(q, status=Delivery.WAITING, tries=0, next_at=at,
                                             done_at=None)
        else:
            self._rows[message_id] = replace(q, next_at=min(q.next_at, at))
        return True

    def messages(self, status: Delivery | None, limit: int) -> list[Queued]:
        found = [q for q in reversed(self._rows.values()) if status in (None, q.status)]
        return found[:limit]

    def stats(self) -> OutboxStats:
        waiting = [q for q in self._rows.values() if q.status is Delivery.WAITING]
        return OutboxStats(len(waiting), min((q.envelope.created_at for q in waiting),
                                             default=None),
                           min((q.envelope.not_before for q in waiting), default=None))
