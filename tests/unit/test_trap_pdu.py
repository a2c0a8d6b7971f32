"""collectors.snmp.trap_pdu: v1/v2c notifications decoded, v1 translated, informs answered."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from agent.core.traps import COLD_START, LINK_DOWN, LINK_UP, WARM_START
from collectors.snmp import ber
from collectors.snmp.trap_pdu import (
    INFORM_REQUEST,
    SNMPV2_TRAP,
    TRAP_V1,
    UnsupportedPdu,
    decode_notification,
    encode_inform_response,
    message_version,
)
from tests.trap_support import (
    IF_INDEX,
    SNMP_TRAP_ADDRESS_0,
    SNMP_TRAP_OID_0,
    SYS_UPTIME_0,
    integer,
    tlv,
    v1,
    v2,
    varbind,
)

ENTERPRISE = (1, 3, 6, 1, 4, 1, 9, 9, 41)


class TestV2c:
    """An SNMPv2-Trap and an InformRequest decode to their snmpTrapOID and varbinds."""

    def test_trap(self) -> None:
        note = decode_notification(v2(LINK_DOWN, varbind((*IF_INDEX, 3), integer(3))))
        assert (note.version, note.pdu_type, note.request_id) == (ber.V2C, SNMPV2_TRAP, 42)
        assert note.trap_oid == LINK_DOWN
        assert note.community == b"public"
        assert note.varbinds == ((ber.encode_oid((*IF_INDEX, 3)), 3),)
        assert note.agent_address is None

    def test_inform(self) -> None:
        note = decode_notification(v2(COLD_START, pdu=0xA6, request_id=-7))
        assert (note.pdu_type, note.request_id, note.varbinds) == (INFORM_REQUEST, -7, ())

    def test_trap_address_varbind(self) -> None:
        data = v2(COLD_START, varbind(SNMP_TRAP_ADDRESS_0, tlv(0x40, bytes((127, 0, 0, 5)))))
        assert decode_notification(data).agent_address == "127.0.0.5"

    def test_community_not_in_repr(self) -> None:
        assert "s3cret" not in repr(decode_notification(v2(COLD_START, community=b"s3cret")))


class TestV1:
    """A v1 Trap-PDU is translated to an snmpTrapOID per RFC 3584 §3.1."""

    @pytest.mark.parametrize(
        ("generic", "expected"),
        [(0, COLD_START), (1, WARM_START), (2, LINK_DOWN), (3, LINK_UP),
         (4, (1, 3, 6, 1, 6, 3, 1, 1, 5, 5)), (5, (1, 3, 6, 1, 6, 3, 1, 1, 5, 6))],
    )  # fmt: skip
    def test_generic(self, generic: int, expected: tuple[int, ...]) -> None:
        note = decode_notification(v1(generic))
        assert (note.version, note.pdu_type, note.trap_oid) == (ber.V1, TRAP_V1, expected)
        assert note.agent_address == "127.0.0.9"

    def test_enterprise_specific(self) -> None:
        note = decode_notification(v1(6, specific=17, enterprise=ENTERPRISE))
        assert note.trap_oid == (*ENTERPRISE, 0, 17)

    def test_varbinds_kept(self) -> None:
        note = decode_notification(v1(2, varbind((*IF_INDEX, 2), integer(2))))
        assert note.varbinds == ((ber.encode_oid((*IF_INDEX, 2)), 2),)

    def test_generic_out_of_range(self) -> None:
        with pytest.raises(ber.BerError, match="generic-trap"):
            decode_notification(v1(7))


class TestInformResponse:
    """The Response echoes the inform's request-id and varbinds, noError."""

    def test_response(self) -> None:
        extra = varbind((*IF_INDEX, 4), integer(4))
        note = decode_notification(v2(LINK_UP, extra, pdu=0xA6, request_id=99))
        resp = ber.decode_response(encode_inform_response(note))
        assert (resp.version, resp.community, resp.request_id) == (ber.V2C, b"public", 99)
        assert (resp.error_status, resp.error_index) == (0, 0)
        assert [v for _, v in resp.varbinds] == [1234, LINK_UP, 4]

    def test_only_informs(self) -> None:
        with pytest.raises(ValueError, match="InformRequest"):
            encode_inform_response(decode_notification(v2(LINK_UP)))


class TestRefused:
    """Malformed input raises BerError; a non-notification raises UnsupportedPdu."""

    def test_get_request_is_unsupported(self) -> None:
        get = ber.encode_request(ber.V2C, b"public", ber.GET_REQUEST, 1, [(1, 3, 6, 1)])
        with pytest.raises(UnsupportedPdu):
            decode_notification(get)

    def test_v1_pdu_in_v2c_is_unsupported(self) -> None:
        data = v1(0)
        data = data[:4] + b"\x01" + data[5:]  # version 0 -> 1
        with pytest.raises(UnsupportedPdu):
            decode_notification(data)

    def test_every_truncation_is_malformed(self) -> None:
        data = v2(LINK_DOWN, varbind((*IF_INDEX, 3), integer(3)))
        for n in range(len(data)):
            with pytest.raises(ber.BerError) as info:
                decode_notification(data[:n])
            assert not isinstance(info.value, UnsupportedPdu)

    def test_missing_trap_oid(self) -> None:
        body = integer(1) + integer(0) + integer(0) + tlv(0x30, b"")
        data = tlv(0x30, integer(1) + tlv(0x04, b"public") + tlv(0xA7, body))
        with pytest.raises(ber.BerError, match="snmpTrapOID"):
            decode_notification(data)

    def test_trap_oid_not_an_oid(self) -> None:
        vbs = varbind(SYS_UPTIME_0, integer(1, 0x43)) + varbind(SNMP_TRAP_OID_0, integer(5))
        body = integer(1) + integer(0) + integer(0) + tlv(0x30, vbs)
        data = tlv(0x30, integer(1) + tlv(0x04, b"public") + tlv(0xA7, body))
        with pytest.raises(ber.BerError, match=r"snmpTrapOID\.0: expected"):
            decode_notification(data)

    def test_trailing_bytes(self) -> None:
        with pytest.raises(ber.BerError, match="trailing"):
            decode_notification(v2(COLD_START) + b"\x00")


class TestVersion:
    """message_version reads msgVersion without decoding the rest."""

    def test_versions(self) -> None:
        assert message_version(v1(0)) == 0
        assert message_version(v2(COLD_START)) == 1
        assert message_version(tlv(0x30, integer(3) + b"junk")) == 3

    @pytest.mark.parametrize("data", [b"", b"\x30", b"\x04\x00", b"\x30\x03\x02\x05\x00"])
    def test_malformed(self, data: bytes) -> None:
        with pytest.raises(ber.BerError):
            message_version(data)


def test_agent_address_is_text() -> None:
    assert IPv4Address(decode_notification(v1(0)).agent_address or "") == IPv4Address("127.0.0.9")
