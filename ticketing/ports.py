"""What the ticket service is handed by the agent: its settings (`TicketSettingsView`) and
the parts it calls out to, as Protocols the agent implements: the live `Verifier`, the
metrics' `TicketObserver` (`NullObserver` when none), and the `NoticeSource` that says who
is told what."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from agent.core.outbox import Envelope
from ticketing.models import Ticket, TicketEvent
from ticketing.payloads import Verification


class Verifier(Protocol):
    """Probes a ticket's devices live (ICMP, SNMP, monitored interfaces) over a hold period,
    and says whether every probe was healthy, with each probe."""

    async def verify(self, ticket: Ticket) -> Verification: ...


@dataclass(frozen=True, slots=True)
class TicketSettingsView:
    reopen_window_seconds: float = 3600.0
    verification_max_age_seconds: float = 600.0


class TicketObserver(Protocol):
    """Hooks for the ticket metrics (agent/metrics.py implements them)."""

    def opened(self, ticket: Ticket) -> None: ...
    def step_completed(self, step: int, seconds: float) -> None: ...
    def breached(self, step: int) -> None: ...
    def restoration_verified(self, seconds: float) -> None: ...


class NullObserver:
    def opened(self, ticket: Ticket) -> None:
        pass

    def step_completed(self, step: int, seconds: float) -> None:
        pass

    def breached(self, step: int) -> None:
        pass

    def restoration_verified(self, seconds: float) -> None:
        pass


class NoticeSource(Protocol):
    """Who is told what (ticketing.notices.NoticeRules): the messages a new ticket, a batch
    of events and an SLA timer cause, queued by the backend with the write."""

    def for_new(self, ticket: Ticket, events: Sequence[TicketEvent]) -> Sequence[Envelope]: ...

    def for_events(self, before: Ticket | None, events: Sequence[TicketEvent], after: Ticket
                   ) -> Sequence[Envelope]: ...

    def warnings(self, ticket: Ticket, now: datetime) -> Sequence[Envelope]: ...
