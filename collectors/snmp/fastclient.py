"""FastSnmpClient: SNMP v1/v2c GET, GETNEXT and multi-column bulk walks over one UDP socket per
address family, on the lean codec in `ber.py`. pysnmp stays the engine for SNMPv3.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.core.clock import Clock
from agent.core.errors import CollectorError, ProtocolError, TargetTimeout, TargetUnreachable
from agent.core.model import host_port
from collectors.snmp import ber
from collectors.snmp.ber import Absent, EncodedOid, Response, Value

log = logging.getLogger(__name__)

Target = tuple[str, int]
Oid = tuple[int, ...]
OidLike = Sequence[int] | EncodedOid

_RID_MODULUS = 2**31
_RECV_BUFFER = 4 * 1024 * 1024  # asked for; the kernel caps it at net.core.rmem_max
_MAX_DATAGRAMS_PER_WAKEUP = 256  # then yield to other callbacks


class _NoAnswer(Exception):
    """Internal: every try of one request expired; `garbage` says why replies were useless."""

    def __init__(self, garbage: str | None) -> None:
        super().__init__(garbage)
        self.garbage = garbage


class _Undecodable(Exception):
    """Internal: the reply to this request could not be decoded."""


class _SendFailed(Exception):
    """Internal: the kernel refused to send (no route, EPERM from a firewall...)."""


class _Pending:
    """One request in flight: matched by request id, then by source address."""

    __slots__ = (
        "future", "garbage", "host", "payload", "port", "sock", "timeout", "timer", "tries",
    )  # fmt: skip

    def __init__(
        self,
        future: asyncio.Future[Response],
        host: str,
        port: int,
        sock: socket.socket,
        payload: bytes,
        timeout: float,
        tries: int,
    ) -> None:
        self.future = future
        self.host = host
        self.port = port
        self.sock = sock
        self.payload = payload
        self.timeout = timeout
        self.tries = tries
        self.timer: asyncio.TimerHandle | None = None
        self.garbage: str | None = None


@dataclass(slots=True)
class _Column:
    prefix: Oid
    raw_prefix: EncodedOid
    last: EncodedOid
    last_index: Oid = ()
    rows: list[tuple[Oid, Value]] = field(default_factory=list)
    done: bool = False


@dataclass(frozen=True, slots=True)
class _Call:
    """What one public call is doing, for error messages (never holds the community)."""

    device: str
    check: str
    verb: str
    where: str
    started: float


class FastSnmpClient:
    """SNMP v1/v2c requests for many targets over one unconnected UDP socket per family.

    Create one per event loop, inside it, and close it with `aclose()`. Replies are matched by
    request id and by source address and port. Communities are sent, never logged.

    An agent that rejects the community (v1/v2c) stays silent, as net-snmp's snmpd does, so a
    wrong community surfaces as TargetTimeout; telling it apart from a dead agent is up to the
    caller. Targets are IP literals or names (resolved once per call).
    """

    def __init__(self, clock: Clock, *, rng: random.Random | None = None) -> None:
        self._clock = clock
        self._rng = rng or random.Random()
        self._next_id = self._rng.randrange(_RID_MODULUS)
        self._pending: dict[int, _Pending] = {}
        self._sockets: dict[int, socket.socket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # ------------------------------------------------------------------ public API

    async def get(
        self,
        target: Target,
        community: bytes,
        version: int,
        oids: Sequence[OidLike],
        *,
        timeout: float,  # noqa: ASYNC109 -- per try, with retries: not one asyncio.timeout
        retries: int,
        device: str | None = None,
        check: str = "snmp",
    ) -> list[tuple[Oid, Value]]:
        """GET `oids` in one request; returns (oid, value) in request order.

        Missing variables come back as `Absent` values; on SNMPv1, whose agents answer
        noSuchName for the whole PDU, each failing OID is dropped and the rest asked again.
        Raises TargetTimeout, TargetUnreachable or ProtocolError (error-status, bad reply).
        """
        return await self._get(
            target, community, version, oids, ber.GET_REQUEST, ber.NO_SUCH_OBJECT,
            try_timeout=timeout, retries=retries, device=device, check=check, verb="getting",
        )  # fmt: skip

    async def get_next(
        self,
        target: Target,
        community: bytes,
        version: int,
        oids: Sequence[OidLike],
        *,
        timeout: float,  # noqa: ASYNC109 -- per try, with retries: not one asyncio.timeout
        retries: int,
        device: str | None = None,
        check: str = "snmp",
    ) -> list[tuple[Oid, Value]]:
        """GETNEXT `oids` in one request; returns the (next oid, value) per requested OID.

        An OID past the end of the MIB gives END_OF_MIB_VIEW (SNMPv1's noSuchName included).
        Raises like `get`.
        """
        return await self._get(
            target, community, version, oids, ber.GET_NEXT_REQUEST, ber.END_OF_MIB_VIEW,
            try_timeout=timeout, retries=retries, device=device, check=check,
            verb="getting next",
        )  # fmt: skip

    async def bulk_walk(
        self,
        target: Target,
        community: bytes,
        version: int,
        column_oid_prefixes: Sequence[Sequence[int]],
        *,
        max_repetitions: int = 25,
        timeout: float,  # noqa: ASYNC109 -- per try, with retries: not one asyncio.timeout
        retries: int,
        total_timeout: float | None = None,
        max_requests: int = 10_000,
        device: str | None = None,
        check: str = "snmp",
    ) -> dict[Oid, list[tuple[Oid, Value]]]:
        """Walk several table columns at once; returns prefix -> [(index suffix, value)].

        Each GETBULK (non-repeaters 0) carries every column still open; a column ends when a
        reply leaves its prefix, at endOfMibView or another exception value; ended columns
        drop out of the next request. SNMPv1 uses GETNEXT and treats noSuchName as the end of
        the column it points at. Each request is bounded by `timeout` and `retries`; the walk
        by `total_timeout` (when given) and `max_requests`. Raises TargetTimeout,
        TargetUnreachable or ProtocolError (error-status, OIDs not increasing, bad reply).
        """
        if max_repetitions < 1:
            raise ValueError("max_repetitions must be at least 1")
        host, port, sock = await self._resolve(target, device, check)
        call = self._call(device, check, "walking", host, port)
        columns: dict[Oid, _Column] = {}
        for prefix in column_oid_prefixes:
            key = tuple(prefix)
            raw = ber.encode_oid(key)
            columns.setdefault(key, _Column(key, raw, raw))
        try:
            async with asyncio.timeout(total_timeout) as scope:
                await self._walk(
                    call, host, port, sock, community, version, list(columns.values()),
                    max_repetitions, timeout, retries, max_requests,
                )  # fmt: skip
        except TimeoutError:
            if not scope.expired():
                raise
            raise self._cancelled(call) from None
        return {key: col.rows for key, col in columns.items()}

    async def aclose(self) -> None:
        """Close the sockets; calls still waiting get CancelledError, later calls RuntimeError.

        Idempotent.
        """
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

    # ------------------------------------------------------------------ requests

    async def _get(
        self,
        target: Target,
        community: bytes,
        version: int,
        oids: Sequence[OidLike],
        pdu_type: int,
        missing: Absent,
        *,
        try_timeout: float,
        retries: int,
        device: str | None,
        check: str,
        verb: str,
    ) -> list[tuple[Oid, Value]]:
        host, port, sock = await self._resolve(target, device, check)
        call = self._call(device, check, verb, host, port)
        raw = [o if isinstance(o, bytes) else ber.encode_oid(o) for o in oids]
        results: list[tuple[Oid, Value] | None] = [None] * len(raw)
        todo = list(range(len(raw)))
        while todo:
            rid = self._new_id()
            payload = ber.encode_request(version, community, pdu_type, rid, [raw[k] for k in todo])
            resp = await self._exchange(call, host, port, sock, rid, payload, try_timeout, retries)
            self._check_reply(call, resp, version, community)
            if resp.error_status == ber.NO_SUCH_NAME and version == ber.V1:
                # SNMPv1: one failing variable fails the PDU; drop it and ask for the rest.
                if not 1 <= resp.error_index <= len(todo):
                    raise self._protocol(call, "noSuchName with a bad error-index")
                k = todo.pop(resp.error_index - 1)
                results[k] = (ber.decode_oid(raw[k]), missing)
                continue
            if resp.error_status:
                raise self._status_error(call, resp)
            if len(resp.varbinds) != len(todo):
                raise self._protocol(call, "reply has a different number of varbinds")
            for k, (oid, value) in zip(todo, resp.varbinds, strict=True):
                results[k] = (ber.decode_oid(oid), value)
            break
        return [r for r in results if r is not None]

    async def _walk(
        self,
        call: _Call,
        host: str,
        port: int,
        sock: socket.socket,
        community: bytes,
        version: int,
        open_cols: list[_Column],
        max_repetitions: int,
        try_timeout: float,
        retries: int,
        max_requests: int,
    ) -> None:
        bulk = version != ber.V1
        requests = 0
        while open_cols:
            requests += 1
            if requests > max_requests:
                raise self._protocol(call, f"walk unfinished after {max_requests} requests")
            rid = self._new_id()
            oids = [c.last for c in open_cols]
            if bulk:
                payload = ber.encode_request(
                    version, community, ber.GET_BULK_REQUEST, rid, oids,
                    max_repetitions=max_repetitions,
                )  # fmt: skip
            else:
                payload = ber.encode_request(version, community, ber.GET_NEXT_REQUEST, rid, oids)
            resp = await self._exchange(call, host, port, sock, rid, payload, try_timeout, retries)
            self._check_reply(call, resp, version, community)
            status = resp.error_status
            if status:
                if status == ber.NO_SUCH_NAME and not bulk:
                    # SNMPv1 GETNEXT past the end of the MIB: that column is finished.
                    if not 1 <= resp.error_index <= len(open_cols):
                        raise self._protocol(call, "noSuchName with a bad error-index")
                    open_cols[resp.error_index - 1].done = True
                    open_cols = [c for c in open_cols if not c.done]
                    continue
                if status == ber.TOO_BIG and max_repetitions > 1:
                    max_repetitions //= 2
                    continue
                raise self._status_error(call, resp)
            varbinds = resp.varbinds
            width = len(open_cols)
            if not varbinds or (not bulk and len(varbinds) != width):
                raise self._protocol(call, "reply has a different number of varbinds")
            count = len(varbinds)
            for c, col in enumerate(open_cols):
                raw_prefix = col.raw_prefix
                cut = len(raw_prefix)
                rows = col.rows
                last_index = col.last_index
                last = col.last
                for k in range(c, count, width):
                    oid, value = varbinds[k]
                    if value.__class__ is Absent or not oid.startswith(raw_prefix):
                        col.done = True
                        break
                    tail = oid[cut:]
                    index = tuple(tail) if tail.isascii() else ber.decode_arcs(tail)
                    if index <= last_index:
                        raise self._protocol(call, f"OID not increasing: {ber.format_oid(oid)}")
                    rows.append((index, value))
                    last_index = index
                    last = oid
                col.last_index = last_index
                col.last = last
            open_cols = [c for c in open_cols if not c.done]

    async def _exchange(
        self,
        call: _Call,
        host: str,
        port: int,
        sock: socket.socket,
        rid: int,
        payload: bytes,
        try_timeout: float,
        retries: int,
    ) -> Response:
        """Send one request (retrying with the same request id) and wait for its reply."""
        loop = self._loop
        assert loop is not None
        pending = _Pending(loop.create_future(), host, port, sock, payload, try_timeout, retries)
        self._pending[rid] = pending
        try:
            self._send(pending)
            pending.timer = loop.call_later(try_timeout, self._expire, rid, pending)
            return await pending.future
        except _NoAnswer as exc:
            if exc.garbage is not None:
                raise self._protocol(call, f"undecodable reply ({exc.garbage})") from None
            elapsed = self._clock.monotonic() - call.started
            raise TargetTimeout(
                call.device, call.check,
                f"after {elapsed:.1f}s (possible timeout) {call.verb} {call.where}",
            ) from None  # fmt: skip
        except _Undecodable as exc:
            raise self._protocol(call, f"undecodable reply ({exc})") from None
        except _SendFailed as exc:
            raise TargetUnreachable(
                call.device, call.check, f"cannot send {call.verb} {call.where}: {exc}"
            ) from None
        finally:
            if self._pending.get(rid) is pending:
                del self._pending[rid]
            if pending.timer is not None:
                pending.timer.cancel()

    def _send(self, pending: _Pending) -> None:
        try:
            pending.sock.sendto(pending.payload, (pending.host, pending.port))
        except (BlockingIOError, InterruptedError):
            # Send buffer full: the datagram is lost like any other; the retry timer resends.
            log.debug("snmp send buffer full", extra={"target": pending.host})
        except OSError as exc:
            raise _SendFailed(exc.strerror or str(exc)) from None

    def _expire(self, rid: int, pending: _Pending) -> None:
        if pending.future.done():
            return
        if pending.tries <= 0:
            pending.future.set_exception(_NoAnswer(pending.garbage))
            return
        pending.tries -= 1
        try:
            self._send(pending)
        except _SendFailed as exc:
            pending.future.set_exception(exc)
            return
        assert self._loop is not None
        pending.timer = self._loop.call_later(pending.timeout, self._expire, rid, pending)

    # ------------------------------------------------------------------ receiving

    def _on_readable(self, sock: socket.socket) -> None:
        for _ in range(_MAX_DATAGRAMS_PER_WAKEUP):
            try:
                data, source = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors queued on the socket; unconnected UDP cannot tell whose.
                log.debug("snmp socket error", extra={"error": str(exc)})
                continue
            self._dispatch(data, source[0], source[1])

    def _dispatch(self, data: bytes, host: str, port: int) -> None:
        try:
            resp = ber.decode_response(data)
        except ber.BerError as exc:
            self._dispatch_garbage(data, host, port, str(exc))
            return
        pending = self._pending.get(resp.request_id)
        if pending is None or pending.host != host or pending.port != port:
            log.debug("snmp reply matches no request", extra={"source": host, "port": port})
            return
        if not pending.future.done():
            pending.future.set_result(resp)

    def _dispatch_garbage(self, data: bytes, host: str, port: int, reason: str) -> None:
        rid = ber.peek_request_id(data)
        pending = self._pending.get(rid) if rid is not None else None
        if pending is not None and pending.host == host and pending.port == port:
            if not pending.future.done():
                pending.future.set_exception(_Undecodable(reason))
            return
        # Unknown request id: remember it for that source's requests, in case they time out.
        log.debug("snmp reply undecodable", extra={"source": host, "port": port})
        for p in self._pending.values():
            if p.host == host and p.port == port:
                p.garbage = reason

    # ------------------------------------------------------------------ plumbing

    def _new_id(self) -> int:
        rid = self._next_id
        while rid in self._pending:
            rid = (rid + 1) % _RID_MODULUS
        self._next_id = (rid + 1) % _RID_MODULUS
        return rid

    async def _resolve(
        self, target: Target, device: str | None, check: str
    ) -> tuple[str, int, socket.socket]:
        if self._closed:
            raise RuntimeError("FastSnmpClient is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("FastSnmpClient used from a second event loop")
        host, port = target
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = await self._lookup(host, port, device or host, check)
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return str(address), port, self._socket(family)

    async def _lookup(
        self, host: str, port: int, device: str, check: str
    ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        assert self._loop is not None
        try:
            infos = await self._loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise TargetUnreachable(device, check, f"cannot resolve {host}: {exc}") from None
        if not infos:
            raise TargetUnreachable(device, check, f"cannot resolve {host}")
        return ipaddress.ip_address(infos[0][4][0])

    def _socket(self, family: int) -> socket.socket:
        sock = self._sockets.get(family)
        if sock is not None:
            return sock
        assert self._loop is not None
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
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

    def _call(self, device: str | None, check: str, verb: str, host: str, port: int) -> _Call:
        where = host_port(host, port)
        return _Call(device or where, check, verb, where, self._clock.monotonic())

    def _check_reply(self, call: _Call, resp: Response, version: int, community: bytes) -> None:
        if resp.version != version or resp.community != community:
            raise self._protocol(call, "reply carries another version or community")

    def _status_error(self, call: _Call, resp: Response) -> ProtocolError:
        return self._protocol(
            call, f"agent answered {resp.error_name} (error-index {resp.error_index})"
        )

    def _protocol(self, call: _Call, what: str) -> ProtocolError:
        return ProtocolError(call.device, call.check, f"{what} {call.verb} {call.where}")

    def _cancelled(self, call: _Call) -> CollectorError:
        elapsed = self._clock.monotonic() - call.started
        return TargetTimeout(
            call.device, call.check,
            f"cancelled after {elapsed:.1f}s (possible timeout) {call.verb} {call.where}",
        )  # fmt: skip
