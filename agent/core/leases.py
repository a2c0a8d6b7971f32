"""Duty leases (issue 15): the value a lease store hands back and the store's Protocol; the
SQL is in ticketing/store/cluster_leases.py, the leader loop in agent/cluster/leader.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Lease:
    """A duty's lease row as the database saw it: who holds it, the holder's epoch (one more
    at each new term: a new holder, or a lease taken again after it expired), and the
    seconds left by the database's clock (negative once expired)."""

    duty: str
    holder: str
    epoch: int
    remaining_seconds: float

    def held_by(self, node: str) -> bool:
        return self.holder == node and self.remaining_seconds > 0


class LeaseStore(Protocol):
    """Where the members' leases live (PostgreSQL). Errors: BackendError subclasses."""

    async def take(self, duty: str, node: str, lease_seconds: float) -> Lease:
        """Take `duty` for `node` for `lease_seconds` (by the database's clock) when it is
        free or expired, renew it when `node` holds it; either way return the row as it
        stands after the attempt (another holder's, when it is taken)."""
        ...

    async def release(self, duty: str, node: str) -> None:
        """End `node`'s lease of `duty` now (a clean stop), so another member takes it at
        its next heartbeat; nothing when `node` does not hold it."""
        ...
