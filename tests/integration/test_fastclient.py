"""FastSnmpClient over real UDP: a scripted fake agent on 127.0.0.1 for protocol edge cases,
and the lab's net-snmp snmpd (marked lab) for GET, bulk walks, timeouts and concurrency.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, ClassVar

import pytest
from pyasn1.codec.ber import encoder
from pysnmp.proto.api import v1, v2c

from agent.core.clock import SystemClock
from agent.core.errors import ProtocolError, TargetTimeout, TargetUnreachable
from collectors.snmp import ber
from collectors.snmp.fastclient import FastSnmpClient
from lab.lab import Lab, SnmpVersion

COMMUNITY = b"s3cret-community"
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_DESCR = (*IF_ENTRY, 2)
IF_IN_OCTETS = (*IF_ENTRY, 10)

# --------------------------------------------------------------------------- fake agent

Handler = Callable[[ber.Response], Iterable[bytes]]


def reply(
    req: ber.Response,
    varbinds: list[tuple[tuple[int, ...], Any]],
    *,
    status: int = 0,
    index: int = 0,
    request_id: int | None = None,
    community: bytes | None = None,
) -> bytes:
    """A Response to `req` encoded by pysnmp/pyasn1 (values are pysnmp objects)."""
    m: Any = v1 if req.version == ber.V1 else v2c
    msg = m.Message()
    m.apiMessage.set_defaults(msg)
    m.apiMessage.set_community(msg, req.community if community is None else community)
    pdu = m.GetResponsePDU()
    m.apiPDU.set_defaults(pdu)
    m.apiPDU.set_request_id(pdu, req.request_id if request_id is None else request_id)
    m.apiPDU.set_error_status(pdu, status)
    m.apiPDU.set_error_index(pdu, index)
    m.apiPDU.set_varbinds(pdu, varbinds)
    m.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def echo_nulls(req: ber.Response) -> list[tuple[tuple[int, ...], Any]]:
    return [(ber.decode_oid(oid), v2c.null) for oid, _ in req.varbinds]


class FakeAgent(asyncio.DatagramProtocol):
    """Answers each request with whatever `handler` returns; records every request."""

    def __init__(self) -> None:
        self.handler: Handler = lambda req: []
        self.requests: list[ber.Response] = []
        self.peers: list[tuple[str, int]] = []
        self.transport: Any = None
        self.address: tuple[str, int] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # a DatagramTransport (not a subclass of it in 3.11)
        self.address = transport.get_extra_info("sockname")[:2]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        req = ber.decode_message(data)
        self.requests.append(req)
        self.peers.append((addr[0], addr[1]))
        assert self.transport is not None
        for out in self.handler(req):
            self.transport.sendto(out, addr)


@pytest.fixture
async def agent() -> AsyncIterator[FakeAgent]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        FakeAgent, local_addr=("127.0.0.1", 0)
    )
    try:
        yield protocol
    finally:
        transport.close()


class TestGet:
    """GET and GETNEXT return decoded OIDs with typed values, in request order."""

    async def test_v2c_get(self, agent: FakeAgent, client: FastSnmpClient) -> None:
        agent.handler = lambda req: [
            reply(req, [(SYS_UPTIME, v2c.TimeTicks(4242)), (SYS_NAME, v2c.NoSuchInstance(""))])
        ]
        got = await client.get(
            agent.address, COMMUNITY, 1, [SYS_UPTIME, SYS_NAME], timeout=1, retries=0
        )
        assert got == [(SYS_UPTIME, 4242), (SYS_NAME, ber.NO_SUCH_INSTANCE)]
        assert type(got[0][1]) is ber.TimeTicks
        assert agent.requests[0].pdu_type == ber.GET_REQUEST
        assert agent.requests[0].community == COMMUNITY

    async def test_v1_no_such_name_becomes_absent(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        def handler(req: ber.Response) -> list[bytes]:
            names = [ber.decode_oid(o) for o, _ in req.varbinds]
            if SYS_NAME in names:  # v1: the whole PDU fails, pointing at the bad one
                return [reply(req, echo_nulls(req), status=2, index=names.index(SYS_NAME) + 1)]
            return [reply(req, [(n, v1.TimeTicks(7)) for n in names])]

        agent.handler = handler
        got = await client.get(
            agent.address, COMMUNITY, 0, [SYS_NAME, SYS_UPTIME], timeout=1, retries=0
        )
        assert got == [(SYS_NAME, ber.NO_SUCH_OBJECT), (SYS_UPTIME, 7)]
        assert len(agent.requests) == 2

    async def test_get_next_v1_end_of_mib(self, agent: FakeAgent, client: FastSnmpClient) -> None:
        agent.handler = lambda req: [reply(req, echo_nulls(req), status=2, index=1)]
        got = await client.get_next(agent.address, COMMUNITY, 0, [(2, 9)], timeout=1, retries=0)
        assert got == [((2, 9), ber.END_OF_MIB_VIEW)]
        assert agent.requests[0].pdu_type == ber.GET_NEXT_REQUEST

    async def test_request_ids_are_unpredictable(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        agent.handler = lambda req: [reply(req, echo_nulls(req))]
        for _ in range(50):
            await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=1, retries=0)
        rids = [r.request_id for r in agent.requests]
        assert len(set(rids)) == 50
        assert all(0 < rid < 2**31 for rid in rids)
        steps = {abs(b - a) for a, b in itertools.pairwise(rids)}
        assert min(steps) > 16  # no id follows on from the one before (counting did: 1)


class TestErrors:
    """Every failure surfaces as TargetTimeout, TargetUnreachable or ProtocolError."""

    async def test_error_status_names_the_status(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        agent.handler = lambda req: [reply(req, echo_nulls(req), status=5, index=1)]
        with pytest.raises(ProtocolError, match="genErr") as info:
            await client.get(
                agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=1, retries=0, device="sw-1"
            )
        assert info.value.device == "sw-1"
        assert COMMUNITY.decode() not in str(info.value)

    async def test_silence_is_a_timeout(self, agent: FakeAgent, client: FastSnmpClient) -> None:
        started = time.monotonic()
        with pytest.raises(TargetTimeout, match=r"after 0\.\ds \(possible timeout\) getting"):
            await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=0.1, retries=2)
        elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 0.6
        assert len(agent.requests) == 3
        assert len({r.request_id for r in agent.requests}) == 3  # a new id for every try

    async def test_reply_to_an_earlier_try_counts(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        # The agent answers the first try only when the retry reaches it: the reply carries
        # the first try's request id, and still answers the request.
        agent.handler = lambda req: (
            [reply(agent.requests[0], [(SYS_UPTIME, v2c.TimeTicks(9))])]
            if len(agent.requests) == 2 else []
        )  # fmt: skip
        got = await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=0.1, retries=2)
        assert got == [(SYS_UPTIME, 9)]
        assert len(agent.requests) == 2
        assert agent.requests[0].request_id != agent.requests[1].request_id

    async def test_retry_gets_the_answer(self, agent: FakeAgent, client: FastSnmpClient) -> None:
        agent.handler = lambda req: (
            [reply(req, [(SYS_UPTIME, v2c.TimeTicks(1))])] if len(agent.requests) > 1 else []
        )
        got = await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=0.1, retries=1)
        assert got == [(SYS_UPTIME, 1)]

    async def test_reply_with_another_request_id_is_ignored(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        agent.handler = lambda req: [reply(req, echo_nulls(req), request_id=req.request_id + 1)]
        with pytest.raises(TargetTimeout):
            await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=0.1, retries=0)

    async def test_reply_from_another_port_is_ignored(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.1", 0))
        sent: list[int] = []

        def handler(req: ber.Response) -> list[bytes]:
            sent.append(other.sendto(reply(req, echo_nulls(req)), agent.peers[-1]))
            return []

        agent.handler = handler
        try:
            with pytest.raises(TargetTimeout):
                await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=0.1, retries=0)
        finally:
            other.close()
        assert sent  # the spoofed reply did go out

    async def test_undecodable_reply_fails_at_once(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        # Same framing, but the value becomes Counter32 -1: the request id is still readable.
        agent.handler = lambda req: [
            reply(req, [(SYS_UPTIME, v2c.OctetString(b"x"))]).replace(b"\x04\x01x", b"\x41\x01\xff")
        ]
        started = time.monotonic()
        with pytest.raises(ProtocolError, match=r"undecodable reply .*out of range"):
            await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=2, retries=0)
        assert time.monotonic() - started < 1.0

    async def test_garbage_without_request_id_is_a_protocol_error(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        agent.handler = lambda req: [b"\x00not snmp at all"]
        with pytest.raises(ProtocolError, match="undecodable reply"):
            await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=0.1, retries=1)

    async def test_reply_with_other_community_is_not_an_answer(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        # Ignored, as a forged reply would be; the timeout then says what came instead.
        agent.handler = lambda req: [reply(req, echo_nulls(req), community=b"other")]
        with pytest.raises(ProtocolError, match="another version or community") as info:
            await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=0.1, retries=1)
        assert COMMUNITY.decode() not in str(info.value)
        assert len(agent.requests) == 2  # the retry still went out

    async def test_reply_with_other_community_then_the_right_one(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        agent.handler = lambda req: [
            reply(req, echo_nulls(req), community=b"other"),
            reply(req, [(SYS_UPTIME, v2c.TimeTicks(5))]),
        ]
        got = await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=1, retries=0)
        assert got == [(SYS_UPTIME, 5)]

    async def test_send_failure_is_unreachable(self, client: FastSnmpClient) -> None:
        with pytest.raises(TargetUnreachable, match=r"cannot send getting 127\.0\.0\.1:0"):
            await client.get(("127.0.0.1", 0), COMMUNITY, 1, [SYS_UPTIME], timeout=1, retries=0)

    async def test_aclose_cancels_requests_in_flight(self, agent: FakeAgent) -> None:
        c = FastSnmpClient(SystemClock())
        task = asyncio.create_task(
            c.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=5, retries=0)
        )
        async with asyncio.timeout(2):
            while not agent.requests:  # noqa: ASYNC110 -- polling a test double is simplest
                await asyncio.sleep(0.005)
        await c.aclose()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(RuntimeError, match="closed"):
            await c.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=1, retries=0)


def table_agent(
    columns: dict[tuple[int, ...], list[tuple[int, Any]]],
    *,
    limit: int | None = None,
) -> Handler:
    """A v1/v2c agent over a small MIB; GETBULK replies are cut to `limit` varbinds."""
    rows = sorted(((*col, i), value) for col, entries in columns.items() for i, value in entries)

    def next_after(oid: tuple[int, ...]) -> tuple[tuple[int, ...], Any] | None:
        return next(((o, v) for o, v in rows if o > oid), None)

    def handler(req: ber.Response) -> list[bytes]:
        asked = [ber.decode_oid(o) for o, _ in req.varbinds]
        if req.pdu_type == ber.GET_NEXT_REQUEST:  # SNMPv1 walk
            out = []
            for k, oid in enumerate(asked, 1):
                found = next_after(oid)
                if found is None:
                    return [reply(req, echo_nulls(req), status=2, index=k)]
                out.append(found)
            return [reply(req, out)]
        out, cursor = [], list(asked)
        for _ in range(req.error_index):  # max-repetitions
            for k, oid in enumerate(cursor):
                found = next_after(oid) or (oid, v2c.EndOfMibView(""))
                out.append(found)
                cursor[k] = found[0]
        return [reply(req, out[:limit])]

    return handler


class TestBulkWalk:
    """Multi-column walks stop each column at its end and survive odd agents."""

    COLUMNS: ClassVar[dict[tuple[int, ...], list[tuple[int, Any]]]] = {
        (*IF_ENTRY, 2): [(i, v2c.OctetString(f"p{i}".encode())) for i in (1, 2, 3, 200)],
        (*IF_ENTRY, 10): [(i, v2c.Counter32(i * 1000)) for i in (1, 2, 3, 200)],
        (*IFX_ENTRY, 6): [(i, v2c.Counter64(2**64 - i)) for i in (1, 2)],
    }

    def expected(self) -> dict[tuple[int, ...], list[tuple[tuple[int, ...], object]]]:
        out: dict[tuple[int, ...], list[tuple[tuple[int, ...], object]]] = {}
        for col, entries in self.COLUMNS.items():
            out[col] = []
            for i, value in entries:
                tag = value.tagSet[-1]
                plain = bytes(value) if tag.tagId == 4 and tag.tagClass == 0 else int(value)
                out[col].append(((i,), plain))
        return out

    @pytest.mark.parametrize("limit", [None, 1, 2, 5])
    async def test_v2c(self, agent: FakeAgent, client: FastSnmpClient, limit: int | None) -> None:
        agent.handler = table_agent(self.COLUMNS, limit=limit)
        got = await client.bulk_walk(
            agent.address, COMMUNITY, 1, list(self.COLUMNS), max_repetitions=3,
            timeout=1, retries=0,
        )  # fmt: skip
        assert got == self.expected()
        first = agent.requests[0]
        assert (first.pdu_type, first.error_status, first.error_index) == (0xA5, 0, 3)

    async def test_ended_columns_leave_the_request(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        agent.handler = table_agent(self.COLUMNS)
        await client.bulk_walk(
            agent.address, COMMUNITY, 1, list(self.COLUMNS), max_repetitions=3,
            timeout=1, retries=0,
        )  # fmt: skip
        # The 2-row Counter64 column ends in the first reply; the rest need a second request.
        assert [len(r.varbinds) for r in agent.requests] == [3, 2]

    async def test_v1_uses_get_next(self, agent: FakeAgent, client: FastSnmpClient) -> None:
        v1_columns: dict[tuple[int, ...], list[tuple[int, Any]]] = {
            (*IF_ENTRY, 2): [(i, v1.OctetString(f"p{i}".encode())) for i in (1, 2, 3, 200)],
            (*IF_ENTRY, 10): [(i, v1.Counter(i * 1000)) for i in (1, 2, 3, 200)],
        }
        agent.handler = table_agent(v1_columns)
        got = await client.bulk_walk(
            agent.address, COMMUNITY, 0, list(v1_columns), timeout=1, retries=0
        )
        assert got == {k: v for k, v in self.expected().items() if k in v1_columns}
        assert {r.pdu_type for r in agent.requests} == {ber.GET_NEXT_REQUEST}

    async def test_oids_must_increase(self, agent: FakeAgent, client: FastSnmpClient) -> None:
        agent.handler = lambda req: [reply(req, [((*IF_DESCR, 5), v2c.Integer(1))] * 2)]
        with pytest.raises(
            ProtocolError, match=r"OID not increasing: 1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.5"
        ):
            await client.bulk_walk(agent.address, COMMUNITY, 1, [IF_DESCR], timeout=1, retries=0)

    async def test_too_big_halves_max_repetitions(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        table = table_agent(self.COLUMNS)
        agent.handler = lambda req: (
            [reply(req, echo_nulls(req), status=1)] if req.error_index > 6 else table(req)
        )
        got = await client.bulk_walk(
            agent.address, COMMUNITY, 1, list(self.COLUMNS), max_repetitions=25,
            timeout=1, retries=0,
        )  # fmt: skip
        assert got == self.expected()
        assert [r.error_index for r in agent.requests[:3]] == [25, 12, 6]

    async def test_empty_reply_is_a_protocol_error(
        self, agent: FakeAgent, client: FastSnmpClient
    ) -> None:
        agent.handler = lambda req: [reply(req, [])]
        with pytest.raises(ProtocolError, match="different number of varbinds"):
            await client.bulk_walk(agent.address, COMMUNITY, 1, [IF_DESCR], timeout=1, retries=0)

    async def test_total_timeout(self, agent: FakeAgent, client: FastSnmpClient) -> None:
        with pytest.raises(TargetTimeout, match=r"cancelled after 0\.\ds \(possible timeout\)"):
            await client.bulk_walk(
                agent.address, COMMUNITY, 1, [IF_DESCR], timeout=0.2, retries=5,
                total_timeout=0.3,
            )  # fmt: skip

    async def test_max_requests(self, agent: FakeAgent, client: FastSnmpClient) -> None:
        agent.handler = table_agent(self.COLUMNS)
        with pytest.raises(ProtocolError, match="unfinished after 2 requests"):
            await client.bulk_walk(
                agent.address, COMMUNITY, 1, [IF_DESCR], max_repetitions=1,
                timeout=1, retries=0, max_requests=2,
            )  # fmt: skip


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
class TestIpv6:
    """IPv6 targets go through their own socket and match replies by address."""

    async def test_get_over_ipv6(self, client: FastSnmpClient) -> None:
        loop = asyncio.get_running_loop()
        transport, agent = await loop.create_datagram_endpoint(FakeAgent, local_addr=("::1", 0))
        try:
            agent.handler = lambda req: [reply(req, [(SYS_UPTIME, v2c.TimeTicks(9))])]
            got = await client.get(agent.address, COMMUNITY, 1, [SYS_UPTIME], timeout=1, retries=0)
        finally:
            transport.close()
        assert got == [(SYS_UPTIME, 9)]
        assert agent.peers[0][0] == "::1"


# --------------------------------------------------------------------------- the lab

WALK_COLUMNS = [
    *((*IF_ENTRY, c) for c in (2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 16, 20)),
    *((*IFX_ENTRY, c) for c in (1, 6, 10, 15, 18)),
]
COUNTER_TYPES = ("Counter32", "Counter64")
OUR_TYPE_NAMES = {
    ber.Counter32: "Counter32",
    ber.Counter64: "Counter64",
    ber.Gauge32: "Gauge32",
    ber.TimeTicks: "Timeticks",
    int: "INTEGER",
    bytes: "STRING",
}


def parse_net_snmp(text: str) -> dict[tuple[int, ...], tuple[str, object]]:
    """`snmpbulkwalk -On -Oe -Ot -Ox` output as {oid: (type, value)}."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("."):
            lines.append(line)
        elif lines:
            lines[-1] += " " + line  # long hex strings wrap
    out: dict[tuple[int, ...], tuple[str, object]] = {}
    for line in lines:
        oid_text, _, value = line.partition(" = ")
        oid = tuple(int(x) for x in oid_text.strip(".").split("."))
        kind, sep, rest = value.partition(": ")
        if not sep:
            out[oid] = ("STRING", b"") if value == '""' else ("Timeticks", int(value))
        elif kind == "Hex-STRING":
            out[oid] = ("STRING", bytes.fromhex(rest))
        elif kind == "STRING":
            out[oid] = ("STRING", rest.strip('"').encode())
        else:
            out[oid] = (kind, int(rest))
    return out


