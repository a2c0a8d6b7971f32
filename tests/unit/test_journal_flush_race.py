"""Journal.flush when a write has finished but its callback has not run yet (found by the
cluster feed tests: a fixture's aclose() spun forever without yielding to the loop)."""

from __future__ import annotations

import asyncio
import threading

from agent.journal import Journal


async def flush_with_a_finished_write() -> bool:
    journal = await Journal.open(":memory:")
    try:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        done.set_result(None)
        journal._writing = done  # as after the executor finished, before `_written` ran
        done.add_done_callback(lambda f: journal._written(f, []))  # scheduled, not yet run
        return await journal.flush()
    finally:
        journal._writing = None
        await journal.aclose()


class TestFlushRace:
    """flush() yields to the loop until the finished write's callback has run."""

    def test_flush_returns(self) -> None:
        result: list[bool] = []
        # in a thread of its own: without the fix, flush() spins without ever yielding, so
        # no timeout on its own loop could stop it
        worker = threading.Thread(target=lambda: result.append(
            asyncio.run(flush_with_a_finished_write())), daemon=True)
        worker.start()
        worker.join(timeout=5)
        assert not worker.is_alive(), "flush() spun on a finished write"
        assert result == [True]
