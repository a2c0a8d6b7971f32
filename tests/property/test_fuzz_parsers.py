"""Bounded fuzz target for the parsers that read datagrams from the network (issue 14, "Also"):
the BER decoder and the ICMP echo-reply matcher. Bounded: the whole module took
15 s on the 2-core machine (60 s allowed; each test also has a 60 s timeout).

- `ber`: any input gives a value or BerError, never another exception; decoding time grows
  linearly with the input.
- `EchoTable.on_packet`: never raises, and accepts a packet only when it echoes a request in
  flight (its sequence number, payload and, on raw sockets, identifier, from its address),
  each request at most once.

- the trap decoder (`trap_pdu`, the v3 header peek, the Trap it means): only BerError
  escapes, in linear time; through the receiver every datagram is one Trap or one drop.
"""

from __future__ import annotations

import contextlib
import gc
import random
import socket
import struct
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.core.model import Device, Secret
from agent.core.settings import SnmpAuth
from agent.core.traps import LINK_DOWN, Trap
from collectors.icmp import EchoBatch, EchoTable
from collectors.snmp import TrapReceiver, ber
from collectors.snmp.trap_meaning import describe
from collectors.snmp.trap_pdu import decode_notification, message_version
from collectors.snmp.trap_v3 import V3Receiver, peek_usm
from tests import trap_support as ts
from tests.conftest import Figure
from tests.fakes import FakeClock

pytestmark = pytest.mark.timeout(60)

MUTATIONS = 200_000  # as many inputs as the review ran through the decoder
FUZZ = settings(
    max_examples=1000, deadline=None, print_blob=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip

# A seeded generator per example (Hypothesis' own st.randoms() is ~100x slower per call).
SEEDED = st.integers(0, 2**64).map(random.Random)

DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)


def _load(path: Path) -> bytes:
    text = "".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
    return bytes.fromhex(text)


def _seeds() -> list[bytes]:
    """Real net-snmp responses (tests/data/snmp) and requests of every kind we send."""
    seeds = [_load(p) for p in sorted(DATA.glob("*.hex"))]
    for version in (ber.V1, ber.V2C):
        for pdu in (ber.GET_REQUEST, ber.GET_NEXT_REQUEST, ber.GET_BULK_REQUEST):
            if pdu == ber.GET_BULK_REQUEST and version == ber.V1:
                continue
            seeds.append(
                ber.encode_request(version, b"public", pdu, 2**31 - 1, [SYS_UPTIME, IF_DESCR],
                                   max_repetitions=25 if pdu == ber.GET_BULK_REQUEST else 0)
            )  # fmt: skip
    return seeds


SEEDS = _seeds()
# Bytes that mean something to the decoder: tags, long-form length prefixes, extremes.
INTERESTING = bytes([0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x30, 0x40, 0x41, 0x43, 0x44, 0x46,
                     0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xA2, 0xFF])  # fmt: skip


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to four random edits: flip, set to an interesting byte, insert, delete, truncate,
    duplicate a slice."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and at < len(buf):
            buf[at] ^= 1 << rng.randrange(8)
        elif op == 1 and at < len(buf):
            buf[at] = rng.choice(INTERESTING)
        elif op == 2:
            buf[at:at] = bytes([rng.choice(INTERESTING)])
        elif op == 3:
            del buf[at : at + rng.randint(1, 8)]
        elif op == 4:
            del buf[at:]
        else:
            end = min(len(buf), at + rng.randint(1, 64))
            buf[at:at] = buf[at:end]
    return bytes(buf)


def decode_all(data: bytes) -> None:
    """Every decoder entry point on `data`; anything but BerError propagates."""
    for decode in (ber.decode_response, ber.decode_message):
        try:
            resp = decode(data)
        except ber.BerError:
            continue
        for oid, _ in resp.varbinds:
            ber.decode_oid(oid)  # the decoder returns canonical OIDs only
    rid = ber.peek_request_id(data)
    assert rid is None or isinstance(rid, int)
    engine = ber.parse_discovery_reply(data, 1)
    assert engine is None or isinstance(engine, bytes)


