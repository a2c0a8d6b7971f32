"""SNMP v1/v2c notifications encoded independently of collectors.snmp (for the trap tests),
and the storm tests' sender and loop-lag meter."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Sequence

SYS_UPTIME_0 = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0 = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAP_ADDRESS_0 = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)
IF_INDEX = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)
IF_ADMIN = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
IF_OPER = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)


def tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    size = (n.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + n.to_bytes(size, "big") + body


def integer(value: int, tag: int = 0x02) -> bytes:
    return tlv(tag, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def oid(arcs: Sequence[int]) -> bytes:
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return tlv(0x06, bytes(out))


def varbind(name: Sequence[int], value: bytes) -> bytes:
    return tlv(0x30, oid(name) + value)


def v2(trap_oid: Sequence[int], *varbinds: bytes, community: bytes = b"public",
       pdu: int = 0xA7, request_id: int = 42, uptime: int = 1234) -> bytes:  # fmt: skip
    """A v2c SNMPv2-Trap (0xA7) or InformRequest (0xA6)."""
    vbs = (varbind(SYS_UPTIME_0, integer(uptime, 0x43)) + varbind(SNMP_TRAP_OID_0, oid(trap_oid))
           + b"".join(varbinds))  # fmt: skip
    body = integer(request_id) + integer(0) + integer(0) + tlv(0x30, vbs)
    return tlv(0x30, integer(1) + tlv(0x04, community) + tlv(pdu, body))


def v1(generic: int, *varbinds: bytes, specific: int = 0, community: bytes = b"public",
       enterprise: Sequence[int] = (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10),
       agent: bytes = bytes((127, 0, 0, 9))) -> bytes:  # fmt: skip
    """A v1 Trap-PDU (0xA4)."""
    body = (oid(enterprise) + tlv(0x40, agent) + integer(generic) + integer(specific)
            + integer(77, 0x43) + tlv(0x30, b"".join(varbinds)))  # fmt: skip
    return tlv(0x30, integer(0) + tlv(0x04, community) + tlv(0xA4, body))


def flood(sock: socket.socket, target: tuple[str, int], datagrams: Sequence[bytes],
          per_tick: int) -> None:
    """Send `datagrams` in order from `sock`, `per_tick` every 10 ms (paced from the start,
    so a slow tick is caught up)."""
    begin = time.perf_counter()
    for k, first in enumerate(range(0, len(datagrams), per_tick)):
        for data in datagrams[first:first + per_tick]:
            sock.sendto(data, target)
        time.sleep(max(0.0, begin + (k + 1) * 0.01 - time.perf_counter()))


@contextlib.asynccontextmanager
async def loop_lags() -> AsyncIterator[list[float]]:
    """How late each 10 ms sleep of the running loop woke, while the block runs."""
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - started - 0.01)

    tick = asyncio.create_task(ticker())
    try:
        yield lags
    finally:
        stop.set()
        await tick
