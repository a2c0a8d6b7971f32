"""FastSnmpClient judges timeouts by when replies reached the socket (kernel receive time), not
when the event loop read them: a blocked or non-reading loop never turns an answer into a
timeout, and a reply that came after the last try's timeout is still one.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from pysnmp.proto.api import v2c

from agent.core.errors import TargetTimeout
from collectors.snmp import ber
from collectors.snmp.fastclient import FastSnmpClient
from tests.integration.test_fastclient import COMMUNITY, SYS_UPTIME, reply


class ThreadAgent:
    """A v2c agent on 127.0.0.1 in its own thread (so it answers while our loop is blocked);
    it answers each request `delay` seconds after receiving it, or never when `silent`."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.silent = False
        self.received: list[float] = []  # time.monotonic() of each request
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address: tuple[str, int] = self.sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            self.received.append(time.monotonic())
            if self.silent:
                continue
            req = ber.decode_message(data)
            if self.delay:
                time.sleep(self.delay)
            self.sock.sendto(reply(req, [(SYS_UPTIME, v2c.TimeTicks(77))]), peer)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def thread_agent() -> Iterator[ThreadAgent]:
    agent = ThreadAgent()
    try:
        yield agent
    finally:
        agent.stop()


def block_loop_after(delay: float, seconds: float) -> None:
    """Block the running event loop for `seconds`, starting `delay` seconds from now."""
    asyncio.get_running_loop().call_later(delay, time.sleep, seconds)


async def get(client: FastSnmpClient, address: tuple[str, int], per_try: float, retries: int
              ) -> object:  # fmt: skip
    return await client.get(address, COMMUNITY, 1, [SYS_UPTIME], timeout=per_try, retries=retries)


class TestKernelReceiveTime:
    async def test_reply_in_time_read_after_a_blocked_loop_succeeds(
        self, thread_agent: ThreadAgent, client: FastSnmpClient
    ) -> None:
        thread_agent.delay = 0.05  # in the socket at ~0.05 s; the timeout is 0.2 s
        block_loop_after(0.01, 0.5)  # the loop reads it only after ~0.51 s
        started = time.monotonic()
        assert await get(client, thread_agent.address, 0.2, 0) == [(SYS_UPTIME, 77)]
        assert time.monotonic() - started >= 0.5  # it was read late, and still counted
        assert len(thread_agent.received) == 1  # no retry was needed or sent

    async def test_reply_queued_when_the_retry_timer_fires_is_read_first(
        self, thread_agent: ThreadAgent, client: FastSnmpClient
    ) -> None:
        # Reading paused (as under a flood of other callbacks): the reply sits in the socket
        # when the timeout fires; the transport drains the socket before calling it a timeout.
        loop = asyncio.get_running_loop()
        thread_agent.delay = 0.05  # long enough to stop reading first
        task = asyncio.create_task(get(client, thread_agent.address, 0.2, 0))
        async with asyncio.timeout(2):
            while not thread_agent.received:  # noqa: ASYNC110 -- waiting on a test double
                await asyncio.sleep(0.001)
        sock = client._transport.socket_for(socket.AF_INET)
        loop.remove_reader(sock.fileno())
        started = time.monotonic()
        assert await task == [(SYS_UPTIME, 77)]
        assert time.monotonic() - started >= 0.1  # answered by the expiry's drain

    async def test_reply_after_the_last_timeout_is_a_timeout_even_if_read_early(
        self, thread_agent: ThreadAgent, client: FastSnmpClient
    ) -> None:
        thread_agent.delay = 0.3  # reaches the socket after the 0.2 s timeout ...
        block_loop_after(0.01, 0.6)  # ... and is read, late, before the expiry timer runs
        with pytest.raises(TargetTimeout, match="possible timeout"):
            await get(client, thread_agent.address, 0.2, 0)

    async def test_reply_within_the_retries_left_counts_when_the_retry_is_late(
        self, thread_agent: ThreadAgent, client: FastSnmpClient
    ) -> None:
        thread_agent.delay = 0.3  # after try 1's timeout (0.2 s), within try 2's (0.4 s)
        block_loop_after(0.01, 0.6)  # the retry timer could not fire on time
        assert await get(client, thread_agent.address, 0.2, 1) == [(SYS_UPTIME, 77)]
        assert len(thread_agent.received) == 1  # answered before the late retry went out

    async def test_silent_target_still_times_out_through_a_blocked_loop(
        self, thread_agent: ThreadAgent, client: FastSnmpClient
    ) -> None:
        thread_agent.silent = True
        block_loop_after(0.01, 0.4)
        with pytest.raises(TargetTimeout, match="possible timeout"):
            await get(client, thread_agent.address, 0.2, 1)
        assert len(thread_agent.received) == 2  # the retry still went out
