"""The ticket store fixtures the contract suites share (tickets, outbox): one parametrized
`store` (memory, SQLite, PostgreSQL) and the `backend` connected to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.fakes import FakeClock, InMemoryBackend
from tests.postgres_fixtures import postgres_url
from tests.store_samples import builder, draft
from ticketing.backend import TicketBackend
from ticketing.models import Ticket
from ticketing.store.engine import database_url
from ticketing.store.schema import metadata
from ticketing.store.sql import SqlBackend


def reset_postgres(url: str) -> None:
    """Drop the store's tables so each test starts from an empty database."""
    engine = create_engine(database_url(url))
    try:
        with engine.begin() as conn:
            # every table schema.py declares (dependents first), then Alembic's own
            for table in [*reversed(metadata.sorted_tables), "alembic_version"]:
                conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    finally:
        engine.dispose()


def sql_url(kind: str, tmp_path: Any) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'pantau.db'}"
    url = postgres_url()
    reset_postgres(url)
    return url


@dataclass
class Store:
    """One backend's storage; `connect()` opens it (again, for the SQL ones)."""

    kind: str
    url: str
    clock: FakeClock = field(default_factory=FakeClock)
    opened: list[TicketBackend] = field(default_factory=list)
    memory: InMemoryBackend | None = None

    async def connect(self, **kwargs: Any) -> TicketBackend:
        backend: TicketBackend
        if self.kind == "memory":
            if kwargs or self.memory is None:
                self.memory = InMemoryBackend(**kwargs)
            backend = self.memory
        else:
            backend = await SqlBackend.connect(self.url, clock=self.clock, **kwargs)
        self.opened.append(backend)
        return backend


KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Store]:
    kind = request.param
    s = Store(kind, "" if kind == "memory" else sql_url(kind, tmp_path))
    yield s
    for backend in s.opened:
        await backend.aclose()


@pytest.fixture
async def backend(store: Store) -> TicketBackend:
    return await store.connect()


async def open_one(backend: TicketBackend, device: str = "sw-dinkes-01", **kwargs: Any
                   ) -> Ticket:
    d = draft(device, **kwargs)
    ticket, created = await backend.open(d, builder(d))
    assert created
    return ticket
