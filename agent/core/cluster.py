"""The values several agents on one database share (issue 15): a member's row as the store
reads it, one heartbeat's answer, and the writer (member and lease epoch) of ticket writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Writer:
    """Who writes a ticket event: the member `node` under its lease `epoch`. The store refuses
    the write (WriterFenced) unless that member's row has this epoch and a fresh lease."""

    node: str
    epoch: int


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One member as the store holds it; `live` is whether its lease was fresh by the
    database's clock when it was read."""

    node: str
    address: str
    started_at: datetime  # when this epoch began
    last_seen: datetime  # its last renewal
    lease_until: datetime
    inventory_hash: str
    epoch: int
    live: bool


@dataclass(frozen=True, slots=True)
class Beat:
    """What one heartbeat got back: this member's epoch now (grown when it took a lease it
    had lost, or joined as a new process) and every member, in node order."""

    epoch: int
    members: tuple[MemberRow, ...]
