"""Differential tests: collectors.snmp.ber against pyasn1 with pysnmp's v1/v2c message specs.

About 12,000 Hypothesis examples in all (see BER_PROFILE). Where pyasn1 is more lenient than
BER or SNMP allow, ours rejects on purpose; `STRICTER_ON_PURPOSE` lists those reasons.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api
from pysnmp.proto.api import v1, v2c

from collectors.snmp import ber

settings.register_profile(
    "ber-differential",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BER_PROFILE = settings.get_profile("ber-differential")
# Examples per test: 3,000 + 2,000 + 5,000 + 2,000 = 12,000 (~70 s on 2 cores).
VALID_EXAMPLES = 3000
REQUEST_EXAMPLES = 2000
MUTATION_EXAMPLES = 5000
RANDOM_EXAMPLES = 2000

DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"

# Where pyasn1 accepts and ours refuses, the refusal must carry one of these reasons
# (TestStricterThanPyasn1 shows one example of each):
# - indefinite lengths (X.690 allows them; SNMP agents do not send them);
# - integers longer than their type (5 octets, 9 for Counter64) or empty (X.690 §8.3.1), and
#   SNMPv1 INTEGERs / request-ids / error-indexes outside Integer32 (pysnmp's v1 is unbounded);
# - tags in any form but SNMP's own: constructed OCTET STRINGs, the high-tag-number form;
# - OID arcs above 2**32-1 (RFC 2578 §7.1.3);
# - length fields of more than 4 octets.
STRICTER_ON_PURPOSE = (
    "indefinite length",
    "bad INTEGER length",
    "bad unsigned integer length",
    "bad Counter64 length",
    "out of range",
    "unexpected tag",
    "expected INTEGER",
    "expected SEQUENCE",
    "expected OCTET STRING",
    "expected OBJECT IDENTIFIER",
    "malformed OID",
    "length field too long",
)

# --------------------------------------------------------------------------- pyasn1 oracle

_ABSENT_BY_TAG = {0x80: ber.NO_SUCH_OBJECT, 0x81: ber.NO_SUCH_INSTANCE, 0x82: ber.END_OF_MIB_VIEW}


def _tag_byte(value: Any) -> int:
    tag = value.tagSet[-1]
    return int(tag.tagClass) | int(tag.tagId)


def _plain(value: Any) -> tuple[int, Any]:
    """A pyasn1 value as (tag, python value) in ber's representation."""
    tag = _tag_byte(value)
    if tag in _ABSENT_BY_TAG:
        return tag, _ABSENT_BY_TAG[tag]
    if tag == 0x05:
        return tag, None
    if tag == 0x06:
        return tag, tuple(value)
    if tag == 0x40:
        return tag, ipaddress.IPv4Address(bytes(value.asOctets()))
    if tag in (0x04, 0x44):
        return tag, bytes(value.asOctets())
    return tag, int(value)


def _ours_tag(value: ber.Value) -> int:
    # Order matters: the typed ints and Opaque are subclasses of int and bytes.
    for cls, tag in (
        (ber.Counter32, 0x41),
        (ber.Gauge32, 0x42),
        (ber.TimeTicks, 0x43),
        (ber.Counter64, 0x46),
        (ber.Opaque, 0x44),
        (ipaddress.IPv4Address, 0x40),
        (tuple, 0x06),
        (bytes, 0x04),
        (int, 0x02),
    ):
        if isinstance(value, cls):
            return tag
    if value is None:
        return 0x05
    assert isinstance(value, ber.Absent)
    return value.value


def ours_plain(resp: ber.Response) -> tuple[Any, ...]:
    """A decoded Response in the comparable shape `pyasn1_plain` produces."""
    return (
        resp.version,
        resp.community,
        resp.pdu_type,
        resp.request_id,
        resp.error_status,
        resp.error_index,
        [(ber.decode_oid(oid), (_ours_tag(v), v)) for oid, v in resp.varbinds],
    )


