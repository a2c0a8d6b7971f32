"""FastSnmpClient: SNMP v1/v2c GET, GETNEXT and multi-column bulk walks over one UDP socket per
address family, on the lean codec in `ber.py`. pysnmp stays the engine for SNMPv3.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable, Sequence
from functools import partial

from agent.core.clock import Clock
from agent.core.errors import TargetUnreachable
from collectors.snmp import ber
from collectors.snmp.ber import Absent, EncodedOid, Response, Value
from collectors.snmp.calls import Call, Column, bounded
from collectors.snmp.protocol import Oid, Rows, Target
from collectors.snmp.transport import NoAnswer, SendFailed, UdpTransport, Undecodable

log = logging.getLogger(__name__)

OidLike = Sequence[int] | EncodedOid
# Row indexes decoded once and shared by every column, walk and device that has them (a
# 49-port device's 13 columns share 49 tuples); cleared when it grows past this.
_MAX_INDEXES = 65_536


class FastSnmpClient:
    """SNMP v1/v2c requests for many targets over one unconnected UDP socket per family.

    Create one per event loop, inside it, and close it with `aclose()`. Every try of every
    request carries an unpredictable request id (from `random_bytes`, the system CSPRNG by
    default); a reply counts only when it comes from the target's address and port with the
    request id of one of the request's tries, its version and its community. v1/v2c are still
    unauthenticated: anyone who sees the request can answer it (use SNMPv3 authPriv there).
    Communities are sent, never logged.

    An agent that rejects the community (v1/v2c) stays silent, as net-snmp's snmpd does, so a
    wrong community surfaces as TargetTimeout; telling it apart from a dead agent is up to the
    caller. Targets are IP literals or names (resolved once per call).
    """

    def __init__(
        self, clock: Clock, *, random_bytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> None:
        self._clock = clock
        self._transport = UdpTransport(random_bytes=random_bytes)
        self._indexes: dict[bytes, Oid] = {}  # encoded index suffix -> its arcs

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
    ) -> Rows:
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
    ) -> Rows:
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
    ) -> dict[Oid, Rows]:
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
        call = Call.begin(self._clock, host, port, device, check, "walking")
        columns: dict[Oid, Column[EncodedOid]] = {}
        for prefix in column_oid_prefixes:
            key = tuple(prefix)
            raw = ber.encode_oid(key)
            columns.setdefault(key, Column(raw, raw))
        walk = self._walk(
            call, host, port, sock, community, version, list(columns.values()),
            max_repetitions, timeout, retries, max_requests,
        )  # fmt: skip
        await bounded(call, self._clock, total_timeout, walk)
        return {key: col.rows for key, col in columns.items()}

    async def aclose(self) -> None:
        """Close the sockets; calls still waiting get CancelledError, later calls RuntimeError.

        Idempotent.
        """
        self._transport.close()

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
    ) -> Rows:
        host, port, sock = await self._resolve(target, device, check)
        call = Call.begin(self._clock, host, port, device, check, verb)
        raw = [o if isinstance(o, bytes) else ber.encode_oid(o) for o in oids]
        results: list[tuple[Oid, Value] | None] = [None] * len(raw)
        todo = list(range(len(raw)))
        while todo:
            asked = [raw[k] for k in todo]
            encode = partial(ber.encode_request, version, community, pdu_type, oids=asked)
            resp = await self._exchange(
                call, host, port, sock, version, community, encode, try_timeout, retries
            )
            if resp.error_status == ber.NO_SUCH_NAME and version == ber.V1:
                # SNMPv1: one failing variable fails the PDU; drop it and ask for the rest.
                if not 1 <= resp.error_index <= len(todo):
                    raise call.protocol_error("noSuchName with a bad error-index")
                k = todo.pop(resp.error_index - 1)
                results[k] = (ber.decode_oid(raw[k]), missing)
                continue
            if resp.error_status:
                raise call.status_error(resp.error_status, resp.error_index)
            if len(resp.varbinds) != len(todo):
                raise call.protocol_error("reply has a different number of varbinds")
            for k, (oid, value) in zip(todo, resp.varbinds, strict=True):
                results[k] = (ber.decode_oid(oid), value)
            break
        return [r for r in results if r is not None]

    async def _walk(
        self,
        call: Call,
        host: str,
        port: int,
        sock: socket.socket,
        community: bytes,
        version: int,
        open_cols: list[Column[EncodedOid]],
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
                raise call.protocol_error(f"walk unfinished after {max_requests} requests")
            oids = [c.last for c in open_cols]
            if bulk:
                encode = partial(
                    ber.encode_request, version, community, ber.GET_BULK_REQUEST, oids=oids,
                    max_repetitions=max_repetitions,
                )  # fmt: skip
            else:
                encode = partial(
                    ber.encode_request, version, community, ber.GET_NEXT_REQUEST, oids=oids
                )
            resp = await self._exchange(
                call, host, port, sock, version, community, encode, try_timeout, retries
            )
            status = resp.error_status
            if status:
                if status == ber.NO_SUCH_NAME and not bulk:
                    # SNMPv1 GETNEXT past the end of the MIB: that column is finished.
                    if not 1 <= resp.error_index <= len(open_cols):
                        raise call.protocol_error("noSuchName with a bad error-index")
                    open_cols[resp.error_index - 1].done = True
                    open_cols = [c for c in open_cols if not c.done]
                    continue
                if status == ber.TOO_BIG and max_repetitions > 1:
                    max_repetitions //= 2
                    continue
                raise call.status_error(resp.error_status, resp.error_index)
            varbinds = resp.varbinds
            if not varbinds or (not bulk and len(varbinds) != len(open_cols)):
                raise call.protocol_error("reply has a different number of varbinds")
            if len(self._indexes) > _MAX_INDEXES:
                self._indexes.clear()
            open_cols = take_encoded_rows(call, open_cols, varbinds, self._indexes)

    async def _exchange(
        self,
        call: Call,
        host: str,
        port: int,
        sock: socket.socket,
        version: int,
        community: bytes,
        encode: Callable[[int], bytes],
        try_timeout: float,
        retries: int,
    ) -> Response:
        """Send `encode(request_id)` (a new request id per try) and wait for its reply."""
        try:
            return await self._transport.exchange(
                host, port, sock, version, community, encode, try_timeout, retries
            )
        except NoAnswer as exc:
            if exc.garbage is not None:
                raise call.protocol_error(exc.garbage) from None
            raise call.timed_out(self._clock) from None
        except Undecodable as exc:
            raise call.protocol_error(str(exc)) from None
        except SendFailed as exc:
            raise call.unreachable(str(exc)) from None

    # ------------------------------------------------------------------ plumbing

    async def _resolve(
        self, target: Target, device: str | None, check: str
    ) -> tuple[str, int, socket.socket]:
        self._transport.attach()
        host, port = target
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = await self._lookup(host, port, device or host, check)
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return str(address), port, self._transport.socket_for(family)

    async def _lookup(
        self, host: str, port: int, device: str, check: str
    ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise TargetUnreachable(device, check, f"cannot resolve {host}: {exc}") from None
        if not infos:
            raise TargetUnreachable(device, check, f"cannot resolve {host}")
        return ipaddress.ip_address(infos[0][4][0])


def take_encoded_rows(
    call: Call,
    open_cols: list[Column[EncodedOid]],
    varbinds: Sequence[tuple[EncodedOid, Value]],
    indexes: dict[bytes, Oid],
) -> list[Column[EncodedOid]]:
    """`calls.take_rows` for encoded OIDs, decoding each index suffix once (into `indexes`).

    The "OIDs increase" check compares the decoded indexes, not the encodings: base-128 bytes
    do not order as their arcs do once an arc takes more bytes (16384 encodes below 256).
    """
    width = len(open_cols)
    for c, col in enumerate(open_cols):
        prefix = col.prefix
        cut = len(prefix)
        append = col.rows.append
        last = col.last
        last_index = col.last_index
        for oid, value in varbinds[c::width]:
            if value.__class__ is Absent or not oid.startswith(prefix):
                col.done = True
                break
            suffix = oid[cut:]
            index = indexes.get(suffix)
            if index is None:
                index = indexes[suffix] = ber.decode_arcs(suffix)
            if index <= last_index:
                raise call.protocol_error(f"OID not increasing: {ber.format_oid(oid)}")
            append((index, value))
            last = oid
            last_index = index
        col.last = last
        col.last_index = last_index
    return [c for c in open_cols if not c.done]
