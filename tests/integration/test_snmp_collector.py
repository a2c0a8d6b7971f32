"""The snmp check against the lab's real net-snmp snmpd: every SNMP version, wrong credentials,
dead agents and hosts, and an interface whose link is cut.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import MappingProxyType

import pytest

from agent.config import SnmpAuth, SnmpSettings
from agent.core.clock import SystemClock
from agent.core.errors import AuthFailed, TargetTimeout
from agent.core.model import CheckResult, CheckSpec, Device, Secret, Status
from agent.core.traps import MONITORED_IF_INDEX
from collectors.snmp.client import PysnmpClient
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.fastclient import FastSnmpClient
from lab.lab import Lab

pytestmark = pytest.mark.lab

PORTS = 48
SPEC = CheckSpec("snmp", interval_seconds=30, timeout_seconds=2.0, retry_interval_seconds=10)
WRONG = "wrong-secret-0123"


def auth_sets(lab: Lab) -> dict[str, SnmpAuth]:
    community = Secret(lab.community)
    auth_key, priv_key = Secret(lab.v3_auth_key), Secret(lab.v3_priv_key)
    sets = {
        "v1": SnmpAuth("v1", "1", community=community),
        "v2c": SnmpAuth("v2c", "2c", community=community),
        "v3": SnmpAuth(
            "v3", "3", username=lab.v3_user, auth_protocol="sha", auth_key=auth_key,
            priv_protocol="aes128", priv_key=priv_key,
        ),
        "v2c-wrong": SnmpAuth("v2c-wrong", "2c", community=Secret(WRONG)),
        "v3-wrong-auth": SnmpAuth(
            "v3-wrong-auth", "3", username=lab.v3_user, auth_protocol="sha",
            auth_key=Secret(WRONG), priv_protocol="aes128", priv_key=priv_key,
        ),
        "v3-wrong-priv": SnmpAuth(
            "v3-wrong-priv", "3", username=lab.v3_user, auth_protocol="sha",
            auth_key=auth_key, priv_protocol="aes128", priv_key=Secret(WRONG),
        ),
        "v3-wrong-user": SnmpAuth(
            "v3-wrong-user", "3", username="nobody", auth_protocol="sha", auth_key=auth_key,
            priv_protocol="aes128", priv_key=priv_key,
        ),
    }  # fmt: skip
    if lab.v3_user_sha256 is not None:
        sets["v3-sha256"] = SnmpAuth(
            "v3-sha256", "3", username=lab.v3_user_sha256, auth_protocol="sha256",
            auth_key=auth_key, priv_protocol="aes256", priv_key=priv_key,
        )  # fmt: skip
    return sets


@dataclass
class Poller:
    lab: Lab
    collector: SnmpCollector
    secrets: tuple[str, ...]

    async def check(
        self, index: int, auth: str, *, interfaces: tuple[str, ...] = ()
    ) -> CheckResult:
        """Run the check as the scheduler does, under the check's deadline."""
        device = Device(
            f"sw-{index:03d}", self.lab.address(index), "Diskominfo", snmp_auth=auth,
            snmp_port=self.lab.snmp_port, interfaces=interfaces,
        )  # fmt: skip
        async with asyncio.timeout(SPEC.timeout_seconds):
            return await self.collector.check(device, SPEC)


@pytest.fixture
async def poller(in_lab: Lab) -> AsyncIterator[Poller]:
    """An SnmpCollector on real clients whose sockets live in the lab namespace."""
    clock = SystemClock()
    fast = FastSnmpClient(clock)
    v3 = PysnmpClient(clock)
    settings = SnmpSettings(
        timeout_seconds=0.5, retries=1, auth=MappingProxyType(auth_sets(in_lab))
    )
    try:
        yield Poller(
            in_lab,
            SnmpCollector(fast, v3, clock, settings=settings),
            (in_lab.community, in_lab.v3_auth_key, in_lab.v3_priv_key, WRONG),
        )
    finally:
        await fast.aclose()
        await v3.aclose()


def per_interface(result: CheckResult, name: str) -> dict[str, float]:
    return {dict(s.labels)["interface"]: s.value for s in result.samples if s.name == name}


def assert_no_secret(poller: Poller, text: str) -> None:
    for secret in poller.secrets:
        assert secret not in text