class TestBerOnlyRaisesBerError:
    """The decoder gives a value or BerError for any bytes, never another exception."""

    def test_seeds_decode(self) -> None:
        for seed in SEEDS:
            ber.decode_message(seed)

    def test_200000_seeded_mutations(self, figure: Figure) -> None:
        rng = random.Random(1414)
        started = time.perf_counter()
        for _ in range(MUTATIONS):
            decode_all(mutate(rng, rng.choice(SEEDS)))
        elapsed = time.perf_counter() - started
        figure(f"{MUTATIONS:,} mutated messages through every decoder in {elapsed:.1f}s")

    @FUZZ
    @given(st.sampled_from(SEEDS), SEEDED)
    def test_mutated_seeds(self, seed: bytes, rng: random.Random) -> None:
        decode_all(mutate(rng, seed))

    @FUZZ
    @given(st.binary(max_size=600))
    def test_random_bytes(self, data: bytes) -> None:
        decode_all(data)
        decode_all(b"\x30" + bytes([min(len(data), 127)]) + data[:127])

    @FUZZ
    @given(st.binary(max_size=48))
    def test_oid_contents(self, data: bytes) -> None:
        for decode in (ber.decode_arcs, ber.decode_oid):
            with contextlib.suppress(ber.BerError):
                decode(data)


# --------------------------------------------------------------------------- linear time


# ifInOctets.1 = Counter32 66051
_VARBIND = b"\x30\x11\x06\x0a" + ber.encode_oid((*IF_DESCR[:-1], 10, 1)) + b"\x41\x03\x01\x02\x03"


def _varbinds(n: int) -> bytes:
    """A v2c Response with n Counter32 varbinds."""
    return _message(_VARBIND * n)


def _message(varbinds: bytes, *, tail: bytes = b"") -> bytes:
    def tlv(tag: int, body: bytes) -> bytes:
        n = len(body)
        head = bytes([n]) if n < 0x80 else b"\x84" + n.to_bytes(4, "big")
        return bytes([tag]) + head + body

    pdu = tlv(ber.RESPONSE, b"\x02\x01\x07\x02\x01\x00\x02\x01\x00" + tlv(0x30, varbinds + tail))
    return tlv(0x30, b"\x02\x01\x01" + tlv(0x04, b"public") + pdu)


