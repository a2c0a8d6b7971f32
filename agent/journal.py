"""The observation journal: a small SQLite file that keeps each observation from the moment
the detector makes it until the ticket store has it (or sets it aside as rejected), so a
crash, a stop or a store outage loses nothing. What it holds is replayed in order on start.

SQLite in WAL mode with synchronous=FULL (a committed row survives SIGKILL and power loss).
`put` is called on the synchronous result path, so it only buffers: the buffer is written on
the next turn of the event loop, in one transaction on the journal's own thread (a mass
event of 2,000 observations is one commit, one fsync).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from ticketing.observation import Observation

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rejected (id INTEGER PRIMARY KEY, body TEXT NOT NULL, "
    "reason TEXT NOT NULL, at TEXT NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """An observation the store would not take after its retries, kept with the reason."""

    id: int
    observation: Observation
    reason: str
    at: datetime


# the journal's writes, in order: ("put", id, obs) | ("done", id) | ("reject", id, obs, ...)
_Op = tuple[str, int, Observation | None, str, str]


def _body(obs: Observation) -> str:
    return json.dumps(obs.to_json(), allow_nan=False, ensure_ascii=False,
                      separators=(",", ":"))


class Journal:
    """Open one with `await Journal.open(path)` (":memory:" for one that dies with the
    process, as in tests); `aclose()` writes what is buffered and closes the file.

    `put`, `done` and `reject` return at once and never raise: a failed write is logged and
    retried with the next one (or by `flush`), the rows kept in memory meanwhile.
    """

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor, *,
                 path: str, next_id: int, pending: int) -> None:
        self._conn = conn
        self._executor = executor
        self.path = path
        self._next_id = next_id
        self._ops: list[_Op] = []
        self._scheduled = False
        self._writing: asyncio.Future[None] | None = None
        self._failing = False
        self.depth = pending  # observations journaled and neither done nor rejected

    @classmethod
    async def open(cls, path: str) -> Journal:
        """Open (or create) the journal at `path`. OSError/sqlite3.Error, with the path in
        the message, when it cannot be opened or written."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pantau-journal")
        loop = asyncio.get_running_loop()

        def connect() -> tuple[sqlite3.Connection, int, int]:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA busy_timeout = 5000")
                if path != ":memory:":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                for statement in SCHEMA:
                    conn.execute(statement)
                last = conn.execute("SELECT max(m) FROM (SELECT max(id) AS m FROM pending "
                                    "UNION ALL SELECT max(id) FROM rejected)").fetchone()[0]
                count = conn.execute("SELECT count(*) FROM pending").fetchone()[0]
            except BaseException:
                conn.close()
                raise
            return conn, int(last or 0) + 1, int(count)

        try:
            conn, next_id, count = await loop.run_in_executor(executor, connect)
        except (sqlite3.Error, OSError) as exc:
            executor.shutdown(wait=False)
            raise OSError(f"observation journal {path}: cannot open it: {exc}") from exc
        log.info("observation journal ready", extra={"journal": path, "pending": count})
        return cls(conn, executor, path=path, next_id=next_id, pending=count)

    # -- on the event loop, synchronous --------------------------------------------------

    def put(self, obs: Observation) -> int:
        """Journal one observation (written on the next loop turn); returns its id."""
        ident = self._next_id
        self._next_id += 1
        self.depth += 1
        self._queue(("put", ident, obs, "", ""))
        return ident

    def done(self, ids: Sequence[int]) -> None:
        """The store has these observations: forget them."""
        for ident in ids:
            self.depth -= 1
            self._queue(("done", ident, None, "", ""))

    def reject(self, ids: Sequence[int], obs: Observation, reason: str, at: datetime) -> None:
        """Move these observations (merged into `obs`) to the rejected table with `reason`."""
        for i, ident in enumerate(ids):
            self.depth -= 1
            # the merged observation is kept once, under the first id
            self._queue(("reject", ident, obs if i == 0 else None, reason, at.isoformat()))

    def _queue(self, op: _Op) -> None:
        self._ops.append(op)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._write_soon)

    def _write_soon(self) -> None:
        self._scheduled = False
        if self._ops and self._writing is None:
            ops, self._ops = self._ops, []
            loop = asyncio.get_running_loop()
            self._writing = asyncio.ensure_future(
                loop.run_in_executor(self._executor, self._write, ops))
            self._writing.add_done_callback(lambda f: self._written(f, ops))

    def _written(self, future: asyncio.Future[None], ops: list[_Op]) -> None:
        self._writing = None
        exc = None if future.cancelled() else future.exception()
        if exc is not None:
            self._ops[:0] = ops  # kept, in order, for the next write
            if not self._failing:
                log.error("observation journal write failed; kept in memory",
                          extra={"journal": self.path, "rows": len(ops), "error": str(exc)})
            self._failing = True
            return
        if self._failing:
            log.warning("observation journal writable again", extra={"journal": self.path})
            self._failing = False
        if self._ops and not self._scheduled:
            self._write_soon()

    # -- async -----------------------------------------------------------------------------

    async def flush(self) -> bool:
        """Write everything buffered now; True when the journal on disk is complete, False
        when the write failed (again: it is tried at least once more here)."""
        tries = 0
        while True:
            writing = self._writing
            if writing is not None:
                # `_written` is the future's first callback: it has run when this returns,
                # unless the future was done already (awaiting it then does not yield, and
                # its callbacks wait for the next loop turn): yield once, or this spins
                with contextlib.suppress(Exception):
                    await asyncio.shield(writing)
                if self._writing is writing:
                    await asyncio.sleep(0)  # a yield to the loop, not a delay
                continue
            if not self._ops:
                return True
            if tries == 2:
                return False
            tries += 1
            self._write_soon()

    async def pending(self) -> list[tuple[int, Observation]]:
        """The observations not yet stored, oldest first (for the replay at start)."""
        await self.flush()
        rows = await self._run(lambda: self._conn.execute(
            "SELECT id, body FROM pending ORDER BY id").fetchall())
        return [(int(i), Observation.from_json(json.loads(b))) for i, b in rows]

    async def rejected(self) -> list[Rejected]:
        """The observations set aside as rejected, oldest first."""
        await self.flush()
        rows = await self._run(lambda: self._conn.execute(
            "SELECT id, body, reason, at FROM rejected ORDER BY id").fetchall())
        return [Rejected(int(i), Observation.from_json(json.loads(b)), str(r),
                         datetime.fromisoformat(a)) for i, b, r, a in rows]

    async def aclose(self) -> None:
        """Write what is buffered (logged if it cannot be) and close the file."""
        if not await self.flush():
            log.error("observation journal incomplete at exit", extra={
                "journal": self.path, "rows": len(self._ops)})
        await self._run(self._conn.close)
        self._executor.shutdown(wait=True)

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # -- on the journal's thread ------------------------------------------------------------

    def _write(self, ops: list[_Op]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for kind, ident, obs, reason, at in ops:
                if kind == "put":
                    assert obs is not None
                    conn.execute("INSERT OR REPLACE INTO pending (id, body) VALUES (?, ?)",
                                 (ident, _body(obs)))
                elif kind == "done":
                    conn.execute("DELETE FROM pending WHERE id = ?", (ident,))
                else:
                    if obs is not None:
                        conn.execute("INSERT OR REPLACE INTO rejected (id, body, reason, at) "
                                     "VALUES (?, ?, ?, ?)", (ident, _body(obs), reason, at))
                    conn.execute("DELETE FROM pending WHERE id = ?", (ident,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
