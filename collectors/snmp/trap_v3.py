"""SNMPv3 notifications through pysnmp's own message processing (USM, decryption, inform
Responses, engine-ID discovery Reports), fed from the receiver's socket without a pysnmp
transport. The USM users come from the v3 `[snmp.auth.*]` sets.

Engine IDs (RFC 3414): a trap is authenticated with keys localized to the SENDER's engine ID;
pysnmp looks users up by (engine ID, user name), and its wildcard engine ID ("0000000000")
hands back keys localized to the wildcard, which never verify. So a user is registered for
an engine ID the first time a message names it, and removed again unless that message
authenticates (new engine IDs are tried at a bounded rate). An inform uses OUR engine ID,
learnt by the sender through discovery; it is stable per host. pysnmp is imported where it is
used, so importing collectors.snmp stays light.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Final

from agent.core.settings import SnmpAuth
from collectors.snmp import ber
from collectors.snmp.ber import Absent, BerError, EncodedOid, Value
from collectors.snmp.trap_meaning import TokenBucket
from collectors.snmp.trap_pdu import SNMP_TRAP_OID_0, agent_address

MAX_ENGINES: Final = 1024  # (engine ID, user) pairs that authenticated; more are refused
# Trying a new engine ID costs pysnmp ~7 ms (a USM table row written and, unless the message
# authenticates, removed again), so new ones are tried at most this often.
LEARN_PER_SECOND: Final = 10.0
LEARN_BURST: Final = 50.0
_PYSNMP_PEN: Final = b"\x80\x00\x4f\xb8"  # RFC 3411 engine ID: enterprise 20408, bit 1 set


def local_engine_id(host: str | None = None) -> bytes:
    """The receiver's engine ID: format 5 (octets), a hash of the host name, so it survives
    restarts and senders' informs keep working."""
    name = (host or socket.gethostname()).encode()
    return _PYSNMP_PEN + b"\x05" + hashlib.sha256(b"pantau trap receiver " + name).digest()[:8]


def with_engine_id(snmp: Any, engine_id: bytes) -> Any:
    """`snmp` with its snmpEngineID set. Passing the ID to SnmpEngine() instead makes pysnmp
    7.1 keep snmpEngineBoots in $TMPDIR/__pysnmp/ and leak that file's handle; here boots
    start at 1 on each start, and a sender resynchronises on the notInTimeWindow Report."""
    (mib_id,) = snmp.get_mib_builder().import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")
    mib_id.syntax = mib_id.syntax.clone(engine_id)
    snmp.snmpEngineID = mib_id.syntax
    return snmp


@dataclass(frozen=True, slots=True)
class V3Notification:
    """An authenticated v3 trap or inform, its varbinds without sysUpTime/snmpTrapOID."""

    user: str
    trap_oid: tuple[int, ...]
    inform: bool
    agent_address: str | None
    varbinds: tuple[tuple[EncodedOid, Value], ...]


def peek_usm(data: bytes) -> tuple[bytes, str, int]:
    """(msgAuthoritativeEngineID, msgUserName, msgFlags) from a v3 message's clear header.

    Raises BerError when the header does not decode.
    """
    try:
        _, i, end = ber._element(data, 0, len(data))
        _, i = ber._integer(data, i, end, "msgVersion")
        tag, s, i = ber._element(data, i, end)  # msgGlobalData
        if tag != 0x30:
            raise BerError("msgGlobalData: expected SEQUENCE")
        _, s = ber._integer(data, s, i, "msgID")
        _, s = ber._integer(data, s, i, "msgMaxSize")
        tag, s, e = ber._element(data, s, i)
        if tag != 0x04 or e - s != 1:
            raise BerError("msgFlags: expected one octet")
        flags = data[s]
        tag, s, e = ber._element(data, i, end)  # msgSecurityParameters
        if tag != 0x04:
            raise BerError("msgSecurityParameters: expected OCTET STRING")
        tag, s, e = ber._element(data, s, e)
        if tag != 0x30:
            raise BerError("UsmSecurityParameters: expected SEQUENCE")
        tag, s, i = ber._element(data, s, e)
        engine_id = data[s:i]
        _, i = ber._integer(data, i, e, "msgAuthoritativeEngineBoots")
        _, i = ber._integer(data, i, e, "msgAuthoritativeEngineTime")
        tag, s, i = ber._element(data, i, e)
        if tag != 0x04:
            raise BerError("msgUserName: expected OCTET STRING")
        return engine_id, data[s:i].decode("utf-8", "replace"), flags
    except IndexError:
        raise BerError("truncated message") from None


