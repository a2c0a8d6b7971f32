"""Which live member polls which device: rendezvous (highest random weight) hashing of the
root of each device's parent chain over the members, so a tree stays on one member and a
member coming or going moves only its own share. Pure."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from hashlib import blake2b

from agent.core import topology
from agent.core.model import Device


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


def owner(key: str, members: Iterable[str]) -> str | None:
    """The member with the highest weight for `key` (ties, all but impossible, by name)."""
    return max(members, key=lambda m: (weight(m, key), m), default=None)


def assign(devices: Sequence[Device], members: Collection[str]) -> dict[str, str]:
    """Device name -> its member; empty when there is no member."""
    if not members:
        return {}
    index = {d.name: d for d in devices}
    roots: dict[str, str] = {}
    out: dict[str, str] = {}
    for d in devices:
        root = root_of(d, index)
        if root not in roots:
            roots[root] = owner(root, members) or ""
        out[d.name] = roots[root]
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
