"""What an accepted notification means, as a `Trap`: its kind, the IF-MIB interface facts of
a linkDown/linkUp, and a bounded text rendering of its varbinds; plus the token bucket that
bounds how many the receiver reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from ipaddress import IPv4Address
from typing import Final

from agent.core.traps import KINDS, LINK_DOWN, LINK_UP, OTHER, Trap
from collectors.snmp import ber
from collectors.snmp.ber import Absent, EncodedOid, Opaque, Value

MAX_VARBINDS: Final = 16
MAX_TEXT: Final = 200
_IF_INDEX: Final = ber.encode_oid((1, 3, 6, 1, 2, 1, 2, 2, 1, 1))
_IF_ADMIN_STATUS: Final = ber.encode_oid((1, 3, 6, 1, 2, 1, 2, 2, 1, 7))
_IF_OPER_STATUS: Final = ber.encode_oid((1, 3, 6, 1, 2, 1, 2, 2, 1, 8))


class TokenBucket:
    """`rate` tokens a second up to `burst`; `take(now)` spends one if there is one.

    Time is the caller's monotonic clock reading, so tests drive it with a FakeClock.
    """

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = now

    def take(self, now: float) -> bool:
        elapsed = now - self._stamp
        if elapsed > 0:
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
            self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def value_text(value: Value) -> str:
    """A varbind value as short text: OCTET STRING printable ASCII else hex, at most 200."""
    if isinstance(value, Opaque):
        text = value.hex()
    elif isinstance(value, bytes):
        decoded = value.decode("ascii", "replace")
        text = decoded if decoded.isprintable() else value.hex()
    elif isinstance(value, tuple):
        text = ".".join(map(str, value))
    elif isinstance(value, Absent):
        text = value.name.lower()
    elif value is None:
        text = "null"
    elif isinstance(value, IPv4Address):
        text = str(value)
    else:
        text = str(int(value))
    return text[:MAX_TEXT]


def _index_under(oid: EncodedOid, column: EncodedOid) -> int | None:
    """N when `oid` is column.N (one arc), else None."""
    if not oid.startswith(column) or len(oid) == len(column):
        return None
    suffix = ber.decode_arcs(oid[len(column) :])
    return suffix[0] if len(suffix) == 1 else None


def describe(
    *,
    device: str,
    source: str,
    version: str,
    trap_oid: tuple[int, ...],
    varbinds: Sequence[tuple[EncodedOid, Value]],
    received_at: datetime,
    inform: bool,
) -> Trap:
    """The Trap for an accepted notification (`varbinds` without sysUpTime/snmpTrapOID).

    Raises BerError only for a malformed OID suffix (the codec already refuses those).
    """
    kind = KINDS.get(trap_oid, OTHER)
    if_index: int | None = None
    admin_up: bool | None = None
    oper_up: bool | None = None
    if trap_oid in (LINK_DOWN, LINK_UP):
        for oid, value in varbinds:
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            if (n := _index_under(oid, _IF_INDEX)) is not None:
                if_index = value
            elif (n := _index_under(oid, _IF_ADMIN_STATUS)) is not None:
                admin_up = value == 1
                if_index = n if if_index is None else if_index
            elif (n := _index_under(oid, _IF_OPER_STATUS)) is not None:
                oper_up = value == 1
                if_index = n if if_index is None else if_index
    shown = tuple(
        (ber.format_oid(oid), value_text(value)) for oid, value in varbinds[:MAX_VARBINDS]
    )
    return Trap(
        device=device, source=source, version=version, oid=trap_oid, kind=kind,
        received_at=received_at, inform=inform, if_index=if_index, admin_up=admin_up,
        oper_up=oper_up, varbinds=shown,
    )  # fmt: skip
