"""The ticket store as the running agent sees it while the store joins in the background:
every call waits on nothing and fails with BackendUnavailable until `join` has a store, then
goes to it. So monitoring and /metrics start without the store; the ticket feed keeps its
observations in the journal and retries; the API and the pages answer 503 meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from agent.core.clock import Clock
from agent.core.errors import BackendError, BackendUnavailable
from agent.core.outbox import Delivery, Envelope, OutboxStats, Queued
from notify.outbox import Outbox
from ticketing.backend import Builder, Notices, SummaryPage, TicketBackend, TicketPage, TicketQuery
from ticketing.models import Ticket, TicketDraft, TicketEvent

log = logging.getLogger(__name__)

JOIN_MIN_SECONDS = 1.0
JOIN_MAX_SECONDS = 30.0


class TicketStore(TicketBackend, Outbox, Protocol):
    """The store the agent opens: tickets, and the outbox their events' messages wait in."""


class StoreGate:
    """A TicketStore that is the real one once joined (`store`), BackendUnavailable before.

    `state` is "joining" or "ready"; `reason` the class of the last failure to join (e.g.
    "BackendUnavailable"), never its message: that may name hosts, users or paths."""

    def __init__(self) -> None:
        self.store: TicketStore | None = None
        self.reason = ""
        self._failed = ""  # the last failure's text, for the log only

    @property
    def state(self) -> str:
        return "joining" if self.store is None else "ready"

    def ready(self) -> bool:
        return self.store is not None

    async def attempt(self, connect: Callable[[], Awaitable[TicketStore]],
                      then: Callable[[], Awaitable[None]],
                      timeout_seconds: float | None = None) -> bool:
        """One try to connect, cut after `timeout_seconds` (None: no limit); True once joined.
        On success `then` runs (e.g. the ticket service's first refresh)."""
        if self.store is not None:
            return True
        try:
            async with asyncio.timeout(timeout_seconds):
                store = await connect()
        except (BackendError, OSError, TimeoutError) as exc:
            self.reason = type(exc).__name__
            self._failed = str(exc) or self.reason
            return False
        self.store, self.reason = store, ""
        log.info("ticket store joined")
        try:
            await then()
        except BackendError as exc:  # gone again already: the periodic jobs catch up later
            log.warning("ticket store refresh failed after joining", extra={"error": str(exc)})
        return True

    async def join(self, connect: Callable[[], Awaitable[TicketStore]], clock: Clock,
                   then: Callable[[], Awaitable[None]]) -> None:
        """Connect with backoff (1 s doubling to 30 s) until it works, then run `then`
        and return."""
        delay = JOIN_MIN_SECONDS
        while not await self.attempt(connect, then):
            log.warning("ticket store not available; monitoring goes on", extra={
                "error": self._failed, "retry_in": delay})
            await clock.sleep(delay)
            delay = min(JOIN_MAX_SECONDS, delay * 2)

    def _s(self) -> TicketStore:
        if self.store is None:
            raise BackendUnavailable("ticket store not joined yet")
        return self.store

    async def open(self, draft: TicketDraft, build: Builder, notices: Notices | None = None
                   ) -> tuple[Ticket, bool]:
        return await self._s().open(draft, build, notices)

    async def find_open(self, dedup_key: str) -> Ticket | None:
        return await self._s().find_open(dedup_key)

    async def find_recent_closed(self, dedup_key: str) -> Ticket | None:
        return await self._s().find_recent_closed(dedup_key)

    async def append(self, ticket_id: str, events: Sequence[TicketEvent], ticket: Ticket,
                     notices: Sequence[Envelope] = ()) -> Ticket:
        return await self._s().append(ticket_id, events, ticket, notices)

    async def enqueue(self, envelopes: Sequence[Envelope]) -> int:
        return await self._s().enqueue(envelopes)

    async def get(self, ticket_id: str) -> Ticket:
        return await self._s().get(ticket_id)

    async def events(self, ticket_id: str) -> Sequence[TicketEvent]:
        return await self._s().events(ticket_id)

    async def list(self, status: str | None = None) -> Sequence[Ticket]:
        return await self._s().list(status)

    async def open_versions(self) -> Mapping[str, int]:
        return await self._s().open_versions()

    async def page(self, query: TicketQuery) -> TicketPage:
        return await self._s().page(query)

    async def summaries(self, query: TicketQuery) -> SummaryPage:
        return await self._s().summaries(query)

    async def due(self, now: datetime, limit: int) -> Sequence[Queued]:
        return await self._s().due(now, limit)

    async def mark_sent(self, message_id: int, at: datetime) -> None:
        await self._s().mark_sent(message_id, at)

    async def mark_retry(self, message_id: int, next_at: datetime, reason: str) -> None:
        await self._s().mark_retry(message_id, next_at, reason)

    async def mark_failed(self, message_id: int, at: datetime, reason: str) -> None:
        await self._s().mark_failed(message_id, at, reason)

    async def requeue(self, message_id: int, at: datetime) -> bool:
        return await self._s().requeue(message_id, at)

    async def messages(self, status: Delivery | None, limit: int) -> Sequence[Queued]:
        return await self._s().messages(status, limit)

    async def stats(self) -> OutboxStats:
        return await self._s().stats()

    async def aclose(self) -> None:
        """Close the joined store (nothing to close before)."""
        if self.store is not None:
            await self.store.aclose()