class TestVersions:
    """Every SNMP version polls the lab's 49 interfaces with sane values."""

    @pytest.mark.parametrize("auth", ["v1", "v2c", "v3", "v3-sha256"])
    async def test_full_poll(self, poller: Poller, auth: str) -> None:
        if auth == "v3-sha256" and poller.lab.v3_user_sha256 is None:
            pytest.skip("this net-snmp has no SHA-256/AES-256 user")
        result = await poller.check(10, auth, interfaces=("lab-p0*",))
        assert result.status == Status.OK, result.reason
        info = dict(result.info)
        assert info["sysName"] == poller.lab.name
        assert info["sysObjectID"].startswith("1.3.6.1.4.1.8072.")
        assert info["sysDescr"]
        # what a linkDown's ifIndex is looked up in: every monitored port, by its own index
        by_index = json.loads(info[MONITORED_IF_INDEX])
        watched = {n for n, v in per_interface(result, "interface_monitored").items() if v}
        assert sorted(by_index.values()) == sorted(watched)
        assert watched
        assert all(k.isdigit() for k in by_index)
        uptime = result.sample("snmp_uptime_seconds")
        assert uptime is not None
        assert 0 < uptime < 7 * 86400
        oper = per_interface(result, "interface_oper_up")
        admin = per_interface(result, "interface_admin_up")
        assert len(oper) == PORTS + 1
        assert set(oper) == {"lo", *poller.lab.ports}
        assert sum(admin.values()) == PORTS + 1 - PORTS // 4  # every 4th port admin-down
        assert oper["lab-p04"] == 0.0
        assert oper["lab-p01"] == 1.0
        assert per_interface(result, "interface_receive_bytes_total")["lo"] > 0
        assert len(per_interface(result, "interface_transmit_errors_total")) == PORTS + 1
        assert len(per_interface(result, "interface_speed_bits_per_second")) == PORTS + 1
        monitored = per_interface(result, "interface_monitored")
        assert {k for k, v in monitored.items() if v} == {f"lab-p0{i}" for i in range(1, 10)}
        assert result.duration_seconds < SPEC.timeout_seconds

    async def test_v1_and_v2c_count_the_same_bytes(self, poller: Poller) -> None:
        # v1 cannot carry Counter64, so it reads ifInOctets; lo's traffic is small here.
        v1 = per_interface(await poller.check(11, "v1"), "interface_receive_bytes_total")
        v2 = per_interface(await poller.check(11, "v2c"), "interface_receive_bytes_total")
        assert set(v1) == set(v2)
        assert v1["lo"] <= v2["lo"] < 2**32


class TestFailures:
    """Wrong credentials are auth problems; a dead agent or host is a timeout."""

    async def test_wrong_community_is_auth_failed(self, poller: Poller) -> None:
        with pytest.raises(AuthFailed, match="wrong community") as caught:
            await poller.check(12, "v2c-wrong")
        assert "sw-012" in str(caught.value)
        assert_no_secret(poller, str(caught.value))

    @pytest.mark.parametrize("auth", ["v3-wrong-auth", "v3-wrong-priv", "v3-wrong-user"])
    async def test_wrong_v3_credentials_are_auth_failed(self, poller: Poller, auth: str) -> None:
        with pytest.raises(AuthFailed, match="wrong v3 user or key") as caught:
            await poller.check(13, auth)
        assert "sw-013" in str(caught.value)
        assert_no_secret(poller, str(caught.value))

    async def test_same_v3_user_with_other_keys_does_not_disturb(self, poller: Poller) -> None:
        # pysnmp binds one key set per user name and engine; sets sharing a name must not
        # swap keys under each other's requests in flight.
        results = await asyncio.gather(
            *(poller.check(20 + i, "v3" if i % 2 else "v3-wrong-auth") for i in range(8)),
            return_exceptions=True,
        )
        good = [r for r in results[1::2] if isinstance(r, CheckResult)]
        assert [r.status for r in good] == [Status.OK] * 4
        assert all(isinstance(r, AuthFailed) for r in results[0::2])

    @pytest.mark.parametrize("auth", ["v2c", "v3"])
    async def test_dead_agent_is_timeout(self, poller: Poller, auth: str) -> None:
        poller.lab.snmp_dead(poller.lab.address(14))
        started = time.monotonic()
        with pytest.raises(TargetTimeout, match="SNMP agent down") as caught:
            await poller.check(14, auth)
        assert time.monotonic() - started < SPEC.timeout_seconds
        assert_no_secret(poller, str(caught.value))

    async def test_dead_host_is_timeout(self, poller: Poller) -> None:
        poller.lab.blackhole(poller.lab.address(15))
        with pytest.raises(TargetTimeout, match="SNMP agent down"):
            await poller.check(15, "v2c")


class TestInterfaces:
    """A cut link shows as oper-down while the port stays admin-up."""

    async def test_port_set_down(self, poller: Poller) -> None:
        before = await poller.check(16, "v2c")
        assert per_interface(before, "interface_oper_up")["lab-p02"] == 1.0
        poller.lab.set_port("lab-p02", up=False)
        deadline = time.monotonic() + 10.0  # snmpd caches ifTable for a few seconds
        while True:
            result = await poller.check(16, "v2c")
            if per_interface(result, "interface_oper_up")["lab-p02"] == 0.0:
                break
            assert time.monotonic() < deadline, "ifOperStatus never turned down"
            await asyncio.sleep(0.5)
        assert per_interface(result, "interface_admin_up")["lab-p02"] == 1.0
        assert per_interface(result, "interface_oper_up")["lab-p03"] == 1.0
