"""Ticket lists page in SQL: with 20,001 closed tickets in SQLite a page reads about as much
of the database as with 201, and one agency's open tickets come back filtered by the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select

from tests.fakes import FakeClock
from tests.store_samples import T0, builder, close, draft
from ticketing.backend import TicketQuery
from ticketing.store import rows
from ticketing.store.engine import create_store_engine, database_url, upgrade
from ticketing.store.schema import tickets
from ticketing.store.sql import SqlBackend

MINE, OTHER = "Dinas Kesehatan", "Dinas Pendidikan"


class Steps:
    """Counts SQLite virtual-machine steps (in tens) of the store's statements: the
    work a query does, rows read included, independent of how busy the machine is."""

    def __init__(self, backend: SqlBackend) -> None:
        self.count = 0

        def tick() -> int:
            self.count += 1
            return 0

        def hook(dbapi_conn: Any, record: Any, proxy: Any) -> None:
            dbapi_conn.set_progress_handler(tick, 10)

        event.listen(backend._worker.engine, "checkout", hook)

    async def of(self, call: Awaitable[Any]) -> int:
        before = self.count
        await call
        return self.count - before


def fill(url: str, closed: int) -> None:
    """A migrated database with `closed` closed tickets of one agency and two open ones of
    each agency, written straight into the table in one transaction."""
    engine = create_store_engine(database_url(url))
    upgrade(engine)
    d = draft("sw-old", opened_at=T0 - timedelta(days=400))
    _, opened = builder(d)("SOP006-2025-000001")
    _, template = close(opened, T0 - timedelta(days=399))
    values = []
    for n in range(1, closed + 1):
        t = replace(template, id=rows.ticket_id(2025, n), device=f"sw-{n:05d}",
                    dedup_key=f"sw-{n:05d}/device_down/",
                    opened_at=template.opened_at + timedelta(minutes=n),
                    closed_at=template.opened_at + timedelta(minutes=n + 30))
        values.append({**rows.ticket_row(t, T0), "year": 2025, "number": n})
    for n, (device, owner) in enumerate([("sw-open-a", MINE), ("sw-open-b", MINE),
                                         ("sw-theirs-a", OTHER), ("sw-theirs-b", OTHER)], 1):
        fresh = replace(draft(device, opened_at=T0), owner=owner)
        _, t = builder(fresh)(rows.ticket_id(2026, n))
        values.append({**rows.ticket_row(t, T0), "year": 2026, "number": n})
    try:
        with engine.begin() as conn:
            conn.execute(insert(tickets), values)
    finally:
        engine.dispose()


async def scan(backend: SqlBackend) -> None:
    """What a list without paging reads (the rows, not their bodies)."""
    with backend._worker.engine.connect() as conn:
        conn.execute(select(func.count()).select_from(tickets)
                     .where(tickets.c.status == "closed", tickets.c.device != "")).scalar_one()


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("pages")
    small, large = (f"sqlite:///{folder / name}" for name in ("small.db", "large.db"))
    fill(small, 201)
    fill(large, 20_001)
    return small, large


@pytest.fixture
async def stores(urls: tuple[str, str]) -> AsyncIterator[tuple[SqlBackend, SqlBackend]]:
    small = await SqlBackend.connect(urls[0], clock=FakeClock())
    large = await SqlBackend.connect(urls[1], clock=FakeClock())
    yield small, large
    await small.aclose()
    await large.aclose()


class TestPagesInSql:
    """A page costs its own rows, not the table's."""

    async def test_a_page_of_closed_tickets_costs_the_same_at_twenty_thousand(
            self, stores: tuple[SqlBackend, SqlBackend]) -> None:
        small, large = stores
        costs = []
        for backend in (small, large):
            steps = Steps(backend)
            first = await backend.page(TicketQuery(status="closed", limit=50))
            assert len(first.tickets) == 50
            assert first.next is not None
            query = TicketQuery(status="closed", limit=50, after=first.next)
            by_close = TicketQuery(status="closed", limit=200, by_closed=True)
            costs.append((await steps.of(backend.page(query)),
                          await steps.of(backend.summaries(by_close)),
                          await steps.of(scan(backend))))
        (small_page, small_closed, small_all), (large_page, large_closed, large_all) = costs
        # the closed board (summaries by closing time) reads its own rows either way
        # a page: about the same work with 100x the closed tickets (wide: 3x)
        assert large_page <= 3 * max(small_page, 1), costs
        assert large_closed <= 3 * max(small_closed, 1), costs
        # a scan of the closed tickets grows with the table: the counter does see rows
        assert large_all > 30 * max(small_all, 1), costs

    async def test_one_agencys_open_tickets_are_filtered_by_the_store(
            self, stores: tuple[SqlBackend, SqlBackend]) -> None:
        small, large = stores
        costs = []
        for backend in (small, large):
            steps = Steps(backend)
            query = TicketQuery(status="open", owner=OTHER)
            page = await backend.page(query)
            assert sorted(t.device for t in page.tickets) == ["sw-theirs-a", "sw-theirs-b"]
            assert page.next is None
            costs.append(await steps.of(backend.page(query)))
        assert costs[1] <= 3 * max(costs[0], 1), costs
