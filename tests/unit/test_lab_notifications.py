"""The lab as a trap sender, without running anything: snmpd.conf notification lines, the
snmptrap command lines, RFC 3584's v1 mapping, and credentials kept out of reprs and errors."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from lab import snmpd
from lab.lab import Lab
from lab.netns import LabError
from lab.traps import (
    IF_TABLE_CACHE_TIMEOUT,
    LINK_DOWN,
    Notifications,
    engine_id,
    redact,
    trap_argv,
    v1_fields,
)

COMMUNITY = "trap-c0mmunity-9f3a"
SINK = ("127.0.0.1", 16200)
IF_INDEX_5 = (".1.3.6.1.2.1.2.2.1.1.5", "i", "5")


def notifications(**kw: Any) -> Notifications:
    args: dict[str, Any] = {"host": "127.0.0.1", "port": 16200, "community": COMMUNITY, **kw}
    return Notifications(**args)


class TestNotificationConf:
    """The snmpd.conf lines send a v2c trap per source, checked every second, from a 1 s cache."""

    def test_one_trapsess_per_source_from_that_address(self) -> None:
        lines = notifications(sources=("127.20.1.1", "127.20.1.2")).conf_lines("k" * 32)
        sessions = [line for line in lines if line.startswith("trapsess ")]
        assert sessions == [
            f"trapsess -s 127.20.1.1 -v 2c -c {COMMUNITY} 127.0.0.1:16200",
            f"trapsess -s 127.20.1.2 -v 2c -c {COMMUNITY} 127.0.0.1:16200",
        ]

    def test_link_monitors_run_every_check_seconds_without_a_startup_burst(self) -> None:
        lines = notifications(check_seconds=2).conf_lines("k" * 32)
        monitors = [line for line in lines if line.startswith("monitor -S")]
        assert monitors == [
            'monitor -S -r 2 -e labLinkDown "labLinkDown" .1.3.6.1.2.1.2.2.1.8 == 2',
            'monitor -S -r 2 -e labLinkUp "labLinkUp" .1.3.6.1.2.1.2.2.1.8 != 2',
        ]
        payload = "-o .1.3.6.1.2.1.2.2.1.1 -o .1.3.6.1.2.1.2.2.1.7 -o .1.3.6.1.2.1.2.2.1.8"
        assert f"notificationEvent labLinkDown {LINK_DOWN} {payload}" in lines
        assert f"notificationEvent labLinkUp .1.3.6.1.6.3.1.1.5.4 {payload}" in lines

    def test_if_table_cache_is_held_at_one_second(self) -> None:
        lines = notifications().conf_lines("k" * 32)
        assert f"setEvent labIfCache -I {IF_TABLE_CACHE_TIMEOUT} = 1" in lines
        assert IF_TABLE_CACHE_TIMEOUT.endswith(".1.3.6.1.2.1.2.2")  # ifTable's own OID
        assert any(line.startswith("monitor -I ") and "!= 1" in line for line in lines)
        assert "createUser lab-internal SHA " + "k" * 32 in lines
        assert "iquerySecName lab-internal" in lines

    def test_write_conf_appends_the_lines_in_a_private_file(self, tmp_path: Path) -> None:
        path = tmp_path / "snmpd.conf"
        extra = notifications().conf_lines("k" * 32)
        snmpd.write_conf(path, sys_name="lab", community="ro", v3_users=[("u", "SHA", "AES")],
                         v3_auth_key="a" * 24, v3_priv_key="p" * 24, extra=extra)
        text = path.read_text().splitlines()
        assert text[-len(extra):] == extra
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_state_round_trips(self) -> None:
        n = notifications(sources=("127.20.1.9",), check_seconds=3)
        assert Notifications.from_state(n.state()) == n
        assert Notifications.from_state(None) is None


class TestNotificationChecks:
    """Bad settings are refused with a message that names them and never the community."""

    @pytest.mark.parametrize(("kw", "expected"), [
        ({"host": "0.0.0.0"}, "notification receiver: the lab only reaches 127.0.0.0/8"),
        ({"host": "::1"}, "notification receiver: not an IPv4 address"),
        ({"port": 0}, "notification receiver: port must be 1..65535, not 0"),
        ({"sources": ()}, "give at least one source address"),
        ({"sources": ("0.0.0.0",)}, "notification source: the lab only reaches"),
        ({"check_seconds": 0}, "check_seconds must be 1..3600, not 0"),
    ])
    def test_bad_setting(self, kw: dict[str, Any], expected: str) -> None:
        with pytest.raises(LabError, match=expected.replace(".", r"\.")):
            notifications(**kw)

    def test_community_with_a_blank_is_refused_without_showing_it(self) -> None:
        with pytest.raises(LabError) as caught:
            notifications(community="two words")
        assert "one snmpd.conf word" in str(caught.value)
        assert "two words" not in str(caught.value)

    def test_reprs_hide_the_community(self, tmp_path: Path) -> None:
        n = notifications()
        lab = Lab(name="t", workdir=tmp_path, snmp_port=16100, ports=[], snmpd_pid=0,
                  community="ro-secret", v3_user="u", v3_auth_key="auth-secret",
                  v3_priv_key="priv-secret", notifications=n)
        for text in (repr(n), repr(lab), str(lab)):
            assert COMMUNITY not in text
            assert "secret" not in text


class TestV1Mapping:
    """SNMPv2 notification OIDs map onto v1 enterprise/generic/specific as RFC 3584 §3.2 says."""

    @pytest.mark.parametrize(("oid", "fields"), [
        (".1.3.6.1.6.3.1.1.5.1", (".1.3.6.1.6.3.1.1.5", 0, 0)),  # coldStart
        (".1.3.6.1.6.3.1.1.5.3", (".1.3.6.1.6.3.1.1.5", 2, 0)),  # linkDown
        ("1.3.6.1.6.3.1.1.5.4", (".1.3.6.1.6.3.1.1.5", 3, 0)),  # linkUp, no leading dot
        (".1.3.6.1.4.1.9.9.41.2.0.1", (".1.3.6.1.4.1.9.9.41.2", 6, 1)),  # enterprise.0.n
        (".1.3.6.1.4.1.8072.4.7", (".1.3.6.1.4.1.8072.4", 6, 7)),  # enterprise.n
    ])
    def test_mapping(self, oid: str, fields: tuple[str, int, int]) -> None:
        assert v1_fields(oid) == fields

    def test_non_numeric_oid_is_refused(self) -> None:
        with pytest.raises(LabError, match="trap OID: expected a numeric OID"):
            v1_fields("IF-MIB::linkDown")


class TestTrapArgv:
    """snmptrap command lines: the device's address as source, the lab's credentials."""

    def test_v2c_trap(self) -> None:
        argv = trap_argv(["-v", "2c", "-c", COMMUNITY], "127.20.1.7", LINK_DOWN, [IF_INDEX_5],
                         sink=SINK)
        assert argv == ["snmptrap", "-v", "2c", "-c", COMMUNITY, "--clientaddr=127.20.1.7",
                        "-t", "1", "-r", "0", "udp:127.0.0.1:16200", "", LINK_DOWN,
                        *IF_INDEX_5]

    def test_v2c_inform_with_retries(self) -> None:
        argv = trap_argv(["-v", "2c", "-c", COMMUNITY], "127.20.1.7", LINK_DOWN, sink=SINK,
                         inform=True, timeout=0.5, retries=2, uptime=4200)
        assert argv[5:12] == ["-Ci", "--clientaddr=127.20.1.7", "-t", "0.5", "-r", "2",
                              "udp:127.0.0.1:16200"]
        assert argv[12:] == ["4200", LINK_DOWN]

    def test_v1_trap_carries_enterprise_agent_address_and_generic(self) -> None:
        argv = trap_argv(["-v", "1", "-c", COMMUNITY], "127.20.1.7", LINK_DOWN, [IF_INDEX_5],
                         sink=SINK, version="1")
        assert argv[-8:] == [".1.3.6.1.6.3.1.1.5", "127.20.1.7", "2", "0", "", *IF_INDEX_5]

    def test_v3_adds_the_device_engine_id(self) -> None:
        creds = ["-v", "3", "-l", "authPriv", "-u", "u"]
        argv = trap_argv(creds, "127.20.1.1", LINK_DOWN, sink=SINK, version="3")
        assert argv[1:9] == [*creds, "-e", "0x80001f88017f140101"]

    def test_engine_id_is_rfc3411_ipv4_format(self) -> None:
        assert engine_id("127.20.2.250") == "0x80001f88017f1402fa"

    @pytest.mark.parametrize(("kw", "expected"), [
        ({"version": "1", "inform": True}, "SNMPv1 has no InformRequest"),
        ({"sink": ("0.0.0.0", 162)}, "trap receiver: the lab only reaches 127.0.0.0/8"),
        ({"sink": ("127.0.0.1", 70000)}, "trap receiver: port must be 1..65535"),
        ({"address": "0.0.0.0"}, "device: the lab only reaches 127.0.0.0/8"),
        ({"varbinds": [(".1.3.6.1.2.1.1.5.0", "q", "x")]}, "type must be one of"),
        ({"varbinds": [("sysName.0", "s", "x")]}, "varbind OID: expected a numeric OID"),
        ({"timeout": 0.0}, "timeout must be > 0"),
    ])
    def test_refused(self, kw: dict[str, Any], expected: str) -> None:
        args: dict[str, Any] = {"address": "127.20.1.1", "sink": SINK, **kw}
        with pytest.raises(LabError, match=expected.replace(".", r"\.")):
            trap_argv(["-v", "2c", "-c", COMMUNITY], oid=LINK_DOWN, **args)

    def test_redact_replaces_each_secret(self) -> None:
        text = f"snmptrap: bad {COMMUNITY} and key-1 twice key-1"
        assert redact(text, [COMMUNITY, "key-1", ""]) == (
            "snmptrap: bad <secret> and <secret> twice <secret>")