def _flags_for(auth: SnmpAuth) -> int:
    """The msgFlags security bits the set's level requires (auth 1, priv 2)."""
    return (1 if auth.auth_protocol != "none" else 0) | (2 if auth.priv_protocol != "none" else 0)


def _value(value: Any) -> Value:
    from pyasn1.type import univ
    from pysnmp.proto import rfc1902, rfc1905

    checks: tuple[tuple[type, Callable[[Any], Value]], ...] = (
        (rfc1905.NoSuchObject, lambda v: Absent.NO_SUCH_OBJECT),
        (rfc1905.NoSuchInstance, lambda v: Absent.NO_SUCH_INSTANCE),
        (rfc1905.EndOfMibView, lambda v: Absent.END_OF_MIB_VIEW),
        (univ.Null, lambda v: None),
        (rfc1902.IpAddress, lambda v: IPv4Address(bytes(v.asOctets()))),
        (rfc1902.Opaque, lambda v: ber.Opaque(v.asOctets())),
        (univ.OctetString, lambda v: bytes(v.asOctets())),
        (univ.ObjectIdentifier, lambda v: tuple(v)),
        (rfc1902.Counter32, lambda v: ber.Counter32(int(v))),
        ((rfc1902.Gauge32, rfc1902.Unsigned32), lambda v: ber.Gauge32(int(v))),
        (rfc1902.TimeTicks, lambda v: ber.TimeTicks(int(v))),
        (rfc1902.Counter64, lambda v: ber.Counter64(int(v))),
        (univ.Integer, lambda v: int(v)),
    )  # type: ignore[assignment]
    for kind, convert in checks:
        if isinstance(value, kind):
            return convert(value)
    return str(value).encode()[:200]


