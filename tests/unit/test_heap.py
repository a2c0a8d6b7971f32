"""The agent's heap: start-up's objects are frozen out of later collections."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agent import heap


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