def pyasn1_plain(data: bytes, *, response_only: bool = True) -> tuple[Any, ...] | None:
    """Decode as pysnmp does (version first, then that version's Message); None if refused."""
    try:
        version = int(api.decodeMessageVersion(data))
        module = api.PROTOCOL_MODULES[version]
        msg, rest = decoder.decode(data, asn1Spec=module.Message())
        if rest:
            return None
        pdu = module.apiMessage.get_pdu(msg)
        pdu_type = _tag_byte(pdu) | 0x20
        if response_only and pdu_type != ber.RESPONSE:
            return None
        if pdu_type == ber.GET_BULK_REQUEST:
            second = int(v2c.apiBulkPDU.get_non_repeaters(pdu))
            third = int(v2c.apiBulkPDU.get_max_repetitions(pdu))
        else:
            second = int(module.apiPDU.get_error_status(pdu))
            third = int(pdu.getComponentByPosition(2))  # raw: the API clamps it
        varbinds = [(tuple(name), _plain(value)) for name, value in module.apiPDU.get_varbinds(pdu)]
        return (
            version,
            bytes(module.apiMessage.get_community(msg)),
            pdu_type,
            int(module.apiPDU.get_request_id(pdu)),
            second,
            third,
            varbinds,
        )
    except Exception:  # pyasn1 and pysnmp raise many types on bad input: all mean "refused"
        return None


def ours_or_none(data: bytes) -> ber.Response | None:
    """Our decode, or None on BerError; any other exception fails the test."""
    try:
        return ber.decode_response(data)
    except ber.BerError:
        return None


# --------------------------------------------------------------------------- strategies

EDGE_ARCS = [0, 1, 39, 40, 127, 128, 255, 16383, 16384, 2**21 - 1, 2**21, 2**28, 2**32 - 1]
arcs = st.one_of(st.integers(0, 127), st.integers(0, 2**32 - 1), st.sampled_from(EDGE_ARCS))


@st.composite
def oids(draw: st.DrawFn) -> tuple[int, ...]:
    first = draw(st.integers(0, 2))
    if first < 2:
        second = draw(st.integers(0, 39))
    else:
        second = draw(st.one_of(st.integers(0, 200), st.integers(0, 2**32 - 81)))
    return (first, second, *draw(st.lists(arcs, max_size=20)))


def _edges(lo: int, hi: int) -> st.SearchStrategy[int]:
    picks = [lo, lo + 1, hi - 1, hi, 0, 1, 127, 128, 255, 256, 2**31 - 1, 2**31, 2**32 - 1]
    return st.one_of(st.integers(lo, hi), st.sampled_from([p for p in picks if lo <= p <= hi]))


OIDS = oids()
INT32 = _edges(-(2**31), 2**31 - 1)
UINT32 = _edges(0, 2**32 - 1)
UINT64 = st.one_of(_edges(0, 2**64 - 1), st.sampled_from([2**63 - 1, 2**63, 2**64 - 1]))
OCTETS = st.binary(max_size=300)


def value_strategy(version: int) -> st.SearchStrategy[tuple[Any, tuple[int, Any]]]:
    """(pysnmp value, expected (tag, ber value)) pairs for `version`."""
    m: Any = v1 if version == ber.V1 else v2c
    counter = m.Counter if version == ber.V1 else v2c.Counter32
    gauge = m.Gauge if version == ber.V1 else v2c.Gauge32
    common = [
        INT32.map(lambda i: (m.Integer(i), (0x02, i))),
        OCTETS.map(lambda b: (m.OctetString(b), (0x04, b))),
        OIDS.map(lambda o: (m.ObjectIdentifier(o), (0x06, o))),
        st.binary(min_size=4, max_size=4).map(
            lambda b: (m.IpAddress(b), (0x40, ipaddress.IPv4Address(b)))
        ),
        UINT32.map(lambda i: (counter(i), (0x41, i))),
        UINT32.map(lambda i: (gauge(i), (0x42, i))),
        UINT32.map(lambda i: (m.TimeTicks(i), (0x43, i))),
        OCTETS.map(lambda b: (m.Opaque(b), (0x44, b))),
        st.just((m.Null(""), (0x05, None))),
    ]
    if version == ber.V2C:
        common += [
            UINT32.map(lambda i: (v2c.Unsigned32(i), (0x42, i))),
            UINT64.map(lambda i: (v2c.Counter64(i), (0x46, i))),
            st.just((v2c.NoSuchObject(""), (0x80, ber.NO_SUCH_OBJECT))),
            st.just((v2c.NoSuchInstance(""), (0x81, ber.NO_SUCH_INSTANCE))),
            st.just((v2c.EndOfMibView(""), (0x82, ber.END_OF_MIB_VIEW))),
            st.binary(max_size=8).map(lambda b: (v2c.Bits(b), (0x04, b))),
        ]
    return st.one_of(common)


