"""The leader as the agent runs it: the lease store connected on first use (and again after
a failed connect: the database may be away at start), and what runs the singleton duties,
alone or in a cluster, with the `pantau_cluster_leader` gauge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from prometheus_client import Gauge

from agent.cluster.leader import Duty, Leader, LeaderSettings, run_duties
from agent.core.clock import Clock
from agent.core.leases import Lease, LeaseStore
from agent.core.settings import ClusterSettings

log = logging.getLogger(__name__)

CLOSE_SECONDS = 2.0


class ClosingLeaseStore(LeaseStore, Protocol):
    async def aclose(self) -> None: ...


class ConnectingLeases:
    """A LeaseStore over the one `connect()` makes, made at the first call that needs it;
    a failed (or abandoned) connect is tried again at the next call."""

    def __init__(self, connect: Callable[[], Awaitable[ClosingLeaseStore]]) -> None:
        self._connect = connect
        self._store: ClosingLeaseStore | None = None

    async def take(self, duty: str, node: str, lease_seconds: float) -> Lease:
        if self._store is None:
            self._store = await self._connect()
        return await self._store.take(duty, node, lease_seconds)

    async def release(self, duty: str, node: str) -> None:
        if self._store is not None:
            await self._store.release(duty, node)

    async def aclose(self) -> None:
        """Close the connection; a close stuck behind a call the network swallowed is given
        up after CLOSE_SECONDS (the agent's stop does not wait for TCP to time out)."""
        store, self._store = self._store, None
        if store is not None:
            try:
                async with asyncio.timeout(CLOSE_SECONDS):
                    await store.aclose()
            except TimeoutError:
                log.warning("leader lease connection not closed",
                            extra={"within_seconds": CLOSE_SECONDS})


def leadership(cluster: ClusterSettings | None, clock: Clock, gauge: Gauge,
               stack: contextlib.AsyncExitStack,
               connect: Callable[[], Awaitable[ClosingLeaseStore]], duties: Sequence[Duty]
               ) -> tuple[Leader | None, Callable[[], Coroutine[Any, Any, None]]]:
    """(the Leader or None, what to run in the agent's TaskGroup): an agent alone runs its
    duties for good and says it leads; a member runs the leader loop over the lease store
    `connect` makes (closed on `stack`), the gauge following its terms."""
    if cluster is None:
        gauge.labels("").set(1)
        return None, lambda: run_duties(duties)
    leases = ConnectingLeases(connect)
    stack.push_async_callback(leases.aclose)
    node = cluster.node
    gauge.labels(node).set(0)
    leader = Leader(leases, LeaderSettings(node, cluster.heartbeat_seconds,
                                           cluster.lease_seconds), clock, duties,
                    on_change=lambda leading, epoch: gauge.labels(node).set(int(leading)))
    return leader, leader.run
