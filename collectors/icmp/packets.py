"""ICMP echo packets: building requests, checking checksums, and the table that matches
replies to the requests of a sweep.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
PROTO: dict[int, int] = {
    socket.AF_INET: socket.IPPROTO_ICMP,
    socket.AF_INET6: socket.IPPROTO_ICMPV6,
}
PAYLOAD_BYTES = 8
# type, code, checksum, identifier, sequence, payload
_ECHO = struct.Struct(f"!BBHHH{PAYLOAD_BYTES}s")
_ECHO_BYTES = _ECHO.size
_WORDS = struct.Struct("!4H")  # the payload as 16-bit words, for the raw IPv4 checksum
# Every request draws its sequence number, identifier (raw sockets only: a ping socket writes
# its own port) and payload from the system CSPRNG: seeing one request tells nothing about
# the next, so a forged reply for another device must guess 64 bits of payload and the
# sequence number at once. Drawn in bulk, one call per this many requests.
_DRAWN = struct.Struct(f"!HH{PAYLOAD_BYTES}s")  # sequence, identifier, payload
_DRAW = _DRAWN.size
_DRAWS_PER_CALL = 4096
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

    __slots__ = ("done", "outstanding", "rtts", "sending")

    def __init__(self, size: int, done: asyncio.Future[None] | None = None) -> None:
        self.rtts: list[list[float]] = [[] for _ in range(size)]  # one per reply
        self.outstanding = 0  # sent and not answered yet
        self.sending = True  # more echo requests may still be sent
        self.done = done  # resolved once everything sent has been answered

    @property
    def received(self) -> list[int]:
        """Replies per target index."""
        return [len(rtts) for rtts in self.rtts]

    def on_reply(self, index: int, rtt: float) -> None:
        self.rtts[index].append(rtt)
        self.outstanding -= 1
        if self.outstanding == 0:
            self.check_done()

    def check_done(self) -> None:
        if (
            self.outstanding == 0
            and not self.sending
            and self.done is not None
            and not self.done.done()
        ):
            self.done.set_result(None)


# address, payload, batch, index in the batch, monotonic send time, identifier (raw sockets)
_Entry = tuple[str, bytes, EchoBatch, int, float, int]
# What a sweep hands to send_burst for one address: index in the batch, the address packed as
# inet_pton() gives it, its IPv6 scope id (0: none), its text, the socket address for sendto.
# The compiled table (collectors/icmp/_echo.c) reads the first three, this one the rest.
Target = tuple[int, bytes, int, str, tuple[str, int]]
NO_SLOT = -1  # send_burst's errno when every sequence number is in flight


class EchoTable:
    """The echo requests in flight on one socket, keyed by sequence number.

    Each request gets a random sequence number (the next free one when it is taken), so
    concurrent callers (even pinging the same address) never share a key, and a random
    payload; on a raw socket also a random identifier. A reply counts only when it comes
    from the address the request went to and echoes its sequence number, payload and (raw)
    identifier. A kernel ping socket rewrites the identifier to the socket's port and delivers
    only replies carrying that port. `random(n)` gives n unpredictable bytes.
    """

    __slots__ = ("_at", "_inflight", "_offset_ip", "_pool", "_random", "_raw", "_reply",
                 "_request")

    def __init__(self, *, family: int, raw: bool,
                 random: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self._request = _ECHO_REQUEST[family]
        self._reply = _ECHO_REPLY[family]
        self._raw = raw
        # Raw IPv4 sockets hand us the IP header and leave the ICMP checksum to us; the
        # kernel fills it in for ping sockets and for every ICMPv6 socket.
        self._offset_ip = raw and family == socket.AF_INET
        self._inflight: dict[int, _Entry] = {}
        self._random = random
        self._pool = b""
        self._at = 0

    def __len__(self) -> int:
        return len(self._inflight)

    def register(
        self, address: str, batch: EchoBatch, index: int, sent_at: float
    ) -> tuple[int, bytes] | None:
        """Reserve a sequence number for one echo request: (sequence, packet to send).

        Returns None when all 65,536 sequence numbers are in flight.
        """
        inflight = self._inflight
        if len(inflight) >= _SEQ_SPACE:
            return None
        at, pool = self._at, self._pool
        if at >= len(pool):
            at, pool = 0, self._random(_DRAW * _DRAWS_PER_CALL)
            self._pool = pool
        self._at = at + _DRAW
        seq, ident, payload = _DRAWN.unpack_from(pool, at)
        while seq in inflight:
            seq = (seq + 1) & 0xFFFF
        checksum = 0
        if not self._raw:
            ident = 0  # the kernel writes the socket's port
        elif self._offset_ip:
            total = (self._request << 8) + ident + seq + sum(_WORDS.unpack(payload))
            total = (total >> 16) + (total & 0xFFFF)
            total += total >> 16
            checksum = ~total & 0xFFFF
        inflight[seq] = (address, payload, batch, index, sent_at, ident)
        return seq, _ECHO.pack(self._request, 0, checksum, ident, seq, payload)

    def send_burst(
        self, sock: Any, batch: EchoBatch, sent: list[int], targets: list[Target],
        start: int, stop: int, monotonic: Callable[[], float],
    ) -> tuple[int, int, int]:
        """Register and send targets[start:stop]: (next position, errno, requests sent).

        Adds one to sent[index] per request that went out. Stops at the first target whose
        send failed (errno > 0; it holds no sequence number) or when every sequence number is
        in flight (errno NO_SLOT). monotonic() gives each request's send time (the compiled
        table reads it once per sendmmsg).
        """
        register, sendto = self.register, sock.sendto
        pos = start
        while pos < stop:
            index, _, _, address, sockaddr = targets[pos]
            slot = register(address, batch, index, monotonic())
            if slot is None:
                return pos, NO_SLOT, pos - start
            seq, packet = slot
            try:
                sendto(packet, sockaddr)
            except OSError as exc:
                self.release(seq, batch)
                return pos, exc.errno or errno.EIO, pos - start
            sent[index] += 1
            pos += 1
        return pos, 0, pos - start

    def release(self, seq: int, batch: EchoBatch) -> bool:
        """Forget `seq` if it is still in flight for `batch` (unanswered, or the send failed)."""
        entry = self._inflight.get(seq)
        if entry is not None and entry[2] is batch:
            del self._inflight[seq]
            return True
        return False

    def release_batch(self, batch: EchoBatch) -> bool:
        """Forget every request of `batch` still in flight; True if there was any."""
        inflight = self._inflight
        left = [seq for seq, entry in inflight.items() if entry[2] is batch]
        for seq in left:
            del inflight[seq]
        return bool(left)

    def on_packet(self, source: str, data: bytes, received_at: float) -> bool:
        """Match one received packet; True if it answered one of our echo requests.

        Anything else is ignored: other ICMP types, unknown or already answered sequence
        numbers (duplicates), replies from another address or with another payload or
        (raw) identifier, and truncated packets.
        """
        offset = 0
        if self._offset_ip:
            if len(data) < 20:
                return False
            offset = (data[0] & 0x0F) * 4
        if len(data) < offset + _ECHO_BYTES:
            return False
        kind, code, _, ident, seq, payload = _ECHO.unpack_from(data, offset)
        if kind != self._reply or code != 0:
            return False
        entry = self._inflight.get(seq)
        if entry is None or entry[0] != source or payload != entry[1]:
            return False
        if self._raw and ident != entry[5]:
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
