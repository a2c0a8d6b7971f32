"""What the detector tells ticketing (`Observation` and its kinds) and what observing did
(`Outcome`, `Stale`): the values that `TicketService.observe` and `observe_unless` take and
return, built by the agent's feed and the Alertmanager webhook."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.core.reasons import Reason
from ticketing.models import Fault, Ticket, TicketEvent, fault_key
from ticketing.payloads import REASON_CODE, Evidence

FAILING, RESTORED, FLAPPING, AFFECTED = "failing", "restored", "flapping", "affected"
KINDS = (FAILING, RESTORED, FLAPPING, AFFECTED)


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
    cause: Reason | None = None  # `reason`'s code (agent.core.reasons), for the readers

    @property
    def dedup_key(self) -> str:
        return fault_key(self.device, self.fault, self.item)

    def to_json(self) -> dict[str, Any]:
        """The observation as a JSON-able dict (the agent's journal keeps it in this form);
        `at` as ISO 8601 with its offset. ValueError for a naive `at`."""
        if self.at.utcoffset() is None:
            raise ValueError(f"observation of {self.device}: naive time {self.at.isoformat()}")
        out = {"device": self.device, "owner": self.owner, "fault": self.fault.value,
               "kind": self.kind, "at": self.at.isoformat(), "item": self.item,
               "reason": self.reason, "evidence": self.evidence.to_json(),
               "affected": list(self.affected)}
        if self.cause is not None:
            out[REASON_CODE] = self.cause.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Observation:
        """The Observation of a dict written by `to_json`; KeyError/ValueError if malformed."""
        at = datetime.fromisoformat(str(data["at"]))
        if at.utcoffset() is None:
            raise ValueError(f"observation time {data['at']!r} has no UTC offset")
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"unknown observation kind {kind!r}")
        return cls(device=str(data["device"]), owner=str(data["owner"]),
                   fault=Fault(data["fault"]), kind=kind, at=at, item=str(data.get("item", "")),
                   reason=str(data.get("reason", "")),
                   evidence=Evidence(dict(data.get("evidence", {}))),
                   affected=tuple(str(a) for a in data.get("affected", ())),
                   cause=Reason.from_json(data.get(REASON_CODE)))


#: (the open ticket, its events) -> whether an observation about it is a stale replay
Stale = Callable[[Ticket, Sequence[TicketEvent]], bool]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `TicketService.observe_unless` did: the open ticket of the observation's key
    afterwards (None: there is none) and whether anything was written."""

    ticket: Ticket | None
    changed: bool
