"""What the detector tells ticketing (`Observation` and its kinds) and what observing did
(`Outcome`, `Stale`): the values that `TicketService.observe` and `observe_unless` take and
return, built by the agent's feed and the Alertmanager webhook."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ticketing.models import Fault, Ticket, TicketEvent, fault_key
from ticketing.payloads import Evidence

FAILING, RESTORED, FLAPPING, AFFECTED = "failing", "restored", "flapping", "affected"


@dataclass(frozen=True, slots=True)
class Observation:
    """What the detector saw, in ticketing's terms (built by agent/app.py from a Transition).

    `kind`: "failing" (open or append), "restored" (restoration observed, never closure),
    "flapping" (open if needed and mark), "affected" (`affected` devices are UNREACHABLE
    behind `device`, whose ticket lists them).
    """

    device: str
    owner: str
    fault: Fault
    kind: str
    at: datetime
    item: str = ""
    reason: str = ""
    evidence: Evidence = field(default_factory=Evidence)
    affected: tuple[str, ...] = ()

    @property
    def dedup_key(self) -> str:
        return fault_key(self.device, self.fault, self.item)


#: (the open ticket, its events) -> whether an observation about it is a stale replay
Stale = Callable[[Ticket, Sequence[TicketEvent]], bool]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `TicketService.observe_unless` did: the open ticket of the observation's key
    afterwards (None: there is none) and whether anything was written."""

    ticket: Ticket | None
    changed: bool
