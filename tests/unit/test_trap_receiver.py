"""collectors.snmp.traps.TrapReceiver fed datagrams directly (no socket): matching, the
community, the rate limits, bounds, and secrets kept out of logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pysnmp.proto.api import v2c

from agent.core.model import Device, Secret
from agent.core.settings import SnmpAuth
from agent.core.traps import COLD_START, LINK_DOWN, OTHER, Trap
from collectors.snmp import TrapListenError, TrapReceiver, ber
from collectors.snmp.traps import canonical, parse_listen
from tests.fakes import FakeClock
from tests.trap_support import (
    IF_ADMIN,
    IF_INDEX,
    IF_OPER,
    SNMP_TRAP_ADDRESS_0,
    integer,
    tlv,
    v1,
    v2,
    varbind,
)
from tests.trap_v3_support import V3Sender

AUTH = {
    "lan": SnmpAuth(name="lan", version="2c", community=Secret("public")),
    "v3": SnmpAuth(name="v3", version="3", username="ops", auth_protocol="sha",
                   auth_key=Secret("authpass1"), priv_protocol="aes128",
                   priv_key=Secret("privpass1")),
}  # fmt: skip
DEVICES = [
    Device(name="sw1", address="127.0.0.5", owner="diskominfo", snmp_auth="lan"),
    Device(name="sw6", address="::1", owner="diskominfo", snmp_auth="lan"),
    Device(name="icmp-only", address="127.0.0.7", owner="diskominfo"),
]
SW1 = ("127.0.0.5", 40000)
R3 = Device(name="r3", address="127.0.0.6", owner="diskominfo", snmp_auth="v3")


class Harness:
    def __init__(self, **kwargs: Any) -> None:
        self.clock = FakeClock()
        self.traps: list[Trap] = []
        self.drops: list[str] = []
        self.sent: list[tuple[bytes, Any]] = []
        self.receiver = TrapReceiver(
            listen="127.0.0.1:0", devices=DEVICES, auth=AUTH, clock=self.clock,
            sink=self.traps.append, dropped=self.drops.append, **kwargs,
        )  # fmt: skip
        self.receiver._send = lambda data, addr: self.sent.append((data, addr))  # type: ignore[method-assign]

    def feed(self, data: bytes, addr: tuple[Any, ...] = SW1) -> None:
        self.receiver.datagram_received(data, addr)


class TestAccepted:
    """A matched, authenticated notification becomes one Trap with its meaning."""

    def test_v2c_link_down(self) -> None:
        h = Harness()
        status = varbind((*IF_ADMIN, 3), integer(1)), varbind((*IF_OPER, 3), integer(2))
        h.feed(v2(LINK_DOWN, varbind((*IF_INDEX, 3), integer(3)), *status))
        (trap,) = h.traps
        assert (trap.device, trap.source, trap.version, trap.kind) == (
            "sw1",
            "127.0.0.5",
            "2c",
            "linkDown",
        )
        assert (trap.if_index, trap.admin_up, trap.oper_up) == (3, True, False)
        assert trap.received_at == h.clock.now()
        assert trap.varbinds[0] == ("1.3.6.1.2.1.2.2.1.1.3", "3")
        assert h.drops == []

    def test_if_index_from_status_varbind(self) -> None:
        h = Harness()
        h.feed(v2(LINK_DOWN, varbind((*IF_OPER, 12), integer(2))))
        assert (h.traps[0].if_index, h.traps[0].oper_up, h.traps[0].admin_up) == (12, False, None)

    def test_v1_cold_start(self) -> None:
        h = Harness()
        h.feed(v1(0))
        assert (h.traps[0].version, h.traps[0].kind, h.traps[0].oid) == ("1", "coldStart",
                                                                         COLD_START)  # fmt: skip

    def test_other_oid(self) -> None:
        h = Harness()
        h.feed(v1(6, specific=5, enterprise=(1, 3, 6, 1, 4, 1, 9)))
        assert (h.traps[0].kind, h.traps[0].oid) == (OTHER, (1, 3, 6, 1, 4, 1, 9, 0, 5))

    def test_inform_answered(self) -> None:
        h = Harness()
        h.feed(v2(COLD_START, pdu=0xA6, request_id=77))
        assert h.traps[0].inform
        ((data, addr),) = h.sent
        assert addr == SW1
        assert data[data.index(b"\xa2") :][2:5] == b"\x02\x01\x4d"

    def test_ipv6_and_mapped_sources(self) -> None:
        h = Harness()
        h.feed(v2(COLD_START), ("::1", 5000, 0, 0))
        h.feed(v2(COLD_START), ("::ffff:127.0.0.5", 5000, 0, 0))
        assert [(t.device, t.source) for t in h.traps] == [("sw6", "::1"), ("sw1", "127.0.0.5")]

    def test_varbinds_bounded(self) -> None:
        h = Harness()
        many = [varbind((1, 3, 6, 1, 4, 1, 9, n), tlv(0x04, b"x" * 300)) for n in range(20)]
        h.feed(v2((1, 3, 6, 1, 4, 1, 9, 1), *many))
        shown = h.traps[0].varbinds
        assert len(shown) == 16
        assert all(len(text) == 200 for _, text in shown)

    def test_binary_octets_as_hex(self) -> None:
        h = Harness()
        h.feed(
            v2((1, 3, 6, 1, 4, 1, 9, 1), varbind((1, 3, 6, 1, 4, 1, 9, 2), tlv(0x04, b"\x00\xff")))
        )
        assert h.traps[0].varbinds == (("1.3.6.1.4.1.9.2", "00ff"),)


class TestDropped:
    """Everything else is dropped under exactly one reason."""

    def test_unknown_source(self) -> None:
        h = Harness()
        h.feed(v2(COLD_START), ("127.0.0.99", 1))
        assert (h.traps, h.drops) == ([], ["unknown_source"])

    def test_bad_community(self) -> None:
        h = Harness()
        h.feed(v2(COLD_START, community=b"private"))
        h.feed(v2(COLD_START), ("127.0.0.7", 1))  # a device without an SNMP set
        assert (h.traps, h.drops) == ([], ["bad_community", "bad_community"])

    def test_v1v2c_to_a_v3_device(self) -> None:
        h = Harness()
        h.receiver.update_devices([Device(name="r3", address="127.0.0.5", owner="x",
                                          snmp_auth="v3")])  # fmt: skip
        h.feed(v2(COLD_START))
        assert h.drops == ["bad_community"]

    def test_malformed_and_unsupported(self) -> None:
        h = Harness()
        h.feed(b"\x30\x03\x02\x01")
        h.feed(v2(COLD_START)[:-3])
        h.feed(v2(COLD_START) + b"\x00")
        assert h.drops == ["malformed", "malformed", "malformed"]
        h.feed(ber.encode_request(ber.V2C, b"public", ber.GET_REQUEST, 1, [(1, 3, 6, 1)]))
        assert h.drops[-1] == "unsupported"

    def test_oversize_before_parsing(self) -> None:
        h = Harness(max_datagram_bytes=100)
        h.feed(b"\x30" + b"\xff" * 100)
        h.feed(b"\x30" + b"\xff" * 99)
        assert h.drops == ["oversize", "malformed"]


class TestRateLimits:
    """Per-device and overall token buckets, on the injected clock."""

    def test_per_device(self) -> None:
        h = Harness(per_device_per_second=2.0, per_device_burst=5)
        for _ in range(8):
            h.feed(v2(COLD_START))
        h.feed(v2(COLD_START), ("::1", 1))  # another device has its own bucket
        assert (len(h.traps), h.drops) == (6, ["rate_limited"] * 3)
        h.clock.advance(1.0)
        for _ in range(3):
            h.feed(v2(COLD_START))
        assert (len(h.traps), h.drops.count("rate_limited")) == (8, 4)

    def test_overall_before_parsing(self) -> None:
        h = Harness(overall_per_second=10.0)
        for _ in range(10):
            h.feed(b"junk", ("127.0.0.99", 1))
        for _ in range(5):
            h.feed(b"junk", ("127.0.0.99", 1))
            h.feed(v2(COLD_START))
        assert h.drops == ["unknown_source"] * 10 + ["rate_limited"] * 10
        h.clock.advance(0.5)
        h.feed(v2(COLD_START))
        assert len(h.traps) == 1

    def test_one_device_storming_leaves_the_others_their_traps(self) -> None:
        h = Harness(per_device_per_second=20.0, per_device_burst=100, overall_per_second=1000.0)
        for i in range(10_000):  # 5,000 a second from sw1 for 2 s; sw6 sends one now and then
            h.feed(v2(COLD_START))
            if i % 1000 == 999:
                h.feed(v2(COLD_START), ("::1", 40000))
            h.clock.advance(0.0002)
        assert [t.device for t in h.traps].count("sw6") == 10  # none lost to sw1's storm
        assert [t.device for t in h.traps].count("sw1") <= 100 + 20 * 2 + 1
        assert len(h.traps) + len(h.drops) == 10_010

    def test_buckets_survive_a_reload(self) -> None:
        h = Harness(per_device_per_second=1.0, per_device_burst=1)
        h.feed(v2(COLD_START))
        h.receiver.update_devices(DEVICES)
        h.feed(v2(COLD_START))
        assert h.drops == ["rate_limited"]


class TestAgentAddress:
    """With match_agent_address, an unknown source may name its device."""

    def test_v1_agent_addr(self) -> None:
        h = Harness(match_agent_address=True)
        h.feed(v1(0, agent=bytes((127, 0, 0, 5))), ("127.0.0.99", 1))
        assert [(t.device, t.source) for t in h.traps] == [("sw1", "127.0.0.99")]

    def test_trap_address_varbind(self) -> None:
        h = Harness(match_agent_address=True)
        addr = varbind(SNMP_TRAP_ADDRESS_0, tlv(0x40, bytes((127, 0, 0, 5))))
        h.feed(v2(COLD_START, addr), ("127.0.0.99", 1))
        h.feed(v2(COLD_START), ("127.0.0.99", 1))
        assert [t.device for t in h.traps] == ["sw1"]
        assert h.drops == ["unknown_source"]

    def test_off_by_default(self) -> None:
        h = Harness()
        h.feed(v1(0, agent=bytes((127, 0, 0, 5))), ("127.0.0.99", 1))
        assert h.drops == ["unknown_source"]


class TestSecrets:
    """A wrong or right community never reaches the log, a repr or a Trap."""

    def test_wrong_community_not_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        h = Harness()
        h.feed(v2(COLD_START, community=b"Wr0ngC0mmunity"))
        h.feed(v2(COLD_START))
        assert h.drops == ["bad_community"]
        text = caplog.text + repr(h.traps) + str(h.traps) + repr(h.receiver)
        text += " ".join(str(r.__dict__) for r in caplog.records)
        assert "trap dropped" in caplog.text
        assert "Wr0ngC0mmunity" not in text
        assert "public" not in text


class TestListen:
    """`[traps] listen` is parsed and checked, addresses canonicalized."""

    def test_forms(self) -> None:
        assert parse_listen("0.0.0.0:162") == ("0.0.0.0", 162)
        assert parse_listen("[::]:1162") == ("::", 1162)

    @pytest.mark.parametrize("bad", ["162", "host:162", "0.0.0.0:x", "[::1]:70000", ":162"])
    def test_bad(self, bad: str) -> None:
        with pytest.raises(TrapListenError, match=r"\[traps\] listen"):
            parse_listen(bad)

    def test_canonical(self) -> None:
        assert canonical("::FFFF:127.0.0.1") == "127.0.0.1"
        assert canonical("0:0::1") == "::1"
        assert canonical("fe80::1%eth0") == "fe80::1"
        assert canonical("switch.local") is None


@pytest.fixture(scope="module")
def sender() -> V3Sender:
    return V3Sender(bytes.fromhex("80001f8880aabbccdd0011"))


class TestV3:
    """v3 datagrams go through pysnmp's USM, matched to the device whose set names the user."""

    async def harness(self, **kwargs: Any) -> Harness:
        h = Harness(**kwargs)
        h.receiver.update_devices([*DEVICES, R3])
        await h.receiver._v3.start()  # what start() does before binding
        return h

    async def test_matched(self, sender: V3Sender) -> None:
        h = await self.harness()
        h.feed(sender.trap("1.3.6.1.6.3.1.1.5.3", ("1.3.6.1.2.1.2.2.1.1.9", v2c.Integer(9))),
               ("127.0.0.6", 1))  # fmt: skip
        assert [(t.device, t.version, t.kind, t.if_index) for t in h.traps] == [
            ("r3", "3", "linkDown", 9)]  # fmt: skip

    async def test_v3_to_a_v2c_device(self, sender: V3Sender) -> None:
        h = await self.harness()
        h.feed(sender.trap("1.3.6.1.6.3.1.1.5.3"))
        assert (h.traps, h.drops) == ([], ["usm"])

    async def test_agent_address(self, sender: V3Sender) -> None:
        h = await self.harness(match_agent_address=True)
        named = ("1.3.6.1.6.3.18.1.3.0", v2c.IpAddress("127.0.0.6"))
        h.feed(sender.trap("1.3.6.1.6.3.1.1.5.1", named), ("127.0.0.99", 1))
        h.feed(sender.trap("1.3.6.1.6.3.1.1.5.1"), ("127.0.0.99", 1))
        assert [t.device for t in h.traps] == ["r3"]
        assert h.drops == ["unknown_source"]

    async def test_unknown_sources_share_one_bucket(self, sender: V3Sender) -> None:
        h = await self.harness(match_agent_address=True, per_device_burst=2)
        junk = sender.trap("1.3.6.1.6.3.1.1.5.1")[:-1] + b"\x00"  # fails USM
        for n in range(3):
            h.feed(junk, (f"127.0.0.{90 + n}", 1))
        assert h.drops == ["usm", "usm", "rate_limited"]
