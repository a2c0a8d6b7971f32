"""SNMPv3 traps encoded by pysnmp's own engine into bytes (no socket), for the v3 unit tests."""

from __future__ import annotations

from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.carrier.base import AbstractTransport, AbstractTransportDispatcher
from pysnmp.entity import config, engine
from pysnmp.proto.api import v2c
from pysnmp.proto.rfc1902 import OctetString

from collectors.snmp.trap_v3 import with_engine_id

LEVELS = {"noAuthNoPriv": 1, "authNoPriv": 2, "authPriv": 3}


class V3Sender:
    """A pysnmp engine with `engine_id` whose messages land in `.sent` instead of a socket."""

    def __init__(self, engine_id: bytes, user: str = "ops", auth_key: str = "authpass1",
                 priv_key: str = "privpass1") -> None:  # fmt: skip
        self.sent: list[bytes] = []
        self.engine_id = engine_id
        self.user = user
        sent = self.sent

        class Relay(AbstractTransport):  # type: ignore[misc]
            ADDRESS_TYPE = udp.UdpTransportAddress

            def send_message(self, outgoingMessage: Any, transportAddress: Any) -> None:
                sent.append(bytes(outgoingMessage))

        self.snmp = with_engine_id(engine.SnmpEngine(), engine_id)
        dispatcher = AbstractTransportDispatcher()
        self.snmp.register_transport_dispatcher(dispatcher)
        dispatcher.register_transport(udp.SNMP_UDP_DOMAIN, Relay())
        self.keys = (auth_key, priv_key)
        self.rekey(engine_id)

    def rekey(self, engine_id: bytes) -> None:
        """Become an engine with another ID (a trap carries the sender's)."""
        self.engine_id = engine_id
        with_engine_id(self.snmp, engine_id)
        config.add_v3_user(self.snmp, self.user, config.USM_AUTH_HMAC96_SHA, self.keys[0],
                           config.USM_PRIV_CFB128_AES, self.keys[1])  # fmt: skip

    def trap(self, trap_oid: str, *varbinds: tuple[str, Any], level: str = "authPriv") -> bytes:
        """One SNMPv2-Trap from this engine (the authoritative one for a trap, RFC 3414)."""
        pdu = v2c.SNMPv2TrapPDU()
        v2c.apiTrapPDU.set_defaults(pdu)
        binds = [(v2c.ObjectIdentifier("1.3.6.1.2.1.1.3.0"), v2c.TimeTicks(5)),
                 (v2c.ObjectIdentifier("1.3.6.1.6.3.1.1.4.1.0"), v2c.ObjectIdentifier(trap_oid))]
        binds += [(v2c.ObjectIdentifier(name), value) for name, value in varbinds]
        v2c.apiTrapPDU.set_varbinds(pdu, binds)
        self.snmp.message_dispatcher.send_pdu(
            self.snmp, udp.SNMP_UDP_DOMAIN, udp.UdpTransportAddress(("127.0.0.1", 162)),
            3, 3, OctetString(self.user.encode()), LEVELS[level],
            OctetString(self.engine_id), b"", 1, pdu, False,
        )  # fmt: skip
        return self.sent.pop()
