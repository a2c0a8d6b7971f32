"""Issue 14, finding 1 (ICMP): someone who saw one of our echo requests (to their own device)
cannot make a dead device read UP with forged replies from its address."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator

from collectors.icmp import EchoBatch, EchoTable, checksum

TRIES = 10_000
ATTACKER, VICTIM = "127.0.0.20", "127.0.0.21"


def forged_reply(seq: int, ident: int, payload: bytes) -> bytes:
    body = struct.pack("!BBHHH", 0, 0, 0, ident, seq) + payload
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def guesses(seen: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(sequence, identifier, payload) guesses from one seen request: its fields counted on
    (sequence, and the payload's last word as a serial number), then the seen payload with
    every nearby sequence, then random sequences with the seen payload."""
    _, _, _, ident, seq = struct.unpack_from("!BBHHH", seen)
    head, (serial,) = seen[8:12], struct.unpack_from("!I", seen, 12)
    for k in range(1, 3001):
        yield (seq + k) & 0xFFFF, ident, head + struct.pack("!I", (serial + k) & 0xFFFFFFFF)
    for k in range(-2000, 2000):
        yield (seq + k) & 0xFFFF, ident, seen[8:]
    rng = random.Random(14)
    for _ in range(TRIES - 7000):
        yield rng.randrange(1 << 16), ident, seen[8:]


def attack(table: EchoTable, seen: bytes, victim: EchoBatch, raw: bool) -> int:
    accepted = 0
    for seq, ident, payload in guesses(seen):
        packet = forged_reply(seq, ident, payload)
        if raw:  # a raw IPv4 socket hands us the IP header too
            packet = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(packet), 1, 0, 64, 1, 0,
                                 socket.inet_aton(VICTIM), socket.inet_aton("127.0.0.1")) + packet
        accepted += table.on_packet(VICTIM, packet, 1.0)
    assert accepted == sum(victim.received)
    return accepted


def sweep(table: EchoTable) -> tuple[bytes, EchoBatch]:
    """One sweep round as the pinger sends it: the attacker's device, then the victim (dead:
    it never answers), five echo requests each; the attacker sees its own first request."""
    mine, victim = EchoBatch(1), EchoBatch(1)
    seen = b""
    for _ in range(5):
        slot = table.register(ATTACKER, mine, 0, 0.0)
        assert slot is not None
        seen = seen or slot[1]
        assert table.register(VICTIM, victim, 0, 0.0) is not None
    return seen, victim


def test_no_forged_reply_is_accepted_on_a_ping_socket() -> None:
    table = EchoTable(family=socket.AF_INET, raw=False)
    seen, victim = sweep(table)
    assert attack(table, seen, victim, raw=False) == 0
    assert victim.received == [0]


def test_no_forged_reply_is_accepted_on_a_raw_socket() -> None:
    table = EchoTable(family=socket.AF_INET, raw=True)
    seen, victim = sweep(table)
    assert attack(table, seen, victim, raw=True) == 0
    assert victim.received == [0]


def test_the_victims_own_reply_still_counts() -> None:
    """The forgery test can fail: the same table accepts the genuine reply."""
    table = EchoTable(family=socket.AF_INET, raw=False)
    victim = EchoBatch(1)
    slot = table.register(VICTIM, victim, 0, 0.0)
    assert slot is not None
    seq, packet = slot
    assert table.on_packet(VICTIM, forged_reply(seq, 999, packet[8:]), 1.0)
    assert victim.received == [1]
