"""What both SNMP clients do around their requests: describe a call, turn its failures into
CollectorError subclasses whose messages name the target, the elapsed time and the likely
cause, bound a walk by its total timeout, and split a multi-column walk's replies into rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from agent.core.clock import Clock
from agent.core.errors import ProtocolError, TargetTimeout, TargetUnreachable
from agent.core.model import host_port
from collectors.snmp import ber
from collectors.snmp.ber import Absent, Value
from collectors.snmp.protocol import Oid

#: An OID as a client carries it: encoded contents (FastSnmpClient) or arcs (PysnmpClient).
OidForm = TypeVar("OidForm", bytes, tuple[int, ...])


@dataclass(frozen=True, slots=True)
class Call:
    """What one public call is doing, for error messages (never holds a community or key)."""

    device: str
    check: str
    verb: str  # "getting", "getting next", "walking"
    where: str  # host:port
    started: float  # clock.monotonic()
    user: str = ""  # the SNMPv3 user name, if any

    @classmethod
    def begin(
        cls, clock: Clock, host: str, port: int, device: str | None, check: str, verb: str,
        user: str = "",
    ) -> Call:  # fmt: skip
        """A call starting now; `device` defaults to the target's host:port."""
        where = host_port(host, port)
        return cls(device or where, check, verb, where, clock.monotonic(), user)

    def protocol_error(self, what: str) -> ProtocolError:
        """The agent or the library answered something we cannot use."""
        return ProtocolError(self.device, self.check, f"{what} {self.verb} {self.where}")

    def status_error(self, status: int, index: int) -> ProtocolError:
        """The agent answered a non-zero error-status."""
        name = ber.error_status_name(status)
        return self.protocol_error(f"agent answered {name} (error-index {index})")

    def timed_out(self, clock: Clock) -> TargetTimeout:
        """Every try of a request went unanswered."""
        elapsed = clock.monotonic() - self.started
        return TargetTimeout(
            self.device, self.check,
            f"after {elapsed:.1f}s (possible timeout) {self.verb} {self.where}",
        )  # fmt: skip

    def cancelled(self, clock: Clock) -> TargetTimeout:
        """The call's total timeout ran out between or during requests."""
        elapsed = clock.monotonic() - self.started
        return TargetTimeout(
            self.device, self.check,
            f"cancelled after {elapsed:.1f}s (possible timeout) {self.verb} {self.where}",
        )  # fmt: skip

    def unreachable(self, reason: str) -> TargetUnreachable:
        """The request could not be sent (no route, refused by a firewall)."""
        return TargetUnreachable(
            self.device, self.check, f"cannot send {self.verb} {self.where}: {reason}"
        )


async def bounded(
    call: Call, clock: Clock, total_timeout: float | None, work: Awaitable[None]
) -> None:
    """Await `work` within `total_timeout` seconds (None: unbounded).

    Raises `call.cancelled()` when that timeout expires; a cancellation from outside passes.
    """
    try:
        async with asyncio.timeout(total_timeout) as scope:
            await work
    except TimeoutError:
        if not scope.expired():
            raise
        raise call.cancelled(clock) from None


@dataclass(slots=True)
class Column(Generic[OidForm]):
    """One table column of a walk: its prefix, the OID the next request asks after, its rows."""

    prefix: OidForm
    last: OidForm
    last_index: Oid = ()
    rows: list[tuple[Oid, Value]] = field(default_factory=list)
    done: bool = False


def take_rows(
    call: Call,
    open_cols: list[Column[OidForm]],
    varbinds: Sequence[tuple[OidForm, Value]],
    index_of: Callable[[OidForm], Oid],
) -> list[Column[OidForm]]:
    """Add one reply's varbinds to the columns that asked for them; return those still open.

    The reply of a walk over `open_cols` is row-major: varbind k answers column k % width. A
    column ends when a varbind leaves its prefix or holds an exception value (`Absent`);
    `index_of` turns the rest of the OID into the row's index. Raises ProtocolError when a
    column's OIDs do not increase (an agent looping would otherwise never end the walk).
    """
    width = len(open_cols)
    count = len(varbinds)
    for c, col in enumerate(open_cols):
        prefix = col.prefix
        cut = len(prefix)
        rows = col.rows
        last_index = col.last_index
        last = col.last
        for k in range(c, count, width):
            oid, value = varbinds[k]
            if value.__class__ is Absent or oid[:cut] != prefix:
                col.done = True
                break
            index = index_of(oid[cut:])
            if index <= last_index:
                raise call.protocol_error(f"OID not increasing: {ber.format_oid(oid)}")
            rows.append((index, value))
            last_index = index
            last = oid
        col.last_index = last_index
        col.last = last
    return [c for c in open_cols if not c.done]
