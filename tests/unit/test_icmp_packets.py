"""ICMP echo packets, reply demultiplexing and the icmp check's result, without sockets."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from agent.core.errors import CollectorError, ProbeError
from agent.core.model import CheckResult, CheckSpec, Device, Status
from collectors.icmp import (
    EchoBatch,
    EchoTable,
    IcmpCollector,
    Pinger,
    PingReply,
    canonical_address,
    checksum,
)
from collectors.icmp.engine import CompiledEchoTable, Table
from tests.fakes import FakeClock
from tests.icmp_engines import ENGINES, need_engine

_ENGINE = ["python"]  # the table the tests of TestEncode, TestSequenceNumbers, TestDemux build


@pytest.fixture(params=ENGINES)
def each_table(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once with each echo table: both follow packets.EchoTable's rules."""
    need_engine(request.param)
    _ENGINE[0] = request.param
    try:
        yield request.param
    finally:
        _ENGINE[0] = "python"


def new_table(family: int, raw: bool, random: Any = os.urandom) -> Table:
    if _ENGINE[0] == "compiled":
        return CompiledEchoTable(family=family, raw=raw, random=random)
    return EchoTable(family=family, raw=raw, random=random)


def raw_table(family: int = socket.AF_INET) -> Table:
    return new_table(family, True)


def dgram_table(family: int = socket.AF_INET) -> Table:
    return new_table(family, False)


def flipped(packet: bytes, at: int) -> bytes:
    """`packet` with one bit of byte `at` changed."""
    return packet[:at] + bytes([packet[at] ^ 1]) + packet[at + 1:]


def reply_to(request: bytes, *, reply_type: int = 0, ident: int | None = None) -> bytes:
    """The echo reply a host sends back for `request` (ICMP part only)."""
    _, _, _, req_ident, seq = struct.unpack_from("!BBHHH", request)
    body = struct.pack("!BBHHH", reply_type, 0, 0, req_ident if ident is None else ident, seq)
    body += request[8:]
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def ipv4_header(payload_len: int, src: str, options: bytes = b"") -> bytes:
    ihl = 5 + len(options) // 4
    header = struct.pack(
        "!BBHHHBBH4s4s",
        (4 << 4) | ihl,
        0,
        ihl * 4 + payload_len,
        1,
        0,
        64,
        1,
        0,
        socket.inet_aton(src),
        socket.inet_aton("127.0.0.1"),
    )
    return header + options


def register(
    table: Table, batch: EchoBatch, address: str, index: int = 0, sent_at: float = 10.0
) -> tuple[int, bytes]:
    slot = table.register(address, batch, index, sent_at)
    assert slot is not None
    batch.outstanding += 1
    return slot


@pytest.mark.usefixtures("each_table")
class TestEncode:
    """Echo requests carry our identifier, sequence, token and a valid checksum."""

    def test_raw_ipv4_request_has_a_valid_checksum(self) -> None:
        table = raw_table()
        idents, payloads = set(), set()
        for _ in range(300):  # many random identifiers, sequences and payloads, carries included
            seq, packet = register(table, EchoBatch(1), "127.0.0.5")
            assert checksum(packet) == 0
            kind, code, _, ident, got_seq = struct.unpack_from("!BBHHH", packet)
            assert (kind, code, got_seq, len(packet)) == (8, 0, seq, 16)
            idents.add(ident)
            payloads.add(packet[8:])
        assert len(idents) > 250
        assert len(payloads) == 300

    def test_ping_socket_request_leaves_id_and_checksum_to_the_kernel(self) -> None:
        _, packet = register(dgram_table(), EchoBatch(1), "127.0.0.5")
        kind, _, csum, ident = struct.unpack_from("!BBHH", packet)
        assert (kind, csum, ident) == (8, 0, 0)

    def test_ipv6_request_is_type_128(self) -> None:
        _, packet = register(raw_table(socket.AF_INET6), EchoBatch(1), "::1")
        assert packet[0] == 128
        assert len(packet) == 16


