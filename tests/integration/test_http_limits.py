"""Issue 14, findings 2 and 5, against the real server on 127.0.0.1: 500 half-sent requests
neither starve /healthz nor stop polling, and are closed; a 100 MiB body gets a 413 without
the agent's memory growing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from agent.api import ApiContext
from agent.app import Agent
from agent.config import User, loads
from agent.core.model import Secret
from agent.http_limits import ACCEPT_ERROR, HttpLimits
from agent.metrics import Metrics, Snapshot
from agent.server import bind, build_app, make_server
from tests.fakes import FakeClock, InMemoryBackend, no_devices
from tests.integration.api_support import (
    DEVICES,
    TOKENS,
    USERS,
    devices_docs,
    make_app,
    make_service,
)

MIB = 1024 * 1024

# Holds N connections, each with a request whose headers never end; prints "ready N", then
# "closed K SECONDS" once the server has closed all of them (or after the bound).
ATTACKER = r"""
import resource, selectors, socket, sys, time
host, port, n, bound = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
    except OSError:
        s.close()
        continue
    s.setblocking(False)
    socks.append(s)
print("ready", len(socks), flush=True)
start, sel, open_ = time.monotonic(), selectors.DefaultSelector(), len(socks)
for s in socks:
    sel.register(s, selectors.EVENT_READ)
while open_ and time.monotonic() - start < bound:
    for key, _ in sel.select(0.2):
        try:
            data = key.fileobj.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(key.fileobj)
            open_ -= 1
print("closed", len(socks) - open_, round(time.monotonic() - start, 2), flush=True)
"""


def require_icmp() -> None:
    """The polling check is ICMP to 127.0.0.1: root, or a ping_group_range with our group."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    if os.geteuid() == 0 or low <= os.getegid() <= high:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("no ICMP socket: neither root nor in ping_group_range")
    pytest.skip("no ICMP socket: neither root nor in ping_group_range")


def agent_config(db: Path) -> str:
    return f"""\
[agent]
listen = "127.0.0.1:0"
database = "sqlite:///{db}"

[polling]
interval_seconds = 1
timeout_seconds = 0.5
retry_interval_seconds = 0.5

[icmp]
count = 1

[[devices]]
name = "loopback"
address = "127.0.0.1"
owner = "Diskominfo"
"""


