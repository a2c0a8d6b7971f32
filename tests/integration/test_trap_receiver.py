"""The trap receiver on real UDP sockets: net-snmp's snmptrap/snmpinform send v1, v2c, inform
and v3 authPriv traps and informs from 127.0.0.x to a receiver on 127.0.0.1; IPv6 and
dual-stack binding; and a storm of 10,000 traps from one source in about 2 s.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.core.clock import SystemClock
from agent.core.model import Device, Secret
from agent.core.settings import SnmpAuth
from agent.core.traps import COLD_START, LINK_DOWN, LINK_UP, WARM_START, Trap
from collectors.snmp import TrapListenError, TrapReceiver
from tests.conftest import Figure
from tests.trap_support import IF_INDEX, flood, integer, loop_lags, v2, varbind

pytestmark = pytest.mark.timeout(60)

COMMUNITY = "s3cret-trap"
AUTH = {
    "lan": SnmpAuth(name="lan", version="2c", community=Secret(COMMUNITY)),
    "v3": SnmpAuth(name="v3", version="3", username="ops", auth_protocol="sha",
                   auth_key=Secret("authpass1"), priv_protocol="aes128",
                   priv_key=Secret("privpass1")),
}  # fmt: skip
DEVICES = [
    Device(name="sw1", address="127.0.0.5", owner="x", snmp_auth="lan"),
    Device(name="r3", address="127.0.0.6", owner="x", snmp_auth="v3"),
    Device(name="sw6", address="::1", owner="x", snmp_auth="lan"),
]
V3_ARGS = ["-v", "3", "-u", "ops", "-l", "authPriv", "-a", "SHA", "-A", "authpass1",
           "-x", "AES", "-X", "privpass1"]  # fmt: skip


def net_snmp(tool: str) -> str:
    """The path of a net-snmp tool (Debian package `snmp`); skips outside CI, fails in CI."""
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} not installed (Debian package snmp; scripts/setup installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class Received:
    receiver: TrapReceiver
    traps: list[Trap] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def trap(self, trap: Trap) -> None:
        self.traps.append(trap)
        self.changed.set()

    def drop(self, reason: str) -> None:
        self.drops.append(reason)
        self.changed.set()

    @property
    def target(self) -> str:
        host, port = self.receiver.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def wait(self, done: Callable[[], bool], seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds):
            while not done():
                self.changed.clear()
                await self.changed.wait()


async def make(listen: str = "127.0.0.1:0", **kwargs: Any) -> Received:
    box = Received(receiver=None)  # type: ignore[arg-type]
    box.receiver = TrapReceiver(listen=listen, devices=DEVICES, auth=AUTH, clock=SystemClock(),
                                sink=box.trap, dropped=box.drop, **kwargs)  # fmt: skip
    await box.receiver.start()
    return box


@pytest.fixture
async def received() -> AsyncIterator[Received]:
    box = await make()
    try:
        yield box
    finally:
        await box.receiver.aclose()


async def run(tool: str, *args: str, home: Path) -> tuple[int, str]:
    """Run a net-snmp tool with its config and persistent state under `home`."""
    env = {**os.environ, "SNMPCONFPATH": str(home), "SNMP_PERSISTENT_DIR": str(home),
           "HOME": str(home), "MIBS": ""}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        net_snmp(tool), *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(20):
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


class TestNetSnmp:
    """Each kind of notification net-snmp sends arrives as the right Trap."""

    async def test_v1_trap(self, received: Received, tmp_path: Path) -> None:
        code, out = await run(
            "snmptrap", "-v", "1", "-c", COMMUNITY, "--clientaddr=127.0.0.5", received.target,
            "1.3.6.1.4.1.8072.3.2.10", "127.0.0.5", "2", "0", "", "1.3.6.1.2.1.2.2.1.1.3", "i", "3",
            home=tmp_path,
        )  # fmt: skip
        assert code == 0, out
        await received.wait(lambda: bool(received.traps))
        (trap,) = received.traps
        assert (trap.device, trap.source, trap.version) == ("sw1", "127.0.0.5", "1")
        assert (trap.oid, trap.kind, trap.if_index) == (LINK_DOWN, "linkDown", 3)

    async def test_v2c_trap(self, received: Received, tmp_path: Path) -> None:
        code, out = await run(
            "snmptrap", "-v", "2c", "-c", COMMUNITY, "--clientaddr=127.0.0.5", received.target,
            "", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.7.4", "i", "1",
            "1.3.6.1.2.1.2.2.1.8.4", "i", "1", home=tmp_path,
        )  # fmt: skip
        assert code == 0, out
        await received.wait(lambda: bool(received.traps))
        trap = received.traps[0]
        assert (trap.device, trap.version, trap.oid, trap.inform) == ("sw1", "2c", LINK_UP, False)
        assert (trap.if_index, trap.admin_up, trap.oper_up) == (4, True, True)

    async def test_v2c_inform_is_answered(self, received: Received, tmp_path: Path,
                                          figure: Figure) -> None:  # fmt: skip
        started = time.perf_counter()
        code, out = await run(
            "snmpinform", "-v", "2c", "-c", COMMUNITY, "-r", "0", "-t", "3",
            "--clientaddr=127.0.0.5", received.target, "", "1.3.6.1.6.3.1.1.5.1", home=tmp_path,
        )  # fmt: skip
        assert code == 0, out  # snmpinform exits 0 only when our Response arrived
        figure(f"v2c snmpinform answered, process done in {time.perf_counter() - started:.2f}s")
        assert [(t.device, t.oid, t.inform) for t in received.traps] == [
            ("sw1", COLD_START, True)]  # fmt: skip

    async def test_v3_trap(self, received: Received, tmp_path: Path) -> None:
        code, out = await run(
            "snmptrap", *V3_ARGS, "-e", "0x80001f8880aabbccdd0044", "--clientaddr=127.0.0.6",
            received.target, "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7",
            home=tmp_path,
        )  # fmt: skip
        assert code == 0, out
        await received.wait(lambda: bool(received.traps) or bool(received.drops))
        assert received.drops == []
        trap = received.traps[0]
        assert (trap.device, trap.version, trap.oid, trap.if_index) == ("r3", "3", LINK_DOWN, 7)

    async def test_v3_inform_is_answered(self, received: Received, tmp_path: Path,
                                         figure: Figure) -> None:  # fmt: skip
        started = time.perf_counter()
        code, out = await run(
            "snmpinform", *V3_ARGS, "-r", "0", "-t", "3", "--clientaddr=127.0.0.6",
            received.target, "", "1.3.6.1.6.3.1.1.5.2", home=tmp_path,
        )  # fmt: skip
        assert code == 0, out  # discovery of our engine ID, then the inform and its Response
        figure(f"v3 authPriv snmpinform (discovery, inform, Response) done in "
               f"{time.perf_counter() - started:.2f}s")  # fmt: skip
        assert [(t.device, t.version, t.oid, t.inform) for t in received.traps] == [
            ("r3", "3", WARM_START, True)]  # fmt: skip

    async def test_v3_wrong_key_dropped(self, received: Received, tmp_path: Path) -> None:
        args = [a if a != "privpass1" else "wrongpass9" for a in V3_ARGS]
        code, out = await run(
            "snmptrap", *args, "-e", "0x80001f8880aabbccdd0045", "--clientaddr=127.0.0.6",
            received.target, "", "1.3.6.1.6.3.1.1.5.3", home=tmp_path,
        )  # fmt: skip
        assert code == 0, out
        await received.wait(lambda: bool(received.drops))
        assert (received.traps, received.drops) == ([], ["usm"])

    async def test_wrong_community_and_unknown_source(self, received: Received,
                                                      tmp_path: Path) -> None:  # fmt: skip
        for args in (["-c", "wrong", "--clientaddr=127.0.0.5"],
                     ["-c", COMMUNITY, "--clientaddr=127.0.0.77"]):  # fmt: skip
            code, out = await run("snmptrap", "-v", "2c", *args, received.target, "",
                                  "1.3.6.1.6.3.1.1.5.1", home=tmp_path)  # fmt: skip
            assert code == 0, out
        await received.wait(lambda: len(received.drops) == 2)
        assert (received.traps, sorted(received.drops)) == ([], ["bad_community",
                                                                 "unknown_source"])  # fmt: skip


def _send(data: bytes, source: tuple[str, int], target: tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in source[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind(source)
        sock.sendto(data, target)


class TestBinding:
    """IPv6, dual-stack "[::]", and a clear error when the port is taken."""

    async def test_ipv6(self) -> None:
        box = await make("[::1]:0")
        try:
            _send(v2(COLD_START, community=COMMUNITY.encode()), ("::1", 0), box.receiver.address)
            await box.wait(lambda: bool(box.traps))
            assert (box.traps[0].device, box.traps[0].source) == ("sw6", "::1")
        finally:
            await box.receiver.aclose()

    async def test_dual_stack(self) -> None:
        box = await make("[::]:0")
        try:
            port = box.receiver.address[1]
            _send(v2(COLD_START, community=COMMUNITY.encode()), ("127.0.0.5", 0),
                  ("127.0.0.1", port))  # fmt: skip
            await box.wait(lambda: bool(box.traps))
            assert (box.traps[0].device, box.traps[0].source) == ("sw1", "127.0.0.5")
        finally:
            await box.receiver.aclose()

    async def test_port_in_use(self, received: Received) -> None:
        other = TrapReceiver(listen=received.target, devices=DEVICES, auth=AUTH,
                             clock=SystemClock(), sink=print, dropped=print)  # fmt: skip
        with pytest.raises(TrapListenError, match=r"\[traps\] listen = .*: cannot bind: Address"):
            await other.start()


@pytest.mark.xdist_group("trap_storm")
class TestStorm:
    """10,000 v2c traps in ~2 s from one source: the loop stays responsive, every datagram is
    counted once (accepted + dropped == sent)."""

    SENT = 10_000

    async def test_storm(self, received: Received, figure: Figure) -> None:
        data = v2(LINK_DOWN, varbind((*IF_INDEX, 3), integer(3)), community=COMMUNITY.encode())
        target = received.receiver.address

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.5", 0))
                flood(sock, target, [data] * self.SENT, 50)  # 5,000 a second

        async with loop_lags() as lags:
            started = time.perf_counter()
            await asyncio.to_thread(send)
            sent_in = time.perf_counter() - started
            await received.wait(lambda: len(received.traps) + len(received.drops) >= self.SENT)
        accepted, dropped = len(received.traps), len(received.drops)
        figure(f"storm: {self.SENT:,} v2c traps from one source in {sent_in:.2f}s: "
               f"{accepted} accepted, {dropped:,} dropped "
               f"({dropped - received.drops.count('rate_limited')} not rate_limited); "
               f"loop lag max {max(lags) * 1000:.1f} ms over {len(lags)} ticks")  # fmt: skip
        assert accepted + dropped == self.SENT
        assert set(received.drops) == {"rate_limited"}
        assert 100 <= accepted <= 100 + 20 * (sent_in + 1)  # burst, then 20 a second
        assert max(lags) < 0.1

    async def test_v3_at_the_overall_rate(self, figure: Figure) -> None:
        """v3 costs pysnmp about a millisecond a message: at the overall rate (per-device
        limit lifted), the loop still answers."""
        from tests.trap_v3_support import V3Sender

        sender = V3Sender(bytes.fromhex("80001f8880aabbccdd0055"))
        datagrams = [sender.trap("1.3.6.1.6.3.1.1.5.3") for _ in range(2000)]
        box = await make(per_device_per_second=1000.0, per_device_burst=1000)
        target = box.receiver.address

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.6", 0))
                flood(sock, target, datagrams, 10)  # 1,000 a second

        try:
            async with loop_lags() as lags:
                started = time.perf_counter()
                await asyncio.to_thread(send)
                sent_in = time.perf_counter() - started
                await box.wait(lambda: len(box.traps) + len(box.drops) >= len(datagrams))
        finally:
            await box.receiver.aclose()
        figure(f"v3 authPriv: {len(datagrams):,} traps in {sent_in:.2f}s from one device: "
               f"{len(box.traps):,} accepted, {len(box.drops)} dropped {set(box.drops)}; "
               f"loop lag max {max(lags) * 1000:.1f} ms")  # fmt: skip
        assert len(box.traps) + len(box.drops) == len(datagrams)
        assert max(lags) < 0.1