def _long_oid(n: int) -> bytes:
    """One varbind whose OID has about n arcs, each of 5 bytes (arcs up to 2**32-1)."""
    arcs = b"\x8f\xff\xff\xff\x7f" * (n // 5)
    body = b"\x06" + b"\x84" + (len(arcs) + 1).to_bytes(4, "big") + b"\x2b" + arcs + b"\x05\x00"
    return _message(b"\x30\x84" + len(body).to_bytes(4, "big") + body)


def _long_string(n: int) -> bytes:
    oid = ber.encode_oid(SYS_UPTIME)
    value = b"\x04\x84" + n.to_bytes(4, "big") + b"x" * n
    body = b"\x06" + bytes([len(oid)]) + oid + value
    return _message(b"\x30\x84" + len(body).to_bytes(4, "big") + body)


def _broken_last(n: int) -> bytes:
    """n good varbinds, then one with a non-canonical OID: all the work, then BerError."""
    return _message(_VARBIND * n + b"\x30\x07\x06\x03\x2b\x80\x01\x05\x00")


def _best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of runs calls, with the garbage collector off while timing.

    A full collection walks every object the test process holds, so its cost depends on
    the suite around the test, not on the decoder; it is what made a 10x input take 22x
    once in CI, beside the other workers.
    """
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            with contextlib.suppress(ber.BerError):
                work()
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
    return best


def _ratio(small: bytes, large: bytes, decode: Callable[[bytes], object]) -> float:
    """How many times longer the large input took; the best of three rounds.

    A linear decoder gives about 10; a quadratic one 100 in every round, so taking the
    best round hides a busy neighbour, never a quadratic decoder.
    """
    ratios = []
    for _ in range(3):
        t_small = _best_of(15, partial(decode, small))
        t_large = _best_of(5, partial(decode, large))
        ratios.append(t_large / t_small)
        if ratios[-1] < 20:
            break
    return min(ratios)


SHAPES: dict[str, Callable[[int], bytes]] = {
    "many varbinds": _varbinds,
    "broken after many varbinds": _broken_last,
    "one very long OID": lambda n: _long_oid(20 * n),
    "one long OCTET STRING": lambda n: _long_string(15 * n),  # 60,000 bytes, under 65,535
}


class TestBerLinearTime:
    """A 10x longer input takes less than 20x the time to decode (or to refuse)."""

    @pytest.mark.parametrize("shape", list(SHAPES))
    def test_ten_times_longer_input(self, shape: str, figure: Figure) -> None:
        make = SHAPES[shape]
        small, large = make(400), make(4000)
        assert 9 * len(small) < len(large) < 11 * len(small)
        if shape != "broken after many varbinds":
            assert len(ber.decode_response(large).varbinds) in (1, 4000)  # the work is done
        for decode in (ber.decode_response, ber.decode_message):
            ratio = _ratio(small, large, decode)
            assert ratio < 20, (shape, decode.__name__, ratio)
            figure(f"{shape}, {decode.__name__}: 10x the input took {ratio:.1f}x")


# --------------------------------------------------------------------------- traps

_IF_VB = ts.varbind((*ts.IF_INDEX, 3), ts.integer(3))
# A v3 message header as net-snmp sends it: engine ID, boots, time, user "ops", authPriv.
_V3 = ts.tlv(0x30, ts.integer(3) + ts.tlv(0x30, ts.integer(7) + ts.integer(65507)
             + ts.tlv(0x04, b"\x07") + ts.integer(3)) + ts.tlv(0x04, ts.tlv(0x30,
             ts.tlv(0x04, bytes.fromhex("80001f8880aabbccdd")) + ts.integer(1) + ts.integer(9)
             + ts.tlv(0x04, b"ops") + ts.tlv(0x04, b"\x00" * 12) + ts.tlv(0x04, b"\x00" * 8)))
             + ts.tlv(0x04, b"\x01" * 40))  # fmt: skip
TRAP_SEEDS = [
    ts.v1(0), ts.v1(2, _IF_VB), ts.v1(6, specific=3),
    ts.v2(LINK_DOWN, _IF_VB, ts.varbind(ts.SNMP_TRAP_ADDRESS_0, ts.tlv(0x40, b"\x7f\x00\x00\x05"))),
    ts.v2(LINK_DOWN, _IF_VB, pdu=0xA6), ts.v2((1, 3, 6, 1, 4, 1, 9, 1), ts.varbind(
        (1, 3, 6, 1, 4, 1, 9, 2), ts.tlv(0x04, b"\x00\xffabc"))), _V3,
]  # fmt: skip


def _receiver() -> tuple[TrapReceiver, list[Trap], list[str]]:
    traps: list[Trap] = []
    drops: list[str] = []
    receiver = TrapReceiver(
        listen="127.0.0.1:0", auth={"lan": SnmpAuth("lan", "2c", community=Secret("public"))},
        devices=[Device("sw1", "127.0.0.5", "x", snmp_auth="lan")], clock=FakeClock(),
        sink=traps.append, dropped=drops.append, overall_per_second=1e12,
        per_device_per_second=1e12, per_device_burst=10**12, match_agent_address=True,
    )  # fmt: skip
    receiver._send = lambda data, addr: None  # type: ignore[method-assign]
    return receiver, traps, drops


RECEIVER = _receiver()


def decode_trap_all(data: bytes) -> None:
    """Every trap decoding step on `data`; anything but BerError propagates. Through the
    receiver the datagram is exactly one Trap or one drop."""
    with contextlib.suppress(ber.BerError):
        message_version(data)
    with contextlib.suppress(ber.BerError):
        peek_usm(data)
    try:
        note = decode_notification(data)
    except ber.BerError:
        pass
    else:
        describe(device="d", source="s", version="2c", trap_oid=note.trap_oid,
                 varbinds=note.varbinds, received_at=FakeClock().now(), inform=False)  # fmt: skip
    receiver, traps, drops = RECEIVER
    before = len(traps) + len(drops)
    receiver.datagram_received(data, ("127.0.0.5", 1))
    assert len(traps) + len(drops) == before + 1


class TestTrapDecoderOnlyRaisesBerError:
    """The trap decoder gives a notification or BerError for any bytes."""

    def test_seeds_decode(self) -> None:
        for seed in TRAP_SEEDS[:-1]:
            decode_notification(seed)
        assert peek_usm(_V3)[1:] == ("ops", 7)

    def test_50000_seeded_mutations(self, figure: Figure) -> None:
        rng = random.Random(1313)
        started = time.perf_counter()
        for _ in range(50_000):
            decode_trap_all(mutate(rng, rng.choice(TRAP_SEEDS)))
        elapsed = time.perf_counter() - started
        figure(f"50,000 mutated trap datagrams through the decoder and receiver in {elapsed:.1f}s")

    @FUZZ
    @given(st.sampled_from(TRAP_SEEDS), SEEDED)
    def test_mutated_seeds(self, seed: bytes, rng: random.Random) -> None:
        decode_trap_all(mutate(rng, seed))

    @FUZZ
    @given(st.binary(max_size=600))
    def test_random_bytes(self, data: bytes) -> None:
        decode_trap_all(data)


class TestTrapLinearTime:
    """A 10x longer trap takes less than 20x the time to decode."""

    def test_ten_times_more_varbinds(self, figure: Figure) -> None:
        small, large = ts.v2(LINK_DOWN, _IF_VB * 400), ts.v2(LINK_DOWN, _IF_VB * 4000)
        assert len(decode_notification(large).varbinds) == 4000
        ratio = _ratio(small, large, decode_notification)
        assert ratio < 20, ratio
        figure(f"trap with many varbinds: 10x the input took {ratio:.1f}x")


class TestV3NeverRaises:
    """A mutated SNMPv3 trap through pysnmp's message processing is a notification, a drop
    reason or None (a discovery probe), never an exception into the loop."""

    async def test_2000_mutated_v3_traps(self, figure: Figure) -> None:
        from tests.trap_v3_support import V3Sender

        ops = SnmpAuth("v3", "3", username="ops", auth_protocol="sha",
                       auth_key=Secret("authpass1"), priv_protocol="aes128",
                       priv_key=Secret("privpass1"))  # fmt: skip
        sender = V3Sender(bytes.fromhex("80001f8880aabbccdd0011"))
        seeds = [sender.trap("1.3.6.1.6.3.1.1.5.3"), sender.trap("1.3.6.1.6.3.1.1.5.1",
                 level="authNoPriv"), sender.trap("1.3.6.1.4.1.9.0.1", level="noAuthNoPriv")]
        v3 = V3Receiver({"v3": ops}, lambda data, addr: None, lambda: 1.0)
        await v3.start()
        rng = random.Random(3414)
        outcomes: dict[str, int] = {}
        started = time.perf_counter()
        for _ in range(2000):
            result = v3.receive(mutate(rng, rng.choice(seeds)), ("127.0.0.6", 1), None)
            key = result if isinstance(result, str) or result is None else "accepted"
            outcomes[str(key)] = outcomes.get(str(key), 0) + 1
        elapsed = time.perf_counter() - started
        figure(f"2,000 mutated v3 traps through pysnmp in {elapsed:.1f}s: {outcomes}")


# --------------------------------------------------------------------------- ICMP replies

ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
_IP = struct.Struct("!BBHHHBBH4s4s")


class Sweep:
    """An EchoTable with echo requests in flight to ADDRESSES, and what it should accept."""

    def __init__(self, raw: bool, requests: int) -> None:
        self.raw = raw
        self.table = EchoTable(family=socket.AF_INET, raw=raw)
        self.batch = EchoBatch(len(ADDRESSES))
        self.inflight: dict[int, tuple[str, bytes]] = {}  # seq -> (address, request packet)
        for k in range(requests):
            address = ADDRESSES[k % len(ADDRESSES)]
            slot = self.table.register(address, self.batch, k % len(ADDRESSES), 0.0)
            assert slot is not None
            self.inflight[slot[0]] = (address, slot[1])

    def reply_to(self, seq: int) -> bytes:
        """The genuine echo reply to request `seq` (as the socket hands it to us)."""
        request = self.inflight[seq][1]
        icmp = b"\x00" + request[1:]  # type 0: echo reply; the checksum is not ours to check
        return self.framed(icmp, self.inflight[seq][0])

    def framed(self, icmp: bytes, source: str) -> bytes:
        if not self.raw:
            return icmp
        return _IP.pack(0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                        socket.inet_aton(source), socket.inet_aton("127.0.0.9")) + icmp  # fmt: skip

    def echoes(self, source: str, packet: bytes) -> int | None:
        """The sequence number of the request in flight that `packet` from `source` echoes."""
        if self.raw and len(packet) < 20:  # a raw socket hands us the IP header too
            return None
        icmp = packet[(packet[0] & 0x0F) * 4 :] if self.raw else packet
        if len(icmp) < 16 or icmp[0] != 0 or icmp[1] != 0:
            return None
        seq = int.from_bytes(icmp[6:8], "big")
        entry = self.inflight.get(seq)
        if entry is None or entry[0] != source or icmp[8:16] != entry[1][8:16]:
            return None
        if self.raw and icmp[4:6] != entry[1][4:6]:
            return None
        return seq

    def feed(self, source: str, packet: bytes) -> bool:
        """on_packet, checked: it must not raise, and accepts exactly the echoes of requests
        in flight, once each."""
        expected = self.echoes(source, packet)
        accepted = self.table.on_packet(source, packet, 1.0)
        assert accepted == (expected is not None), (source, packet.hex())
        if expected is not None:
            del self.inflight[expected]
        assert len(self.table) == len(self.inflight)
        return accepted


def packets(sweep: Sweep, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Forgeries and genuine replies, mixed: random bytes; genuine replies from the right or
    the wrong address; mutated genuine replies; replies with the right sequence number and
    random contents."""
    seqs = sorted(sweep.inflight)
    for _ in range(400):
        source = rng.choice(ADDRESSES)
        kind = rng.randrange(5)
        if kind == 0 or not seqs:
            yield source, rng.randbytes(rng.randrange(60))
            continue
        seq = rng.choice(seqs)
        if seq not in sweep.inflight:
            yield source, rng.randbytes(rng.randrange(60))
            continue
        genuine = sweep.reply_to(seq)
        if kind == 1:
            yield sweep.inflight[seq][0], genuine
        elif kind == 2:
            yield source, genuine
        elif kind == 3:
            yield sweep.inflight[seq][0], mutate(rng, genuine)
        else:
            forged = bytearray(genuine)
            at = 20 if sweep.raw else 0
            forged[at + 8 :] = rng.randbytes(len(forged) - at - 8)
            yield sweep.inflight[seq][0], bytes(forged)


class TestEchoTable:
    """on_packet never raises and takes exactly the echoes of requests in flight."""

    @FUZZ
    @given(st.booleans(), st.integers(0, 40), SEEDED)
    def test_forgeries_and_replies(self, raw: bool, requests: int, rng: random.Random) -> None:
        sweep = Sweep(raw, requests)
        for source, packet in packets(sweep, rng):
            sweep.feed(source, packet)
        assert len(sweep.table) == len(sweep.inflight)

    @FUZZ
    @given(st.booleans(), st.sampled_from(ADDRESSES), st.binary(max_size=100))
    def test_random_packets(self, raw: bool, source: str, data: bytes) -> None:
        Sweep(raw, 6).feed(source, data)

    def test_every_genuine_reply_counts_once(self) -> None:
        """The oracle can fail: genuine replies are accepted, their duplicates are not."""
        for raw in (False, True):
            sweep = Sweep(raw, 9)
            replies = [(sweep.inflight[s][0], sweep.reply_to(s)) for s in sorted(sweep.inflight)]
            assert all(sweep.feed(source, packet) for source, packet in replies)
            assert not any(sweep.feed(source, packet) for source, packet in replies)
            assert sweep.batch.received == [3, 3, 3]
