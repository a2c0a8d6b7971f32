"""One member of a cluster of agents: it heartbeats its row in the shared database, works out
which devices are its own from the live members (agent/cluster/assign.py), and fences itself,
stopping its polling and its ticket writes, when it cannot renew its lease in time.

Times: the lease is granted by the database's clock (`lease_until`), so members' clocks do not
matter; this member's own deadline is measured on its monotonic clock from the *start* of its
last successful renewal: start + lease - margin, which comes before the database's
lease_until (set at the renewal's transaction start, later than our start) by at least the
margin. The others take its devices only once lease_until has passed, at their next beat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from agent.cluster.assign import inventory_hash, owned
from agent.core.clock import Clock
from agent.core.cluster import Beat, MemberRow, Writer
from agent.core.errors import BackendError, WriterFenced
from agent.core.model import Device
from agent.core.settings import ClusterSettings

log = logging.getLogger(__name__)

#: The part of the lease kept back from the local deadline, for the time it takes to stop
#: and for clocks that run at slightly different rates.
MARGIN_FRACTION = 0.2
#: How long leaving (at a stop) may take before the agent exits anyway.
LEAVE_SECONDS = 2.0


class MemberStore(Protocol):
    """The members' table (ticketing/store/cluster.py on PostgreSQL)."""

    async def beat(self, node: str, address: str, inventory_hash: str, epoch: int,
                   lease_seconds: float) -> Beat:
        """Renew this member's lease in one transaction, by the database's clock, and read
        every member. `epoch` 0 (a new process) or a lease that had expired takes the next
        epoch. BackendUnavailable when the database cannot be reached."""
        ...

    async def leave(self, node: str, epoch: int) -> None:
        """End this member's lease now (a clean stop): the others take over at their next
        beat instead of after the lease."""
        ...


class ClusterObserver(Protocol):
    """The cluster gauges (agent/metrics_cluster.py)."""

    def members(self, live: int) -> None: ...

    def assigned(self, node: str, devices: int) -> None: ...

    def fenced(self, fenced: bool) -> None: ...