VALUES = {version: value_strategy(version) for version in (ber.V1, ber.V2C)}
MUTATIONS = st.sampled_from(
    ["truncate", "flip", "set", "insert", "delete", "append", "indefinite", "long-length", "dup"]
)
SPECIAL_OCTETS = st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF, 0x30])


@st.composite
def responses(draw: st.DrawFn, max_varbinds: int = 30) -> tuple[bytes, tuple[Any, ...]]:
    """A response message encoded by pyasn1, with the values we expect to decode."""
    version = draw(st.sampled_from([ber.V1, ber.V2C]))
    m: Any = v1 if version == ber.V1 else v2c
    community = draw(st.binary(max_size=40))
    request_id = draw(INT32)
    status = draw(st.one_of(st.integers(0, 18), st.integers(0, 2**31 - 1)))
    index = draw(st.one_of(st.integers(0, 30), st.integers(0, 2**31 - 1)))
    pairs = draw(st.lists(st.tuples(OIDS, VALUES[version]), max_size=max_varbinds))
    msg = m.Message()
    m.apiMessage.set_defaults(msg)
    m.apiMessage.set_community(msg, community)
    pdu = m.GetResponsePDU()
    m.apiPDU.set_defaults(pdu)
    m.apiPDU.set_request_id(pdu, request_id)
    m.apiPDU.set_error_status(pdu, status)
    m.apiPDU.set_error_index(pdu, index)
    m.apiPDU.set_varbinds(pdu, [(oid, value) for oid, (value, _) in pairs])
    m.apiMessage.set_pdu(msg, pdu)
    expected = (
        version,
        community,
        ber.RESPONSE,
        request_id,
        status,
        index,
        [(oid, plain) for oid, (_, plain) in pairs],
    )
    return bytes(encoder.encode(msg)), expected


