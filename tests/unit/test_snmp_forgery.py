"""Issue 14, finding 1 (SNMP): someone who saw one of our requests (to their own device) cannot
make a dead device read UP with forged replies from its address and port.

The transport runs on the test's event loop with a stand-in socket: no datagram leaves the
process and no timer fires (timeouts are days long, or zero).
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Iterator
from typing import cast

import pytest

from collectors.snmp import ber
from collectors.snmp.ber import Response
from collectors.snmp.transport import NoAnswer, UdpTransport
from tests.conftest import Figure

TRIES = 10_000
ATTACKER, VICTIM = ("127.0.0.20", 161), ("127.0.0.21", 161)
# The worst case: both devices share the community, so the attacker knows the victim's too.
COMMUNITY = b"public"
SYS_UPTIME = ber.encode_oid((1, 3, 6, 1, 2, 1, 1, 3, 0))
DAY = 86_400.0


class Wire:
    """Stands in for the UDP socket: records what is sent; nothing is ever there to read."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        self.sent.append((data, address))
        return len(data)

    def recvmsg(self, *args: int) -> tuple[bytes, list[object], int, object]:
        raise BlockingIOError

    def requests_to(self, address: tuple[str, int]) -> list[Response]:
        return [ber.decode_message(data) for data, to in self.sent if to == address]


