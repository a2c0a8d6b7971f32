"""Hand-written vectors for collectors.snmp.ber: known encodings and malformed input."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from collectors.snmp import ber

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_UPTIME_RAW = bytes.fromhex("2b06010201010300")


def tlv(tag: int, body: bytes) -> bytes:
    """Tag, minimal definite length, body: written out independently of ber.py."""
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    size = (n.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + n.to_bytes(size, "big") + body


def varbind(value: bytes, oid: bytes = SYS_UPTIME_RAW) -> bytes:
    return tlv(0x30, tlv(0x06, oid) + value)


def message(
    *varbinds: bytes,
    version: int = 1,
    pdu: int = 0xA2,
    header: bytes = b"\x02\x01\x07\x02\x01\x00\x02\x01\x00",
    community: bytes = b"public",
) -> bytes:
    body = header + tlv(0x30, b"".join(varbinds))
    return tlv(0x30, bytes((0x02, 0x01, version)) + tlv(0x04, community) + tlv(pdu, body))


def value_of(value: bytes, version: int = 1) -> ber.Value:
    resp = ber.decode_response(message(varbind(value), version=version))
    assert resp.varbinds[0][0] == SYS_UPTIME_RAW
    return resp.varbinds[0][1]


class TestEncodeOid:
    """OIDs encode to the X.690 contents octets."""

    @pytest.mark.parametrize(
        ("oid", "hex_"),
        [
            ((1, 3, 6, 1), "2b0601"),
            ((0, 39), "27"),
            ((1, 0), "28"),
            ((1, 39), "4f"),
            ((2, 0), "50"),
            ((2, 40), "78"),
            ((2, 999, 3), "883703"),
            ((1, 3, 127, 128), "2b7f8100"),
            ((1, 3, 16383, 16384), "2bff7f818000"),
            ((1, 3, 2**32 - 1), "2b8fffffff7f"),
        ],
    )
    def test_known_encodings(self, oid: tuple[int, ...], hex_: str) -> None:
        assert ber.encode_oid(oid) == bytes.fromhex(hex_)
        assert ber.encode_oid(list(oid)) == bytes.fromhex(hex_)
        assert ber.decode_oid(bytes.fromhex(hex_)) == oid

    @pytest.mark.parametrize(
        "oid", [(), (1,), (3, 1), (1, 40), (0, 40), (1, 3, -1), (1, 3, 2**32), (2, 2**32)]
    )
    def test_rejects_what_snmp_cannot_carry(self, oid: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match=r"OID|arc"):
            ber.encode_oid(oid)

    def test_format_oid_takes_both_forms(self) -> None:
        assert ber.format_oid(SYS_UPTIME) == "1.3.6.1.2.1.1.3.0"
        assert ber.format_oid(SYS_UPTIME_RAW) == "1.3.6.1.2.1.1.3.0"


class TestDecodeOid:
    """Encoded OIDs decode only when canonical."""

    @pytest.mark.parametrize(
        ("hex_", "reason"),
        [
            ("", "empty OID"),
            ("2b80 01", "malformed"),  # leading 0x80 octet (X.690 §8.19.2)
            ("2b81", "malformed"),  # last sub-identifier unterminated
            ("2b9080808000", "malformed"),  # 2**32: beyond RFC 2578's 32-bit arcs
            ("2b818181818100", "malformed"),  # six octets
        ],
    )
    def test_rejects_non_canonical(self, hex_: str, reason: str) -> None:
        with pytest.raises(ber.BerError, match=reason):
            ber.decode_oid(bytes.fromhex(hex_.replace(" ", "")))

    def test_decode_arcs_reads_index_suffixes(self) -> None:
        assert ber.decode_arcs(b"") == ()
        assert ber.decode_arcs(bytes.fromhex("058100")) == (5, 128)


class TestEncodeRequest:
    """Requests match byte-for-byte encodings written out by hand."""

    def test_get_request(self) -> None:
        expected = bytes.fromhex(
            "3029 020101 0406 7075626c6963 a01c 020412345678 020100 020100"
            " 300e 300c 0608 2b06010201010300 0500".replace(" ", "")
        )
        got = ber.encode_request(1, b"public", ber.GET_REQUEST, 0x12345678, [SYS_UPTIME])
        assert got == expected
        assert ber.encode_request(1, b"public", 0xA0, 0x12345678, [SYS_UPTIME_RAW]) == expected

    def test_get_bulk_request(self) -> None:
        got = ber.encode_request(
            1, b"c", ber.GET_BULK_REQUEST, -1, [(1, 3)], non_repeaters=1, max_repetitions=200
        )
        assert got == bytes.fromhex("301b020101040163a5130201ff020101020200c83007300506012b0500")

    def test_v1_get_next(self) -> None:
        got = ber.encode_request(0, b"", ber.GET_NEXT_REQUEST, 0, [])
        assert got == bytes.fromhex(
            "3012 020100 0400 a10b 020100 020100 020100 3000".replace(" ", "")
        )

    def test_long_forms(self) -> None:
        long_oid = (1, 3, *([2**32 - 1] * 30))  # 151 content octets: long-form lengths
        got = ber.encode_request(1, b"x" * 200, ber.GET_REQUEST, 2**31 - 1, [long_oid])
        resp = ber.decode_message(got)
        assert resp.community == b"x" * 200
        assert resp.request_id == 2**31 - 1
        assert [ber.decode_oid(o) for o, _ in resp.varbinds] == [long_oid]
        assert resp.varbinds[0][1] is None

    @pytest.mark.parametrize(
        ("version", "pdu", "request_id", "reps"),
        [
            (2, 0xA0, 1, 0),
            (1, 0xA3, 1, 0),
            (0, 0xA5, 1, 0),
            (1, 0xA0, 2**31, 0),
            (1, 0xA5, 1, -1),
        ],
    )
    def test_refuses_bad_arguments(
        self, version: int, pdu: int, request_id: int, reps: int
    ) -> None:
        with pytest.raises(ValueError, match=r"version|PDU|GetBulk|Integer32|repetitions"):
            ber.encode_request(version, b"c", pdu, request_id, [], max_repetitions=reps)


class TestDecodeValues:
    """Each SMI type decodes to its documented Python type, edges included."""

    @pytest.mark.parametrize(
        ("hex_", "expected", "cls"),
        [
            ("020100", 0, int),
            ("0201ff", -1, int),
            ("02020080", 128, int),
            ("020480000000", -(2**31), int),
            ("02047fffffff", 2**31 - 1, int),
            ("0400", b"", bytes),
            ("04036162ff", b"ab\xff", bytes),
            ("0500", None, type(None)),
            ("06032b0601", (1, 3, 6, 1), tuple),
            ("0603883703", (2, 999, 3), tuple),
            ("40047f140005", IPv4Address("127.20.0.5"), IPv4Address),
            ("410500ffffffff", 2**32 - 1, ber.Counter32),
            ("420100", 0, ber.Gauge32),
            ("430203e8", 1000, ber.TimeTicks),
            ("4403010203", b"\x01\x02\x03", ber.Opaque),
            ("460900ffffffffffffffff", 2**64 - 1, ber.Counter64),
            ("46050100000000", 2**32, ber.Counter64),
            ("8000", ber.NO_SUCH_OBJECT, ber.Absent),
            ("8100", ber.NO_SUCH_INSTANCE, ber.Absent),
            ("8200", ber.END_OF_MIB_VIEW, ber.Absent),
            # Non-minimal but within the type's size: pyasn1 and net-snmp accept it, so do we.
            ("41050000000005", 5, ber.Counter32),
        ],
    )
    def test_types(self, hex_: str, expected: object, cls: type) -> None:
        value = value_of(bytes.fromhex(hex_))
        assert value == expected
        assert type(value) is cls

    def test_v1_types(self) -> None:
        assert value_of(bytes.fromhex("410100"), version=0) == 0
        assert value_of(bytes.fromhex("40047f000001"), version=0) == IPv4Address("127.0.0.1")

    @pytest.mark.parametrize(
        ("hex_", "version", "reason"),
        [
            ("0200", 1, "bad INTEGER length"),
            ("0206000000000001", 1, "bad INTEGER length"),  # overlong for Integer32
            ("02050080000000", 1, "out of range"),  # 2**31
            ("4100", 1, "unsigned integer length"),
            ("4104ffffffff", 1, "out of range"),  # -1: unsigned without its leading zero
            ("4106000000000005", 1, "unsigned integer length"),
            ("460a00000000000000000001", 1, "Counter64 length"),
            ("4609010000000000000000", 1, "Counter64 out of range"),  # 2**64
            ("0501 00", 1, "NULL with contents"),
            ("8001 00", 1, "exception value with contents"),
            ("4003 0a0000", 1, "IpAddress"),
            ("0600", 1, "empty OBJECT IDENTIFIER"),
            ("0602 2b80", 1, "malformed"),
            ("2403 040161", 1, "unexpected tag 0x24"),  # constructed OCTET STRING
            ("0a0101", 1, "unexpected tag 0x0a"),  # ENUMERATED is not SNMP
            ("460101", 0, "unexpected tag 0x46"),  # Counter64 is v2c only
            ("8200", 0, "unexpected tag 0x82"),  # so are the exception values
        ],
    )
    def test_rejected_values(self, hex_: str, version: int, reason: str) -> None:
        with pytest.raises(ber.BerError, match=reason):
            value_of(bytes.fromhex(hex_.replace(" ", "")), version=version)


class TestDecodeMessage:
    """Message framing: fields, long-form lengths, and every kind of damage."""

    def test_fields(self) -> None:
        data = message(
            varbind(b"\x05\x00"),
            varbind(b"\x02\x01\x2a", bytes.fromhex("2b06")),
            header=bytes.fromhex("0204fffffffe 020105 020102".replace(" ", "")),
            community=b"",
        )
        resp = ber.decode_response(data)
        assert (resp.version, resp.community, resp.pdu_type) == (1, b"", 0xA2)
        assert (resp.request_id, resp.error_status, resp.error_index) == (-2, 5, 2)
        assert resp.error_name == "genErr"
        assert resp.varbinds == [(SYS_UPTIME_RAW, None), (b"\x2b\x06", 42)]
        assert ber.peek_request_id(data) == -2

    def test_error_names(self) -> None:
        assert ber.error_status_name(2) == "noSuchName"
        assert ber.error_status_name(18) == "inconsistentName"
        assert ber.error_status_name(99) == "error-status 99"

    def test_long_form_lengths(self) -> None:
        big = varbind(tlv(0x04, b"z" * 300))
        data = message(*([big] * 3))
        assert data[1] == 0x82
        resp = ber.decode_response(data)
        assert [v for _, v in resp.varbinds] == [b"z" * 300] * 3

    def test_non_minimal_long_form_length(self) -> None:
        data = message(varbind(b"\x05\x00"))
        padded = b"\x30\x81" + data[1:]  # same length, written in the long form
        assert ber.decode_response(padded).varbinds == [(SYS_UPTIME_RAW, None)]

    def test_every_truncation_raises_ber_error(self) -> None:
        data = message(varbind(b"\x46\x09\x00" + b"\xff" * 8), varbind(b"\x04\x02hi"))
        for cut in range(len(data)):
            with pytest.raises(ber.BerError):
                ber.decode_response(data[:cut])

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (message(varbind(b"\x05\x00")) + b"\x00", "trailing bytes"),
            (b"\x30\x80" + message(varbind(b"\x05\x00"))[2:] + b"\x00\x00", "indefinite"),
            (b"\x30\x85\x00\x00\x00\x00\x01", "length field too long"),
            (b"\x30\x84\xff\xff\xff\xff\x02\x01\x01", "truncated"),
            (b"\x31\x00", "expected SEQUENCE"),
            (message(version=3), "unsupported SNMP version 3"),
            (message(pdu=0xA0), "expected a Response-PDU"),
            (message(pdu=0xA4), "expected a Response-PDU"),
            (message(header=b"\x02\x01\x07\x02\x01\x00\x02\x01\xff"), "error-index"),
            (message(header=b"\x02\x01\x07\x02\x01\x00"), "expected INTEGER"),
            (message(tlv(0x31, b"")), "expected SEQUENCE"),
            (message(tlv(0x30, tlv(0x04, b"x") + b"\x05\x00")), "OBJECT IDENTIFIER"),
            (message(tlv(0x30, tlv(0x06, SYS_UPTIME_RAW))), "truncated|length"),
            (message(tlv(0x30, tlv(0x06, b"") + b"\x05\x00")), "bad length"),
            (message(tlv(0x30, tlv(0x06, SYS_UPTIME_RAW) + b"\x05\x00\x05\x00")), "length"),
            (b"", "truncated"),
        ],
    )
    def test_malformed(self, data: bytes, reason: str) -> None:
        with pytest.raises(ber.BerError, match=reason):
            ber.decode_response(data)
        if reason != "expected a Response-PDU":
            assert ber.peek_request_id(data) in (None, 7)

    def test_decode_message_reads_requests(self) -> None:
        data = ber.encode_request(
            1, b"c", ber.GET_BULK_REQUEST, 9, [SYS_UPTIME], non_repeaters=0, max_repetitions=25
        )
        resp = ber.decode_message(data)
        assert (resp.pdu_type, resp.request_id, resp.error_status, resp.error_index) == (
            0xA5, 9, 0, 25,
        )  # fmt: skip
        with pytest.raises(ber.BerError, match="Response-PDU"):
            ber.decode_response(data)
        with pytest.raises(ber.BerError, match="unexpected PDU tag 0xa5"):
            ber.decode_message(b"\x30" + data[1:4] + b"\x00" + data[5:])  # as SNMPv1

    def test_bytearray_and_memoryview_inputs(self) -> None:
        data = message(varbind(b"\x43\x01\x05"))
        assert ber.decode_response(bytearray(data)).varbinds[0][1] == 5
        assert ber.decode_response(memoryview(data)).varbinds[0][1] == 5