@pytest.mark.usefixtures("each_table")
class TestSequenceNumbers:
    """Sequence numbers are unique among requests in flight and freed only by their owner."""

    def test_concurrent_requests_to_one_address_get_distinct_sequences(self) -> None:
        table = dgram_table()
        seqs = {register(table, EchoBatch(1), "127.0.0.5")[0] for _ in range(1000)}
        assert len(seqs) == 1000

    def test_a_full_table_refuses_and_only_the_owner_frees(self) -> None:
        table = dgram_table()
        owner = EchoBatch(1)
        first, _ = register(table, owner, "127.0.0.5")
        others = EchoBatch(1)
        for _ in range(65535):
            register(table, others, "127.0.0.6")
        assert table.register("127.0.0.7", EchoBatch(1), 0, 0.0) is None
        assert not table.release(first, EchoBatch(1))
        assert len(table) == 65536
        assert table.release(first, owner)
        assert table.register("127.0.0.7", EchoBatch(1), 0, 0.0) is not None

    def test_a_freed_sequence_is_reused_after_a_full_wrap(self) -> None:
        table = dgram_table()
        owner = EchoBatch(1)
        seq, _ = register(table, owner, "127.0.0.5")
        other = EchoBatch(1)
        for _ in range(65535):
            register(table, other, "127.0.0.6")
        assert table.release(seq, owner)
        again = table.register("127.0.0.7", EchoBatch(1), 0, 0.0)
        assert again is not None
        assert again[0] == seq