def forged_reply(
    request_id: int, community: bytes = COMMUNITY, version: int = ber.V2C, value: int = 4242
) -> bytes:
    """A GetResponse for sysUpTime.0 (TimeTicks `value`, below 2**15) carrying `request_id`."""
    rid = request_id.to_bytes(request_id.bit_length() // 8 + 1, "big", signed=True)
    body = (
        b"\x02" + bytes((len(rid),)) + rid + b"\x02\x01\x00\x02\x01\x00"
        + b"\x30\x10\x30\x0e\x06\x08" + SYS_UPTIME + b"\x43\x02" + value.to_bytes(2, "big")
    )  # fmt: skip
    pdu = bytes((ber.RESPONSE, len(body))) + body
    head = b"\x02\x01" + bytes((version,)) + b"\x04" + bytes((len(community),)) + community
    return b"\x30" + bytes((len(head) + len(pdu),)) + head + pdu


def guesses(seen: int) -> Iterator[int]:
    """Request ids guessed from one seen request: the ones counting on from it, the ones just
    before it, then random ones."""
    for k in range(1, 3001):
        yield (seen + k) % 2**31
    for k in range(1, 2001):
        yield (seen - k) % 2**31
    rng = random.Random(14)
    for _ in range(TRIES - 5000):
        yield rng.randrange(2**31)


def encode(rid: int) -> bytes:
    return ber.encode_request(ber.V2C, COMMUNITY, ber.GET_REQUEST, rid, [SYS_UPTIME])


async def start(
    transport: UdpTransport, wire: Wire, target: tuple[str, int], *, per_try: float = DAY,
    retries: int = 0,
) -> asyncio.Task[Response]:  # fmt: skip
    host, port = target
    task = asyncio.create_task(
        transport.exchange(
            host, port, cast(socket.socket, wire), ber.V2C, COMMUNITY, encode, per_try, retries
        )
    )
    await asyncio.sleep(0)  # let it send: a yield to the loop, no time passes
    return task


async def sweep(transport: UdpTransport, wire: Wire) -> tuple[int, list[asyncio.Task[Response]]]:
    """Five rounds of polling as the poller sends them: the attacker's device, then the victim
    (dead: it never answers); the attacker sees its own first request."""
    victims = []
    for _ in range(5):
        await start(transport, wire, ATTACKER)
        victims.append(await start(transport, wire, VICTIM))
    return wire.requests_to(ATTACKER)[0].request_id, victims


class TestForgedReplies:
    """A forged reply is accepted only with the request id of a try in flight."""

    async def test_no_forged_reply_is_accepted_in_10000_tries(self, figure: Figure) -> None:
        transport, wire = UdpTransport(), Wire()
        transport.attach()
        try:
            seen, victims = await sweep(transport, wire)
            loop = asyncio.get_running_loop()
            for rid in guesses(seen):
                transport.on_datagram(forged_reply(rid), *VICTIM, loop.time())
            await asyncio.sleep(0)
            assert [task.done() for task in victims] == [False] * 5
        finally:
            transport.close()
        figure(f"0 of {TRIES:,} forged replies accepted (5 requests to the victim in flight)")

    async def test_the_victims_own_reply_still_counts(self) -> None:
        """The forgery test can fail: the same transport takes the genuine reply."""
        transport, wire = UdpTransport(), Wire()
        transport.attach()
        try:
            _, victims = await sweep(transport, wire)
            rid = wire.requests_to(VICTIM)[2].request_id
            transport.on_datagram(forged_reply(rid), *VICTIM, asyncio.get_running_loop().time())
            assert (await victims[2]).request_id == rid
            assert [task.done() for task in victims] == [False, False, True, False, False]
        finally:
            transport.close()

    @pytest.mark.parametrize(
        ("source", "community", "version"),
        [(ATTACKER, COMMUNITY, ber.V2C), (("127.0.0.21", 1161), COMMUNITY, ber.V2C),
         (VICTIM, b"private", ber.V2C), (VICTIM, COMMUNITY, ber.V1)],
    )  # fmt: skip
    async def test_a_reply_needs_the_address_port_community_and_version(
        self, source: tuple[str, int], community: bytes, version: int
    ) -> None:
        transport, wire = UdpTransport(), Wire()
        transport.attach()
        try:
            task = await start(transport, wire, VICTIM)
            rid = wire.requests_to(VICTIM)[0].request_id
            data = forged_reply(rid, community, version)
            transport.on_datagram(data, *source, asyncio.get_running_loop().time())
            await asyncio.sleep(0)
            assert not task.done()
        finally:
            transport.close()

    async def test_garbage_from_the_device_neither_raises_nor_answers(self) -> None:
        transport, wire = UdpTransport(), Wire()
        transport.attach()
        try:
            task = await start(transport, wire, VICTIM)
            genuine = forged_reply(wire.requests_to(VICTIM)[0].request_id)
            rng, now = random.Random(14), asyncio.get_running_loop().time()
            for k in range(5000):
                data = genuine[: k % len(genuine)] if k % 2 else rng.randbytes(k % 80)
                transport.on_datagram(data, *VICTIM, now)
            await asyncio.sleep(0)
            assert not task.done()
            transport.on_datagram(genuine, *VICTIM, now)
            assert (await task).varbinds == [(SYS_UPTIME, 4242)]
        finally:
            transport.close()


class TestRequestIds:
    """Request ids come from the injected random bytes, a new one for every try."""

    async def test_each_try_gets_a_new_request_id(self) -> None:
        transport, wire = UdpTransport(), Wire()
        transport.attach()
        try:
            # Zero timeouts: each expiry runs on the loop's next pass, with no time passing.
            with pytest.raises(NoAnswer):
                await (await start(transport, wire, VICTIM, per_try=0, retries=3))
        finally:
            transport.close()
        rids = [r.request_id for r in wire.requests_to(VICTIM)]
        assert len(rids) == 4
        assert len(set(rids)) == 4

    async def test_ids_are_drawn_in_bulk_and_skip_zero_and_ids_in_flight(self) -> None:
        draws: list[int] = []
        # Ids are taken from the end of each draw: 0x12345678, 5, then 0x80000005 (5 again:
        # in flight), 0x80000000 and the zeros (0 is never used) are skipped, so the third
        # request takes the last id of a second draw.
        words = [[0x8000_0000, 0x8000_0005, 0x0000_0005, 0x1234_5678], [7]]

        def random_bytes(n: int) -> bytes:
            drawn = words[len(draws)]
            draws.append(n)
            return bytes(n - 4 * len(drawn)) + b"".join(w.to_bytes(4, "big") for w in drawn)

        transport, wire = UdpTransport(random_bytes=random_bytes), Wire()
        transport.attach()
        try:
            for _ in range(3):
                await start(transport, wire, VICTIM)
        finally:
            transport.close()
        assert [r.request_id for r in wire.requests_to(VICTIM)] == [0x1234_5678, 5, 7]
        assert draws == [4096, 4096]