class V3Receiver:
    """pysnmp's engine behind the receiver's socket: `receive()` one v3 datagram at a time."""

    def __init__(
        self,
        auth: Mapping[str, SnmpAuth],
        send: Callable[[bytes, Any], None],
        monotonic: Callable[[], float],
        engine_id: bytes | None = None,
    ) -> None:
        self._sets = {a.username: a for a in auth.values() if a.version == "3" and a.username}
        self._send = send
        self._monotonic = monotonic
        self._learning = TokenBucket(LEARN_PER_SECOND, LEARN_BURST, monotonic())
        self._engine_id = engine_id or local_engine_id()
        self._engine: Any = None
        self._transport: Any = None
        self._known: set[tuple[bytes, str]] = set()
        self._masters: dict[str | None, tuple[Any, Any]] = {}  # user -> master keys, unlogged
        self._seen: dict[str, Any] | None = None
        self._errors: tuple[type[Exception], ...] = ()

    @property
    def needed(self) -> bool:
        """Whether any v3 user is configured (else the engine is never built)."""
        return bool(self._sets)

    async def start(self) -> None:
        """Build the engine off the loop (pysnmp loads MIB modules from disk)."""
        self._engine = await asyncio.to_thread(self._build)

    def _build(self) -> Any:
        from pyasn1.error import PyAsn1Error
        from pysnmp.carrier.asyncio.dgram import udp
        from pysnmp.carrier.base import AbstractTransport, AbstractTransportDispatcher
        from pysnmp.entity import config, engine
        from pysnmp.entity.rfc3413 import ntfrcv
        from pysnmp.error import PySnmpError

        self._errors = (PySnmpError, PyAsn1Error)
        send = self._send

        class Relay(AbstractTransport):  # type: ignore[misc]  # pysnmp has no stubs
            def send_message(self, outgoingMessage: Any, transportAddress: Any) -> None:
                send(bytes(outgoingMessage), tuple(transportAddress))

        snmp = with_engine_id(engine.SnmpEngine(), self._engine_id)
        self._dispatcher = dispatcher = AbstractTransportDispatcher()
        snmp.register_transport_dispatcher(dispatcher)
        self._transport = Relay()
        dispatcher.register_transport(udp.SNMP_UDP_DOMAIN, self._transport)
        self._address_type = udp.UdpTransportAddress
        for auth in self._sets.values():
            self._add_user(snmp, auth, None)
        ntfrcv.NotificationReceiver(snmp, lambda *args: None)  # answers informs
        snmp.observer.register_observer(self._observe, "rfc3412.receiveMessage:request")
        self._config = config
        return snmp

    def _add_user(self, snmp: Any, auth: SnmpAuth, engine_id: bytes | None) -> None:
        """Register `auth`'s user for `engine_id` (None: ours) from its master keys: hashing a
        passphrase (RFC 3414 A.2, a megabyte) is done once per set, localizing is one hash."""
        from pysnmp.entity import config
        from pysnmp.proto.rfc1902 import OctetString

        from collectors.snmp.client import AUTH_PROTOCOLS, PRIV_PROTOCOLS

        auth_protocol = AUTH_PROTOCOLS[auth.auth_protocol]
        priv_protocol = PRIV_PROTOCOLS[auth.priv_protocol]
        masters = self._masters.get(auth.username)
        if masters is None:
            auth_master = priv_master = None
            if auth.auth_key is not None and auth.auth_protocol != "none":
                service = config.AUTH_SERVICES[auth_protocol]
                auth_master = service.hash_passphrase(auth.auth_key.reveal())
            if auth.priv_key is not None and auth.priv_protocol != "none":
                priv_service = config.PRIV_SERVICES[priv_protocol]
                priv_master = priv_service.hash_passphrase(auth_protocol, auth.priv_key.reveal())
            masters = self._masters[auth.username] = (auth_master, priv_master)
        config.add_v3_user(
            snmp, auth.username, auth_protocol, masters[0], priv_protocol, masters[1],
            securityEngineId=OctetString(engine_id) if engine_id is not None else None,
            authKeyType=config.USM_KEY_TYPE_MASTER, privKeyType=config.USM_KEY_TYPE_MASTER,
        )  # fmt: skip

    def _observe(self, snmp: Any, execpoint: str, variables: dict[str, Any], ctx: Any) -> None:
        self._seen = variables

    def close(self) -> None:
        if self._engine is not None:
            self._engine.unregister_transport_dispatcher()
            self._engine = None

    def receive(self, data: bytes, addr: Any, auth: SnmpAuth | None
                ) -> V3Notification | str | None:  # fmt: skip
        """Process one v3 datagram from `addr`, expected from the user of `auth` (None: any
        configured v3 user). Returns the notification, a drop reason, or None for an
        engine-ID discovery probe (pysnmp answered it with a Report)."""
        if self._engine is None:
            return "usm"
        try:
            engine_id, user, flags = peek_usm(data)
        except BerError:
            return "malformed"
        wanted: SnmpAuth | None = None
        if user:
            wanted = auth if auth is not None else self._sets.get(user)
            if wanted is None or wanted.username != user or flags & 3 != _flags_for(wanted):
                return "usm"
        learn = (wanted is not None and bool(engine_id) and engine_id != self._engine_id
                 and (engine_id, user) not in self._known)  # fmt: skip
        if learn and wanted is not None:
            if len(self._known) >= MAX_ENGINES or not 5 <= len(engine_id) <= 32:
                return "usm"
            if not self._learning.take(self._monotonic()):
                return "rate_limited"
            try:
                self._add_user(self._engine, wanted, engine_id)
            except self._errors:  # an engine ID pysnmp's USM table refuses
                return "usm"
        self._dispatcher.handle_timer_tick(self._monotonic())  # expires pysnmp's caches
        self._seen = None
        try:
            self._dispatcher._callback_function(self._transport, self._address_type(addr), data)
        except self._errors:  # a message pysnmp could not process
            self._seen = None
        seen, self._seen = self._seen, None
        if learn:
            if seen is None:
                with contextlib.suppress(*self._errors):
                    self._config.delete_v3_user(self._engine, user, securityEngineId=engine_id)
            else:
                self._known.add((engine_id, user))
        if not user:
            return None if seen is None else "usm"  # noAuthNoPriv without a user: never ours
        if seen is None:
            return "usm"
        return self._notification(user, seen)

    def _notification(self, user: str, seen: dict[str, Any]) -> V3Notification | str:
        from pysnmp.proto.api import v2c

        pdu = seen["pdu"]
        if str(seen["securityName"]) != user:
            return "usm"
        inform = pdu.tagSet == v2c.InformRequestPDU.tagSet
        if not inform and pdu.tagSet != v2c.SNMPv2TrapPDU.tagSet:
            return "unsupported"
        try:
            varbinds = [(ber.encode_oid(tuple(name)), _value(val))
                        for name, val in v2c.apiPDU.get_varbinds(pdu)]  # fmt: skip
        except ValueError:  # an arc beyond 2**32-1, which pyasn1 accepts and SNMP does not
            return "malformed"
        if len(varbinds) < 2 or varbinds[1][0] != SNMP_TRAP_OID_0:
            return "malformed"
        trap_oid = varbinds[1][1]
        if not isinstance(trap_oid, tuple):
            return "malformed"
        rest = tuple(varbinds[2:])
        return V3Notification(user, trap_oid, inform, agent_address(rest), rest)
