"""The cluster's members on PostgreSQL (issue 15): each member's heartbeat renews its lease
in one transaction, by the database's clock; the ticket writes check their writer's epoch and
lease in their own transaction (`check_writer`). A concrete part: only agent/app.py wires it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.core.cluster import Beat, MemberRow, Writer
from agent.core.errors import BackendUnavailable, WriterFenced
from ticketing.store.schema import cluster_members as m
from ticketing.store.worker import StoreWorker, cut_off


def _fresh() -> Any:
    # clock_timestamp(), not now(): now() is the transaction's start, and a transaction that
    # waited on a lock must not find a lease fresh that ran out meanwhile
    return (m.c.lease_until > func.clock_timestamp()).label("fresh")


def read_members(conn: Connection) -> tuple[MemberRow, ...]:
    rows = conn.execute(select(m, _fresh()).order_by(m.c.node)).all()
    return tuple(MemberRow(node=r.node, address=r.address, started_at=r.started_at,
                           last_seen=r.last_seen, lease_until=r.lease_until,
                           inventory_hash=r.inventory_hash, epoch=r.epoch, live=bool(r.fresh))
                 for r in rows)


def beat(conn: Connection, node: str, address: str, inventory_hash: str, epoch: int,
         lease_seconds: float) -> Beat:
    """Renew `node`'s lease to now() + lease (the transaction's start: never later than the
    member's own clock says); a new process (epoch 0) or an ended lease takes the next epoch."""
    row = conn.execute(select(m.c.epoch, _fresh()).where(m.c.node == node)
                       .with_for_update()).one_or_none()
    values: dict[str, Any] = {
        "address": address, "last_seen": func.now(), "inventory_hash": inventory_hash,
        "lease_until": func.now() + timedelta(seconds=lease_seconds)}
    if row is None:
        new = 1
        conn.execute(insert(m).values(node=node, started_at=func.now(), epoch=new, **values))
    elif epoch and row.epoch == epoch and row.fresh:
        new = epoch
        conn.execute(update(m).where(m.c.node == node).values(**values))
    else:
        new = int(row.epoch) + 1
        conn.execute(update(m).where(m.c.node == node)
                     .values(epoch=new, started_at=func.now(), **values))
    return Beat(epoch=new, members=read_members(conn))


def leave(conn: Connection, node: str, epoch: int) -> None:
    conn.execute(update(m).where(m.c.node == node, m.c.epoch == epoch)
                 .values(lease_until=func.now(), last_seen=func.now()))


def check_writer(conn: Connection, writer: Writer) -> None:
    """In a ticket write's transaction: WriterFenced unless `writer.node`'s row holds
    `writer.epoch` with a fresh lease. The row is share-locked to the commit, so the member's
    epoch cannot change under the write."""
    row = conn.execute(select(m.c.epoch, _fresh()).where(m.c.node == writer.node)
                       .with_for_update(read=True)).one_or_none()
    if row is None:
        raise WriterFenced(f"cluster member {writer.node} has no row in cluster_members")
    if row.epoch != writer.epoch:
        raise WriterFenced(f"cluster member {writer.node} writes under epoch {writer.epoch}, "
                           f"the store holds epoch {row.epoch} (it lost its lease since)")
    if not row.fresh:
        raise WriterFenced(f"cluster member {writer.node} epoch {writer.epoch}: its lease "
                           "ran out before this write")


class ClusterStore:
    """agent.cluster.MemberStore on PostgreSQL, on its own connection and worker thread, so a
    heartbeat never queues behind a ticket write. Connects on first use (and again after a
    failed first connect); a TCP user timeout of one lease bounds a call on a cut network."""

    def __init__(self, url: str, *, lease_seconds: float, connect_seconds: float) -> None:
        self._url = url
        self._cut_off = cut_off(lease_seconds)
        self._connect_seconds = connect_seconds
        self._worker: StoreWorker | None = None

    async def _w(self) -> StoreWorker:
        if self._worker is None:
            self._worker = await StoreWorker.connect(
                self._url, busy_timeout_seconds=self._connect_seconds,
                connect_args=self._cut_off)
        return self._worker

    async def beat(self, node: str, address: str, inventory_hash: str, epoch: int,
                   lease_seconds: float) -> Beat:
        worker = await self._w()
        try:
            return await worker.write(f"renewing the lease of {node}", beat, node, address,
                                      inventory_hash, epoch, lease_seconds)
        except IntegrityError as exc:  # two processes joined as `node` at the same moment
            raise BackendUnavailable(f"cluster member {node} joined twice at once") from exc

    async def leave(self, node: str, epoch: int) -> None:
        await (await self._w()).write(f"ending the lease of {node}", leave, node, epoch)

    async def members(self) -> Sequence[MemberRow]:
        return await (await self._w()).read("reading the cluster's members", read_members)

    async def aclose(self) -> None:
        if self._worker is not None:
            await self._worker.aclose()
