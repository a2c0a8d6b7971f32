"""ICMP echo packets: building requests, checking checksums, and the table that matches
replies to the requests of a sweep.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from dataclasses import dataclass

_ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
PROTO: dict[int, int] = {
    socket.AF_INET: socket.IPPROTO_ICMP,
    socket.AF_INET6: socket.IPPROTO_ICMPV6,
}
# type, code, checksum, identifier, sequence, then an 8-byte payload: our token and a serial
# number, so a reply is ours only if it echoes both (another process may use our id/sequence).
_ECHO = struct.Struct("!BBHHHII")
_SEQ_SPACE = 1 << 16


@dataclass(frozen=True, slots=True)
class PingReply:
    """The outcome of pinging one address: echo requests sent, replies received, RTTs."""

    address: str
    sent: int
    received: int
    rtts: tuple[float, ...]  # seconds, one per reply, in arrival order
    error: str = ""  # why some echo requests could not be sent (last sendto error), if any

    @property
    def loss_ratio(self) -> float:
        """Lost share of the echo requests that were sent, 0..1.

        Raises ValueError when nothing was sent: that is a probe failure, never 0 % loss.
        """
        if self.sent == 0:
            raise ValueError(f"no echo request was sent to {self.address}: loss is undefined")
        return (self.sent - min(self.received, self.sent)) / self.sent


class EchoBatch:
    """The replies collected for one ping() or sweep() call, per target index."""

    __slots__ = ("done", "outstanding", "received", "rtts", "sending")

    def __init__(self, size: int, done: asyncio.Future[None] | None = None) -> None:
        self.received = [0] * size
        self.rtts: list[list[float]] = [[] for _ in range(size)]
        self.outstanding = 0  # sent and not answered yet
        self.sending = True  # more echo requests may still be sent
        self.done = done  # resolved once everything sent has been answered

    def on_reply(self, index: int, rtt: float) -> None:
        self.received[index] += 1
        self.rtts[index].append(rtt)
        self.outstanding -= 1
        self.check_done()

    def check_done(self) -> None:
        if (
            self.outstanding == 0
            and not self.sending
            and self.done is not None
            and not self.done.done()
        ):
            self.done.set_result(None)


# address, serial, batch, index in the batch, monotonic send time
_Entry = tuple[str, int, EchoBatch, int, float]


class EchoTable:
    """The echo requests in flight on one socket, keyed by sequence number.

    Sequence numbers come from one 16-bit counter, skipping those still in flight, so
    concurrent callers (even pinging the same address) never share a key. `ident` is the
    identifier we write and expect on a raw socket; None on a kernel ping socket, which
    rewrites it to the socket's port and delivers only replies carrying that port.
    """

    __slots__ = (
        "_base",
        "_checksum",
        "_ident_out",
        "_inflight",
        "_next_seq",
        "_offset_ip",
        "_reply",
        "_request",
        "_serial",
        "ident",
        "token",
    )

    def __init__(self, *, family: int, raw: bool, ident: int, token: int) -> None:
        self.ident: int | None = ident if raw else None
        self._ident_out = ident if raw else 0  # a ping socket writes its own
        self.token = token
        self._request = _ECHO_REQUEST[family]
        self._reply = _ECHO_REPLY[family]
        # Raw IPv4 sockets hand us the IP header and leave the ICMP checksum to us; the
        # kernel fills it in for ping sockets and for every ICMPv6 socket.
        self._offset_ip = raw and family == socket.AF_INET
        self._checksum = self._offset_ip
        self._base = (self._request << 8) + (ident if raw else 0) + (token >> 16) + (token & 0xFFFF)
        self._inflight: dict[int, _Entry] = {}
        self._next_seq = int.from_bytes(os.urandom(2), "big")
        self._serial = 0

    def __len__(self) -> int:
        return len(self._inflight)

    def register(
        self, address: str, batch: EchoBatch, index: int, sent_at: float
    ) -> tuple[int, bytes] | None:
        """Reserve a sequence number for one echo request: (sequence, packet to send).

        Returns None when all 65,536 sequence numbers are in flight.
        """
        inflight = self._inflight
        seq = self._next_seq
        if seq in inflight:
            if len(inflight) >= _SEQ_SPACE:
                return None
            while seq in inflight:
                seq = (seq + 1) & 0xFFFF
        self._next_seq = (seq + 1) & 0xFFFF
        serial = self._serial = (self._serial + 1) & 0xFFFFFFFF
        inflight[seq] = (address, serial, batch, index, sent_at)
        checksum = 0
        if self._checksum:
            total = self._base + seq + (serial >> 16) + (serial & 0xFFFF)
            total = (total >> 16) + (total & 0xFFFF)
            total += total >> 16
            checksum = ~total & 0xFFFF
        return seq, _ECHO.pack(self._request, 0, checksum, self._ident_out, seq, self.token,
                               serial)

    def release(self, seq: int, batch: EchoBatch) -> bool:
        """Forget `seq` if it is still in flight for `batch` (unanswered, or the send failed)."""
        entry = self._inflight.get(seq)
        if entry is not None and entry[2] is batch:
            del self._inflight[seq]
            return True
        return False

    def on_packet(self, source: str, data: bytes, received_at: float) -> bool:
        """Match one received packet; True if it answered one of our echo requests.

        Anything else is ignored: other ICMP types, other identifiers or tokens, unknown or
        already answered sequence numbers (duplicates), replies from another address, and
        truncated packets.
        """
        offset = 0
        if self._offset_ip:
            if len(data) < 20:
                return False
            offset = (data[0] & 0x0F) * 4
        if len(data) < offset + 16:
            return False
        kind, code, _, ident, seq, token, serial = _ECHO.unpack_from(data, offset)
        if kind != self._reply or code != 0 or token != self.token:
            return False
        if self.ident is not None and ident != self.ident:
            return False
        entry = self._inflight.get(seq)
        if entry is None or entry[0] != source or entry[1] != serial:
            return False
        del self._inflight[seq]
        entry[2].on_reply(entry[3], max(0.0, received_at - entry[4]))
        return True


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(int(word) for word in struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def canonical_address(address: str) -> tuple[int, str]:
    """(family, text as the kernel reports it) for an IP literal; ValueError otherwise."""
    try:
        socket.inet_pton(socket.AF_INET, address)
    except OSError:
        pass
    else:
        return socket.AF_INET, address
    host, sep, scope = address.partition("%")
    try:
        packed = socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        raise ValueError(f"not an IP address: {address!r}") from None
    return socket.AF_INET6, socket.inet_ntop(socket.AF_INET6, packed) + sep + scope
