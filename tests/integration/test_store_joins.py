"""The real Agent starts without its ticket store (issue 14, finding 9): monitoring and
/metrics run, /healthz says the store is joining (the reason's class, no path), the API and
the pages answer 503 with a generic text, and once the store can be opened it joins in the
background and they answer again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from agent.app import Agent
from agent.config import loads
from agent.server import STORE_JOINING_TEXT
from agent.store_gate import StoreGate, TicketStore

TOKEN = "token-admin-0123456789-0123456789-xx"


def config_text(db: Path, journal: Path) -> str:
    return f"""\
[agent]
listen = "127.0.0.1:0"
database = "sqlite:///{db}"
journal = "{journal}"

[[users]]
name = "admin"
role = "admin"
token = "{TOKEN}"
"""


async def until(cond: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_agent(db: Path, journal: Path) -> AsyncIterator[tuple[Agent, httpx.AsyncClient]]:
    """The agent on `db`, ready (monitoring started), and an API client for it."""
    agent = Agent(loads(config_text(db, journal)))
    stop = asyncio.Event()
    running = asyncio.create_task(agent.run(stop))
    try:
        await until(lambda: agent.ready.is_set() or running.done(), 10, "the agent")
        assert not running.done(), running.exception()
        assert agent.listening is not None
        host, port = agent.listening
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=5,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            yield agent, http
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await running


async def test_monitoring_starts_without_the_store_which_joins_later(tmp_path: Path) -> None:
    later = tmp_path / "not-yet"  # SQLite cannot create a file in a missing directory
    async with running_agent(later / "pantau.db", tmp_path / "journal.db") as (agent, http):
        assert (await http.get("/healthz")).text.startswith("ok\nstore: joining")
        await until(lambda: agent.store_state() != "joining", 5, "a first try")
        health = await http.get("/healthz")
        assert (health.status_code, health.text) == (
            200, "ok\nstore: joining (BackendUnavailable)\n")
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.get("/api/v1/devices")).status_code == 200  # monitoring only
        assert (await http.get("/api/v1/devices/none")).status_code == 404  # not 503
        for path in ("/api/v1/tickets", "/tickets", "/"):
            answer = await http.get(path)
            assert (answer.status_code, answer.text) == (503, STORE_JOINING_TEXT), path
            assert str(tmp_path) not in answer.text

        later.mkdir()  # the store can be opened now: it joins on its next try (≤ 4 s)
        await until(lambda: agent.store_state() == "ready", 15, "the store to join")
        health = await http.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok\nstore: ready\n")
        assert (await http.get("/api/v1/tickets")).status_code == 200


async def test_a_store_that_is_there_is_ready_with_the_agent(tmp_path: Path) -> None:
    """The first try comes before monitoring starts: no 503 race for API clients at start."""
    async with running_agent(tmp_path / "pantau.db", tmp_path / "journal.db") as (agent, http):
        assert agent.store_state() == "ready"
        assert (await http.get("/api/v1/tickets")).status_code == 200


async def test_the_first_try_at_start_is_cut_at_its_timeout() -> None:
    """A store that never answers (a silent host) does not hold monitoring's start."""
    gate = StoreGate()

    async def connect() -> TicketStore:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def then() -> None:
        raise AssertionError("never joined")

    assert not await gate.attempt(connect, then, timeout_seconds=0.05)
    assert (gate.state, gate.reason) == ("joining", "TimeoutError")
