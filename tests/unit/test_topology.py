"""Parent chains: walking up, finding and breaking cycles, walking down."""

from __future__ import annotations

from agent.core import topology


def test_ancestors_walk_up_to_the_root() -> None:
    parent = {"ap": "dist", "dist": "core", "core": None}
    assert list(topology.ancestors("ap", parent.get)) == ["dist", "core"]
    assert list(topology.ancestors("core", parent.get)) == []


def test_ancestors_stop_before_repeating() -> None:
    parent = {"a": "b", "b": "c", "c": "a"}
    assert list(topology.ancestors("a", parent.get)) == ["b", "c"]
    assert list(topology.ancestors("x", {"x": "x"}.get)) == []


def test_cycles_are_found_once_in_walking_order() -> None:
    parent_of = {"a": "b", "b": "a", "c": "a", "d": "e", "e": "f", "f": "d", "g": None,
                 "h": "h", "i": "unknown"}
    assert topology.cycles(parent_of) == [["a", "b"], ["d", "e", "f"]]
    assert topology.cycles({"a": None, "b": "a"}) == []


def test_without_cycles_cuts_one_link_of_each_and_unknown_parents() -> None:
    parent, cut = topology.without_cycles({"a": "b", "b": "a", "c": "c", "d": "zz", "e": "a"})
    assert cut == ["a"]
    assert parent == {"a": None, "b": "a", "c": None, "d": None, "e": "a"}
    assert topology.cycles(parent) == []


def test_descendants_breadth_first() -> None:
    children = {"core": ["d1", "d2"], "d1": ["ap1"], "d2": ["ap2", "ap3"], "ap1": [],
                "ap2": [], "ap3": []}
    assert list(topology.descendants("core", children.__getitem__)) == [
        "d1", "d2", "ap1", "ap2", "ap3"]
    assert list(topology.descendants("ap1", children.__getitem__)) == []