def _length_octets(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid response, then one or more random edits."""
    data = bytearray(draw(responses(max_varbinds=6))[0])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(MUTATIONS)
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "truncate":
            del data[pos:]
        elif kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[pos] = draw(SPECIAL_OCTETS)
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 4))]
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=8))
        elif kind == "indefinite" and len(data) > 1:
            # Turn the outer SEQUENCE's length into the indefinite form plus end-of-contents.
            header = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
            data = bytearray(b"\x30\x80") + data[header:] + b"\x00\x00"
        elif kind == "long-length" and len(data) > 1 and not data[1] & 0x80:
            # Same length in a non-minimal long form (BER allows it).
            n = data[1]
            data[1:2] = bytes((0x82,)) + n.to_bytes(2, "big")
        elif kind == "dup" and data:
            end = min(len(data), pos + draw(st.integers(1, 16)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, tuple[Any, ...]]:
    version = draw(st.sampled_from([ber.V1, ber.V2C]))
    types = [ber.GET_REQUEST, ber.GET_NEXT_REQUEST]
    if version == ber.V2C:
        types.append(ber.GET_BULK_REQUEST)
    pdu_type = draw(st.sampled_from(types))
    community = draw(st.binary(max_size=300))
    request_id = draw(INT32)
    oid_list = draw(st.lists(OIDS, max_size=40))
    as_bytes = draw(st.booleans())
    non_repeaters = draw(_edges(0, 2**31 - 1)) if pdu_type == ber.GET_BULK_REQUEST else 0
    max_reps = draw(_edges(0, 2**31 - 1)) if pdu_type == ber.GET_BULK_REQUEST else 0
    data = ber.encode_request(
        version,
        community,
        pdu_type,
        request_id,
        [ber.encode_oid(o) for o in oid_list] if as_bytes else oid_list,
        non_repeaters=non_repeaters,
        max_repetitions=max_reps,
    )
    expected = (
        version,
        community,
        pdu_type,
        request_id,
        non_repeaters,
        max_reps,
        [(o, (0x05, None)) for o in oid_list],
    )
    return data, expected


# --------------------------------------------------------------------------- tests


class TestValidResponses:
    """Responses pyasn1 encodes decode to exactly the values that went in."""

    @settings(BER_PROFILE, max_examples=VALID_EXAMPLES)
    @given(responses())
    def test_decodes_pyasn1_encoding(self, case: tuple[bytes, tuple[Any, ...]]) -> None:
        data, expected = case
        assert ours_plain(ber.decode_response(data)) == expected
        assert pyasn1_plain(data) == expected


class TestRequests:
    """Our requests decode in pyasn1 to the fields we encoded."""

    @settings(BER_PROFILE, max_examples=REQUEST_EXAMPLES)
    @given(requests())
    def test_pyasn1_reads_our_requests(self, case: tuple[bytes, tuple[Any, ...]]) -> None:
        data, expected = case
        assert pyasn1_plain(data, response_only=False) == expected
        assert ours_plain(ber.decode_message(data)) == expected


def _check_against_oracle(data: bytes) -> None:
    ours = ours_or_none(data)
    theirs = pyasn1_plain(data)
    if ours is not None:
        assert theirs == ours_plain(ours), "we accepted what pyasn1 reads differently"
    elif theirs is not None:
        with pytest.raises(ber.BerError) as info:
            ber.decode_response(data)
        assert any(r in str(info.value) for r in STRICTER_ON_PURPOSE), (
            f"refused for an undocumented reason: {info.value}"
        )


class TestMalformed:
    """Damaged input raises only BerError, and whatever we accept pyasn1 reads the same."""

    @settings(BER_PROFILE, max_examples=MUTATION_EXAMPLES)
    @given(mutated())
    def test_mutations(self, data: bytes) -> None:
        _check_against_oracle(data)

    @settings(BER_PROFILE, max_examples=RANDOM_EXAMPLES)
    @given(
        st.one_of(
            st.binary(max_size=64),
            st.binary(max_size=60).map(lambda b: b"\x30" + _length_octets(len(b)) + b),
        )
    )
    def test_random_bytes(self, data: bytes) -> None:
        assume(data)
        _check_against_oracle(data)


def _recorded() -> list[Path]:
    return sorted(DATA.glob("*.hex"))


def _load(path: Path) -> bytes:
    text = "".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
    return bytes.fromhex(text)


class TestRecorded:
    """Real net-snmp responses decode exactly as pyasn1 decodes them."""

    def test_recordings_exist(self) -> None:
        assert len(_recorded()) >= 15

    @pytest.mark.parametrize("path", _recorded(), ids=lambda p: p.stem)
    def test_matches_pyasn1(self, path: Path) -> None:
        data = _load(path)
        theirs = pyasn1_plain(data)
        assert theirs is not None
        assert ours_plain(ber.decode_response(data)) == theirs


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length_octets(len(body)) + body


def _msg(value: bytes, *, version: int = 1, oid: bytes = b"\x2b\x06\x01",
         header: bytes = b"\x02\x01\x07\x02\x01\x00\x02\x01\x00") -> bytes:  # fmt: skip
    varbinds = _tlv(0x30, _tlv(0x30, _tlv(0x06, oid) + value))
    pdu = _tlv(0xA2, header + varbinds)
    return _tlv(0x30, bytes((2, 1, version)) + _tlv(0x04, b"public") + pdu)


_NULL = b"\x05\x00"
LENIENT_IN_PYASN1 = {
    "indefinite outer length": b"\x30\x80" + _msg(_NULL)[2:] + b"\x00\x00",
    "empty INTEGER": _msg(bytes.fromhex("0200")),
    "constructed OCTET STRING": _msg(bytes.fromhex("2403040161")),
    "high-tag-number OCTET STRING": _msg(bytes.fromhex("1f040161")),
    "OID arc 2**32 in a value": _msg(bytes.fromhex("06062b9080808000")),
    "OID arc 2**32 in a name": _msg(_NULL, oid=bytes.fromhex("2b9080808000")),
    "SNMPv1 INTEGER 2**40": _msg(bytes.fromhex("0206010000000000"), version=0),
    "Counter32 in 6 octets": _msg(bytes.fromhex("4106000000000005")),
    "Counter64 in 10 octets": _msg(bytes.fromhex("460a00000000000000000005")),
    "5-octet length field": _msg(bytes.fromhex("05850000000000")),
    "SNMPv1 negative error-index": _msg(
        _NULL, version=0, header=bytes.fromhex("0201070201000201ff")
    ),
}


class TestStricterThanPyasn1:
    """Input pyasn1 accepts but BER or SNMP forbid is refused, for a documented reason."""

    @pytest.mark.parametrize("name", sorted(LENIENT_IN_PYASN1))
    def test_refused_on_purpose(self, name: str) -> None:
        data = LENIENT_IN_PYASN1[name]
        assert pyasn1_plain(data) is not None
        with pytest.raises(ber.BerError) as info:
            ber.decode_response(data)
        assert any(r in str(info.value) for r in STRICTER_ON_PURPOSE), str(info.value)
