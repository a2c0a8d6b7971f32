"""The agent's heap: start-up's objects are frozen out of later collections."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from agent import heap
from tests.fakes import FakeClock


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_lives_now_and_raises_the_young_threshold(
        restored_gc: None) -> None:
    built_at_startup = [{"device": f"sw-{i}"} for i in range(1000)]
    gc.unfreeze()
    before = gc.get_freeze_count()
    heap.settle()
    assert gc.get_freeze_count() >= before + len(built_at_startup)
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    in_oldest = {id(o) for o in gc.get_objects(2)}  # where a collection would have put them
    assert not any(id(o) in in_oldest for o in built_at_startup)


def test_full_collections_are_left_to_the_agent(restored_gc: None) -> None:
    heap.settle()
    assert gc.get_threshold()[2] == heap.NO_AUTOMATIC_FULL


async def test_a_full_collection_each_period(restored_gc: None) -> None:
    """Cyclic garbage lives until the period's full collection frees it."""

    class Node:
        other: object = None

    clock = FakeClock()
    gc.disable()  # no automatic collection in between (restored below)
    task = asyncio.create_task(heap.collect_periodically(clock, seconds=600.0))
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        freed = weakref.ref(a)
        del a, b
        await clock.wait_sleepers(1)
        clock.advance(599.0)
        await asyncio.sleep(0)
        assert freed() is not None  # a cycle: reference counting alone does not free it
        clock.advance(1.0)
        await clock.wait_sleepers(1)  # collected, and asleep again
        assert freed() is None
    finally:
        task.cancel()
        gc.enable()


def test_settled_restores_the_collector(restored_gc: None) -> None:
    gc.unfreeze()
    threshold = gc.get_threshold()
    with heap.settled():
        assert gc.get_threshold()[2] == heap.NO_AUTOMATIC_FULL
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0
