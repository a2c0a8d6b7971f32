"""SNMP notifications as the agent sees them: what the trap receiver (collectors.snmp) hands
to the wiring, and why it drops the rest. The receiver writes these; the agent reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

# snmpTrapOID values (RFC 3418 / RFC 2863); a v1 generic trap maps onto these (RFC 3584).
COLD_START = (1, 3, 6, 1, 6, 3, 1, 1, 5, 1)
WARM_START = (1, 3, 6, 1, 6, 3, 1, 1, 5, 2)
LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
LINK_UP = (1, 3, 6, 1, 6, 3, 1, 1, 5, 4)
AUTHENTICATION_FAILURE = (1, 3, 6, 1, 6, 3, 1, 1, 5, 5)
KINDS: dict[tuple[int, ...], str] = {
    COLD_START: "coldStart",
    WARM_START: "warmStart",
    LINK_DOWN: "linkDown",
    LINK_UP: "linkUp",
    AUTHENTICATION_FAILURE: "authenticationFailure",
}
OTHER = "other"  # any other snmpTrapOID: counted per device and OID, kept in a ring

# pantau_traps_dropped_total{reason}: every datagram the receiver does not turn into a Trap
# is counted under exactly one of these.
DROP_REASONS = (
    "malformed",  # not a BER SNMP message we can read (truncated, bad lengths, junk)
    "oversize",  # longer than the receiver reads
    "unsupported",  # a PDU that is not a trap or an inform (a GET sent to the trap port)
    "unknown_source",  # no device with that address (nor agent-address, where allowed)
    "bad_community",  # v1/v2c community not the device's
    "usm",  # v3: unknown user, wrong digest, undecryptable, outside the time window
    "rate_limited",  # over the per-device or overall rate
)


@dataclass(frozen=True, slots=True)
class Trap:
    """One notification the receiver accepted: authenticated and matched to a device.

    `oid` is the snmpTrapOID (a v1 trap translated per RFC 3584); `kind` its name from
    KINDS, or OTHER. For linkDown/linkUp, `if_index`, `admin_up` and `oper_up` come from the
    varbinds when present. `varbinds` keeps the rest as (dotted OID, value as text), bounded
    by the receiver, for the device's page. No secret is ever part of a Trap.
    """

    device: str
    source: str  # the UDP source address it came from
    version: str  # "1", "2c" or "3"
    oid: tuple[int, ...]
    kind: str
    received_at: datetime
    inform: bool = False  # an InformRequest (answered with a Response)
    if_index: int | None = None
    admin_up: bool | None = None
    oper_up: bool | None = None
    varbinds: tuple[tuple[str, str], ...] = ()


TrapSink = Callable[[Trap], None]
DropSink = Callable[[str], None]  # called with one of DROP_REASONS per dropped datagram

# The SNMP check's `info` key that maps each monitored interface's ifIndex (dotted, as text)
# to its `interface` label, as a JSON object: how a linkDown/linkUp's ifIndex finds the
# interface subject it is about. Absent when no interface is monitored.
MONITORED_IF_INDEX = "monitored_if_index"
