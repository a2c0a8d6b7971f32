"""BER codec for SNMP v1/v2c messages: encodes GET/GETNEXT/GETBULK requests, decodes responses;
and the SNMPv3 engine-ID discovery request with the check of its answer.

Pure code, no I/O. Object identifiers travel as their encoded BER contents (`bytes`), which are
hashable, cheap to compare for equality and test for a prefix; `decode_oid` turns them into tuples.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address
from typing import Final, TypeAlias

V1: Final = 0
V2C: Final = 1

GET_REQUEST: Final = 0xA0
GET_NEXT_REQUEST: Final = 0xA1
RESPONSE: Final = 0xA2
GET_BULK_REQUEST: Final = 0xA5

NO_ERROR: Final = 0
TOO_BIG: Final = 1
NO_SUCH_NAME: Final = 2

# RFC 3416 §3 error-status names, indexed by value (0..5 are also SNMPv1's).
ERROR_STATUS_NAMES: Final = (
    "noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess",
    "wrongType", "wrongLength", "wrongEncoding", "wrongValue", "noCreation",
    "inconsistentValue", "resourceUnavailable", "commitFailed", "undoFailed",
    "authorizationError", "notWritable", "inconsistentName",
)  # fmt: skip

_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_UINT32_MAX: Final = 2**32 - 1
_UINT64_MAX: Final = 2**64 - 1
_OCTETS_MAX: Final = 65535  # SMIv2 OCTET STRING (SIZE (0..65535)), RFC 2578 §7.1.2

# One canonical sub-identifier: at most 5 octets, no leading 0x80 octet (X.690 §8.19.2), and
# at most 2**32-1 (RFC 2578 §7.1.3), so a 5-octet one starts with 0x81..0x8f.
_OID_RE: Final = re.compile(
    rb"(?:(?:[\x81-\xff][\x80-\xff]{0,2}|[\x81-\x8f][\x80-\xff]{3})?[\x00-\x7f])+"
)


class BerError(ValueError):
    """The bytes are not a well-formed SNMP v1/v2c message; the message says what is wrong."""


class Counter32(int):
    """SMIv2 Counter32 (APPLICATION 1): wraps at 2**32."""

    __slots__ = ()


class Gauge32(int):
    """SMIv2 Gauge32 / Unsigned32 (APPLICATION 2): same encoding, same type here."""

    __slots__ = ()


class TimeTicks(int):
    """SMIv2 TimeTicks (APPLICATION 3): hundredths of a second."""

    __slots__ = ()


class Counter64(int):
    """SMIv2 Counter64 (APPLICATION 6): wraps at 2**64; SNMPv2c only."""

    __slots__ = ()


class Opaque(bytes):
    """SMIv2 Opaque (APPLICATION 4): the raw BER of some other value, left undecoded."""

    __slots__ = ()


class Absent(enum.Enum):
    """SNMPv2 exception values (RFC 3416 §3): the variable has no value to report."""

    NO_SUCH_OBJECT = 0x80
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82


NO_SUCH_OBJECT: Final = Absent.NO_SUCH_OBJECT
NO_SUCH_INSTANCE: Final = Absent.NO_SUCH_INSTANCE
END_OF_MIB_VIEW: Final = Absent.END_OF_MIB_VIEW

#: A varbind value: INTEGER -> int, OCTET STRING -> bytes, NULL -> None, OBJECT IDENTIFIER ->
#: tuple, IpAddress -> IPv4Address, Counter32/Gauge32/TimeTicks/Counter64 -> int subclasses,
#: Opaque -> bytes subclass, exception values -> Absent.
Value: TypeAlias = int | bytes | tuple[int, ...] | IPv4Address | Absent | None

#: The contents octets of a BER OBJECT IDENTIFIER, canonical (see `encode_oid`).
EncodedOid: TypeAlias = bytes


@dataclass(frozen=True, slots=True)
class Response:
    """One decoded SNMP v1/v2c message.

    `varbinds` pairs each encoded OID with its value. For a GETBULK request (only produced by
    `decode_message`) `error_status` and `error_index` hold non-repeaters and max-repetitions.
    """

    version: int
    community: bytes
    pdu_type: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[tuple[EncodedOid, Value]]

    @property
    def error_name(self) -> str:
        """The RFC 3416 name of `error_status` ("noError", "tooBig", ...)."""
        return error_status_name(self.error_status)


def error_status_name(status: int) -> str:
    """The RFC 3416 name of an error-status value, or `error-status N` for unknown values."""
    if 0 <= status < len(ERROR_STATUS_NAMES):
        return ERROR_STATUS_NAMES[status]
    return f"error-status {status}"


# --------------------------------------------------------------------------- OIDs


def encode_oid(oid: Sequence[int]) -> EncodedOid:
    """Encode an OID's arcs as BER contents octets (no tag or length).

    Raises ValueError for fewer than two arcs, a first arc other than 0..2, a second arc above
    39 under 0 or 1, or an arc outside 0..2**32-1.
    """
    if isinstance(oid, tuple):
        return _encode_oid_cached(oid)
    return _encode_oid(tuple(oid))


@lru_cache(maxsize=4096)
def _encode_oid_cached(oid: tuple[int, ...]) -> EncodedOid:
    # A pure memo: pollers ask for the same few hundred OIDs every cycle.
    return _encode_oid(oid)


def _encode_oid(oid: tuple[int, ...]) -> EncodedOid:
    if len(oid) < 2:
        raise ValueError(f"an OID needs at least two arcs, got {oid!r}")
    x, y = oid[0], oid[1]
    if not (0 <= x <= 2) or y < 0 or (x < 2 and y > 39):
        raise ValueError(f"invalid first arcs {x}.{y}")
    first = 40 * x + y
    if first > _UINT32_MAX:
        raise ValueError(f"second arc too large: {y}")
    subids = (first, *oid[2:])
    for arc in subids:
        if not isinstance(arc, int) or arc < 0 or arc > _UINT32_MAX:
            raise ValueError(f"OID arc out of range 0..2**32-1: {arc!r}")
    if max(subids) < 0x80:
        return bytes(subids)
    out = bytearray()
    for arc in subids:
        if arc < 0x80:
            out.append(arc)
        else:
            chunk = [arc & 0x7F]
            arc >>= 7
            while arc:
                chunk.append(0x80 | (arc & 0x7F))
                arc >>= 7
            out.extend(reversed(chunk))
    return bytes(out)


def decode_arcs(raw: bytes) -> tuple[int, ...]:
    """Decode a run of encoded sub-identifiers (e.g. an index suffix) without the first-arc rule.

    Raises BerError unless `raw` is a sequence of canonical sub-identifiers (may be empty).
    """
    if raw.isascii():
        return tuple(raw)
    if _OID_RE.fullmatch(raw) is None:
        raise BerError("malformed OID sub-identifier")
    arcs: list[int] = []
    value = 0
    for octet in raw:
        value = (value << 7) | (octet & 0x7F)
        if octet < 0x80:
            arcs.append(value)
            value = 0
    return tuple(arcs)


def decode_oid(raw: EncodedOid) -> tuple[int, ...]:
    """Decode BER OID contents to arcs, splitting the first sub-identifier into X.Y (40*X+Y).

    Raises BerError for empty or non-canonical contents.
    """
    if not raw:
        raise BerError("empty OID")
    subids = decode_arcs(raw)
    first = subids[0]
    if first < 40:
        return (0, first, *subids[1:])
    if first < 80:
        return (1, first - 40, *subids[1:])
    return (2, first - 80, *subids[1:])


def format_oid(oid: Sequence[int] | EncodedOid) -> str:
    """Dotted text of an OID given as arcs or encoded contents ("1.3.6.1.2.1.1.3.0")."""
    arcs = decode_oid(oid) if isinstance(oid, bytes) else oid
    return ".".join(map(str, arcs))


# --------------------------------------------------------------------------- encoder


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    return bytes((tag,)) + _len(n) + body


def _int(value: int) -> bytes:
    # Minimal two's complement (X.690 §8.3.2).
    body = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return bytes((0x02, len(body))) + body


def encode_request(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    oids: Sequence[Sequence[int] | EncodedOid],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """Encode a GetRequest, GetNextRequest or GetBulkRequest with NULL values.

    `oids` are arcs or encoded OIDs (`bytes`, as in `Response.varbinds`; not re-validated).
    `non_repeaters` and `max_repetitions` are only used by GETBULK, which SNMPv1 lacks.
    Raises ValueError for arguments the protocol cannot carry.
    """
    if version not in (V1, V2C):
        raise ValueError(f"unsupported SNMP version {version!r}")
    if pdu_type not in (GET_REQUEST, GET_NEXT_REQUEST, GET_BULK_REQUEST):
        raise ValueError(f"unsupported PDU type {pdu_type:#x}")
    if pdu_type == GET_BULK_REQUEST and version == V1:
        raise ValueError("SNMPv1 has no GetBulkRequest")
    if not (_INT32_MIN <= request_id <= _INT32_MAX):
        raise ValueError("request-id must fit in Integer32")
    if pdu_type == GET_BULK_REQUEST:
        if not (0 <= non_repeaters <= _INT32_MAX and 0 <= max_repetitions <= _INT32_MAX):
            raise ValueError("non-repeaters and max-repetitions must be in 0..2**31-1")
        second, third = non_repeaters, max_repetitions
    else:
        second = third = 0
    parts: list[bytes] = []
    append = parts.append
    for oid in oids:
        raw = oid if isinstance(oid, bytes) else encode_oid(oid)
        n = len(raw)
        if n < 0x7C:  # the varbind's own length (n + 4) still fits the short form
            append(b"\x30%c\x06%c%b\x05\x00" % (n + 4, n, raw))
        else:
            append(_tlv(0x30, _tlv(0x06, raw) + b"\x05\x00"))
    header = _int(request_id) + _int(second) + _int(third)
    pdu = _tlv(pdu_type, header + _tlv(0x30, b"".join(parts)))
    return _tlv(0x30, _int(version) + _tlv(0x04, community) + pdu)


# --------------------------------------------------------------------------- decoder


def decode_response(data: bytes | bytearray | memoryview) -> Response:
    """Decode an SNMP v1/v2c Response-PDU message.

    Strict where BER is lax: definite lengths only, primitive encodings only, no bytes after
    the message, integers at most as long as their type allows and within its range, canonical
    OIDs with 32-bit arcs; v2-only types (Counter64, exception values) are refused in SNMPv1.
    Raises BerError and nothing else for any input.
    """
    try:
        return _decode(bytes(data), True)
    except IndexError:
        raise BerError("truncated message") from None


def decode_message(data: bytes | bytearray | memoryview) -> Response:
    """Decode any SNMP v1/v2c message with the PDU shape of RFC 3416 (requests too; not v1 Trap).

    Used to check our own encoder; raises BerError like `decode_response`.
    """
    try:
        return _decode(bytes(data), False)
    except IndexError:
        raise BerError("truncated message") from None


def peek_request_id(data: bytes | bytearray | memoryview) -> int | None:
    """The request-id of a message whose header decodes, even if its varbinds do not; else None."""
    try:
        return _decode_header(bytes(data), False)[3]
    except (BerError, IndexError):
        return None


def _length(data: bytes, i: int) -> tuple[int, int]:
    """Long-form length at data[i] (first octet has bit 8 set): returns (length, next index)."""
    k = data[i] & 0x7F
    if k == 0:
        raise BerError("indefinite length")
    if k > 4:
        raise BerError("length field too long")
    j = i + 1 + k
    if j > len(data):
        raise BerError("truncated length")
    return int.from_bytes(data[i + 1 : j], "big"), j


def _integer(data: bytes, i: int, end: int, what: str) -> tuple[int, int]:
    """A universal INTEGER fitting Integer32 at data[i]: returns (value, next index)."""
    if data[i] != 0x02:
        raise BerError(f"{what}: expected INTEGER, got tag {data[i]:#04x}")
    n = data[i + 1]
    if n < 0x80:
        j = i + 2
    else:
        n, j = _length(data, i + 1)
    if n == 0 or n > 5:
        raise BerError(f"{what}: bad INTEGER length {n}")
    k = j + n
    if k > end:
        raise BerError(f"{what}: truncated")
    value = int.from_bytes(data[j:k], "big", signed=True)
    if value < _INT32_MIN or value > _INT32_MAX:
        raise BerError(f"{what}: out of range")
    return value, k


_VALUE_TAGS: Final = frozenset(
    (0x02, 0x04, 0x05, 0x06, 0x40, 0x41, 0x42, 0x43, 0x44, 0x46, 0x80, 0x81, 0x82)
)
_PDU_TAGS: Final = frozenset((0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA6, 0xA7, 0xA8))
_V1_PDU_TAGS: Final = frozenset((0xA0, 0xA1, 0xA2, 0xA3))


def _decode_header(
    data: bytes, response_only: bool
) -> tuple[int, bytes, int, int, int, int, int, int]:
    """(version, community, pdu_type, request_id, status, index, varbinds start, varbinds end)."""
    if data[0] != 0x30:
        raise BerError(f"message: expected SEQUENCE, got tag {data[0]:#04x}")
    n = data[1]
    if n < 0x80:
        i = 2
    else:
        n, i = _length(data, 1)
    end = i + n
    if end != len(data):
        raise BerError("trailing bytes after message" if end < len(data) else "truncated message")
    version, i = _integer(data, i, end, "version")
    if version != V1 and version != V2C:
        raise BerError(f"unsupported SNMP version {version}")
    if data[i] != 0x04:
        raise BerError("community: expected OCTET STRING")
    n = data[i + 1]
    if n < 0x80:
        i += 2
    else:
        n, i = _length(data, i + 1)
    j = i + n
    if j > end:
        raise BerError("community: truncated")
    community = data[i:j]
    i = j
    pdu_type = data[i]
    if response_only:
        if pdu_type != RESPONSE:
            raise BerError(f"expected a Response-PDU, got tag {pdu_type:#04x}")
    elif pdu_type not in (_V1_PDU_TAGS if version == V1 else _PDU_TAGS):
        raise BerError(f"unexpected PDU tag {pdu_type:#04x}")
    n = data[i + 1]
    if n < 0x80:
        i += 2
    else:
        n, i = _length(data, i + 1)
    if i + n != end:
        raise BerError("PDU length does not match message")
    request_id, i = _integer(data, i, end, "request-id")
    status, i = _integer(data, i, end, "error-status")
    index, i = _integer(data, i, end, "error-index")
    # error-index is 0..max-bindings (RFC 3416); in a GetBulkRequest both fields are counts.
    if index < 0 or (status < 0 and pdu_type == GET_BULK_REQUEST):
        raise BerError("error-index: out of range")
    if data[i] != 0x30:
        raise BerError("variable-bindings: expected SEQUENCE")
    n = data[i + 1]
    if n < 0x80:
        i += 2
    else:
        n, i = _length(data, i + 1)
    if i + n != end:
        raise BerError("variable-bindings length does not match PDU")
    return version, community, pdu_type, request_id, status, index, i, end


def _decode(data: bytes, response_only: bool) -> Response:
    version, community, pdu_type, request_id, status, index, i, end = _decode_header(
        data, response_only
    )
    varbinds = decode_varbinds(data, i, end, version == V2C)
    return Response(version, community, pdu_type, request_id, status, index, varbinds)


def decode_varbinds(data: bytes, i: int, end: int, v2: bool) -> list[tuple[EncodedOid, Value]]:
    """The varbinds encoded in data[i:end] (the contents of a VarBindList); `v2` admits the
    SNMPv2-only types. Raises BerError, or IndexError on truncation (callers map it)."""
    from_bytes = int.from_bytes
    oid_ok = _OID_RE.fullmatch
    varbinds: list[tuple[EncodedOid, Value]] = []
    append = varbinds.append
    value: Value
    while i < end:
        # VarBind ::= SEQUENCE { name OBJECT IDENTIFIER, value }
        if data[i] != 0x30:
            raise BerError("varbind: expected SEQUENCE")
        n = data[i + 1]
        if n < 0x80:
            i += 2
        else:
            n, i = _length(data, i + 1)
        vb_end = i + n
        if vb_end > end:
            raise BerError("varbind: truncated")
        if data[i] != 0x06:
            raise BerError("varbind name: expected OBJECT IDENTIFIER")
        n = data[i + 1]
        if n < 0x80:
            i += 2
        else:
            n, i = _length(data, i + 1)
        j = i + n
        if j > vb_end or n == 0:
            raise BerError("varbind name: bad length")
        oid = data[i:j]
        if not oid.isascii() and oid_ok(oid) is None:
            raise BerError("varbind name: malformed OID")
        tag = data[j]
        n = data[j + 1]
        if n < 0x80:
            i = j + 2
        else:
            n, i = _length(data, j + 1)
        j = i + n
        if j != vb_end:
            if tag not in _VALUE_TAGS:
                raise BerError(f"varbind value: unexpected tag {tag:#04x}")
            raise BerError("varbind value: length does not match varbind")
        if tag == 0x41 or tag == 0x42 or tag == 0x43:
            if n == 0 or n > 5:
                raise BerError("varbind value: bad unsigned integer length")
            raw_int = from_bytes(data[i:j], "big", signed=True)
            if raw_int < 0 or raw_int > _UINT32_MAX:
                raise BerError("varbind value: unsigned integer out of range")
            value = (
                Counter32(raw_int) if tag == 0x41 else Gauge32(raw_int) if tag == 0x42
                else TimeTicks(raw_int)
            )  # fmt: skip
        elif tag == 0x02:
            if n == 0 or n > 5:
                raise BerError("varbind value: bad INTEGER length")
            value = from_bytes(data[i:j], "big", signed=True)
            if value < _INT32_MIN or value > _INT32_MAX:
                raise BerError("varbind value: INTEGER out of range")
        elif tag == 0x04:
            if n > _OCTETS_MAX and v2:
                raise BerError("varbind value: OCTET STRING too long")
            value = data[i:j]
        elif tag == 0x46 and v2:
            if n == 0 or n > 9:
                raise BerError("varbind value: bad Counter64 length")
            raw_int = from_bytes(data[i:j], "big", signed=True)
            if raw_int < 0 or raw_int > _UINT64_MAX:
                raise BerError("varbind value: Counter64 out of range")
            value = Counter64(raw_int)
        elif tag == 0x05:
            if n:
                raise BerError("varbind value: NULL with contents")
            value = None
        elif tag == 0x06:
            if n == 0:
                raise BerError("varbind value: empty OBJECT IDENTIFIER")
            value = decode_oid(data[i:j])
        elif tag == 0x40:
            if n != 4:
                raise BerError("varbind value: IpAddress must be 4 octets")
            value = IPv4Address(data[i:j])
        elif tag == 0x44:
            if n > _OCTETS_MAX and v2:
                raise BerError("varbind value: Opaque too long")
            value = Opaque(data[i:j])
        elif 0x80 <= tag <= 0x82 and v2:
            if n:
                raise BerError("varbind value: exception value with contents")
            value = Absent(tag)
        else:
            raise BerError(f"varbind value: unexpected tag {tag:#04x}")
        append((oid, value))
        i = j
    return varbinds


# --------------------------------------------------------------------------- SNMPv3 discovery
#
# The discovery probe is 100 bytes of hand-made BER rather than a pysnmp request: pysnmp would
# need a user in its engine, caches what it discovers, and answers "unknownUserName" only after
# a second round trip. Any SNMPv3 message that echoes our msgID proves the agent is alive.

_EMPTY_OCTETS: Final = _tlv(0x04, b"")


def encode_discovery(msg_id: int, request_id: int) -> bytes:
    """An SNMPv3 GetRequest with no varbinds, noAuthNoPriv, reportable, empty user and engine
    ID: the engine-ID discovery message of RFC 3414 §4."""
    header = _tlv(0x30, _int(msg_id) + _int(65507) + _tlv(0x04, b"\x04") + _int(3))
    usm_params = _tlv(
        0x30, _EMPTY_OCTETS + _int(0) + _int(0) + _EMPTY_OCTETS * 3
    )  # engine ID, boots, time, user name, auth params, priv params
    pdu = _tlv(0xA0, _int(request_id) + _int(0) + _int(0) + _tlv(0x30, b""))
    scoped = _tlv(0x30, _EMPTY_OCTETS + _EMPTY_OCTETS + pdu)
    return _tlv(0x30, _int(3) + header + _tlv(0x04, usm_params) + scoped)


def _element(data: bytes, i: int, end: int) -> tuple[int, int, int]:
    """The TLV at data[i], inside data[:end]: (tag, contents start, contents end)."""
    if i + 2 > end:
        raise BerError("truncated")
    tag, n = data[i], data[i + 1]
    if n < 0x80:
        i += 2
    else:
        n, i = _length(data, i + 1)
    if i + n > end:
        raise BerError("truncated")
    return tag, i, i + n


def parse_discovery_reply(data: bytes, msg_id: int) -> bytes | None:
    """The authoritative engine ID from an SNMPv3 message answering `msg_id`, else None."""
    try:
        tag, i, end = _element(data, 0, len(data))
        if tag != 0x30:
            return None
        tag, s, e = _element(data, i, end)
        if tag != 0x02 or int.from_bytes(data[s:e], "big", signed=True) != 3:
            return None
        tag, s, header_end = _element(data, e, end)
        if tag != 0x30:
            return None
        tag, s2, e2 = _element(data, s, header_end)
        if tag != 0x02 or int.from_bytes(data[s2:e2], "big", signed=True) != msg_id:
            return None
        tag, s, e = _element(data, header_end, end)  # msgSecurityParameters
        if tag != 0x04:
            return None
        tag, s, e = _element(data, s, e)  # UsmSecurityParameters
        if tag != 0x30:
            return None
        tag, s, e = _element(data, s, e)  # msgAuthoritativeEngineID
        return data[s:e] if tag == 0x04 else None
    except BerError:
        return None
