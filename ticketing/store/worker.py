"""The SQL store's one worker thread and what runs on it: connecting (the URL, the Engine,
the Alembic upgrade), read and write transactions, and SQLAlchemy's errors translated to
BackendError without the password.

Blocking database calls run on one dedicated worker thread, so calls are serialized in
order, SQLite connections stay on one thread, and a cancelled caller cannot let the next
call overlap a statement still running. The schema is brought to head with Alembic when
the store connects (`engine.upgrade()`), safely when several agents start on one database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from agent.core.errors import BackendRejected, BackendUnavailable
from ticketing.store.engine import WRITE, create_store_engine, database_url, upgrade

log = logging.getLogger(__name__)

T = TypeVar("T")


def cut_off(seconds: float) -> dict[str, Any]:
    """connect_args that make a PostgreSQL call on a cut network give up after `seconds` (at
    least 1 s) instead of TCP's minutes: cluster members use one lease."""
    return {"tcp_user_timeout": max(1000, round(seconds * 1000))}


class StoreWorker:
    """The engine and its worker thread; make one with `await StoreWorker.connect(url)`.

    Errors: BackendUnavailable when the database cannot be reached or stays locked,
    BackendRejected for what retrying cannot fix. Messages show the URL without its password.
    """

    def __init__(self, engine: Engine, executor: ThreadPoolExecutor, *, name: str,
                 secret: str | None) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
        self._executor = executor
        self.name = name  # the database URL without its password
        self._secret = secret
        self._closed = False

    @classmethod
    async def connect(cls, url: str, *, busy_timeout_seconds: float,
                      connect_args: dict[str, Any] | None = None) -> StoreWorker:
        """Open the database at `url` and migrate it to the newest schema (`connect_args`:
        see create_store_engine)."""
        try:
            parsed = database_url(url)
        except ValueError as exc:
            raise BackendRejected(f"database URL: {exc}") from exc
        name = parsed.render_as_string(hide_password=True)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pantau-store")
        loop = asyncio.get_running_loop()
        engine: Engine | None = None
        try:
            engine = create_store_engine(parsed, busy_timeout_seconds=busy_timeout_seconds,
                                         connect_args=connect_args)
            worker = cls(engine, executor, name=name,
                         secret=parsed.password if isinstance(parsed.password, str) else None)
            revision = await loop.run_in_executor(executor, worker._upgrade)
        except BaseException as exc:
            if engine is not None:
                await loop.run_in_executor(executor, engine.dispose)
            executor.shutdown(wait=False)
            if isinstance(exc, (NoSuchModuleError, ImportError)):
                raise BackendRejected(f"database {name}: driver not installed ({exc}); "
                                      "PostgreSQL needs the 'postgres' extra") from exc
            raise
        log.info("ticket store ready", extra={"database": name, "revision": revision})
        return worker

    async def run(self, call: Callable[[], T]) -> T:
        """Run a blocking call on the worker thread, after the calls before it."""
        if self._closed:
            raise BackendUnavailable(f"ticket store {self.name} is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def aclose(self) -> None:
        """Close every connection; later calls raise BackendUnavailable."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self.engine.dispose)
        finally:
            self._executor.shutdown(wait=False)

    async def write(self, doing: str, call: Callable[..., T], *args: Any, **kwargs: Any
                    ) -> T:
        """`call(conn, ...)` in a write transaction on the worker thread."""
        def run() -> T:
            with self.writing(doing) as conn:
                return call(conn, *args, **kwargs)

        return await self.run(run)

    async def read(self, doing: str, call: Callable[..., T], *args: Any) -> T:
        """`call(conn, ...)` in a read transaction on the worker thread."""
        def run() -> T:
            with self.reading(doing) as conn:
                return call(conn, *args)

        return await self.run(run)

    # -- on the worker thread -------------------------------------------------------------

    def _upgrade(self) -> str:
        with self.translated("migrating"):
            try:
                return upgrade(self.engine)
            except CommandError as exc:
                raise BackendRejected(
                    f"database {self.name}: cannot migrate the ticket schema: "
                    f"{self._scrub(str(exc))} (was it migrated by a newer pantau?)"
                ) from exc

    @contextmanager
    def reading(self, doing: str) -> Iterator[Connection]:
        """A read transaction, its errors translated."""
        with self.translated(doing), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def writing(self, doing: str) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite), its errors translated."""
        with self.translated(doing), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def translated(self, doing: str) -> Iterator[None]:
        """Map SQLAlchemy's errors to BackendError, narrowly, without the password."""
        try:
            yield
        except (OperationalError, InterfaceError, PoolTimeoutError) as exc:
            log.warning("ticket store unavailable",
                        extra={"database": self.name, "doing": doing})
            raise BackendUnavailable(
                f"database {self.name} unavailable while {doing}: {self._reason(exc)}"
            ) from exc
        except DataError as exc:
            raise BackendRejected(
                f"database {self.name} refused a value while {doing}: {self._reason(exc)}"
            ) from exc
        except DatabaseError as exc:
            # Integrity is handled by the caller; a programming error is a bug: let it show.
            if isinstance(exc, (IntegrityError, ProgrammingError)):
                raise
            # E.g. "file is not a database": retrying will not help.
            raise BackendRejected(
                f"database {self.name} failed while {doing}: {self._reason(exc)}"
            ) from exc
        except StatementError as exc:
            if isinstance(exc, IntegrityError) or not isinstance(exc.orig,
                                                                  (ValueError, TypeError)):
                raise
            raise BackendRejected(f"cannot store a value while {doing}: {exc.orig}") from exc

    def _reason(self, exc: Exception) -> str:
        # The driver's message only: SQLAlchemy's also carries the SQL and its parameters.
        orig = getattr(exc, "orig", None) or exc
        lines = str(orig).strip().splitlines() or [type(orig).__name__]
        return self._scrub(lines[0])

    def _scrub(self, message: str) -> str:
        return message.replace(self._secret, "***") if self._secret else message
