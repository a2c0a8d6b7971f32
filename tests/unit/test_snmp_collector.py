"""The snmp check without sockets: profiles, interface naming and matching, samples from fixed
varbinds, status and error mapping with fake clients, pysnmp protocol names, v3 discovery codec.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from types import MappingProxyType
from typing import Any

import pytest
from pyasn1.codec.ber import decoder
from pysnmp.hlapi.v3arch.asyncio import auth as usm
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message

from agent.config import SnmpAuth, SnmpSettings
from agent.core.errors import AuthFailed, ProbeError, ProtocolError, TargetTimeout
from agent.core.model import CheckResult, CheckSpec, Device, Sample, Secret, Status
from agent.core.traps import MONITORED_IF_INDEX
from collectors.snmp import ber
from collectors.snmp.ber import encode_discovery, parse_discovery_reply
from collectors.snmp.client import AUTH_PROTOCOLS, PRIV_PROTOCOLS, convert, usm_user
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.profiles import (
    GENERIC,
    IF_COLUMNS,
    PROFILES,
    SYS_DESCR,
    SYS_NAME,
    SYS_OBJECT_ID,
    SYS_UPTIME,
    Profile,
    select,
)
from collectors.snmp.samples import interface_names, interface_samples, monitored_matcher
from tests.fakes import FakeClock

Oid = tuple[int, ...]
Rows = list[tuple[Oid, ber.Value]]

COMMUNITY = "s3cret-community"
AUTH_KEY = "auth-key-0123456789"
PRIV_KEY = "priv-key-0123456789"
NET_SNMP_LINUX = (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)

AUTHS = {
    "v1": SnmpAuth("v1", "1", community=Secret(COMMUNITY)),
    "v2": SnmpAuth("v2", "2c", community=Secret(COMMUNITY)),
    "v3": SnmpAuth(
        "v3", "3", username="monitor", auth_protocol="sha256", auth_key=Secret(AUTH_KEY),
        priv_protocol="aes256", priv_key=Secret(PRIV_KEY),
    ),
}  # fmt: skip
SPEC = CheckSpec("snmp", interval_seconds=30, timeout_seconds=2, retry_interval_seconds=10)


def settings(**kw: Any) -> SnmpSettings:
    return SnmpSettings(auth=MappingProxyType(AUTHS), **kw)


def device(auth: str = "v2", interfaces: tuple[str, ...] = ()) -> Device:
    return Device(
        "sw-01", "127.0.0.1", "Diskominfo", snmp_auth=auth, snmp_port=16100,
        interfaces=interfaces,
    )  # fmt: skip


def system(sys_object_id: Oid = NET_SNMP_LINUX) -> dict[Oid, ber.Value]:
    return {
        SYS_UPTIME: ber.TimeTicks(123456),
        SYS_NAME: b"sw-01",
        SYS_DESCR: b"Linux sw-01",
        SYS_OBJECT_ID: sys_object_id,
    }


def if_table(count: int = 3, *, hc: bool = True, legacy: bool = True) -> dict[str, Rows]:
    """IF-MIB columns for `count` interfaces: eth0, eth1, ...; odd ones oper-down."""
    rows: dict[str, Rows] = {name: [] for name in IF_COLUMNS}
    for i in range(1, count + 1):
        idx = (i,)
        rows["ifDescr"].append((idx, f"Ethernet adapter {i}".encode()))
        rows["ifName"].append((idx, f"eth{i - 1}".encode()))
        rows["ifAlias"].append((idx, f"uplink {i}".encode() if i == 1 else b""))
        rows["ifAdminStatus"].append((idx, 1))
        rows["ifOperStatus"].append((idx, 2 if i % 2 else 1))
        rows["ifSpeed"].append((idx, ber.Gauge32(100_000_000)))
        rows["ifHighSpeed"].append((idx, ber.Gauge32(100 if i != 2 else 0)))
        rows["ifInErrors"].append((idx, ber.Counter32(i)))
        rows["ifOutErrors"].append((idx, ber.Counter32(2 * i)))
        rows["ifInDiscards"].append((idx, ber.Counter32(3 * i)))
        rows["ifOutDiscards"].append((idx, ber.Counter32(4 * i)))
        if hc:
            rows["ifHCInOctets"].append((idx, ber.Counter64(10**12 + i)))
            rows["ifHCOutOctets"].append((idx, ber.Counter64(2 * 10**12 + i)))
        if legacy:
            rows["ifInOctets"].append((idx, ber.Counter32(1000 + i)))
            rows["ifOutOctets"].append((idx, ber.Counter32(2000 + i)))
    return rows


@dataclass
class FakeAgent:
    """What the fake clients answer: a system group, IF-MIB columns, or an error per call."""

    system: dict[Oid, ber.Value] = field(default_factory=system)
    columns: dict[str, Rows] = field(default_factory=if_table)
    get_error: Exception | None = None
    walk_error: Exception | None = None
    discover_answer: bytes | None = b"\x80\x00\x1f\x88\x80engine"
    clock: FakeClock | None = None
    advance_on_error: float = 0.0
    gets: list[list[Oid]] = field(default_factory=list)
    walks: list[list[Oid]] = field(default_factory=list)
    discovers: list[float] = field(default_factory=list)
    credentials: list[Any] = field(default_factory=list)

    def _fail(self, error: Exception | None) -> None:
        if error is not None:
            if self.clock is not None:
                self.clock.advance(self.advance_on_error)
            raise error

    def get(self, oids: Sequence[Sequence[int]]) -> list[tuple[Oid, ber.Value]]:
        self.gets.append([tuple(o) for o in oids])
        self._fail(self.get_error)
        return [(tuple(o), self.system.get(tuple(o), ber.NO_SUCH_OBJECT)) for o in oids]

    def walk(self, prefixes: Sequence[Sequence[int]]) -> dict[Oid, Rows]:
        self.walks.append([tuple(p) for p in prefixes])
        self._fail(self.walk_error)
        by_prefix = {oid: self.columns.get(name, []) for name, oid in IF_COLUMNS.items()}
        return {tuple(p): list(by_prefix.get(tuple(p), [])) for p in prefixes}


class FakeFast:
    """Satisfies CommunityClient, answering from a FakeAgent."""

    def __init__(self, agent: FakeAgent) -> None:
        self.agent = agent

    async def get(
        self, target: tuple[str, int], community: bytes, version: int,
        oids: Sequence[Sequence[int]], **kw: Any,
    ) -> list[tuple[Oid, ber.Value]]:  # fmt: skip
        self.agent.credentials.append((community, version))
        return self.agent.get(oids)

    async def bulk_walk(
        self, target: tuple[str, int], community: bytes, version: int,
        column_oid_prefixes: Sequence[Sequence[int]], **kw: Any,
    ) -> dict[Oid, Rows]:  # fmt: skip
        return self.agent.walk(column_oid_prefixes)


class FakeUsm:
    """Satisfies UsmClient, answering from a FakeAgent."""

    def __init__(self, agent: FakeAgent) -> None:
        self.agent = agent

    async def get(
        self, target: tuple[str, int], auth: SnmpAuth, oids: Sequence[Sequence[int]], **kw: Any
    ) -> list[tuple[Oid, ber.Value]]:
        self.agent.credentials.append(auth)
        return self.agent.get(oids)

    async def bulk_walk(
        self, target: tuple[str, int], auth: SnmpAuth,
        column_oid_prefixes: Sequence[Sequence[int]], **kw: Any,
    ) -> dict[Oid, Rows]:  # fmt: skip
        return self.agent.walk(column_oid_prefixes)

    async def discover(self, target: tuple[str, int], *, timeout: float) -> bytes | None:  # noqa: ASYNC109
        self.agent.discovers.append(timeout)
        return self.agent.discover_answer


def collector(
    agent: FakeAgent, clock: FakeClock | None = None, **kw: Any
) -> tuple[SnmpCollector, FakeClock]:
    clock = clock or FakeClock()
    profiles = kw.pop("profiles", PROFILES)
    return (
        SnmpCollector(
            FakeFast(agent), FakeUsm(agent), clock, settings=settings(**kw), profiles=profiles
        ),
        clock,
    )


def values(result: CheckResult, name: str) -> dict[str, float]:
    """{interface label: value} of one per-interface sample name."""
    return {dict(s.labels)["interface"]: s.value for s in result.samples if s.name == name}


def timeout(message: str = "after 1.0s (possible timeout) getting 127.0.0.1:16100") -> Exception:
    return TargetTimeout("sw-01", "snmp", message)


class TestProfiles:
    """The most specific sysObjectID prefix picks the profile."""

    def test_unknown_vendor_gets_generic(self) -> None:
        assert select(PROFILES, (1, 3, 6, 1, 4, 1, 99999, 1)) is GENERIC

    def test_missing_sys_object_id_gets_generic(self) -> None:
        assert select(PROFILES, None) is GENERIC

    def test_longest_prefix_wins(self) -> None:
        vendor = Profile("vendor", sys_object_id=(1, 3, 6, 1, 4, 1, 9))
        model = Profile("model", sys_object_id=(1, 3, 6, 1, 4, 1, 9, 1, 1208))
        profiles = (GENERIC, model, vendor)
        assert select(profiles, (1, 3, 6, 1, 4, 1, 9, 1, 1208)) is model
        assert select(profiles, (1, 3, 6, 1, 4, 1, 9, 1, 1209)) is vendor

    def test_prefix_matches_whole_arcs_only(self) -> None:
        assert select(PROFILES, (1, 3, 6, 1, 4, 1, 99, 1)) is GENERIC
        assert select(PROFILES, (1, 3, 6, 1, 4, 1, 9, 1, 5)).name == "cisco"

    def test_net_snmp_linux_is_known(self) -> None:
        assert select(PROFILES, NET_SNMP_LINUX).name == "net-snmp-linux"

    def test_nothing_matches_without_a_generic_profile(self) -> None:
        with pytest.raises(LookupError, match=r"1\.3\.6\.1\.4\.1\.1$"):
            select((Profile("x", sys_object_id=(1, 3, 6, 1, 4, 1, 9)),), (1, 3, 6, 1, 4, 1, 1))

    def test_unknown_column_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="ifBogus"):
            Profile("bad", columns=("ifDescr", "ifBogus"))

    def test_without_drops_columns(self) -> None:
        assert "ifAlias" not in GENERIC.without("ifAlias")
        assert len(GENERIC.without("ifAlias")) == len(GENERIC.columns) - 1


class TestInterfaceNames:
    """Labels are ifName, else ifDescr, else if<index>, unique per device."""

    def test_falls_back_from_name_to_descr_to_index(self) -> None:
        labels = interface_names([(1,), (2,), (3,)], {(1,): "eth0", (2,): ""}, {(2,): "Ethernet 2"})
        assert labels == ["eth0", "Ethernet 2", "if3"]

    def test_duplicates_get_their_index(self) -> None:
        labels = interface_names([(1,), (2,), (3,)], {(1,): "Gi0/1", (2,): "Gi0/1"}, {})
        assert labels == ["Gi0/1#1", "Gi0/1#2", "if3"]

    def test_names_that_stay_unique_are_untouched(self) -> None:
        assert interface_names([(7,), (9,)], {(7,): "a", (9,): "b"}, {}) == ["a", "b"]


class TestMonitoredPatterns:
    """fnmatch patterns, case-insensitive; no patterns monitors nothing."""

    def test_case_insensitive_glob(self) -> None:
        match = monitored_matcher(("gi0/*", "UPLINK*"))
        assert match("Gi0/1")
        assert match("uplink to core")
        assert not match("Te1/0/1")

    def test_whole_name_must_match(self) -> None:
        assert not monitored_matcher(("eth1",))("eth10")

    def test_no_patterns_match_nothing(self) -> None:
        assert not monitored_matcher(())("eth0")

    async def test_device_patterns_match_name_descr_or_alias(self) -> None:
        agent = FakeAgent()
        col, _ = collector(agent)
        result = await col.check(device(interfaces=("eth2", "*adapter 2", "UPLINK*")), SPEC)
        assert values(result, "interface_monitored") == {"eth0": 1.0, "eth1": 1.0, "eth2": 1.0}
        result = await col.check(device(interfaces=("eth2",)), SPEC)
        assert values(result, "interface_monitored") == {"eth0": 0.0, "eth1": 0.0, "eth2": 1.0}

    async def test_monitored_interfaces_by_if_index_in_info(self) -> None:
        """A trap's ifIndex finds its interface through the result's info."""
        col, _ = collector(FakeAgent())
        result = await col.check(device(interfaces=("eth0", "eth2")), SPEC)
        info = dict(result.info)
        assert json.loads(info[MONITORED_IF_INDEX]) == {"1": "eth0", "3": "eth2"}
        result = await col.check(device(interfaces=("none*",)), SPEC)
        assert MONITORED_IF_INDEX not in dict(result.info)

    async def test_profile_patterns_apply_when_the_device_has_none(self) -> None:
        profile = Profile("lab", sys_object_id=NET_SNMP_LINUX, interfaces=("eth1",))
        col, _ = collector(FakeAgent(), profiles=(GENERIC, profile))
        result = await col.check(device(), SPEC)
        assert values(result, "interface_monitored") == {"eth0": 0.0, "eth1": 1.0, "eth2": 0.0}


class TestSamples:
    """Samples from a fixed varbind set, in base units."""

    def test_every_interface_gets_every_sample(self) -> None:
        samples = interface_samples(if_table(3), monitored_matcher(()))
        names = {s.name for s in samples}
        assert len(samples) == 3 * 10
        assert names == {
            "interface_admin_up", "interface_oper_up", "interface_receive_bytes_total",
            "interface_transmit_bytes_total", "interface_receive_errors_total",
            "interface_transmit_errors_total", "interface_receive_discards_total",
            "interface_transmit_discards_total", "interface_speed_bits_per_second",
            "interface_monitored",
        }  # fmt: skip

    def test_values_and_labels(self) -> None:
        samples = interface_samples(if_table(2), monitored_matcher(()))
        by = {(s.name, s.labels): s.value for s in samples}
        eth1 = (("interface", "eth1"),)
        assert by[("interface_oper_up", eth1)] == 1.0
        assert by[("interface_oper_up", (("interface", "eth0"),))] == 0.0
        assert by[("interface_admin_up", eth1)] == 1.0
        assert by[("interface_receive_bytes_total", eth1)] == 10**12 + 2
        assert by[("interface_transmit_bytes_total", eth1)] == 2 * 10**12 + 2
        assert by[("interface_receive_errors_total", eth1)] == 2
        assert by[("interface_transmit_errors_total", eth1)] == 4
        assert by[("interface_receive_discards_total", eth1)] == 6
        assert by[("interface_transmit_discards_total", eth1)] == 8

    def test_high_speed_wins_when_positive(self) -> None:
        samples = interface_samples(if_table(2), monitored_matcher(()))
        speed = {dict(s.labels)["interface"]: s.value for s in samples
                 if s.name == "interface_speed_bits_per_second"}  # fmt: skip
        assert speed == {"eth0": 100e6, "eth1": 100_000_000.0}  # eth1: ifHighSpeed 0

    def test_high_speed_beyond_32_bits(self) -> None:
        cols = if_table(1)
        cols["ifHighSpeed"] = [((1,), ber.Gauge32(100_000))]
        cols["ifSpeed"] = [((1,), ber.Gauge32(2**32 - 1))]
        samples = interface_samples(cols, monitored_matcher(()))
        assert Sample("interface_speed_bits_per_second", 100e9, (("interface", "eth0"),)) in (
            samples
        )

    def test_32_bit_octets_when_hc_missing(self) -> None:
        samples = interface_samples(if_table(2, hc=False), monitored_matcher(()))
        rx = {dict(s.labels)["interface"]: s.value for s in samples
              if s.name == "interface_receive_bytes_total"}  # fmt: skip
        assert rx == {"eth0": 1001.0, "eth1": 1002.0}

    def test_hc_preferred_per_interface(self) -> None:
        cols = if_table(2)
        cols["ifHCInOctets"] = cols["ifHCInOctets"][:1]  # eth1 lacks its 64-bit counter
        samples = interface_samples(cols, monitored_matcher(()))
        rx = {dict(s.labels)["interface"]: s.value for s in samples
              if s.name == "interface_receive_bytes_total"}  # fmt: skip
        assert rx == {"eth0": 10**12 + 1.0, "eth1": 1002.0}

    def test_wrong_types_are_left_out(self) -> None:
        cols = if_table(1)
        cols["ifOperStatus"] = [((1,), b"up")]
        cols["ifName"] = [((1,), 7)]
        samples = interface_samples(cols, monitored_matcher(()))
        assert "interface_oper_up" not in {s.name for s in samples}
        assert {dict(s.labels)["interface"] for s in samples} == {"Ethernet adapter 1"}

    def test_interface_seen_in_one_column_only(self) -> None:
        samples = interface_samples({"ifOperStatus": [((5,), 1)]}, monitored_matcher(()))
        assert samples == [
            Sample("interface_oper_up", 1.0, (("interface", "if5"),)),
            Sample("interface_monitored", 0.0, (("interface", "if5"),)),
        ]


class TestCheck:
    """One poll through fake clients: requests made, status, samples and info."""

    async def test_v2c_poll_is_ok(self) -> None:
        agent = FakeAgent()
        col, clock = collector(agent)
        result = await col.check(device(), SPEC)
        assert result.status == Status.OK
        assert (result.device, result.check, result.reason, result.error) == (
            "sw-01", "snmp", "", ""
        )  # fmt: skip
        assert result.observed_at == clock.now()
        assert result.sample("snmp_uptime_seconds") == 1234.56
        assert result.info == (
            ("sysName", "sw-01"),
            ("sysDescr", "Linux sw-01"),
            ("sysObjectID", "1.3.6.1.4.1.8072.3.2.10"),
            (MONITORED_IF_INDEX, '{"1": "eth0", "2": "eth1", "3": "eth2"}'),
        )
        assert len(values(result, "interface_oper_up")) == 3
        assert agent.credentials[0] == (COMMUNITY.encode(), 1)
        assert len(agent.gets) == 1
        assert len(agent.gets[0]) == 4
        assert len(agent.walks) == 1
        assert IF_COLUMNS["ifInOctets"] not in agent.walks[0]

    async def test_one_walk_when_hc_present(self) -> None:
        agent = FakeAgent()
        col, _ = collector(agent)
        await col.check(device(), SPEC)
        assert agent.walks == [[IF_COLUMNS[c] for c in GENERIC.columns]]

    async def test_second_walk_for_32_bit_octets(self) -> None:
        agent = FakeAgent(columns=if_table(2, hc=False))
        col, _ = collector(agent)
        result = await col.check(device(), SPEC)
        assert agent.walks[1] == [IF_COLUMNS["ifInOctets"], IF_COLUMNS["ifOutOctets"]]
        assert values(result, "interface_transmit_bytes_total") == {"eth0": 2001, "eth1": 2002}
        assert result.status == Status.OK

    async def test_v1_gets_one_oid_at_a_time_and_walks_32_bit_octets(self) -> None:
        agent = FakeAgent(columns=if_table(2, hc=False))
        col, _ = collector(agent)
        result = await col.check(device("v1"), SPEC)
        assert [len(g) for g in agent.gets] == [1, 1, 1, 1]
        assert agent.credentials[0] == (COMMUNITY.encode(), 0)
        assert len(agent.walks) == 1
        assert IF_COLUMNS["ifInOctets"] in agent.walks[0]
        assert IF_COLUMNS["ifHCInOctets"] not in agent.walks[0]
        assert values(result, "interface_receive_bytes_total") == {"eth0": 1001, "eth1": 1002}

    async def test_batch_size_from_settings(self) -> None:
        agent = FakeAgent()
        col, _ = collector(agent, max_oids_per_request=3)
        await col.check(device(), SPEC)
        assert [len(g) for g in agent.gets] == [3, 1]

    async def test_v3_goes_through_pysnmp_client(self) -> None:
        agent = FakeAgent()
        col, _ = collector(agent)
        result = await col.check(device("v3"), SPEC)
        assert result.status == Status.OK
        assert agent.credentials == [AUTHS["v3"]]

    async def test_profile_columns_are_walked(self) -> None:
        agent = FakeAgent()
        lean = Profile("lean", sys_object_id=NET_SNMP_LINUX, columns=GENERIC.without("ifAlias"))
        col, _ = collector(agent, profiles=(GENERIC, lean))
        await col.check(device(interfaces=("uplink*",)), SPEC)
        assert IF_COLUMNS["ifAlias"] not in agent.walks[0]

    async def test_partial_walk_failure_is_warning(self) -> None:
        agent = FakeAgent(walk_error=ProtocolError("sw-01", "snmp", "agent answered genErr"))
        col, _ = collector(agent)
        result = await col.check(device(), SPEC)
        assert result.status == Status.WARNING
        assert result.reason.startswith("interface walk failed: snmp sw-01: agent answered")
        assert (result.code, result.params) == ("snmp_partial", (("parts", "interfaces"),))
        assert result.error == "protocol"
        assert result.sample("snmp_uptime_seconds") == 1234.56

    async def test_system_failure_with_walk_data_is_warning(self) -> None:
        agent = FakeAgent(get_error=ProtocolError("sw-01", "snmp", "undecodable reply"))
        col, _ = collector(agent)
        result = await col.check(device(), SPEC)
        assert result.status == Status.WARNING
        assert "system group failed" in result.reason
        assert (result.code, result.params) == ("snmp_partial", (("parts", "system"),))
        assert result.info[2] == ("sysObjectID", "")
        assert len(values(result, "interface_oper_up")) == 3

    async def test_nothing_answered_raises_first_error(self) -> None:
        first = ProtocolError("sw-01", "snmp", "undecodable reply")
        agent = FakeAgent(get_error=first, walk_error=ProtocolError("sw-01", "snmp", "other"))
        col, _ = collector(agent)
        with pytest.raises(ProtocolError) as caught:
            await col.check(device(), SPEC)
        assert caught.value is first

    async def test_silent_agent_answering_discovery_is_auth_failed(self) -> None:
        agent = FakeAgent(get_error=timeout())
        col, _ = collector(agent)
        with pytest.raises(AuthFailed, match="wrong community") as caught:
            await col.check(device(), SPEC)
        assert COMMUNITY not in str(caught.value)
        assert "sw-01" in str(caught.value)
        assert agent.walks == []
        assert agent.discovers == [1.0]

    async def test_silent_agent_without_discovery_answer_is_down(self) -> None:
        agent = FakeAgent(get_error=timeout(), discover_answer=None)
        col, _ = collector(agent)
        with pytest.raises(TargetTimeout, match="SNMP agent down"):
            await col.check(device(), SPEC)

    async def test_silent_v3_agent_answering_discovery_is_auth_failed(self) -> None:
        agent = FakeAgent(get_error=timeout())
        col, _ = collector(agent)
        with pytest.raises(AuthFailed, match="wrong v3 user or key") as caught:
            await col.check(device("v3"), SPEC)
        assert AUTH_KEY not in str(caught.value)
        assert PRIV_KEY not in str(caught.value)

    async def test_v3_auth_failure_passes_through(self) -> None:
        agent = FakeAgent(get_error=AuthFailed("sw-01", "snmp", "wrong v3 user or key"))
        col, _ = collector(agent)
        with pytest.raises(AuthFailed):
            await col.check(device("v3"), SPEC)
        assert agent.discovers == []
        assert agent.walks == []

    async def test_discovery_fits_the_remaining_deadline(self) -> None:
        clock = FakeClock()
        agent = FakeAgent(get_error=timeout(), clock=clock, advance_on_error=1.5)
        col, _ = collector(agent, clock)
        with pytest.raises(AuthFailed):
            await col.check(device(), SPEC)
        assert 0 < agent.discovers[0] <= 2.0 - 1.5

    async def test_no_time_left_for_discovery_is_down(self) -> None:
        clock = FakeClock()
        agent = FakeAgent(get_error=timeout(), clock=clock, advance_on_error=2.0)
        col, _ = collector(agent, clock)
        with pytest.raises(TargetTimeout, match="no time left"):
            await col.check(device(), SPEC)
        assert agent.discovers == []

    async def test_later_system_timeout_is_partial(self) -> None:
        agent = FakeAgent()
        col, _ = collector(agent)
        calls = 0
        original = agent.get

        def flaky(oids: Sequence[Sequence[int]]) -> list[tuple[Oid, ber.Value]]:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise timeout()
            return original(oids)

        agent.get = flaky  # type: ignore[method-assign]
        result = await col.check(device("v1"), SPEC)
        assert result.status == Status.WARNING
        assert result.error == "timeout"
        assert agent.discovers == []

    async def test_unknown_credential_set_is_probe_error(self) -> None:
        col, _ = collector(FakeAgent())
        with pytest.raises(ProbeError, match="nope"):
            await col.check(device("nope"), SPEC)

    async def test_device_without_snmp_auth_is_probe_error(self) -> None:
        col, _ = collector(FakeAgent())
        bare = Device("sw-01", "127.0.0.1", "Diskominfo")
        with pytest.raises(ProbeError):
            await col.check(bare, SPEC)


class TestPysnmpMapping:
    """Config protocol names map to pysnmp's constants; values convert to ber.py's types."""

    @pytest.mark.parametrize(
        ("name", "constant"),
        [
            ("none", usm.USM_AUTH_NONE),
            ("md5", usm.USM_AUTH_HMAC96_MD5),
            ("sha", usm.USM_AUTH_HMAC96_SHA),
            ("sha224", usm.USM_AUTH_HMAC128_SHA224),
            ("sha256", usm.USM_AUTH_HMAC192_SHA256),
            ("sha384", usm.USM_AUTH_HMAC256_SHA384),
            ("sha512", usm.USM_AUTH_HMAC384_SHA512),
        ],
    )
    def test_auth_protocols(self, name: str, constant: Any) -> None:
        assert AUTH_PROTOCOLS[name] == constant

    @pytest.mark.parametrize(
        ("name", "constant"),
        [
            ("none", usm.USM_PRIV_NONE),
            ("des", usm.USM_PRIV_CBC56_DES),
            ("3des", usm.USM_PRIV_CBC168_3DES),
            ("aes128", usm.USM_PRIV_CFB128_AES),
            # net-snmp's AES-192/256 use Blumenthal key extension (measured in the lab)
            ("aes192", usm.USM_PRIV_CFB192_AES_BLUMENTHAL),
            ("aes256", usm.USM_PRIV_CFB256_AES_BLUMENTHAL),
        ],
    )
    def test_priv_protocols(self, name: str, constant: Any) -> None:
        assert PRIV_PROTOCOLS[name] == constant

    def test_every_config_name_is_mapped(self) -> None:
        assert set(AUTH_PROTOCOLS) == {
            "none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"
        }  # fmt: skip
        assert set(PRIV_PROTOCOLS) == {"none", "des", "3des", "aes128", "aes192", "aes256"}

    def test_user_names_both_protocols(self) -> None:
        user = usm_user(AUTHS["v3"])
        assert user.authentication_protocol == usm.USM_AUTH_HMAC192_SHA256
        assert user.privacy_protocol == usm.USM_PRIV_CFB256_AES_BLUMENTHAL
        assert user.userName == "monitor"

    def test_user_repr_hides_keys(self) -> None:
        assert AUTH_KEY not in repr(usm_user(AUTHS["v3"]))

    def test_unknown_protocol_is_refused_without_the_key(self) -> None:
        bad = SnmpAuth("x", "3", username="u", auth_protocol="sha999", auth_key=Secret(AUTH_KEY))
        with pytest.raises(ValueError, match="sha999") as caught:
            usm_user(bad)
        assert AUTH_KEY not in str(caught.value)

    def test_community_sets_are_refused(self) -> None:
        with pytest.raises(ValueError, match="not an SNMPv3 user"):
            usm_user(AUTHS["v2"])

    @pytest.mark.parametrize(
        ("value", "expected", "kind"),
        [
            (rfc1902.Integer32(-5), -5, int),
            (rfc1902.OctetString(b"eth0"), b"eth0", bytes),
            (rfc1902.ObjectIdentifier("1.3.6.1.4.1.9"), (1, 3, 6, 1, 4, 1, 9), tuple),
            (rfc1902.IpAddress("127.0.0.1"), IPv4Address("127.0.0.1"), IPv4Address),
            (rfc1902.Counter32(7), 7, ber.Counter32),
            (rfc1902.Gauge32(8), 8, ber.Gauge32),
            (rfc1902.Unsigned32(8), 8, ber.Gauge32),
            (rfc1902.TimeTicks(9), 9, ber.TimeTicks),
            (rfc1902.Counter64(2**40), 2**40, ber.Counter64),
            (rfc1902.Opaque(b"\x9f\x78"), b"\x9f\x78", ber.Opaque),
            (rfc1902.Null(""), None, type(None)),
            (rfc1905.NoSuchObject(""), ber.NO_SUCH_OBJECT, ber.Absent),
            (rfc1905.NoSuchInstance(""), ber.NO_SUCH_INSTANCE, ber.Absent),
            (rfc1905.EndOfMibView(""), ber.END_OF_MIB_VIEW, ber.Absent),
        ],
    )
    def test_convert(self, value: Any, expected: Any, kind: type) -> None:
        converted = convert(value)
        assert converted == expected
        assert type(converted) is kind


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag, len(body))) + body


def v3_report(msg_id: int, engine_id: bytes) -> bytes:
    """A minimal SNMPv3 message as an agent sends it back (Report contents left out)."""
    header = _tlv(0x30, _tlv(0x02, msg_id.to_bytes(4, "big")) + bytes.fromhex("0203 00ffe3")
                  + _tlv(0x04, b"\x00") + bytes.fromhex("020103"))  # fmt: skip
    usm_params = _tlv(0x30, _tlv(0x04, engine_id) + bytes.fromhex("020101 020102 0400 0400 0400"))
    return _tlv(0x30, bytes.fromhex("020103") + header + _tlv(0x04, usm_params)
                + _tlv(0x30, b""))  # fmt: skip


class TestDiscoveryCodec:
    """The engine-ID discovery message and the check of its answer."""

    def test_message_is_valid_snmpv3(self) -> None:
        message, rest = decoder.decode(encode_discovery(0x1234, 77), asn1Spec=SNMPv3Message())
        assert rest == b""
        assert int(message["msgVersion"]) == 3
        assert int(message["msgGlobalData"]["msgID"]) == 0x1234
        assert bytes(message["msgGlobalData"]["msgFlags"]) == b"\x04"  # reportable only
        assert int(message["msgGlobalData"]["msgSecurityModel"]) == 3  # USM

    def test_answer_with_our_msg_id_gives_the_engine_id(self) -> None:
        engine = bytes.fromhex("80001f8880aabbccdd")
        assert parse_discovery_reply(v3_report(0x01020304, engine), 0x01020304) == engine

    def test_answer_to_another_request_is_ignored(self) -> None:
        assert parse_discovery_reply(v3_report(0x01020304, b"\x80"), 0x01020305) is None

    @pytest.mark.parametrize(
        "data", [b"", b"\x30", b"\x30\x03\x02\x01\x01", b"\x04\x00", b"\x30\x84\xff\xff\xff\xff"]
    )
    def test_garbage_is_ignored(self, data: bytes) -> None:
        assert parse_discovery_reply(data, 1) is None

    def test_v2c_reply_is_not_an_answer(self) -> None:
        v2 = ber.encode_request(1, b"public", ber.GET_REQUEST, 1, [(1, 3, 6, 1)])
        assert parse_discovery_reply(v2, 1) is None