@contextlib.contextmanager
def low_open_file_limit(spare: int) -> Iterator[None]:
    """A soft RLIMIT_NOFILE of the descriptors open now + `spare` (an older distribution's
    default of 1024, or macOS' 256, is soon reached), restored after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, in_use + spare), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.xdist_group("http-flood")
class TestHalfSentRequests:
    """500 half-sent requests: /healthz answers within 1 s, they are closed within 30 s,
    polling goes on, and no flood of accept errors reaches the log."""

    HALF_SENT = 500

    @pytest.mark.timeout(120)
    async def test_flood(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        require_icmp()
        caplog.set_level(logging.INFO)
        with low_open_file_limit(200):
            agent = Agent(loads(agent_config(tmp_path / "pantau.db")))
            stop = asyncio.Event()
            running = asyncio.create_task(agent.run(stop))
            try:
                await self.scenario(agent, running)
            finally:
                accept_lines = [r for r in caplog.records if ACCEPT_ERROR in r.getMessage()
                                or r.getMessage() == "cannot accept connections"]
                print(f"accept-error log lines during the flood: {len(accept_lines)}")
                stop.set()
                async with asyncio.timeout(15):
                    await running
        assert len(accept_lines) <= 2, f"{len(accept_lines)} accept-error log lines"

    async def scenario(self, agent: Agent, running: asyncio.Task[None]) -> None:
        async with asyncio.timeout(20):
            while not agent.ready.is_set():
                assert not running.done(), running
                await asyncio.sleep(0.05)
        assert agent.listening is not None
        host, port = agent.listening
        base = f"http://{host}:{port}"
        async with httpx.AsyncClient(base_url=base) as warm:  # imports and files opened now
            assert (await warm.get("/healthz")).status_code == 200
        async with httpx.AsyncClient(base_url=base) as probe:  # its connection: after the flood
            await self.flooded(agent, host, port, probe)

    async def flooded(self, agent: Agent, host: str, port: int, client: httpx.AsyncClient
                      ) -> None:
        attackers = await asyncio.create_subprocess_exec(
            sys.executable, "-c", ATTACKER, host, str(port), str(self.HALF_SENT), "40",
            stdout=asyncio.subprocess.PIPE)
        assert attackers.stdout is not None
        try:
            async with asyncio.timeout(60):
                ready = (await attackers.stdout.readline()).split()
            assert ready == [b"ready", str(self.HALF_SENT).encode()], ready
            checks_before = self.icmp_checks(agent)
            started = time.monotonic()
            try:
                health = await client.get("/healthz", timeout=5)
            except httpx.TransportError as exc:  # a timeout, or out of descriptors
                pytest.fail(f"/healthz failed after {time.monotonic() - started:.1f} s "
                            f"under {self.HALF_SENT} half-sent requests: {exc!r}")
            waited = time.monotonic() - started
            print(f"/healthz under {self.HALF_SENT} half-sent requests: {waited:.3f} s")
            assert health.status_code == 200
            assert waited < 1.0
            async with asyncio.timeout(60):
                closed = (await attackers.stdout.readline()).split()
            print(f"half-sent requests closed by the server: {closed}")
            assert closed[:2] == [b"closed", str(self.HALF_SENT).encode()], closed
            assert float(closed[2]) < 30
            assert self.icmp_checks(agent) - checks_before >= 5  # polling went on meanwhile
        finally:
            if attackers.returncode is None:
                attackers.kill()
            await attackers.wait()

    @staticmethod
    def icmp_checks(agent: Agent) -> float:
        found = agent.metrics.registry.get_sample_value(
            "pantau_collector_checks_total", {"collector": "icmp", "status": "ok"})
        return found or 0.0


class TestSmallLimits:
    """With small limits the same guards act at once: connections past `max_connections` are
    closed as they come, the rest when their header deadline passes."""

    @pytest.mark.timeout(60)
    async def test_cap_then_deadline(self) -> None:
        service, _ = make_service(InMemoryBackend(), FakeClock())
        limits = HttpLimits(limit_concurrency=20, max_connections=40,
                            header_timeout_seconds=1.5)
        async with listening(make_app(service), limits) as (host, port):
            capped = await self.attack(host, port, 100, bound=0.5)
            assert capped[:2] == [b"closed", b"60"], capped  # 100 - 40 closed at once
            timed_out = await self.attack(host, port, 30, bound=10)
            assert timed_out[:2] == [b"closed", b"30"], timed_out
            assert 1.0 < float(timed_out[2]) < 3.0, timed_out

    @staticmethod
    async def attack(host: str, port: int, n: int, bound: float) -> list[bytes]:
        attackers = await asyncio.create_subprocess_exec(
            sys.executable, "-c", ATTACKER, host, str(port), str(n), str(bound),
            stdout=asyncio.subprocess.PIPE)
        assert attackers.stdout is not None
        async with asyncio.timeout(30):
            ready = (await attackers.stdout.readline()).split()
            closed = (await attackers.stdout.readline()).split()
            await attackers.wait()
        assert ready == [b"ready", str(n).encode()], ready
        return closed


@pytest.mark.xdist_group("http-flood")
class TestOutOfDescriptors:
    """When the open-file limit is reached all the same, failed accepts are logged once per
    interval with their count, not once per attempt."""

    @pytest.mark.timeout(60)
    async def test_accept_errors_logged_once(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO)
        service, _ = make_service(InMemoryBackend(), FakeClock())
        async with listening(make_app(service)) as (host, port):
            with low_open_file_limit(60):
                attackers = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", ATTACKER, host, str(port), "150", "3",
                    stdout=asyncio.subprocess.PIPE)
                assert attackers.stdout is not None
                async with asyncio.timeout(30):
                    await attackers.stdout.read()  # held 3 s (asyncio retries every second)
                    await attackers.wait()
        per_attempt = [r for r in caplog.records if ACCEPT_ERROR in r.getMessage()]
        ours = [r for r in caplog.records if r.getMessage() == "cannot accept connections"]
        print(f"out of descriptors for 3 s: {len(per_attempt)} asyncio accept-error lines, "
              f"{len(ours)} 'cannot accept connections' "
              f"(failures {[vars(r)['failures'] for r in ours]})")
        assert per_attempt == []
        assert len(ours) == 1
        assert vars(ours[0])["error"] == "Too many open files"


# -- body limit ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def listening(app: FastAPI, limits: HttpLimits | None = None
                    ) -> AsyncIterator[tuple[str, int]]:
    """`app` served by the agent's own server (make_server) on 127.0.0.1."""
    sock = bind("127.0.0.1", 0)
    server = make_server(app, limits=limits)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, no event
                await asyncio.sleep(0.01)
        host, port = sock.getsockname()[:2]
        yield host, port
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await serving
        sock.close()


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def reset_peak_memory() -> None:
    """VmHWM starts again from the current RSS (Linux: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


async def stream_body(host: str, port: int, total: int, *, chunked: bool) -> tuple[int, int]:
    """POST a `total`-byte body to /api/v1/tickets, 64 KiB at a time from one buffer, while
    reading the answer; stop sending once it comes. (status, bytes sent)."""
    reader, writer = await asyncio.open_connection(host, port)
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % total
    writer.write(b"POST /api/v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Authorization: Bearer " + TOKENS["dinkes"].encode() + b"\r\n"
                 b"Content-Type: application/json\r\n" + framing + b"\r\n\r\n")
    answer = asyncio.create_task(reader.readuntil(b"\r\n"))
    piece = b" " * (64 * 1024)
    frame = b"%x\r\n" % len(piece) + piece + b"\r\n" if chunked else piece
    sent = 0
    try:
        while sent < total and not answer.done():
            writer.write(frame)
            await writer.drain()
            sent += len(piece)
        if chunked and not answer.done():
            writer.write(b"0\r\n\r\n")
        async with asyncio.timeout(30):
            status_line = await answer
    except (ConnectionResetError, BrokenPipeError):
        async with asyncio.timeout(5):
            status_line = await answer
    finally:
        answer.cancel()
        writer.close()
    return int(status_line.split()[1]), sent


class TestBodyLimit:
    """A body over the limit gets a 413, from Content-Length or while a chunked body is read,
    and memory does not grow with it."""

    @pytest.mark.timeout(120)
    @pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
    async def test_100_mib_is_413_in_bounded_memory(self, chunked: bool) -> None:
        service, _ = make_service(InMemoryBackend(), FakeClock())
        async with listening(make_app(service)) as (host, port):
            await stream_body(host, port, 128 * 1024, chunked=chunked)  # warm up
            rss = memory_kib("VmRSS")
            reset_peak_memory()
            status, sent = await stream_body(host, port, 100 * MIB, chunked=chunked)
            grew = (memory_kib("VmHWM") - rss) / 1024
        print(f"100 MiB body ({'chunked' if chunked else 'Content-Length'}): {status} after "
              f"{sent / MIB:.1f} MiB sent; peak RSS +{grew:.1f} MB")
        assert status == 413
        assert grew < 8, f"peak RSS grew by {grew:.1f} MB"

    async def test_configured_limit_and_a_body_under_it(self) -> None:
        service, _ = make_service(InMemoryBackend(), FakeClock())
        users = [User(n, r, Secret(TOKENS[n]), o) for n, (r, o) in USERS.items()]
        ctx = ApiContext(service=service, users=users, devices=DEVICES,
                         devices_json=devices_docs)
        app = build_app(Metrics(), Snapshot, no_devices, lambda: True, ctx,
                        max_body_bytes=2048)
        async with listening(app) as (host, port), httpx.AsyncClient(
                base_url=f"http://{host}:{port}",
                headers={"Authorization": f"Bearer {TOKENS['dinkes']}"}) as client:
            small = {"device": "sw-dinkes-01", "subject": "AP baru", "description": "x" * 1500}
            assert (await client.post("/api/v1/tickets", json=small)).status_code == 201
            big = {**small, "description": "x" * 3000}
            refused = await client.post("/api/v1/tickets", json=big)
            assert refused.status_code == 413
            assert refused.text == "Content Too Large"
