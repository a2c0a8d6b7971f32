"""One ICMP socket per address family: opening it (buffer, kernel receive timestamps, raw
filters), reading replies into its EchoTable, and waiting until it can send again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from typing import Any, Protocol

from agent.core.clock import Clock
from collectors.icmp.engine import Table
from collectors.icmp.packets import PROTO, EchoTable

log = logging.getLogger(__name__)

_RCVBUF_BYTES = 4 << 20  # a 10k sweep's replies fit even if nobody reads for a while
_SO_RCVBUFFORCE = 33  # linux/asm-generic/socket.h; missing from Python's socket module
# Kernel receive timestamps (struct timespec, CLOCK_REALTIME) as ancillary data of recvmsg():
# a reply that reached the socket in time counts with its true RTT even when the agent reads
# it late (a stalled loop, SIGSTOP, VM steal). SCM_TIMESTAMPNS has the same value.
_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("=qq")
_ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size)
_SOL_RAW = 255
_ICMP_FILTER = 1  # linux/icmp.h: bitmask of ICMPv4 types a raw socket does NOT want
_ICMP6_FILTER = 1  # linux/icmpv6.h: same for ICMPv6, 256 bits
# Sends between yields to the loop, so the reader drains replies while a sweep is sent.
# Measured: without yielding, a 4 MiB receive buffer holds ~10,000 loopback echo replies
# (~830 bytes of buffer each) and a 30,000 sweep lost two thirds of them. The pace is also
# capped at half of what the actual buffer holds (net.core.rmem_max applies without root).
YIELD_EVERY = 256
_BUFFER_PER_REPLY = 830
_DRAIN_LIMIT = 1 << 16  # packets per readiness callback, so a flood cannot starve the loop
# With kernel receive times, a reply read late keeps its true RTT: the reader then waits
# this long after a socket turns readable and reads everything queued in one go, instead of
# waking the loop for each reply (at 10,000 devices that is ~1,700 wake-ups a second).
COALESCE_SECONDS = 0.02
class IcmpSocket(Protocol):
    """What Pinger uses of a non-blocking ICMP socket (socket.socket, or a test double)."""

    @property
    def family(self) -> int: ...
    def fileno(self) -> int: ...
    def getsockopt(self, level: int, option: int, /) -> int: ...
    def sendto(self, data: bytes, address: tuple[str, int], /) -> int: ...
    def recvfrom(self, bufsize: int, /) -> tuple[bytes, Any]: ...
    def close(self) -> None: ...


class Channel:
    """One ICMP socket of one family, registered with the loop, and its echo table (the
    Python one, or the compiled one that reads the socket itself: engine.py)."""

    def __init__(
        self, sock: IcmpSocket, table: Table, clock: Clock, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.sock = sock
        self.table = table
        self.compiled = not isinstance(table, EchoTable)
        self.family = sock.family
        self._clock = clock
        self._loop = loop
        self.slot_freed: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.sends_per_yield = max(8, min(YIELD_EVERY, rcvbuf // (2 * _BUFFER_PER_REPLY)))
        self.stamped = isinstance(sock, socket.socket) and bool(
            sock.getsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS)
        )
        self._pending: asyncio.TimerHandle | None = None  # a coalesced read to come
        loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        if not self.stamped:
            self.drain()  # no kernel times: read at once, the read time is the RTT's end
        elif self._pending is None:
            self._loop.remove_reader(self.sock.fileno())
            self._pending = self._loop.call_later(COALESCE_SECONDS, self._read_coalesced)

    def _read_coalesced(self) -> None:
        self._pending = None
        fd = self.sock.fileno()
        if fd >= 0:
            self.drain()
            self._loop.add_reader(fd, self._on_readable)

    def drain(self) -> None:
        """Read every reply already queued on the socket (before judging any timeout)."""
        if self.sock.fileno() >= 0:
            if self.compiled:
                self._drain_compiled()
            elif self.stamped:
                self._drain_stamped()
            else:
                self._drain()

    def _drain_compiled(self) -> None:
        now = self._clock.monotonic()
        offset = self._clock.now().timestamp() - now  # kernel times are wall-clock
        before = len(self.table)
        table: Any = self.table  # the compiled table (collectors/icmp/_echo.pyi)
        _, error = table.drain(self.sock, offset, now, _DRAIN_LIMIT)
        if error:  # a queued error report: read on at the next readiness
            log.debug("icmp receive error", extra={"error": os.strerror(error)})
        if self.slot_freed is not None and len(self.table) < before:
            self.wake_slot_waiters()

    def _drain(self) -> None:
        recvfrom = self.sock.recvfrom
        on_packet = self.table.on_packet
        monotonic = self._clock.monotonic
        before = len(self.table)
        for _ in range(_DRAIN_LIMIT):
            try:
                data, source = recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # a queued error report: read on at the next readiness
                log.debug("icmp receive error", extra={"error": exc.strerror})
                break
            on_packet(source[0], data, monotonic())
        if self.slot_freed is not None and len(self.table) < before:
            self.wake_slot_waiters()

    def _drain_stamped(self) -> None:
        sock = self.sock
        assert isinstance(sock, socket.socket)
        recvmsg = sock.recvmsg
        on_packet = self.table.on_packet
        now = self._clock.monotonic()
        # kernel times are wall-clock: map them onto the monotonic clock once per drain
        offset = self._clock.now().timestamp() - now
        before = len(self.table)
        unpack = _TIMESPEC.unpack_from
        for _ in range(_DRAIN_LIMIT):
            try:
                data, ancillary, _, source = recvmsg(2048, _ANCILLARY_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # a queued error report: read on at the next readiness
                log.debug("icmp receive error", extra={"error": exc.strerror})
                break
            received = now
            if ancillary:  # the one control message we asked for, in practice
                level, kind, payload = ancillary[0]
                if kind == _SO_TIMESTAMPNS and level == socket.SOL_SOCKET:
                    sec, nsec = unpack(payload)
                    at = sec + nsec * 1e-9 - offset
                    if at < now:
                        received = at
            on_packet(source[0], data, received)
        if self.slot_freed is not None and len(self.table) < before:
            self.wake_slot_waiters()

    def wake_slot_waiters(self) -> None:
        if self.slot_freed is not None and not self.slot_freed.done():
            self.slot_freed.set_result(None)
        self.slot_freed = None

    async def wait_for_slot(self) -> None:
        if self.slot_freed is None:
            self.slot_freed = self._loop.create_future()
        await self.slot_freed

    async def wait_writable(self, seconds: float) -> None:
        """Wait until the socket is writable, at most `seconds`; all waiters share one writer."""
        fut = self._writable
        if fut is None or fut.done():
            fut = self._writable = self._loop.create_future()
            fd = self.sock.fileno()

            def writable() -> None:
                self._loop.remove_writer(fd)
                if not fut.done():
                    fut.set_result(None)

            self._loop.add_writer(fd, writable)
        sleeper = self._loop.create_task(self._clock.sleep(seconds))
        try:
            await asyncio.wait((fut, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._loop.remove_reader(self.sock.fileno())
        self._loop.remove_writer(self.sock.fileno())
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self.sock.close()
        self.wake_slot_waiters()


def open_socket(family: int, mode: str) -> socket.socket:
    raw = mode == "privileged"
    sock = socket.socket(family, socket.SOCK_RAW if raw else socket.SOCK_DGRAM, PROTO[family])
    try:
        sock.setblocking(False)
        try:  # beyond net.core.rmem_max, but only root may
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF_BYTES)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF_BYTES)
        with contextlib.suppress(OSError):  # without it, replies are timed when read
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        if raw and family == socket.AF_INET:
            # A raw socket gets a copy of every ICMP packet on the host, our own echo
            # requests to local addresses included: let the kernel keep only echo replies.
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("=I", ~1 & 0xFFFFFFFF))
        elif raw:
            words = [0xFFFFFFFF] * 8
            words[129 >> 5] &= ~(1 << (129 & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("=8I", *words))
    except BaseException:
        sock.close()
        raise
    return sock


