"""The agent's heap and the cyclic garbage collector: what start-up built lives as long as
the agent, so it is frozen out of every later collection, and young collections run less
often. At 10,000 devices each full collection otherwise walks millions of objects."""

from __future__ import annotations

import gc

# Allocations between young collections (CPython's default is 700). Most of the agent's
# garbage is freed by reference counting; the collector only has to find cycles.
YOUNG_THRESHOLD = 20_000


def settle() -> None:
    """Collect once, then move every object alive now out of the collector's reach (it is
    still freed by reference counting). Call after start-up built the inventory's state."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    gc.collect()
    gc.freeze()
