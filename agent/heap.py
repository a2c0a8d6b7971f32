"""The agent's heap and the cyclic garbage collector: what start-up built lives as long as
the agent, so it is frozen out of every later collection; young collections run less often;
and full collections run on the agent's schedule, not CPython's.

At 10,000 devices + 1,000 SNMP devices the live heap holds about 900,000 tracked objects
(half a million of them the interfaces' Samples), and each full collection walks all of them:
0.51-0.59 s with the loop stopped, every 80 s or so, while finding next to nothing (0-62
objects; measured with gc.callbacks on `pantau run` in the lab). Almost all garbage is freed
by reference counting, so a full collection once an hour keeps the few cycles in check.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator

from agent.core.clock import Clock

log = logging.getLogger(__name__)

# Allocations between young collections (CPython's default is 700). Most of the agent's
# garbage is freed by reference counting; the collector only has to find cycles.
YOUNG_THRESHOLD = 20_000
# CPython starts a full collection after this many middle ones (and once the old generation
# grew by a quarter); this many never come, so `collect_periodically` alone runs them.
NO_AUTOMATIC_FULL = 1 << 30
FULL_COLLECTION_SECONDS = 3600.0


def settle() -> None:
    """Collect once, then move every object alive now out of the collector's reach (it is
    still freed by reference counting), and leave full collections to
    `collect_periodically`. Call after start-up built the inventory's state."""
    _, middle, _ = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, NO_AUTOMATIC_FULL)
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def settled() -> Iterator[None]:
    """`settle()`, and on exit the collector as it was (thresholds; nothing frozen), so that
    a process that runs an agent and goes on (the tests) is collected as usual again."""
    threshold = gc.get_threshold()
    settle()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def collect_periodically(clock: Clock, seconds: float = FULL_COLLECTION_SECONDS) -> None:
    """A full collection every `seconds`, until cancelled (it stops the loop for as long as
    it takes: logged)."""
    while True:
        await clock.sleep(seconds)
        started = clock.monotonic()
        found = gc.collect()
        log.info("full garbage collection", extra={
            "collected": found, "seconds": round(clock.monotonic() - started, 3)})