def net_snmp_walk(lab: Lab, address: str, column: tuple[int, ...], version: SnmpVersion = "2c"
                  ) -> dict[tuple[int, ...], tuple[str, object]]:  # fmt: skip
    tool = ["snmpbulkwalk", "-Cr25"] if version == "2c" else ["snmpwalk"]
    argv = [*tool, *lab.snmp_args(version), "-On", "-Oe", "-Ot", "-Ox", "-t", "2", "-r", "1",
            f"{address}:{lab.snmp_port}", ".".join(map(str, column))]  # fmt: skip
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(lab.workdir / "client"), "MIBS": ""}
    proc = lab.run(argv, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return parse_net_snmp(proc.stdout)


def ours_as_net_snmp(
    walk: dict[tuple[int, ...], list[tuple[tuple[int, ...], ber.Value]]],
) -> dict[tuple[int, ...], tuple[str, object]]:
    return {
        (*col, *index): (OUR_TYPE_NAMES[type(value)], value)
        for col, rows in walk.items()
        for index, value in rows
    }


def assert_walks_match(
    ours: dict[tuple[int, ...], tuple[str, object]],
    before: dict[tuple[int, ...], tuple[str, object]],
    after: dict[tuple[int, ...], tuple[str, object]],
) -> None:
    """Same OIDs, types and values; counters may have moved between the three walks."""
    assert list(ours) == list(before) == list(after)
    for oid, (kind, value) in ours.items():
        if kind in COUNTER_TYPES:
            assert before[oid][0] == after[oid][0] == kind
            low, high = before[oid][1], after[oid][1]
            assert isinstance(value, int)
            assert isinstance(low, int)
            assert isinstance(high, int)
            assert low <= value <= high, oid
        else:
            assert (kind, value) == before[oid] == after[oid], oid


@pytest.mark.lab
class TestLabGet:
    """GETs against the lab's snmpd return what net-snmp's tools see."""

    @pytest.mark.parametrize("version", [0, 1])
    async def test_sysuptime_and_sysname(self, in_lab: Lab, version: int) -> None:
        lab = in_lab
        address = lab.address(7)
        c = FastSnmpClient(SystemClock())
        try:
            got = await c.get(
                (address, lab.snmp_port), lab.community.encode(), version,
                [SYS_UPTIME, SYS_NAME], timeout=1, retries=1,
            )  # fmt: skip
        finally:
            await c.aclose()
        reference = lab.snmpget(address, ".1.3.6.1.2.1.1.3.0", version="2c")
        assert reference is not None
        (oid1, uptime), (oid2, name) = got
        assert (oid1, oid2) == (SYS_UPTIME, SYS_NAME)
        assert type(uptime) is ber.TimeTicks
        assert abs(uptime - int(reference[".1.3.6.1.2.1.1.3.0"])) < 200  # hundredths
        assert name == lab.name.encode()


@pytest.mark.lab
class TestLabWalk:
    """Bulk walks of the IF-MIB columns equal snmpbulkwalk's output, at scale and on failure."""

    async def test_matches_snmpbulkwalk(self, in_lab: Lab) -> None:
        lab = in_lab
        address = lab.address(3)

        def reference() -> dict[tuple[int, ...], tuple[str, object]]:
            merged: dict[tuple[int, ...], tuple[str, object]] = {}
            for column in WALK_COLUMNS:
                merged.update(net_snmp_walk(lab, address, column))
            return merged

        before = reference()
        c = FastSnmpClient(SystemClock())
        try:
            walk = await c.bulk_walk(
                (address, lab.snmp_port), lab.community.encode(), 1, WALK_COLUMNS,
                max_repetitions=25, timeout=2, retries=1,
            )  # fmt: skip
        finally:
            await c.aclose()
        after = reference()
        assert len(walk[IF_DESCR]) == len(lab.ports) + 1  # lo + the veth ports
        assert_walks_match(ours_as_net_snmp(walk), before, after)

    async def test_v1_matches_snmpwalk(self, in_lab: Lab) -> None:
        lab = in_lab
        address = lab.address(4)
        columns = [IF_DESCR, (*IF_ENTRY, 8), IF_IN_OCTETS, (*IFX_ENTRY, 6)]

        def reference() -> dict[tuple[int, ...], tuple[str, object]]:
            merged: dict[tuple[int, ...], tuple[str, object]] = {}
            for column in columns:
                merged.update(net_snmp_walk(lab, address, column, version="1"))
            return merged

        before = reference()
        c = FastSnmpClient(SystemClock())
        try:
            walk = await c.bulk_walk(
                (address, lab.snmp_port), lab.community.encode(), 0, columns, timeout=2, retries=1
            )
        finally:
            await c.aclose()
        after = reference()
        assert walk[(*IFX_ENTRY, 6)] == []  # SNMPv1 cannot carry Counter64: agents skip it
        assert_walks_match(ours_as_net_snmp(walk), before, after)

    async def test_blackholed_target_times_out(self, in_lab: Lab) -> None:
        lab = in_lab
        address = lab.address(11)
        lab.blackhole(address)
        c = FastSnmpClient(SystemClock())
        timeout, retries = 0.2, 2
        started = time.monotonic()
        try:
            with pytest.raises(TargetTimeout, match=f"possible timeout\\) walking {address}:"):
                await c.bulk_walk(
                    (address, lab.snmp_port), lab.community.encode(), 1, WALK_COLUMNS,
                    timeout=timeout, retries=retries,
                )  # fmt: skip
        finally:
            await c.aclose()
        elapsed = time.monotonic() - started
        assert timeout * (retries + 1) - 0.02 <= elapsed < timeout * (retries + 1) + 0.3

    async def test_wrong_community_times_out(self, in_lab: Lab) -> None:
        lab = in_lab
        c = FastSnmpClient(SystemClock())
        try:
            with pytest.raises(TargetTimeout):
                await c.get(
                    (lab.address(12), lab.snmp_port), b"not-the-community", 1, [SYS_UPTIME],
                    timeout=0.2, retries=0,
                )  # fmt: skip
        finally:
            await c.aclose()

    async def test_lossy_target_completes_with_retries(self, in_lab: Lab) -> None:
        lab = in_lab
        address = lab.address(13)
        lab.lossy(address, probability=0.3)
        c = FastSnmpClient(SystemClock())
        try:
            walk = await c.bulk_walk(
                (address, lab.snmp_port), lab.community.encode(), 1, [IF_DESCR, IF_IN_OCTETS],
                timeout=0.1, retries=10,
            )  # fmt: skip
        finally:
            await c.aclose()
        assert [len(rows) for rows in walk.values()] == [len(lab.ports) + 1] * 2

    async def test_200_concurrent_walks(self, in_lab: Lab) -> None:
        lab = in_lab
        community = lab.community.encode()
        c = FastSnmpClient(SystemClock())

        async def one(i: int) -> dict[tuple[int, ...], list[tuple[tuple[int, ...], ber.Value]]]:
            return await c.bulk_walk(
                (lab.address(100 + i), lab.snmp_port), community, 1, WALK_COLUMNS,
                timeout=2, retries=2,
            )  # fmt: skip

        try:
            async with asyncio.timeout(60):
                walks = await asyncio.gather(*(one(i) for i in range(200)))
        finally:
            await c.aclose()
        rows = len(lab.ports) + 1
        for walk in walks:
            assert [len(v) for v in walk.values()] == [rows] * len(WALK_COLUMNS)
            assert walk[IF_DESCR] == walks[0][IF_DESCR]
