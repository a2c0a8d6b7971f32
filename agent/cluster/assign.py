"""Which live member polls which device: rendezvous (highest random weight) hashing, with
bounded loads, of the root of each device's parent chain over the members, so a tree stays
on one member, the split stays even, and a member coming or going moves about its own share
only. Pure."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from hashlib import blake2b

from agent.core import topology
from agent.core.model import Device

#: How far over an even share a member may be given devices (see `assign`).
LOAD_SLACK = 0.05


def weight(member: str, key: str) -> int:
    """The member's weight for `key`: 64 bits of blake2b, the same in every process (Python's
    hash() is salted per process, so members would disagree)."""
    return int.from_bytes(blake2b(f"{member}\0{key}".encode(), digest_size=8).digest(), "big")


def root_of(device: Device, index: Mapping[str, Device]) -> str:
    """The top of `device`'s parent chain within `index` (itself when it has no parent)."""
    def parent(name: str) -> str | None:
        up = (device if name == device.name else index[name]).parent
        return up if up in index else None

    *_, root = device.name, *topology.ancestors(device.name, parent)
    return root


def ranked(key: str, members: Iterable[str]) -> list[str]:
    """The members by their weight for `key`, highest first (ties, all but impossible, by
    name): plain rendezvous hashing gives `key` to the first."""
    return sorted(members, key=lambda m: (weight(m, key), m), reverse=True)


def assign(devices: Sequence[Device], members: Collection[str]) -> dict[str, str]:
    """Device name -> its member; empty when there is no member.

    Rendezvous hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, "Consistent
    Hashing with Bounded Loads", 2018): trees are placed biggest first, then in the order of
    a hash of their root (the same for every member set), each on the highest-ranked member
    that stays within `1 + LOAD_SLACK` times an even share. Plain rendezvous leaves a member
    of three 25 % off an even share of 300 devices quite often (one tree of 21 and binomial
    luck); the bound keeps each at most 5 % over, while a member that comes or goes still
    moves its own share plus the few trees the bound had pushed down their ranking.
    """
    if not members:
        return {}
    index = {d.name: d for d in devices}
    trees: dict[str, list[str]] = {}
    for d in devices:
        trees.setdefault(root_of(d, index), []).append(d.name)
    cap = math.ceil((1 + LOAD_SLACK) * len(devices) / len(members))
    load = dict.fromkeys(members, 0)
    out: dict[str, str] = {}
    for root in sorted(trees, key=lambda r: (-len(trees[r]), weight("", r), r)):
        size = len(trees[root])
        order = ranked(root, members)
        chosen = next((m for m in order if load[m] + size <= cap),
                      min(order, key=lambda m: load[m]))  # no room anywhere: the emptiest
        load[chosen] += size
        out.update(dict.fromkeys(trees[root], chosen))
    return out


def owned(devices: Sequence[Device], members: Collection[str], me: str) -> tuple[Device, ...]:
    """`me`'s devices among `devices`, in inventory order."""
    of = assign(devices, members)
    return tuple(d for d in devices if of.get(d.name) == me)


def inventory_hash(devices: Iterable[Device]) -> str:
    """A digest of the inventory (every field of every device, in any order): members compare
    it to tell that they run the same one. 32 hex digits."""
    h = blake2b(digest_size=16)
    for d in sorted(devices, key=lambda d: d.name):
        h.update(repr(d).encode())
        h.update(b"\n")
    return h.hexdigest()
