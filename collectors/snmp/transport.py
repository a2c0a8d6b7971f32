"""UdpTransport: one unconnected UDP socket per address family for every request of a
FastSnmpClient; each try gets an unpredictable request id, replies are matched by request id,
source, version and community, judged by the kernel's receive time, and decoded with `ber.py`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import struct
import time
from collections.abc import Callable

from collectors.snmp import ber
from collectors.snmp.ber import Response

log = logging.getLogger(__name__)

# Request ids are drawn from the system CSPRNG, a fresh one for every try: one seen request
# (to a device of one's own) tells nothing about the ids in flight for other devices, so a
# forged reply from a device's address must guess 31 bits, and the community besides. Drawn
# in bulk (one call per 1,024 ids): the poll sends a few requests per device per interval.
_RID_MASK = 0x7FFF_FFFF  # 1..2**31-1: positive Integer32s, which every agent echoes intact
_IDS = struct.Struct("!1024I")
_RECV_BUFFER = 4 * 1024 * 1024  # asked for; the kernel caps it at net.core.rmem_max
_MAX_DATAGRAMS_PER_WAKEUP = 256  # then yield to other callbacks
# Linux's SO_TIMESTAMPNS (== SCM_TIMESTAMPNS): the receive time of each datagram, as a
# struct timespec on CLOCK_REALTIME in the ancillary data of recvmsg(). Python names neither.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size)


class NoAnswer(Exception):
    """Every try of one request expired; `garbage` says why replies were useless
    ("undecodable reply (...)", "reply carries another version or community")."""

    def __init__(self, garbage: str | None) -> None:
        super().__init__(garbage)
        self.garbage = garbage


class Undecodable(Exception):
    """The reply to this request could not be decoded."""


class SendFailed(Exception):
    """The kernel refused to send (no route, EPERM from a firewall...)."""


class _Pending:
    """One request in flight: matched by request id (any of its tries'), source address and
    port, version and community."""

    __slots__ = (
        "community", "encode", "future", "garbage", "host", "port", "rids", "sent_at", "sock",
        "timeout", "timer", "tries", "version",
    )  # fmt: skip

    def __init__(
        self,
        future: asyncio.Future[Response],
        host: str,
        port: int,
        sock: socket.socket,
        version: int,
        community: bytes,
        encode: Callable[[int], bytes],
        timeout: float,
        tries: int,
    ) -> None:
        self.future = future
        self.host = host
        self.port = port
        self.sock = sock
        self.version = version
        self.community = community
        self.encode = encode  # request id -> the datagram to send
        self.timeout = timeout
        self.tries = tries
        self.rids: list[int] = []  # one per try sent, each in UdpTransport._pending
        self.timer: asyncio.TimerHandle | None = None
        self.garbage: str | None = None
        self.sent_at = 0.0  # loop time of the latest send

    def answered_in_time(self, arrived: float) -> bool:
        """Did a reply that reached the socket at `arrived` (loop time) come in time?

        In time is before this try's timeout, or within the tries still left had every retry
        gone out on time: lateness of our own (a retry timer that fired late, a loop that read
        late) never turns an answer into a timeout.
        """
        return arrived <= self.sent_at + self.timeout * (self.tries + 1)


class UdpTransport:
    """Sockets, request ids and pending requests of one FastSnmpClient, on one event loop.

    `random_bytes(n)` gives n unpredictable bytes (the request ids' source).
    """

    def __init__(
        self,
        *,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        realtime: Callable[[], float] = time.time,
    ) -> None:
        # CLOCK_REALTIME, the clock of the kernel's receive timestamps, read once per batch
        # of datagrams to bring them onto the loop's clock.
        self._realtime = realtime
        self._random_bytes = random_bytes
        self._ids: list[int] = []  # drawn, not used yet
        self._pending: dict[int, _Pending] = {}  # request id of every try -> its request
        self._sockets: dict[int, socket.socket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def attach(self) -> None:
        """Bind to the running loop on first use. Raises RuntimeError once closed, or from
        another loop."""
        if self._closed:
            raise RuntimeError("FastSnmpClient is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("FastSnmpClient used from a second event loop")

    async def exchange(
        self,
        host: str,
        port: int,
        sock: socket.socket,
        version: int,
        community: bytes,
        encode: Callable[[int], bytes],
        try_timeout: float,
        retries: int,
    ) -> Response:
        """Send one request, `encode(request_id)`, and wait for its reply; each retry goes out
        with a new request id, and a reply to any of the tries counts.

        Only a Response from `host`:`port` with one of the tries' request ids, `version` and
        `community` is taken. Raises NoAnswer, Undecodable or SendFailed.
        """
        loop = self._loop
        assert loop is not None
        pending = _Pending(
            loop.create_future(), host, port, sock, version, community, encode, try_timeout,
            retries,
        )  # fmt: skip
        try:
            self._send(pending)
            pending.timer = loop.call_later(try_timeout, self._expire, pending)
            return await pending.future
        finally:
            for rid in pending.rids:
                if self._pending.get(rid) is pending:
                    del self._pending[rid]
            if pending.timer is not None:
                pending.timer.cancel()

    def close(self) -> None:
        """Close the sockets; requests still waiting get CancelledError. Idempotent."""
        self._closed = True
        for pending in list(self._pending.values()):
            if pending.timer is not None:
                pending.timer.cancel()
            pending.future.cancel()
        self._pending.clear()
        for sock in self._sockets.values():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()

    def _new_id(self) -> int:
        """An unpredictable request id in 1..2**31-1 that no request in flight uses."""
        ids, pending = self._ids, self._pending
        while True:
            if not ids:
                ids.extend(_IDS.unpack(self._random_bytes(_IDS.size)))
            rid = ids.pop() & _RID_MASK
            if rid and rid not in pending:
                return rid

    def socket_for(self, family: int) -> socket.socket:
        sock = self._sockets.get(family)
        if sock is not None:
            return sock
        assert self._loop is not None
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(("::", 0))
            else:
                sock.bind(("0.0.0.0", 0))
            self._loop.add_reader(sock.fileno(), self._on_readable, sock)
        except BaseException:
            sock.close()
            raise
        self._sockets[family] = sock
        return sock

    def _send(self, pending: _Pending) -> None:
        """Send one try under a new request id (registered first, kept until the end)."""
        assert self._loop is not None
        rid = self._new_id()
        payload = pending.encode(rid)
        self._pending[rid] = pending
        pending.rids.append(rid)
        pending.sent_at = self._loop.time()
        try:
            pending.sock.sendto(payload, (pending.host, pending.port))
        except (BlockingIOError, InterruptedError):
            # Send buffer full: the datagram is lost like any other; the retry timer resends.
            log.debug("snmp send buffer full", extra={"target": pending.host})
        except OSError as exc:
            raise SendFailed(exc.strerror or str(exc)) from None

    def _expire(self, pending: _Pending) -> None:
        if pending.future.done():
            return
        # A timer that fired late must not miss a reply already queued on the socket.
        self._on_readable(pending.sock)
        if pending.future.done():
            return
        if pending.tries <= 0:
            pending.future.set_exception(NoAnswer(pending.garbage))
            return
        pending.tries -= 1
        try:
            self._send(pending)
        except SendFailed as exc:
            pending.future.set_exception(exc)
            return
        assert self._loop is not None
        pending.timer = self._loop.call_later(pending.timeout, self._expire, pending)

    # ------------------------------------------------------------------ receiving

    def _on_readable(self, sock: socket.socket) -> None:
        loop = self._loop
        assert loop is not None
        # Kernel receive times are on CLOCK_REALTIME; one offset per batch puts them on the
        # loop's clock (read now, so a wall-clock step between send and receipt is harmless).
        offset: float | None = None
        for _ in range(_MAX_DATAGRAMS_PER_WAKEUP):
            try:
                data, ancillary, _flags, source = sock.recvmsg(65536, _ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors queued on the socket; unconnected UDP cannot tell whose.
                log.debug("snmp socket error", extra={"error": str(exc)})
                continue
            if offset is None:
                offset = loop.time() - self._realtime()
            arrived = None
            for level, kind, cdata in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(cdata)
                    arrived = sec + nsec * 1e-9 + offset
            if arrived is None:
                arrived = loop.time()
            self.on_datagram(data, source[0], source[1], arrived)

    def on_datagram(self, data: bytes, host: str, port: int, arrived: float) -> None:
        """Match one datagram from `host`:`port` that reached the socket at `arrived` (loop time).

        It answers a request only if it is a Response from the request's address and port,
        with the request id of one of its tries, its version and its community; anything else
        is ignored. Never raises.
        """
        try:
            resp = ber.decode_response(data)
        except ber.BerError as exc:
            self._dispatch_garbage(data, host, port, f"undecodable reply ({exc})")
            return
        pending = self._pending.get(resp.request_id)
        if pending is None or pending.host != host or pending.port != port:
            log.debug("snmp reply matches no request", extra={"source": host, "port": port})
            return
        if pending.future.done():
            return
        if resp.version != pending.version or resp.community != pending.community:
            # Not an answer; if no answer comes, the timeout says what came instead.
            pending.garbage = "reply carries another version or community"
            log.debug("snmp reply with another community", extra={"source": host, "port": port})
            return
        if not pending.answered_in_time(arrived):
            # Reached the socket after the request's last try had expired: not an answer.
            log.debug("snmp reply too late", extra={"source": host, "port": port})
            return
        pending.future.set_result(resp)

    def _dispatch_garbage(self, data: bytes, host: str, port: int, reason: str) -> None:
        """An undecodable datagram fails the request it names at once (its request id, from its
        source), else marks that source's requests, so their timeouts say why."""
        rid = ber.peek_request_id(data)
        pending = self._pending.get(rid) if rid is not None else None
        if pending is not None and pending.host == host and pending.port == port:
            if not pending.future.done():
                pending.future.set_exception(Undecodable(reason))
            return
        # Unknown request id: remember it for that source's requests, in case they time out.
        log.debug("snmp reply undecodable", extra={"source": host, "port": port})
        for p in self._pending.values():
            if p.host == host and p.port == port:
                p.garbage = reason
