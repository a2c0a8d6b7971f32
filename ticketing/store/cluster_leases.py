"""The duty leases' SQL (table cluster_leases, PostgreSQL): one conditional UPSERT takes a
free or expired lease or renews one's own, timed by the database's clock (`now()`), so the
members' clocks never decide who holds a duty."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, text

from agent.core.errors import BackendRejected
from agent.core.leases import Lease
from ticketing.store.worker import StoreWorker, cut_off

# Renewed when mine; taken when expired (a new term: epoch + 1, also for the same holder);
# else left alone, and the row is read as it stands.
_TAKE = text("""
INSERT INTO cluster_leases AS l (duty, holder, epoch, lease_until)
VALUES (:duty, :node, 1, now() + :lease)
ON CONFLICT (duty) DO UPDATE
   SET holder = excluded.holder,
       epoch = CASE WHEN l.holder = excluded.holder AND l.lease_until > now()
                    THEN l.epoch ELSE l.epoch + 1 END,
       lease_until = excluded.lease_until
 WHERE (l.holder = excluded.holder AND l.lease_until > now()) OR l.lease_until <= now()
RETURNING holder, epoch, EXTRACT(EPOCH FROM lease_until - now())
""")
_READ = text("SELECT holder, epoch, EXTRACT(EPOCH FROM lease_until - now()) "
             "FROM cluster_leases WHERE duty = :duty")
_RELEASE = text("UPDATE cluster_leases SET lease_until = now() "
                "WHERE duty = :duty AND holder = :node AND lease_until > now()")


def take(conn: Connection, duty: str, node: str, lease_seconds: float) -> Lease:
    row = conn.execute(_TAKE, {"duty": duty, "node": node,
                               "lease": timedelta(seconds=lease_seconds)}).first()
    if row is None:
        row = conn.execute(_READ, {"duty": duty}).one()
    return _lease(duty, row)


def read(conn: Connection, duty: str) -> Lease | None:
    """The duty's lease as it stands (None when never taken), for `pantau cluster status`."""
    row = conn.execute(_READ, {"duty": duty}).first()
    return None if row is None else _lease(duty, row)


def release(conn: Connection, duty: str, node: str) -> None:
    conn.execute(_RELEASE, {"duty": duty, "node": node})


def _lease(duty: str, row: Any) -> Lease:
    return Lease(duty=duty, holder=str(row[0]), epoch=int(row[1]),
                 remaining_seconds=float(row[2]))


class SqlLeases:
    """The LeaseStore on the cluster's PostgreSQL, on a worker (thread and connections) of
    its own: a renewal never waits behind the ticket store's calls. Make one with
    `await SqlLeases.connect(url)`; BackendRejected for a database that is not PostgreSQL."""

    def __init__(self, worker: StoreWorker) -> None:
        self._worker = worker

    @classmethod
    async def connect(cls, url: str, *, timeout_seconds: float = 5.0,
                      cut_off_seconds: float | None = None) -> SqlLeases:
        """`cut_off_seconds`: how long a call may hang on a cut network (worker.cut_off);
        a leader's lease store wants one lease, or a hung take blocks its retakes."""
        worker = await StoreWorker.connect(
            url, busy_timeout_seconds=timeout_seconds,
            connect_args=None if cut_off_seconds is None else cut_off(cut_off_seconds))
        if worker.engine.dialect.name != "postgresql":
            await worker.aclose()
            raise BackendRejected(f"database {worker.name}: duty leases need PostgreSQL")
        return cls(worker)

    async def take(self, duty: str, node: str, lease_seconds: float) -> Lease:
        return await self._worker.write(f"taking the {duty} lease", take, duty, node,
                                        lease_seconds)

    async def read(self, duty: str) -> Lease | None:
        return await self._worker.read(f"reading the {duty} lease", read, duty)

    async def release(self, duty: str, node: str) -> None:
        await self._worker.write(f"releasing the {duty} lease", release, duty, node)

    async def aclose(self) -> None:
        await self._worker.aclose()