@pytest.mark.usefixtures("each_table")
class TestDemux:
    """A reply counts only when it answers one of our requests in flight, once."""

    def test_matching_reply_records_rtt_in_seconds(self) -> None:
        table, batch = raw_table(), EchoBatch(1)
        _, packet = register(table, batch, "127.0.0.5", sent_at=10.0)
        data = ipv4_header(16, "127.0.0.5") + reply_to(packet)
        assert table.on_packet("127.0.0.5", data, 10.25)
        assert batch.received == [1]
        assert batch.rtts[0] == [pytest.approx(0.25)]
        assert len(table) == 0

    def test_ip_options_are_skipped(self) -> None:
        table, batch = raw_table(), EchoBatch(1)
        _, packet = register(table, batch, "127.0.0.5")
        data = ipv4_header(16, "127.0.0.5", options=b"\x01\x01\x01\x00") + reply_to(packet)
        assert table.on_packet("127.0.0.5", data, 11.0)

    def test_duplicate_reply_is_ignored(self) -> None:
        table, batch = dgram_table(), EchoBatch(1)
        _, packet = register(table, batch, "127.0.0.5")
        reply = reply_to(packet, ident=999)  # the kernel's port, not ours: fine on ping sockets
        assert table.on_packet("127.0.0.5", reply, 11.0)
        assert not table.on_packet("127.0.0.5", reply, 11.1)
        assert batch.received == [1]

    def test_reply_for_unknown_sequence_is_ignored(self) -> None:
        table, batch = dgram_table(), EchoBatch(1)
        seq, packet = register(table, batch, "127.0.0.5")
        forged = packet[:6] + struct.pack("!H", (seq + 1) & 0xFFFF) + packet[8:]
        assert not table.on_packet("127.0.0.5", reply_to(forged), 11.0)
        assert batch.received == [0]

    def test_reply_from_another_address_is_ignored(self) -> None:
        table, batch = dgram_table(), EchoBatch(1)
        _, packet = register(table, batch, "127.0.0.5")
        assert not table.on_packet("127.0.0.6", reply_to(packet), 11.0)
        assert table.on_packet("127.0.0.5", reply_to(packet), 11.0)

    def test_reply_with_another_payload_or_identifier_is_ignored(self) -> None:
        table, batch = raw_table(), EchoBatch(1)
        _, packet = register(table, batch, "127.0.0.5")
        # a stray reply of another process, or a forgery: identifier, or any payload byte
        for stray in (flipped(packet, 4), flipped(packet, 5), flipped(packet, 8),
                      flipped(packet, 15)):
            data = ipv4_header(16, "127.0.0.5") + reply_to(stray)
            assert not table.on_packet("127.0.0.5", data, 11.0)
        assert batch.received == [0]

    def test_late_reply_does_not_answer_a_reused_sequence(self) -> None:
        def same_sequence(n: int) -> bytes:  # every draw: sequence 0x0102, a fresh payload
            return b"".join(b"\x01\x02\x00\x00" + os.urandom(8) for _ in range(n // 12))

        table = new_table(socket.AF_INET, False, random=same_sequence)
        old, new = EchoBatch(1), EchoBatch(1)
        seq, stale = register(table, old, "127.0.0.5")
        table.release(seq, old)  # timed out
        again, _ = register(table, new, "127.0.0.5")
        assert again == seq == 0x0102
        assert not table.on_packet("127.0.0.5", reply_to(stale), 12.0)
        assert new.received == [0]

    def test_requests_and_other_icmp_types_are_ignored(self) -> None:
        table, batch = raw_table(), EchoBatch(1)
        _, packet = register(table, batch, "127.0.0.5")
        for kind in (8, 3, 11):
            data = ipv4_header(16, "127.0.0.5") + reply_to(packet, reply_type=kind)
            assert not table.on_packet("127.0.0.5", data, 11.0)

    @pytest.mark.parametrize("keep", [0, 1, 8, 19, 20, 27, 35])
    def test_truncated_packet_is_ignored(self, keep: int) -> None:
        table, batch = raw_table(), EchoBatch(1)
        _, packet = register(table, batch, "127.0.0.5")
        data = ipv4_header(16, "127.0.0.5") + reply_to(packet)
        assert not table.on_packet("127.0.0.5", data[:keep], 11.0)
        assert len(table) == 1

    def test_ipv6_reply_is_matched_without_ip_header(self) -> None:
        table, batch = raw_table(socket.AF_INET6), EchoBatch(1)
        _, packet = register(table, batch, "::1")
        assert table.on_packet("::1", reply_to(packet, reply_type=129), 10.5)
        assert batch.received == [1]

    async def test_batch_completes_when_all_sent_are_answered(self) -> None:
        table = dgram_table()
        batch = EchoBatch(2, asyncio.get_running_loop().create_future())
        _, first = register(table, batch, "127.0.0.5", index=0)
        _, second = register(table, batch, "127.0.0.6", index=1)
        batch.sending = False
        assert table.on_packet("127.0.0.5", reply_to(first), 11.0)
        assert batch.done is not None
        assert not batch.done.done()
        assert table.on_packet("127.0.0.6", reply_to(second), 11.0)
        assert batch.done.done()
        assert batch.received == [1, 1]


class TestPingReply:
    """Loss is the unanswered share of what was sent, undefined when nothing was."""

    def test_loss_ratio(self) -> None:
        assert PingReply("127.0.0.5", 5, 3, (0.1, 0.1, 0.1)).loss_ratio == pytest.approx(0.4)
        assert PingReply("127.0.0.5", 5, 0, ()).loss_ratio == 1.0
        assert PingReply("127.0.0.5", 5, 5, (0.1,) * 5).loss_ratio == 0.0

    def test_nothing_sent_has_no_loss_ratio(self) -> None:
        with pytest.raises(ValueError, match="no echo request was sent"):
            _ = PingReply("127.0.0.5", 0, 0, ()).loss_ratio


class TestAddresses:
    """IP literals are recognised and written as the kernel reports them; names are not."""

    @pytest.mark.parametrize(
        ("given", "family", "text"),
        [
            ("127.20.1.7", socket.AF_INET, "127.20.1.7"),
            ("::1", socket.AF_INET6, "::1"),
            ("0:0:0:0:0:0:0:1", socket.AF_INET6, "::1"),
            ("FE80::1%lo", socket.AF_INET6, "fe80::1%lo"),
        ],
    )
    def test_literals(self, given: str, family: int, text: str) -> None:
        assert canonical_address(given) == (family, text)

    @pytest.mark.parametrize("given", ["localhost", "127.1", "127.0.0.256", ""])
    def test_names_and_malformed_addresses_are_refused(self, given: str) -> None:
        with pytest.raises(ValueError, match="not an IP address"):
            canonical_address(given)

    async def test_open_refuses_an_unknown_privilege_mode(self) -> None:
        with pytest.raises(ValueError, match="privileged must be"):
            await Pinger.open(privileged="maybe", clock=FakeClock())


class AutoClock(FakeClock):
    """A FakeClock whose sleep() jumps time forward by the full amount at once."""

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
        await asyncio.sleep(0)


class FakePingSocket:
    """A kernel ping socket stand-in: `alive` addresses answer each echo request at once,
    `rtt` seconds of fake time later, with a duplicate and a stray packet thrown in; sends
    fail with the errnos queued in `send_errors` first. Readiness comes from a socketpair.
    """

    family = socket.AF_INET

    def __init__(
        self,
        clock: FakeClock,
        *,
        alive: Iterable[str] = (),
        rtt: float = 0.003,
        send_errors: Iterable[int] = (),
    ) -> None:
        self._clock = clock
        self._alive = set(alive)
        self._rtt = rtt
        self.send_errors = deque(send_errors)
        self.sent: list[tuple[bytes, str]] = []
        self._queue: deque[tuple[bytes, tuple[str, int]]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)

    def fileno(self) -> int:
        return self._wake_r.fileno()

    def getsockopt(self, level: int, option: int) -> int:
        return 8 << 20

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        if self.send_errors:
            code = self.send_errors.popleft()
            raise OSError(code, os.strerror(code))
        self.sent.append((data, address[0]))
        if address[0] in self._alive:
            self._clock.advance(self._rtt)
            reply = reply_to(data, ident=40000)  # the kernel's port as identifier
            stray = flipped(reply, 10)  # another payload
            for packet in (reply, reply, stray):
                self._queue.append((packet, (address[0], 0)))
            self._wake_w.send(b"x")
        return len(data)

    def recvfrom(self, bufsize: int) -> tuple[bytes, Any]:
        if self._queue:
            return self._queue.popleft()
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        raise BlockingIOError(errno.EAGAIN, "no data")

    def close(self) -> None:
        self._wake_r.close()
        self._wake_w.close()


@pytest.fixture
async def fake_net() -> AsyncIterator[tuple[Pinger, FakePingSocket, AutoClock]]:
    clock = AutoClock()
    sock = FakePingSocket(clock, alive=["127.0.0.5"])
    pinger = Pinger(
        {socket.AF_INET: sock},
        mode="unprivileged",
        clock=clock,
        missing={socket.AF_INET6: "no IPv6 ICMP socket (test)"},
    )
    try:
        yield pinger, sock, clock
    finally:
        await pinger.aclose()


class TestPingerOverAFakeSocket:
    """Pinger counts each reply once, keeps its deadline, retries full buffers, reports failures."""

    async def test_live_address_counts_each_reply_once(self, fake_net: Any) -> None:
        pinger, sock, _ = fake_net
        reply = await pinger.ping("127.0.0.5", count=3, spacing_seconds=0, timeout_seconds=1)
        assert (reply.sent, reply.received, reply.error) == (3, 3, "")
        assert len(sock.sent) == 3
        assert all(rtt >= 0.003 for rtt in reply.rtts), reply.rtts

    async def test_dead_address_waits_exactly_spacing_and_timeout(self, fake_net: Any) -> None:
        pinger, _, clock = fake_net
        started = clock.monotonic()
        reply = await pinger.ping("127.0.0.9", count=3, spacing_seconds=0.1, timeout_seconds=0.5)
        assert (reply.sent, reply.received, reply.rtts) == (3, 0, ())
        assert clock.monotonic() - started == pytest.approx(0.7)

    async def test_sweep_keeps_the_order_of_addresses(self, fake_net: Any) -> None:
        pinger, _, _ = fake_net
        replies = await pinger.sweep(["127.0.0.9", "127.0.0.5", "127.0.0.9"], timeout_seconds=1)
        assert [(r.address, r.received) for r in replies] == [
            ("127.0.0.9", 0),
            ("127.0.0.5", 1),
            ("127.0.0.9", 0),
        ]

    @pytest.mark.parametrize("code", [errno.ENOBUFS, errno.EAGAIN])
    async def test_full_buffers_are_retried(self, fake_net: Any, code: int) -> None:
        pinger, sock, _ = fake_net
        sock.send_errors.extend([code, code])
        reply = await pinger.ping("127.0.0.9", count=1, spacing_seconds=0, timeout_seconds=0.5)
        assert (reply.sent, reply.error) == (1, "")
        assert not sock.send_errors

    async def test_retries_are_bounded(self, fake_net: Any) -> None:
        pinger, sock, _ = fake_net
        sock.send_errors.extend([errno.ENOBUFS] * 50)
        reply = await pinger.ping("127.0.0.9", count=1, spacing_seconds=0, timeout_seconds=0.5)
        assert reply.sent == 0
        assert "No buffer space available" in reply.error
        assert len(sock.send_errors) == 50 - 6  # the first try and five retries

    async def test_refused_send_is_reported_and_is_a_probe_error(self, fake_net: Any) -> None:
        pinger, sock, clock = fake_net
        sock.send_errors.extend([errno.EPERM] * 5)
        reply = await pinger.ping("127.0.0.5", count=5, spacing_seconds=0, timeout_seconds=0.5)
        assert (reply.sent, reply.received) == (0, 0)
        assert reply.error == "sendto: Operation not permitted (a firewall OUTPUT rule?)"
        sock.send_errors.extend([errno.EPERM] * 5)
        icmp = IcmpCollector(pinger, clock, count=5, spacing_seconds=0)
        with pytest.raises(ProbeError, match="Operation not permitted"):
            await icmp.check(device_at("127.0.0.5"), SPEC)

    async def test_family_without_socket_sends_nothing(self, fake_net: Any) -> None:
        pinger, _, _ = fake_net
        reply = await pinger.ping("::1", count=2, spacing_seconds=0, timeout_seconds=0.5)
        assert (reply.sent, reply.error) == (0, "no IPv6 ICMP socket (test)")

    async def test_names_are_refused(self, fake_net: Any) -> None:
        pinger, _, _ = fake_net
        with pytest.raises(ValueError, match="not an IP address"):
            await pinger.ping("localhost", count=1, spacing_seconds=0, timeout_seconds=0.5)


@dataclass
class FakePinger:
    """Answers ping() with a canned reply, moving the fake clock by `takes` seconds."""

    clock: FakeClock
    reply: PingReply
    takes: float = 0.0
    calls: list[dict[str, float | str]] = field(default_factory=list)
    by_address: dict[str, PingReply] = field(default_factory=dict)  # else `reply`
    sweeps: list[list[str]] = field(default_factory=list)

    async def ping(
        self, address: str, *, count: int, spacing_seconds: float, timeout_seconds: float
    ) -> PingReply:
        self.calls.append(
            {
                "address": address,
                "count": count,
                "spacing": spacing_seconds,
                "timeout": timeout_seconds,
            }
        )
        self.clock.advance(self.takes)
        return self._answer(address)

    async def sweep(
        self,
        addresses: Sequence[str],
        *,
        count: int = 1,
        spacing_seconds: float = 0.0,
        timeout_seconds: float,
    ) -> list[PingReply]:
        self.sweeps.append(list(addresses))
        self.calls.extend(
            {"address": a, "count": count, "spacing": spacing_seconds,
             "timeout": timeout_seconds}
            for a in addresses
        )
        self.clock.advance(self.takes)
        return [self._answer(a) for a in addresses]

    def _answer(self, address: str) -> PingReply:
        r = self.by_address.get(address, self.reply)
        return PingReply(address, r.sent, r.received, r.rtts, r.error)


def device_at(address: str) -> Device:
    return Device(name="sw-dinkes-01", address=address, owner="Dinas Kesehatan")


DEVICE = device_at("127.20.1.7")
SPEC = CheckSpec(check="icmp", interval_seconds=30, timeout_seconds=2.0, retry_interval_seconds=10)


def collector(
    reply: PingReply,
    *,
    takes: float = 0.0,
    count: int = 5,
    spacing: float = 0.2,
    resolve: dict[str, str] | None = None,
) -> tuple[IcmpCollector, FakePinger]:
    clock = FakeClock()
    pinger = FakePinger(clock, reply, takes)

    async def fake_resolve(host: str) -> str:
        if resolve is None or host not in resolve:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve[host]

    return IcmpCollector(
        pinger, clock, count=count, spacing_seconds=spacing, resolve=fake_resolve
    ), pinger


class TestCollector:
    """The icmp check turns a ping into OK, DOWN or a ProbeError, inside its deadline."""

    async def test_answered_is_ok_with_samples_in_base_units(self) -> None:
        icmp, _ = collector(PingReply("", 5, 4, (0.001, 0.002, 0.003, 0.002)), takes=0.9)
        result = await icmp.check(DEVICE, SPEC)
        assert (result.status, result.check, result.device) == (Status.OK, "icmp", DEVICE.name)
        assert result.sample("icmp_rtt_seconds") == pytest.approx(0.002)
        assert result.sample("icmp_packet_loss_ratio") == pytest.approx(0.2)
        assert result.sample("icmp_packets_sent") == 5
        assert result.sample("icmp_packets_received") == 4
        assert result.duration_seconds == pytest.approx(0.9)
        assert result.observed_at.tzinfo is not None

    async def test_no_reply_is_down_with_reason_and_no_rtt(self) -> None:
        icmp, _ = collector(PingReply("", 5, 0, ()), takes=2.0 * 0.95)
        result = await icmp.check(DEVICE, SPEC)
        assert result.status is Status.DOWN
        assert result.reason == "no reply to 5 echo requests to 127.20.1.7 in 1.9s"
        assert result.sample("icmp_rtt_seconds") is None
        assert result.sample("icmp_packet_loss_ratio") == 1.0
        assert result.error == "timeout"

    async def test_nothing_sent_is_a_probe_error(self) -> None:
        icmp, _ = collector(PingReply("", 0, 0, (), error="Operation not permitted"))
        with pytest.raises(ProbeError, match="Operation not permitted") as info:
            await icmp.check(DEVICE, SPEC)
        assert info.value.device == DEVICE.name
        assert info.value.check == "icmp"

    async def test_unresolvable_name_is_a_probe_error_naming_it(self) -> None:
        icmp, pinger = collector(PingReply("", 5, 5, (0.001,) * 5))
        device = Device(name="ap-01", address="ap-01.dinkes.example", owner="Dinas Kesehatan")
        with pytest.raises(ProbeError, match=r"cannot resolve ap-01\.dinkes\.example"):
            await icmp.check(device, SPEC)
        assert pinger.calls == []

    async def test_a_name_is_resolved_and_its_address_pinged(self) -> None:
        icmp, pinger = collector(PingReply("", 5, 0, ()), resolve={"sw.lab.example": "127.20.1.9"})
        device = Device(name="sw", address="sw.lab.example", owner="Dinas Kesehatan")
        result = await icmp.check(device, SPEC)
        assert pinger.calls[0]["address"] == "127.20.1.9"
        assert "127.20.1.9 (sw.lab.example)" in result.reason

    async def test_echoes_and_wait_fit_inside_the_check_timeout(self) -> None:
        icmp, pinger = collector(PingReply("", 5, 5, (0.001,) * 5), count=5, spacing=0.2)
        await icmp.check(DEVICE, SPEC)
        call = pinger.calls[0]
        assert call["count"] == 5
        assert call["spacing"] == pytest.approx(0.2)
        total = 4 * float(call["spacing"]) + float(call["timeout"])
        assert 0.9 * SPEC.timeout_seconds < total < SPEC.timeout_seconds

    async def test_spacing_shrinks_when_it_would_not_fit(self) -> None:
        icmp, pinger = collector(PingReply("", 5, 5, (0.001,) * 5), count=5, spacing=1.0)
        await icmp.check(DEVICE, SPEC)
        call = pinger.calls[0]
        assert float(call["spacing"]) < 1.0
        assert float(call["timeout"]) >= SPEC.timeout_seconds * 0.45
        assert 4 * float(call["spacing"]) + float(call["timeout"]) < SPEC.timeout_seconds


class TestCheckMany:
    """A sweep of many devices judges each exactly as a single check would, in one send burst."""

    REPLIES: ClassVar[dict[str, PingReply]] = {
        "127.20.1.1": PingReply("", 5, 4, (0.001, 0.002, 0.003, 0.002)),
        "127.20.1.2": PingReply("", 5, 0, ()),
        "127.20.1.3": PingReply("", 0, 0, (), error="Operation not permitted"),
        "127.20.1.9": PingReply("", 5, 5, (0.001,) * 5),
    }

    def devices(self) -> list[Device]:
        return [
            Device(name=f"d{i}", address=f"127.20.1.{i}", owner="Dinas Kesehatan")
            for i in (1, 2, 3)
        ] + [
            Device(name="named", address="sw.lab.example", owner="Dinas Kesehatan"),
            Device(name="unknown", address="nope.lab.example", owner="Dinas Kesehatan"),
        ]

    async def single(self, device: Device) -> CheckResult | CollectorError:
        icmp, pinger = collector(PingReply("", 5, 5, ()), takes=1.9,
                                 resolve={"sw.lab.example": "127.20.1.9"})
        pinger.by_address = self.REPLIES
        try:
            return await icmp.check(device, SPEC)
        except CollectorError as exc:
            return exc

    async def test_same_judgement_as_check(self) -> None:
        icmp, pinger = collector(PingReply("", 5, 5, ()), takes=1.9,
                                 resolve={"sw.lab.example": "127.20.1.9"})
        pinger.by_address = self.REPLIES
        many = await icmp.check_many(self.devices(), SPEC)
        assert pinger.sweeps == [["127.20.1.1", "127.20.1.2", "127.20.1.3", "127.20.1.9"]]
        for device, got in zip(self.devices(), many, strict=True):
            want = await self.single(device)
            if isinstance(want, CollectorError):
                assert type(got) is type(want)
                assert str(got) == str(want)
                continue
            assert isinstance(got, CheckResult)
            assert (got.status, got.samples, got.reason, got.error) == (
                want.status, want.samples, want.reason, want.error)

    async def test_fully_answered_device_is_done_at_its_last_reply(self) -> None:
        icmp, pinger = collector(PingReply("", 5, 5, ()), takes=1.9, spacing=0.2)
        pinger.by_address = self.REPLIES
        d1, d2 = self.devices()[:2]
        ok, down = await icmp.check_many([d1, d2], SPEC)
        assert isinstance(ok, CheckResult)
        assert isinstance(down, CheckResult)
        assert down.duration_seconds == pytest.approx(1.9)
        # d1 lost one reply: it waited the whole sweep, as a single check would
        assert ok.duration_seconds == pytest.approx(1.9)
        pinger.by_address = {"127.20.1.1": PingReply("", 5, 5, (0.001,) * 5)}
        (full,) = await icmp.check_many([d1], SPEC)
        assert isinstance(full, CheckResult)
        assert full.duration_seconds == pytest.approx(4 * 0.2 + 0.001)


class TestCompiledTable:
    """What only the compiled table has to get right: its arguments and its references."""

    def table(self) -> Table:
        need_engine("compiled")
        return CompiledEchoTable(family=socket.AF_INET, raw=False, random=os.urandom)

    def test_both_tables_write_the_same_packets_from_the_same_draws(self) -> None:
        need_engine("compiled")
        draws = os.urandom(12 * 4096)
        for family, raw in ((socket.AF_INET, True), (socket.AF_INET, False),
                            (socket.AF_INET6, True)):
            address = "127.0.0.5" if family == socket.AF_INET else "::1"
            py = EchoTable(family=family, raw=raw, random=lambda n: draws[:n])
            c = CompiledEchoTable(family=family, raw=raw, random=lambda n: draws[:n])
            batch = EchoBatch(1)
            for _ in range(300):
                assert py.register(address, batch, 0, 1.0) == c.register(address, batch, 0, 1.0)

    def test_wrong_targets_are_refused_with_what_was_expected(self) -> None:
        table, batch = self.table(), EchoBatch(2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            bad: list[Any] = [(0, b"\x7f\x00\x00", 0)]  # three bytes: no IPv4 address
            with pytest.raises(ValueError, match="packed address"):
                table.send_burst(sock, batch, [0, 0], bad, 0, 1, time_now)
            outside: list[Any] = [(5, bytes(4), 0)]  # index 5 of a one-target `sent`
            with pytest.raises(ValueError, match="packed address"):
                table.send_burst(sock, batch, [0], outside, 0, 1, time_now)
            short: list[Any] = [(0, bytes(4))]
            with pytest.raises(TypeError, match="a target is"):
                table.send_burst(sock, batch, [0], short, 0, 1, time_now)
            with pytest.raises(IndexError, match="start/stop"):
                table.send_burst(sock, batch, [0], outside, 0, 2, time_now)
        with pytest.raises(ValueError, match="not an address of this table's family"):
            table.register("::1", batch, 0, 1.0)
        assert len(table) == 0

    def test_a_batch_is_held_only_while_in_flight(self) -> None:
        table, batch = self.table(), EchoBatch(1)
        before = sys.getrefcount(batch)
        for _ in range(100):
            register(table, batch, "127.0.0.5")
        assert sys.getrefcount(batch) == before + 100
        assert table.release_batch(batch)
        assert sys.getrefcount(batch) == before
        assert not table.release_batch(batch)


def time_now() -> float:
    return 1.0