class Membership:
    """This agent as a member: `run()` heartbeats and watches the lease deadline; `apply` is
    called with this member's devices whenever they change (empty when fenced); `writer()`
    is what the ticket store asks before each write."""

    def __init__(self, settings: ClusterSettings, store: MemberStore, clock: Clock, *,
                 address: str, devices: Sequence[Device],
                 apply: Callable[[tuple[Device, ...]], None],
                 observer: ClusterObserver | None = None) -> None:
        self.settings = settings
        self.node = settings.node
        self.address = address
        self._store = store
        self._clock = clock
        self._apply = apply
        self._observer = observer
        self.margin_seconds = settings.lease_seconds * MARGIN_FRACTION
        self.epoch = 0  # none yet: the first beat takes one
        self.fenced = True  # until the first renewal
        self.deadline = float("-inf")  # monotonic: stop before this unless renewed
        self.members: tuple[MemberRow, ...] = ()
        self.owned: tuple[Device, ...] = ()
        self.devices: tuple[Device, ...] = tuple(devices)
        self.inventory_hash = inventory_hash(devices)
        self.holding = False  # live members run different inventories: nothing moves
        # (live nodes, inventory hash) -> this member's share: the same beat after beat, so
        # the rendezvous hashing runs on the loop only when the members or the inventory change
        self._share: tuple[tuple[tuple[str, ...], str], tuple[Device, ...]] | None = None
        self.fenced_at: float | None = None  # monotonic, the last time it fenced itself

    # -- what others ask -----------------------------------------------------------------

    def writer(self) -> Writer:
        """The writer of a ticket write now; WriterFenced while this member holds no lease
        (the store checks the epoch and the lease again in the write's transaction)."""
        if self.fenced or self._clock.monotonic() >= self.deadline:
            raise WriterFenced(f"cluster member {self.node} holds no fresh lease "
                               f"(epoch {self.epoch}): ticket writes wait until it renews")
        return Writer(self.node, self.epoch)

    def set_inventory(self, devices: Sequence[Device]) -> None:
        """A reloaded inventory: its hash is announced at the next beat; devices move once
        every live member announces the same one."""
        self.devices = tuple(devices)
        self.inventory_hash = inventory_hash(devices)
        if not self.fenced:
            self._reassign()

    # -- the loops -------------------------------------------------------------------------

    async def run(self) -> None:
        """Heartbeat every `heartbeat_seconds` and fence at the deadline; until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._beats(), name="cluster heartbeat")
            tg.create_task(self._watch(), name="cluster fence")

    async def _beats(self) -> None:
        while True:
            started = self._clock.monotonic()
            await self.beat_once()
            elapsed = self._clock.monotonic() - started
            await self._clock.sleep(max(0.0, self.settings.heartbeat_seconds - elapsed))

    async def _watch(self) -> None:
        while True:
            now = self._clock.monotonic()
            if not self.fenced and now >= self.deadline:
                self._fence("lease not renewed in time")
            wait = self.settings.heartbeat_seconds if self.fenced else self.deadline - now
            await self._clock.sleep(max(0.001, wait))

    async def beat_once(self) -> None:
        """One renewal; on success the devices are reassigned, on failure nothing changes
        until the deadline (the watch fences then)."""
        started = self._clock.monotonic()
        try:
            beat = await self._store.beat(self.node, self.address, self.inventory_hash,
                                          self.epoch, self.settings.lease_seconds)
        except BackendError as exc:
            log.warning("cluster heartbeat failed", extra={
                "node": self.node, "error": str(exc),
                "fence_in": round(max(0.0, self.deadline - self._clock.monotonic()), 3)})
            return
        deadline = started + self.settings.lease_seconds - self.margin_seconds
        if beat.epoch != self.epoch:
            log.info("cluster lease taken", extra={"node": self.node, "epoch": beat.epoch,
                                                   "previous": self.epoch})
        self.epoch, self.members = beat.epoch, beat.members
        if self._clock.monotonic() >= deadline:  # the answer came too late to count
            self._fence("lease renewal answered too late")
            return
        self.deadline = deadline
        if self.fenced:
            log.info("cluster member joined", extra={"node": self.node, "epoch": self.epoch})
        self.fenced = False
        self._reassign()
        if self._observer is not None:
            self._observer.fenced(False)

    async def leave(self) -> None:
        """End the lease at a clean stop (bounded: a stop never waits on the database)."""
        if self.fenced:
            return
        self.fenced = True
        try:
            async with asyncio.timeout(LEAVE_SECONDS):
                await self._store.leave(self.node, self.epoch)
        except (BackendError, TimeoutError) as exc:
            log.warning("cluster leave failed; the lease runs out instead",
                        extra={"node": self.node, "error": str(exc) or type(exc).__name__})

    # -- assignment and fencing --------------------------------------------------------------

    def _reassign(self) -> None:
        live = [m for m in self.members if m.live]
        nodes = [m.node for m in live]
        if self.node not in nodes:  # our renewal is in `members`; this guards a bad store
            nodes.append(self.node)
        hashes = {m.inventory_hash for m in live if m.node != self.node} | {self.inventory_hash}
        holding = len(hashes) > 1
        if holding != self.holding:
            self.holding = holding
            if holding:
                log.warning("cluster members run different inventories: assignments hold "
                            "until every member reloads the same one", extra={
                                "node": self.node, "hashes": ",".join(sorted(hashes))})
            else:
                log.info("cluster members run the same inventory",
                         extra={"node": self.node, "inventory_hash": self.inventory_hash})
        if holding:
            # keep what we poll (as the new inventory defines it); take nothing new
            mine = {d.name for d in self.owned}
            new = tuple(d for d in self.devices if d.name in mine)
        else:
            key = (tuple(sorted(nodes)), self.inventory_hash)
            if self._share is None or self._share[0] != key:
                self._share = (key, owned(self.devices, nodes, self.node))
            new = self._share[1]
        self._set_owned(new)
        if self._observer is not None:
            self._observer.members(len(nodes))

    def _fence(self, reason: str) -> None:
        if not self.fenced:
            self.fenced_at = self._clock.monotonic()
            log.warning("cluster member fenced: polling and ticket writes stopped", extra={
                "node": self.node, "epoch": self.epoch, "reason": reason,
                "devices": len(self.owned)})
        self.fenced = True
        self._set_owned(())
        if self._observer is not None:
            self._observer.fenced(True)

    def _set_owned(self, new: tuple[Device, ...]) -> None:
        if new != self.owned:
            before = len(self.owned)
            self.owned = new
            log.info("cluster devices assigned", extra={
                "node": self.node, "devices": len(new), "before": before})
            self._apply(new)
        if self._observer is not None:
            self._observer.assigned(self.node, len(self.owned))
