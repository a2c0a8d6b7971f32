"""Parent chains: the one place that walks from a device up to its parents, or down to the
devices behind it.

The config loader reports cycles (`cycles`); the detector breaks them in hand-built
inventories (`without_cycles`); both the detector and the ticket feed walk up (`ancestors`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import TypeVar

N = TypeVar("N", bound=Hashable)


def ancestors(start: N, parent: Callable[[N], N | None]) -> Iterator[N]:
    """`start`'s parent, its parent's parent, ... up to the root. Stops before repeating a
    node, so a cycle ends the walk instead of hanging it."""
    seen = {start}
    node = parent(start)
    while node is not None and node not in seen:
        yield node
        seen.add(node)
        node = parent(node)


def cycles(parent_of: Mapping[str, str | None]) -> list[list[str]]:
    """Each cycle of two or more nodes once, in the order it is first met walking from the
    nodes in `parent_of`'s order. A parent outside `parent_of` ends a chain."""
    found: list[list[str]] = []
    settled: set[str] = set()  # known to lead to no new cycle
    for start in parent_of:
        chain: list[str] = []
        node: str | None = start
        while node is not None and node in parent_of and node not in settled and node not in chain:
            chain.append(node)
            node = parent_of[node]
        settled.update(chain)
        if node is not None and node in chain:
            cycle = chain[chain.index(node):]
            if len(cycle) > 1:
                found.append(cycle)
    return found


def without_cycles(parent_of: Mapping[str, str | None]) -> tuple[dict[str, str | None],
                                                                   list[str]]:
    """A copy in which parents outside the map, self-parents and one link of each cycle are
    None; with the nodes whose link was cut."""
    parent = {n: p if p in parent_of and p != n else None for n, p in parent_of.items()}
    cut = [cycle[0] for cycle in cycles(parent)]
    for name in cut:
        parent[name] = None
    return parent, cut


def descendants(start: N, children: Callable[[N], Sequence[N]]) -> Iterator[N]:
    """The nodes behind `start`, breadth first (the tree must be acyclic)."""
    queue = list(children(start))
    i = 0
    while i < len(queue):
        node = queue[i]
        i += 1
        yield node
        queue.extend(children(node))
