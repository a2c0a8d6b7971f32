"""SNMP v1/v2c notifications on the lean BER codec: a v1 Trap-PDU, an SNMPv2-Trap or an
InformRequest decoded to one `Notification` (v1 translated per RFC 3584 §3.1), and the
Response-PDU that answers an inform. Pure code, no I/O; only BerError escapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Final

from collectors.snmp import ber
from collectors.snmp.ber import BerError, EncodedOid, Value

TRAP_V1: Final = 0xA4
INFORM_REQUEST: Final = 0xA6
SNMPV2_TRAP: Final = 0xA7
V3: Final = 3

SYS_UPTIME_0: Final = ber.encode_oid((1, 3, 6, 1, 2, 1, 1, 3, 0))
SNMP_TRAP_OID_0: Final = ber.encode_oid((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0))
SNMP_TRAP_ADDRESS_0: Final = ber.encode_oid((1, 3, 6, 1, 6, 3, 18, 1, 3, 0))
_SNMP_TRAPS: Final = (1, 3, 6, 1, 6, 3, 1, 1, 5)  # snmpTraps; generic-trap g is .(g + 1)


class UnsupportedPdu(BerError):
    """A readable SNMP message that is not a notification (a GET sent to the trap port)."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One v1/v2c notification. `varbinds` are those after sysUpTime.0 and snmpTrapOID.0 (a v1
    trap's own varbinds); `agent_address` is a v1 agent-addr or an snmpTrapAddress.0 varbind.
    The community and the raw VarBindList (echoed in an inform's Response) are kept out of
    the repr."""

    version: int  # ber.V1 or ber.V2C
    pdu_type: int  # TRAP_V1, SNMPV2_TRAP or INFORM_REQUEST
    request_id: int  # 0 for a v1 trap
    trap_oid: tuple[int, ...]
    agent_address: str | None
    varbinds: tuple[tuple[EncodedOid, Value], ...]
    community: bytes = field(repr=False, default=b"")
    varbind_list: bytes = field(repr=False, default=b"")  # the whole VarBindList TLV


def message_version(data: bytes) -> int:
    """The msgVersion of an SNMP message (0 = v1, 1 = v2c, 3 = v3) from its first octets.

    Raises BerError when the message does not start with SEQUENCE { INTEGER ...}.
    """
    try:
        tag, i, end = ber._element(data, 0, len(data))
        if tag != 0x30:
            raise BerError(f"message: expected SEQUENCE, got tag {tag:#04x}")
        return ber._integer(data, i, end, "version")[0]
    except IndexError:
        raise BerError("truncated message") from None


def decode_notification(data: bytes) -> Notification:
    """Decode a v1 Trap-PDU or a v2c SNMPv2-Trap / InformRequest message.

    Raises UnsupportedPdu for another PDU or version, BerError for anything malformed
    (including a v2 notification without sysUpTime.0 and snmpTrapOID.0 first).
    """
    try:
        return _decode(bytes(data))
    except IndexError:
        raise BerError("truncated message") from None


def _decode(data: bytes) -> Notification:
    tag, i, end = ber._element(data, 0, len(data))
    if tag != 0x30:
        raise BerError(f"message: expected SEQUENCE, got tag {tag:#04x}")
    if end != len(data):
        raise BerError("trailing bytes after message")
    version, i = ber._integer(data, i, end, "version")
    if version not in (ber.V1, ber.V2C):
        raise UnsupportedPdu(f"SNMP version {version} is not v1/v2c")
    tag, s, i = ber._element(data, i, end)
    if tag != 0x04:
        raise BerError("community: expected OCTET STRING")
    community = data[s:i]
    pdu_type, i, pdu_end = ber._element(data, i, end)
    if pdu_end != end:
        raise BerError("PDU length does not match message")
    if version == ber.V1 and pdu_type == TRAP_V1:
        return _decode_v1(data, i, end, community)
    if version == ber.V2C and pdu_type in (SNMPV2_TRAP, INFORM_REQUEST):
        return _decode_v2(data, i, end, community, pdu_type)
    raise UnsupportedPdu(f"PDU tag {pdu_type:#04x} is not a notification")


def _varbind_list(
    data: bytes, i: int, end: int, v2: bool
) -> tuple[list[tuple[bytes, Value]], bytes]:
    tag, s, e = ber._element(data, i, end)
    if tag != 0x30 or e != end:
        raise BerError("variable-bindings: expected SEQUENCE filling the PDU")
    return ber.decode_varbinds(data, s, e, v2), data[i:end]


def _decode_v1(data: bytes, i: int, end: int, community: bytes) -> Notification:
    # Trap-PDU ::= [4] { enterprise, agent-addr, generic-trap, specific-trap, time-stamp, vbs }
    tag, s, i = ber._element(data, i, end)
    if tag != 0x06 or s == i:
        raise BerError("enterprise: expected OBJECT IDENTIFIER")
    enterprise = ber.decode_oid(data[s:i])
    tag, s, i = ber._element(data, i, end)
    if tag != 0x40 or i - s != 4:
        raise BerError("agent-addr: expected a 4-octet IpAddress")
    agent = str(IPv4Address(data[s:i]))
    generic, i = ber._integer(data, i, end, "generic-trap")
    specific, i = ber._integer(data, i, end, "specific-trap")
    tag, s, i = ber._element(data, i, end)
    if tag != 0x43 or not 0 < i - s <= 5:
        raise BerError("time-stamp: expected TimeTicks")
    varbinds, raw = _varbind_list(data, i, end, False)
    oid: tuple[int, ...]
    if 0 <= generic <= 5:
        oid = (*_SNMP_TRAPS, generic + 1)
    elif generic == 6:  # enterpriseSpecific: enterprise.0.specific-trap (RFC 3584 §3.1)
        if specific < 0:
            raise BerError("specific-trap: negative")
        oid = (*enterprise, 0, specific)
    else:
        raise BerError(f"generic-trap: {generic} is not 0..6")
    return Notification(ber.V1, TRAP_V1, 0, oid, agent, tuple(varbinds), community, raw)


def _decode_v2(data: bytes, i: int, end: int, community: bytes, pdu_type: int) -> Notification:
    request_id, i = ber._integer(data, i, end, "request-id")
    _, i = ber._integer(data, i, end, "error-status")
    _, i = ber._integer(data, i, end, "error-index")
    varbinds, raw = _varbind_list(data, i, end, True)
    # RFC 3416 §4.2.6: sysUpTime.0 then snmpTrapOID.0 are the first two varbinds.
    if len(varbinds) < 2 or varbinds[0][0] != SYS_UPTIME_0 or varbinds[1][0] != SNMP_TRAP_OID_0:
        raise BerError("notification: sysUpTime.0 and snmpTrapOID.0 must come first")
    trap_oid = varbinds[1][1]
    if not isinstance(trap_oid, tuple):
        raise BerError("snmpTrapOID.0: expected an OBJECT IDENTIFIER value")
    rest = tuple(varbinds[2:])
    return Notification(ber.V2C, pdu_type, request_id, trap_oid, agent_address(rest), rest,
                        community, raw)  # fmt: skip


def agent_address(varbinds: tuple[tuple[EncodedOid, Value], ...]) -> str | None:
    """The snmpTrapAddress.0 value among `varbinds`, as text, if there is one."""
    for oid, value in varbinds:
        if oid == SNMP_TRAP_ADDRESS_0 and isinstance(value, IPv4Address):
            return str(value)
    return None


def encode_inform_response(note: Notification) -> bytes:
    """The Response-PDU answering an InformRequest: same version, community, request-id and
    varbinds (RFC 3416 §4.2.7), error-status noError."""
    if note.pdu_type != INFORM_REQUEST:
        raise ValueError("only an InformRequest is answered")
    pdu = ber._int(note.request_id) + ber._int(0) + ber._int(0) + note.varbind_list
    body = ber._int(note.version) + ber._tlv(0x04, note.community) + ber._tlv(ber.RESPONSE, pdu)
    return ber._tlv(0x30, body)
