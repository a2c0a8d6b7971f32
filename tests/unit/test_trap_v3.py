"""collectors.snmp.trap_v3: SNMPv3 traps through pysnmp's message processing, no socket.

A trap carries the SENDER's engine ID (RFC 3414): the receiver learns the user for it only
when the message authenticates."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest
from pysnmp.proto.api import v2c

from agent.core.model import Secret
from agent.core.settings import SnmpAuth
from agent.core.traps import LINK_DOWN
from collectors.snmp import ber, trap_v3
from collectors.snmp.trap_v3 import V3Notification, V3Receiver, local_engine_id, peek_usm
from tests.trap_v3_support import V3Sender

OPS = SnmpAuth(name="v3", version="3", username="ops", auth_protocol="sha",
               auth_key=Secret("authpass1"), priv_protocol="aes128",
               priv_key=Secret("privpass1"))  # fmt: skip
SENDER_ID = bytes.fromhex("80001f8880aabbccdd0011")


@pytest.fixture(scope="module")
def sender() -> V3Sender:
    return V3Sender(SENDER_ID)


@pytest.fixture
async def receiver() -> V3Receiver:
    sent: list[tuple[bytes, Any]] = []
    v3 = V3Receiver({"v3": OPS}, lambda data, addr: sent.append((data, addr)), lambda: 1.0)
    await v3.start()
    return v3


ADDR = ("127.0.0.5", 40000)


class TestAccepted:
    """An authPriv trap from any sender engine ID is decrypted and read."""

    async def test_link_down(self, sender: V3Sender, receiver: V3Receiver) -> None:
        data = sender.trap("1.3.6.1.6.3.1.1.5.3", ("1.3.6.1.2.1.2.2.1.1.3", v2c.Integer(3)),
                           ("1.3.6.1.2.1.2.2.1.8.3", v2c.Integer(2)))  # fmt: skip
        note = receiver.receive(data, ADDR, OPS)
        assert isinstance(note, V3Notification)
        assert (note.user, note.trap_oid, note.inform) == ("ops", LINK_DOWN, False)
        assert note.varbinds[0] == (ber.encode_oid((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 3)), 3)
        again = receiver.receive(sender.trap("1.3.6.1.6.3.1.1.5.4"), ADDR, OPS)
        assert isinstance(again, V3Notification)  # the learnt engine ID is kept

    async def test_any_configured_user(self, sender: V3Sender, receiver: V3Receiver) -> None:
        note = receiver.receive(sender.trap("1.3.6.1.6.3.1.1.5.1"), ADDR, None)
        assert isinstance(note, V3Notification)

    async def test_other_values(self, sender: V3Sender, receiver: V3Receiver) -> None:
        data = sender.trap("1.3.6.1.4.1.9.0.1", ("1.3.6.1.4.1.9.1", v2c.OctetString(b"up")),
                           ("1.3.6.1.4.1.9.2", v2c.IpAddress("127.0.0.5")),
                           ("1.3.6.1.4.1.9.3", v2c.Counter64(2**40)))  # fmt: skip
        note = receiver.receive(data, ADDR, OPS)
        assert isinstance(note, V3Notification)
        assert [v for _, v in note.varbinds] == [b"up", IPv4Address("127.0.0.5"), 2**40]


class TestRefused:
    """Wrong keys, users or security levels are "usm"; the engine ID is not learnt."""

    async def test_wrong_key(self, receiver: V3Receiver) -> None:
        bad = V3Sender(bytes.fromhex("80001f8880aabbccdd0022"), auth_key="wrongpass")
        assert receiver.receive(bad.trap("1.3.6.1.6.3.1.1.5.1"), ADDR, OPS) == "usm"
        assert receiver._known == set()

    async def test_wrong_user(self, receiver: V3Receiver) -> None:
        other = V3Sender(bytes.fromhex("80001f8880aabbccdd0033"), user="eve")
        assert receiver.receive(other.trap("1.3.6.1.6.3.1.1.5.1"), ADDR, OPS) == "usm"
        assert receiver.receive(other.trap("1.3.6.1.6.3.1.1.5.1"), ADDR, None) == "usm"

    async def test_lower_level(self, sender: V3Sender, receiver: V3Receiver) -> None:
        data = sender.trap("1.3.6.1.6.3.1.1.5.1", level="authNoPriv")
        assert receiver.receive(data, ADDR, OPS) == "usm"

    async def test_malformed(self, receiver: V3Receiver) -> None:
        assert receiver.receive(b"\x30\x03\x02\x01\x03", ADDR, OPS) == "malformed"

    async def test_new_engine_ids_rate_limited(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(trap_v3, "LEARN_BURST", 3.0)
        v3 = V3Receiver({"v3": OPS}, lambda data, addr: None, lambda: 1.0)
        await v3.start()
        bad = V3Sender(bytes.fromhex("80001f8880aabbccdd0100"), auth_key="wrongpass")
        outcomes = []
        for n in range(5):
            bad.rekey(bytes.fromhex(f"80001f8880aabbccdd01{n:02x}"))
            outcomes.append(v3.receive(bad.trap("1.3.6.1.6.3.1.1.5.1"), ADDR, OPS))
        assert outcomes == ["usm"] * 3 + ["rate_limited"] * 2

    async def test_not_started(self, sender: V3Sender) -> None:
        v3 = V3Receiver({"v3": OPS}, lambda data, addr: None, lambda: 1.0)
        assert v3.receive(sender.trap("1.3.6.1.6.3.1.1.5.1"), ADDR, OPS) == "usm"


class TestEngineId:
    """Our engine ID is stable per host and a valid RFC 3411 ID; the header peek reads it."""

    def test_stable(self) -> None:
        assert local_engine_id("a") == local_engine_id("a") != local_engine_id("b")
        assert 5 <= len(local_engine_id("a")) <= 32
        assert local_engine_id("a")[0] & 0x80

    def test_peek(self, sender: V3Sender) -> None:
        assert peek_usm(sender.trap("1.3.6.1.6.3.1.1.5.1")) == (SENDER_ID, "ops", 3)
