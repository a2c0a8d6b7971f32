"""An Outbox in memory for tests, following notify.outbox.Outbox's documented behaviour: one
message per (channel, address) offered at a time, the oldest waiting, once its next_at has
come."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from agent.core.errors import BackendUnavailable
from agent.core.outbox import Delivery, Envelope, OutboxStats, Queued


class FakeOutbox:
    """Queued messages in a dict, in queue order.

    As the ticket store (ticketing/store/outbox.py) does: `put(envelope)` queues in the
    event's transaction, a key already queued keeps the first (its id is returned), and the
    message waits until `max(not_before, created_at)`. "Oldest" is queue (id) order. Each
    mark counts one try. A mark on an unknown id or on a message no longer waiting is left
    as is (an admin's retry got there first) and listed in `stale_marks`, so a test can show
    the delivery loop never marks a message twice.

    `fail_next(n)` makes the next `n` calls (of any method but `put` and `get`; of `method`
    only, when named) raise BackendUnavailable, as a database that went away would; `calls`
    counts every call by name.
    """

    def __init__(self) -> None:
        self._rows: dict[int, Queued] = {}
        self._keys: dict[str, int] = {}
        self._failing = 0
        self._failing_method: str | None = None
        self.calls: dict[str, int] = {}
        self.stale_marks: list[tuple[str, int]] = []

    def put(self, envelope: Envelope) -> int:
        known = self._keys.get(envelope.message.key)
        if known is not None:
            return known
        message_id = len(self._rows) + 1
        self._rows[message_id] = Queued(
            id=message_id, envelope=envelope, status=Delivery.WAITING, tries=0,
            next_at=max(envelope.not_before, envelope.created_at), last_error="", done_at=None)
        self._keys[envelope.message.key] = message_id
        return message_id

    def get(self, message_id: int) -> Queued:
        return self._rows[message_id]

    def fail_next(self, calls: int, method: str | None = None) -> None:
        self._failing = calls
        self._failing_method = method

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self._failing > 0 and self._failing_method in (None, name):
            self._failing -= 1
            raise BackendUnavailable(f"outbox {name}: database unavailable (test)")

    def _in_order(self, rows: Sequence[Queued] | None = None) -> list[Queued]:
        chosen = self._rows.values() if rows is None else rows
        return sorted(chosen, key=lambda q: q.id)

    def _waiting(self, method: str, message_id: int) -> Queued | None:
        queued = self._rows.get(message_id)
        if queued is None or queued.status is not Delivery.WAITING:
            self.stale_marks.append((method, message_id))
            return None
        return queued

    async def due(self, now: datetime, limit: int) -> Sequence[Queued]:
        self._call("due")
        heads: dict[tuple[str, str], Queued] = {}
        for queued in self._in_order():
            if queued.status is Delivery.WAITING:
                heads.setdefault((queued.envelope.channel, queued.envelope.message.address),
                                 queued)
        ready = [q for q in heads.values() if q.next_at <= now]
        return self._in_order(ready)[:limit]

    async def mark_sent(self, message_id: int, at: datetime) -> None:
        self._call("mark_sent")
        queued = self._waiting("mark_sent", message_id)
        if queued is None:
            return
        self._rows[message_id] = replace(queued, status=Delivery.SENT, tries=queued.tries + 1,
                                         done_at=at)

    async def mark_retry(self, message_id: int, next_at: datetime, reason: str) -> None:
        self._call("mark_retry")
        queued = self._waiting("mark_retry", message_id)
        if queued is None:
            return
        self._rows[message_id] = replace(queued, tries=queued.tries + 1, next_at=next_at,
                                         last_error=reason)

    async def mark_failed(self, message_id: int, at: datetime, reason: str) -> None:
        self._call("mark_failed")
        queued = self._waiting("mark_failed", message_id)
        if queued is None:
            return
        self._rows[message_id] = replace(queued, status=Delivery.FAILED,
                                         tries=queued.tries + 1, last_error=reason, done_at=at)

    async def requeue(self, message_id: int, at: datetime) -> bool:
        self._call("requeue")
        queued = self._rows.get(message_id)
        if queued is None or queued.status is not Delivery.FAILED:
            return False
        self._rows[message_id] = replace(queued, status=Delivery.WAITING, tries=0, next_at=at,
                                         done_at=None)
        return True

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        self._call("messages")
        rows = [q for q in self._rows.values() if status is None or q.status is status]
        return list(reversed(self._in_order(rows)))[:limit]

    async def stats(self) -> OutboxStats:
        self._call("stats")
        waiting = [q for q in self._rows.values() if q.status is Delivery.WAITING]
        return OutboxStats(
            waiting=len(waiting),
            oldest_waiting_at=min((q.envelope.created_at for q in waiting), default=None))
