"""The SNMP trap receiver: one UDP socket on the agent's loop, the overall and per-device
rate limits, matching a notification to a device, the community check, and the hand-off of a
`Trap` (or a drop reason) to the wiring. v3 messages go to `trap_v3`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from agent.core.clock import Clock
from agent.core.errors import AgentError
from agent.core.model import Device
from agent.core.settings import SnmpAuth
from agent.core.traps import DropSink, TrapSink
from collectors.snmp import ber
from collectors.snmp.ber import BerError
from collectors.snmp.trap_meaning import TokenBucket, describe
from collectors.snmp.trap_pdu import (
    INFORM_REQUEST,
    V3,
    UnsupportedPdu,
    decode_notification,
    encode_inform_response,
    message_version,
)
from collectors.snmp.trap_v3 import V3Receiver

log = logging.getLogger(__name__)

_VERSIONS = {ber.V1: "1", ber.V2C: "2c"}
_UNKNOWN_V3 = "\x00unknown-v3"  # the bucket key of v3 from unknown sources (no device name)


class TrapListenError(AgentError):
    """`[traps] listen` is not HOST:PORT, or the receiver cannot bind it."""


def parse_listen(listen: str) -> tuple[str, int]:
    """("0.0.0.0", 162) from "0.0.0.0:162", ("::", 162) from "[::]:162".

    Raises TrapListenError naming `[traps] listen` for anything else.
    """
    host, sep, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("port")
        ipaddress.ip_address(host)
    except ValueError:
        raise TrapListenError(
            f'[traps] listen = "{listen}": expected "HOST:PORT" or "[IPv6]:PORT" with an IP '
            "address and a port 0..65535"
        ) from None
    return host, int(port)


def canonical(address: str) -> str | None:
    """The canonical text of an IP literal (an IPv4-mapped IPv6 address as IPv4); else None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class TrapReceiver:
    """Receives SNMP v1/v2c/v3 notifications and hands each accepted one to `sink` as a Trap;
    every other datagram is counted once through `dropped(reason)` (agent.core.traps)."""

    def __init__(self, *, listen: str, devices: Sequence[Device], auth: Mapping[str, SnmpAuth],
                 clock: Clock, sink: TrapSink, dropped: DropSink,
                 per_device_per_second: float = 20.0, per_device_burst: int = 100,
                 overall_per_second: float = 1000.0, match_agent_address: bool = False,
                 max_datagram_bytes: int = 8192) -> None:  # fmt: skip
        self._listen = listen
        self._bind = parse_listen(listen)
        self._auth = auth
        self._clock = clock
        self._sink = sink
        self._dropped = dropped
        self._device_rate = per_device_per_second
        self._device_burst = float(per_device_burst)
        self._match_agent = match_agent_address
        self._max_bytes = max_datagram_bytes
        self._overall = TokenBucket(overall_per_second, overall_per_second, clock.monotonic())
        self._buckets: dict[str, TokenBucket] = {}
        self._by_address: dict[str, Device] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._v3 = V3Receiver(auth, self._send, clock.monotonic)
        self.update_devices(devices)

    def update_devices(self, devices: Sequence[Device]) -> None:
        """Match against this inventory from now on (a reload); buckets of kept devices stay."""
        by_address: dict[str, Device] = {}
        for device in devices:
            address = canonical(device.address)
            if address is not None:
                by_address[address] = device
        self._by_address = by_address
        names = {d.name for d in devices} | {_UNKNOWN_V3}
        self._buckets = {k: v for k, v in self._buckets.items() if k in names}

    async def start(self) -> None:
        """Bind `listen`; "[::]:PORT" is dual-stack (IPv4 arrives as IPv4-mapped addresses).

        Raises TrapListenError naming `[traps] listen` and the OS error when it cannot bind.
        """
        host, port = self._bind
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6 and host == "::":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            # Room for a burst while the loop is busy (capped by net.core.rmem_max).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((host, port))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise TrapListenError(
                f'[traps] listen = "{self._listen}": cannot bind: {exc.strerror or exc}'
            ) from exc
        try:
            if self._v3.needed:
                await self._v3.start()
            loop = asyncio.get_running_loop()
            self._transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), sock=sock
            )
        except BaseException:
            sock.close()
            raise

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); raises RuntimeError before `start()`."""
        if self._transport is None:
            raise RuntimeError("the trap receiver is not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def aclose(self) -> None:
        """Close the socket (idempotent)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._v3.close()

    def _send(self, data: bytes, addr: Any) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)

    def _drop(self, reason: str, source: object) -> None:
        # Never the datagram, the community or a user's keys: only why and from where.
        log.debug("trap dropped", extra={"reason": reason, "source": str(source)})
        self._dropped(reason)

    def _admit(self, device: Device | None, source: str) -> bool:
        # None: v3 from an unknown source (match_agent_address), which only pysnmp can read;
        # those share one device's rate, so they cannot spend the loop on USM checks.
        key = device.name if device is not None else _UNKNOWN_V3
        bucket = self._buckets.get(key)
        now = self._clock.monotonic()
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._device_rate, self._device_burst, now)
        if bucket.take(now):
            return True
        self._drop("rate_limited", source)
        return False

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """One datagram: bounded, matched, authenticated, then a Trap or a drop.

        Nothing is decoded before both buckets let it through. A known device spends its own
        bucket first, so one device's storm never uses up the overall rate and the other
        devices' traps still arrive; unknown sources spend the overall bucket only.
        """
        if len(data) > self._max_bytes:
            self._drop("oversize", addr[0])
            return
        source = canonical(str(addr[0])) or str(addr[0])
        device = self._by_address.get(source)
        if device is not None and not self._admit(device, source):
            return
        if not self._overall.take(self._clock.monotonic()):
            self._drop("rate_limited", source)
            return
        if device is None and not self._match_agent:
            self._drop("unknown_source", source)
            return
        try:
            version = message_version(data)
            if version == V3:
                if device is not None or self._admit(None, source):
                    self._receive_v3(data, addr, source, device)
                return
            note = decode_notification(data)
        except UnsupportedPdu:
            self._drop("unsupported", source)
            return
        except BerError:
            self._drop("malformed", source)
            return
        if device is None:
            device = self._by_address.get(canonical(note.agent_address or "") or "")
            if device is None:
                self._drop("unknown_source", source)
                return
            if not self._admit(device, source):
                return
        auth = self._auth.get(device.snmp_auth or "")
        if (
            auth is None
            or auth.community is None
            or not hmac.compare_digest(note.community, auth.community.reveal().encode())
        ):
            self._drop("bad_community", source)
            return
        inform = note.pdu_type == INFORM_REQUEST
        if inform:
            self._send(encode_inform_response(note), addr)
        self._sink(describe(
            device=device.name, source=source, version=_VERSIONS[note.version],
            trap_oid=note.trap_oid, varbinds=note.varbinds, received_at=self._clock.now(),
            inform=inform,
        ))  # fmt: skip

    def _receive_v3(self, data: bytes, addr: Any, source: str, device: Device | None) -> None:
        auth = self._auth.get(device.snmp_auth or "") if device is not None else None
        if device is not None and (auth is None or auth.version != "3"):
            self._drop("usm", source)
            return
        outcome = self._v3.receive(data, addr, auth)
        if outcome is None:  # engine-ID discovery, answered by pysnmp: not a notification
            return
        if isinstance(outcome, str):
            self._drop(outcome, source)
            return
        if device is None:
            device = self._by_address.get(canonical(outcome.agent_address or "") or "")
            auth = self._auth.get(device.snmp_auth or "") if device is not None else None
            if device is None or auth is None:
                self._drop("unknown_source", source)
                return
            if auth.username != outcome.user or auth.version != "3":
                self._drop("usm", source)
                return
            if not self._admit(device, source):
                return
        self._sink(describe(
            device=device.name, source=source, version="3", trap_oid=outcome.trap_oid,
            varbinds=outcome.varbinds, received_at=self._clock.now(), inform=outcome.inform,
        ))  # fmt: skip


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: TrapReceiver) -> None:
        self._receiver = receiver

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._receiver.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for a Response we sent (the sender went away): nothing to do.
        log.debug("trap socket error", extra={"error": str(exc)})
